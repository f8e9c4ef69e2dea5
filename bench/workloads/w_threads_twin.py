"""Benchmark workload: w_threads.py's work in the main thread alone.

The single-threaded twin of w_threads.py: the same four calls of its
`chunk` (imported from it), one after another in the main thread, so the
same events in one trace. The goal row "w_threads / w_threads_twin"
(docs/performance.md) compares their ns/event: what recording each thread
into a trace of its own (docs/recorder.md, "Threads") adds.

ANCHOR_SCALE (float, default 1.0) multiplies the rounds. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check value is
w_threads.py's.
"""
import os
import sys
import time

from w_threads import ROUNDS, THREADS, chunk


def main(scale):
    rounds = max(1, round(ROUNDS * scale))
    return sum(chunk(i, rounds) * (i + 1) for i in range(THREADS))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
