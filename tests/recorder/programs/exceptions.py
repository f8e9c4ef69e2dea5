class AppError(Exception):
    pass


def inner(x):
    if x > 1:
        raise AppError(f"too big: {x}")
    return x


def middle(x):
    try:
        return inner(x)
    finally:
        print("cleanup", x)


def handled():
    try:
        middle(5)
    except AppError as e:
        print("caught", e)


handled()
middle(7)
