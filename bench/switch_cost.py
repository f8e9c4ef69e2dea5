"""What switching trace costs in a test run (docs/test-runs.md, "One trace
per test"): per cycle, the milliseconds of `_native.start` and
`_native.stop` of a recording that runs one small function, and of a whole
switch as a test run makes it (`_testrun.TestTraces.begin` + `end`: stop,
start, stop, the test's metadata), for trace.json and trace.ct; wall time,
and CPU time of the whole process (both threads: the trace.ct writer's
too). The options are the command line's for `--pytest` (its trace filter,
built by the CLI's own `_config_of`: the built-in filter with the
interpreter's folders, the project filter auto-discovery, the redaction
rules; other threads recorded, as the command line records them in a test
run, `--no-threads` not). Each figure is the median of --cycles cycles after --warmup, then
the median of --rounds rounds; several interpreters (wheels) given are
measured in turn within each round, so a busy machine weighs on all alike.

    .venv/bin/python bench/switch_cost.py PYTHON_WITH_THE_WHEEL [PYTHON...] [--cycles 60 --rounds 3] [--no-threads]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs in the recorder's interpreter, in a scratch folder that is the
# program's folder (so `work` is in the recording's scope).
CHILD = r"""
import json, os, statistics, sys, time
from codetracer_python_recorder import _native, _testrun, cli

fmt, cycles, warmup, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
o = cli.parse_args(["--format", fmt, "--pytest", "-q"])
options = cli._config_of(o).native([cli.PACKAGE_DIR])
options["threads"] = threads
program = os.path.abspath(__file__)


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def start(directory, path):
    return _native.start(directory, path or program, [], **options)


def timed(f):
    w, c = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - w, time.process_time() - c


def cycle(i):
    d = os.path.join("raw", str(i))
    s = timed(lambda: start(d, program))
    work(10)
    return s, timed(lambda: _native.stop(None))


starts, stops = [], []
for i in range(warmup + cycles):
    s, t = cycle(i)
    if i >= warmup:
        starts.append(s)
        stops.append(t)

traces = _testrun.TestTraces(os.path.abspath("run"), "pytest", start)
start(os.path.abspath("run"), program)


def switch(i):
    traces.begin(f"test_switch.py::test_{i}", program)
    work(10)
    traces.end("passed", record_after=False)


switches = [timed(lambda: switch(i)) for i in range(warmup + cycles)][warmup:]
ms = lambda xs, k: round(statistics.median(x[k] for x in xs) * 1e3, 3)
print(json.dumps({f"{name}_{kind}": ms(xs, k) for name, xs in (("start", starts), ("stop", stops), ("switch", switches))
                  for k, kind in ((0, "wall"), (1, "cpu"))}))
"""


def measure(python: str, fmt: str, cycles: int, warmup: int, threads: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        child = Path(tmp) / "switch_child.py"
        child.write_text(CHILD)
        p = subprocess.run(
            [str(Path(python).absolute()), str(child), fmt, str(cycles), str(warmup), "1" if threads else "0"],
            cwd=tmp,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


KEYS = [f"{name}_{kind}" for name in ("start", "stop", "switch") for kind in ("wall", "cpu")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("python", nargs="+")
    ap.add_argument("--cycles", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--no-threads",
        action="store_true",
        help="start() without the other threads' recording (the --pytest command line records them)",
    )
    a = ap.parse_args()
    rounds: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(a.rounds):
        for python in a.python:
            for fmt in ("json", "ctfs"):
                rounds.setdefault((python, fmt), []).append(measure(python, fmt, a.cycles, a.warmup, not a.no_threads))
    width = max(len(p) for p in a.python) + 2
    print("ms per cycle (wall / CPU of the process)")
    print(f"{'python':<{width}}{'format':<8}{'start':>14}{'stop':>14}{'switch':>14}")
    for (python, fmt), results in rounds.items():
        med = {k: statistics.median(r[k] for r in results) for k in KEYS}
        cells = "".join(f"{med[n + '_wall']:>7.2f} /{med[n + '_cpu']:>5.2f}" for n in ("start", "stop", "switch"))
        print(f"{python:<{width}}{fmt:<8}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
