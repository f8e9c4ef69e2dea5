"""os._exit in the middle of a call, after some recorded work."""
import os


def step(x):
    y = x * 3
    return y


def finish(total):
    print("total", total, flush=True)
    os._exit(7)
    print("never")


total = 0
for i in range(5):
    total += step(i)
finish(total)
