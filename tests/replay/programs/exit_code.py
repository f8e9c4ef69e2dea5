# sys.exit(3) from inside a function: an error end with status 3.
import sys


def finish(code):
    status = code
    print("exiting with", status)
    sys.exit(status)


left = 3
finish(left)
