import pytest

from calc import add, scale


def test_adds():
    x = add(1, 2)
    assert x == 3


def test_fails():
    first = add(2, 2)
    doubled = scale([first], 2)
    assert doubled == [9], "doubling went wrong"


@pytest.fixture
def broken():
    raise RuntimeError("fixture setup broke")


def test_errors(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert add(1, 1) == 3


def test_session_fixture(base_total):
    assert base_total == 42


@pytest.mark.parametrize("word", ["a/b", "c::d", "[x]", "ünï"], ids=["a/b", "c::d", "[x]", "ünï"])
def test_words(word):
    size = len(word)
    assert size > 0


def test_ledger(ledger):
    entries = ledger.read_text().splitlines()
    assert entries == ["opened"]
