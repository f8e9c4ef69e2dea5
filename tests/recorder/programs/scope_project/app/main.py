import json

import vendored


def encode(data):
    return json.dumps(data)


text = encode({"a": [1, 2]})
print(vendored.shout(text))
