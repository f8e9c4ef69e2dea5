# Exceptions: `e` in the first except, an exception raised in a callee and
# caught by its caller, finally.
def check(v):
    if v < 0:
        raise ValueError("negative: " + str(v))
    return v


def safe(v):
    try:
        out = check(v)
    except ValueError as err:
        out = -1
        msg = str(err)
    finally:
        done = True
    return out


try:
    int("x")
except ValueError as e:
    caught = e.args[0]
a = safe(1)
b = safe(-2)
