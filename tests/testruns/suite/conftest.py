import pytest


@pytest.fixture(scope="session")
def base_total():
    start = 40
    return start + 2
