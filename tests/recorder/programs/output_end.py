import logging
import sys


def work(n):
    print("working on", n)
    sys.stdout.write("partial ")
    sys.stdout.write("line\n")
    logging.getLogger("w").warning("careful with %d", n)
    sys.stderr.write("to stderr\n")
    return 10 // n


print(work(2))
work(0)
