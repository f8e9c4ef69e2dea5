# Values under secret-looking names: only text is hidden (docs/recorder.md, "Secrets").
import os
import json as token_module


class AuthHandler:
    pass


def password_fn():
    return 1


def work(password, api_key, session_id, token_count):
    session_count = 3
    settings = {"password": "x-secret-1", "token_count": 7, "user": "bob"}
    credentials = ["c-secret-2", 5, ("c-secret-3", None)]
    private_key = b"k-secret-4"
    secret_handler = AuthHandler
    auth_token = password_fn
    session_key = os
    api_key = 42
    return session_count


work("p-secret-5", "a-secret-6", "s-secret-7", 9)
