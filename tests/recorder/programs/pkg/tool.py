import sys


def run(args):
    return [a.upper() for a in args]


if __name__ == "__main__":
    print(__name__, run(sys.argv[1:]))
