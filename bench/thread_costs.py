"""A thread's fixed costs under the recorder (docs/performance.md, "A
thread's fixed costs"): a program starts THREADS threads one after another
(no two run at once), each running a few thousand steps; per thread, the
milliseconds from `Thread.start()` to the first line of its function and
from there to its end, plain and recorded (trace.ct) alternately in one
session, so a busy machine weighs on both alike; of the recordings, the
process's wall after the program's last line (the stop: finishing every
trace) and what the traces' metadata says (`timings`: each thread trace's
`trace_made_seconds` and `convert_seconds`, the main trace's
`threads_finish_seconds`, when the wheel writes them). Medians of the runs.

    .venv/bin/python bench/thread_costs.py PYTHON_WITH_THE_WHEEL [--runs 15] [--threads 4] [--steps 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = r"""
import json, sys, threading, time

def work(n, marks, i):
    marks[i] = time.perf_counter()
    total = 0
    for k in range(n):
        total += k % 7
    return total

def main(threads, steps):
    rows = []
    for i in range(threads):
        marks = {}
        t = threading.Thread(target=work, args=(steps, marks, i), name=f"worker-{i}")
        began = time.perf_counter()
        t.start()
        t.join()
        ended = time.perf_counter()
        rows.append({"to_first_line_ms": (marks[i] - began) * 1e3, "thread_ms": (ended - began) * 1e3})
    return rows

rows = main(int(sys.argv[1]), int(sys.argv[2]))
sys.stderr.write("THREAD_COSTS " + json.dumps({"rows": rows, "last_line": time.time()}) + "\n")
"""


def run_once(python: str, program: Path, threads: int, steps: int, trace: Path | None) -> dict:
    cmd = [python, str(program), str(threads), str(steps)]
    if trace is not None:
        cmd = [python, "-m", "codetracer_python_recorder", "--format", "ctfs", "--trace-dir", str(trace), *cmd[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    ended = time.time()
    line = next(x for x in done.stderr.splitlines() if x.startswith("THREAD_COSTS "))
    got = json.loads(line.split(" ", 1)[1])
    got["after_last_line_ms"] = (ended - got["last_line"]) * 1e3
    if trace is not None:
        main = json.loads((trace / "trace_metadata.json").read_text())["timings"]
        index = json.loads((trace / "threads.json").read_text())
        got["threads_finish_ms"] = main.get("threads_finish_seconds", 0.0) * 1e3 or None
        got["drain_ms"] = main.get("drain_seconds", 0.0) * 1e3
        got["traces"] = []
        for row in index["threads"]:
            t = json.loads((trace / row["folder"] / "trace_metadata.json").read_text())["timings"]
            got["traces"].append(
                {
                    "made_ms": t["trace_made_seconds"] * 1e3 if "trace_made_seconds" in t else None,
                    "convert_ms": t.get("convert_seconds", 0.0) * 1e3,
                    "streamed": t.get("convert_streamed", False),
                }
            )
    return got


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("python")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--steps", type=int, default=20000)
    o = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "threads_program.py"
        program.write_text(PROGRAM)
        plain, ours = [], []
        for i in range(o.runs + 1):
            a = run_once(o.python, program, o.threads, o.steps, None)
            b = run_once(o.python, program, o.threads, o.steps, Path(tmp) / f"trace{i}")
            if i:  # the first pair warms the caches
                plain.append(a)
                ours.append(b)

    def per_thread(runs: list[dict], key: str) -> float | None:
        return median([row[key] for r in runs for row in r["rows"]])

    def per_trace(key: str) -> float | None:
        return median([t[key] for r in ours for t in r["traces"]])

    streamed = sum(t["streamed"] for r in ours for t in r["traces"])
    traces = sum(len(r["traces"]) for r in ours)
    print(f"{o.python}: {o.runs} runs, {o.threads} threads one after another, {o.steps} loop rounds each; medians, ms")
    print(
        f"  Thread.start() to its first line: plain {fmt(per_thread(plain, 'to_first_line_ms'))}, "
        f"recorded {fmt(per_thread(ours, 'to_first_line_ms'))}"
    )
    print(
        f"  start() to join() returning:      plain {fmt(per_thread(plain, 'thread_ms'))}, "
        f"recorded {fmt(per_thread(ours, 'thread_ms'))}"
    )
    print(f"  a thread trace made (trace_made_seconds): {fmt(per_trace('made_ms'))}")
    print(
        f"  a thread trace finished at stop (its convert_seconds): {fmt(per_trace('convert_ms'))}; "
        f"streamed {streamed} of {traces}"
    )
    print(
        f"  stop: every thread trace finished (threads_finish_seconds): {fmt(median([r['threads_finish_ms'] for r in ours]))}; "
        f"main trace's drain {fmt(median([r['drain_ms'] for r in ours]))}"
    )
    print(
        f"  process wall after the program's last line: plain {fmt(median([r['after_last_line_ms'] for r in plain]))}, "
        f"recorded {fmt(median([r['after_last_line_ms'] for r in ours]))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
