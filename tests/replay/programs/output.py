# Output: print, sys.stdout.write, sys.stderr, interleaved.
import sys


def greet(name):
    print("hello", name)
    sys.stdout.write("no newline;")
    sys.stdout.write(" then newline\n")
    sys.stderr.write("to stderr\n")
    print("also to stderr", file=sys.stderr)
    return len(name)


n = greet("world")
print("n =", n, flush=True)
print("unicode: caf\u00e9 \u2713")
