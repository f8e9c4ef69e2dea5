"""Benchmark workload: w_procpool.py's tasks in the main process alone.

The single-process twin of w_procpool.py: its eight tasks (w_threads.py's
`chunk`, imported from it) one after another in the main thread, no pool,
so the same events of the tasks in one trace. The goal row
"w_procpool / w_procpool_twin" (docs/performance.md) compares their
ns/event: what recording forked workers (docs/recorder.md, "Processes")
adds, the pool's own start-up and messages included.

ANCHOR_SCALE (float, default 1.0) multiplies the rounds. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check value is
w_procpool.py's.
"""
import os
import sys
import time

from w_procpool import CHUNKS, ROUNDS, task


def main(scale):
    rounds = max(1, round(ROUNDS * scale))
    return sum(task((i, rounds)) * (i + 1) for i in range(CHUNKS))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
