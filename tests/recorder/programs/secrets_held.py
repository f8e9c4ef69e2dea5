class Client:
    def __init__(self, user, api_token):
        self.user = user
        self.api_token = api_token
        self.session = {"cookie": "c00kie-value", "path": "/"}


def login(user, password):
    settings = {"user": user, "password": password, "retries": 3}
    client = Client(user, "tok-5ecret-0001")
    db_password = "s3cr3t-db-pw"
    apiKey = "ak-live-9999"
    tokens = ["a", "b"]
    return len(settings) + len(client.user) + len(db_password) + len(apiKey) + len(tokens)


SECRET_KEY = "module-level-secret-key-42"
print(login("bob", "hunter2"))
