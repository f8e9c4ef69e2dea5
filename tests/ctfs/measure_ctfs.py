"""Size and load cost of trace.ct against trace.json on the benchmark
workloads: records each workload (trace.json), converts it to trace.ct,
and opens both in CodeTracer's replay-server (launch until the first stop)
under /usr/bin/time -v for wall time and peak memory.

    .venv/bin/python -m tests.ctfs.measure_ctfs --scale 0.01 --open-json-max-mb 60

Prints a Markdown table (docs/ctfs.md holds the figures)."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ctfs.dap_client import Dap, DapError

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = REPO.parent / "shared" / "bench" / "workloads"


def open_cost(trace_dir: Path, work: Path) -> tuple[float, int] | str:
    """Seconds from spawn to the first stop, and peak RSS in KB."""
    out = work / f"time-{trace_dir.name}.txt"
    rt = work / f"rt-{trace_dir.name}"
    rt.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dap = Dap(rt, timeout=600, wrapper=["/usr/bin/time", "-v", "-o", str(out)])
    try:
        dap.launch(trace_dir)
        elapsed = time.perf_counter() - t0
    except DapError as exc:
        return f"did not open: {exc}"[:200]
    finally:
        dap.close()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.read_text()).group(1))
    return elapsed, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--python", default=str(REPO / ".venvs" / "rec312" / "bin" / "python"))
    ap.add_argument("--open-json-max-mb", type=float, default=60,
                    help="do not open a trace.json bigger than this (the replay-server needs 60-110x its size)")
    ap.add_argument("--workloads", nargs="*", default=["w_recursion", "w_numeric", "w_objects", "w_mixed"])
    a = ap.parse_args()
    convert = REPO / "recorder" / "target" / "release" / "ct-trace-convert"
    subprocess.run(["cargo", "build", "--quiet", "--release", "--manifest-path", str(REPO / "recorder" / "Cargo.toml"),
                    "-p", "trace-convert"], check=True)
    work = Path(tempfile.mkdtemp(prefix="ctfs-measure-"))
    print(f"scale {a.scale}, {a.python}")
    print("| workload | steps | trace.json B/step | trace.ct B/step | ratio | convert s | open json s / MB | open ct s / MB |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for w in a.workloads:
            jd, cd = work / f"{w}-json", work / f"{w}-ct"
            env = {**os.environ, "ANCHOR_SCALE": repr(a.scale), "PYTHONHASHSEED": "0"}
            subprocess.run([a.python, "-m", "codetracer_python_recorder", "--trace-dir", str(jd), str(WORKLOADS / f"{w}.py")],
                           env=env, check=True, capture_output=True)
            t0 = time.perf_counter()
            subprocess.run([str(convert), str(jd), str(cd)], check=True, capture_output=True)
            conv = time.perf_counter() - t0
            steps = 0
            with open(jd / "trace.json", "rb") as f:
                for line in f:
                    steps += line.count(b'{"Step":')
            js, cs = (jd / "trace.json").stat().st_size, (cd / "trace.ct").stat().st_size
            if js / 1e6 <= a.open_json_max_mb:
                oj = open_cost(jd, work)
            else:
                oj = f"not opened ({js / 1e6:.0f} MB)"
            oc = open_cost(cd, work)
            fmt = lambda o: o if isinstance(o, str) else f"{o[0]:.2f} / {o[1] / 1024:.0f}"  # noqa: E731
            print(f"| {w} | {steps} | {js / steps:.0f} | {cs / steps:.1f} | {js / cs:.0f}x | {conv:.2f} | {fmt(oj)} | {fmt(oc)} |",
                  flush=True)
            shutil.rmtree(jd)
            shutil.rmtree(cd)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
