import os

MARK = os.environ.get("FLAKY_MARK", "flaky.mark")


def test_flaky_once():
    first_attempt = not os.path.exists(MARK)
    if first_attempt:
        with open(MARK, "w") as f:
            f.write("ran")
    assert not first_attempt, "fails on its first attempt"
