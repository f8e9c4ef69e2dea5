"""Benchmark workload: dense recursion.

Naive recursive partition counting, Towers of Hanoi and a mutually recursive
parity test: nearly every line runs in a frame that was just started, so
calls and returns are as dense as LINE events get (about one PY_START per
three LINE events).

ANCHOR_SCALE (float, default 1.0) multiplies the rounds. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check value is
the same on every run, traced or not.
"""
import os
import sys
import time


def partitions(n, largest):
    """Ways to write n as a sum of parts no larger than `largest`."""
    if n == 0:
        return 1
    if n < 0 or largest == 0:
        return 0
    return partitions(n - largest, largest) + partitions(n, largest - 1)


def hanoi(disks, source, target, spare):
    """Moves needed to carry `disks` from source to target."""
    if disks == 0:
        return 0
    moves = hanoi(disks - 1, source, spare, target)
    moves += 1
    return moves + hanoi(disks - 1, spare, target, source)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


ROUNDS = 40  # each round: partitions(30, 12) + hanoi(11) + 40 parity walks


def main(scale):
    rounds = max(1, round(ROUNDS * scale))
    check = 0
    for r in range(rounds):
        check += partitions(30, 12)
        check += hanoi(11, "a", "c", "b")
        for n in range(40):
            check += is_even(n + r % 3)
    return check


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
