"""Benchmark workload: the program's own functions in threads.

Four `threading.Thread`s each run `worker`: a small ledger of Account
objects, dense recursion (fib) and a counting loop (Collatz lengths), the
shapes of the single-threaded workloads; the main thread starts them and
joins them. Each thread's events are recorded into a trace of its own
(docs/recorder.md, "Threads"), so this measures what per-thread recorders
cost per event against the single-threaded workloads.

ANCHOR_SCALE (float, default 1.0) multiplies the rounds. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check value is
the same on every run, traced or not (each thread's result does not depend
on how the threads interleave).
"""
import os
import sys
import threading
import time

THREADS = 4
ROUNDS = 1600  # per thread


class Account:
    def __init__(self, name):
        self.name = name
        self.balance = 0
        self.moves = 0

    def deposit(self, amount):
        self.balance += amount
        self.moves += 1
        return self.balance


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def collatz_length(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def chunk(index, rounds):
    """The work of one thread (and of one task of w_procpool.py)."""
    accounts = {k: Account(f"a{index}-{k}") for k in range(8)}
    total = 0
    for r in range(rounds):
        total += fib(10 + (r + index) % 3)
        total += collatz_length(27 + r + index)
        accounts[r % 8].deposit(r + index)
    return total + sum(a.balance * a.moves for a in accounts.values())


def worker(index, rounds, results):
    results[index] = chunk(index, rounds)


def main(scale):
    rounds = max(1, round(ROUNDS * scale))
    results = {}
    threads = [threading.Thread(target=worker, args=(i, rounds, results), name=f"worker-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(results[i] * (i + 1) for i in range(THREADS))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
