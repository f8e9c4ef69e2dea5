"""What recording other threads adds to a test run's trace switch
(docs/test-runs.md, "Threads and processes"): CPU ms of `_native.start` +
`_native.stop` around a small function, with the `--pytest` command line's
options and filter, cycles alternating `threads=True` and `threads=False` in
one process, so a busy machine weighs on both alike; the 10th percentile and
the median of each, per format.

    .venv/bin/python bench/switch_threads.py PYTHON_WITH_THE_WHEEL [PYTHON...] [--cycles 400]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import os, statistics, sys, time
from codetracer_python_recorder import _native, cli

fmt, cycles = sys.argv[1], int(sys.argv[2])
o = cli.parse_args(["--format", fmt, "--pytest", "-q"])
settings = cli._settings(o)
program = os.path.abspath(__file__)


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


cpu = {True: [], False: []}
for i in range(cycles + 20):
    threads = i % 2 == 0
    c = time.process_time()
    _native.start(os.path.join("raw", str(i)), program, [], values="locals", skip_prefixes=[cli.PACKAGE_DIR],
                  format=o.format, trace_filter=settings.trace_filter, threads=threads)
    work(10)
    _native.stop(None)
    if i >= 20:  # (warm-up)
        cpu[threads].append(time.process_time() - c)
for threads in (True, False):
    xs = sorted(cpu[threads])
    print(f"{fmt:<6}{'threads' if threads else 'no-threads':<12}{xs[len(xs) // 10] * 1e3:>8.3f}{statistics.median(xs) * 1e3:>9.3f}")
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("python", nargs="+")
    ap.add_argument("--cycles", type=int, default=400)
    a = ap.parse_args()
    print(f"{'python':<30}{'format':<6}{'':<12}{'p10 ms':>8}{'median':>9}  (CPU per start + stop)")
    for python in a.python:
        for fmt in ("json", "ctfs"):
            with tempfile.TemporaryDirectory() as tmp:
                child = Path(tmp) / "switch_threads_child.py"
                child.write_text(CHILD)
                p = subprocess.run(
                    [str(Path(python).absolute()), str(child), fmt, str(a.cycles)],
                    cwd=tmp,
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
            for line in p.stdout.splitlines():
                print(f"{python:<30}{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
