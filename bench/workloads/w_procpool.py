"""Benchmark workload: the program's own functions in a process pool.

A `multiprocessing` pool of two forked workers (the `fork` start method)
maps `task` over eight chunks of w_threads.py's `chunk` (imported from it:
a small ledger of Account objects, dense recursion and a counting loop; the
bench's event cache is keyed by this file, so a change of `chunk` needs
bench/out/events.json cleared). The pool is closed and joined, so each worker
ends itself and writes its trace (docs/recorder.md, "Processes"); main()'s
time includes the workers' whole run, their traces written.

ANCHOR_SCALE (float, default 1.0) multiplies the rounds. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check value is
the same on every run, traced or not.
"""
import multiprocessing
import os
import sys
import time

from w_threads import chunk

WORKERS = 2
CHUNKS = 8
ROUNDS = 1100  # per task


def task(job):
    index, rounds = job
    return chunk(index, rounds)


def main(scale):
    rounds = max(1, round(ROUNDS * scale))
    pool = multiprocessing.get_context("fork").Pool(WORKERS)
    try:
        results = pool.map(task, [(i, rounds) for i in range(CHUNKS)], chunksize=1)
    finally:
        pool.close()
        pool.join()
    return sum(r * (i + 1) for i, r in enumerate(results))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
