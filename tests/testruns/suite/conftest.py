import pytest


@pytest.fixture(scope="session")
def base_total():
    start = 40
    return start + 2


@pytest.fixture(scope="session")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger") / "ledger.txt"
    path.write_text("opened\n")
    yield path
    closing = path.read_text() + "closed\n"
    path.write_text(closing)
