"""Real programs under the recorder: a stdlib-heavy CLI script and a pytest
run of a test file of our own (bench/programs/), plain and recorded with the
default scope (the program only) and with ``--record-all``.

For each: plain wall time, the recorded run's in-run time (start to stop of
the recording, ``timings.recording_seconds`` of the metadata) and its
end-to-end time (the whole process, to a finished trace.json), each as a
ratio to plain measured in the same run, and the trace's size. Medians of
``--runs``. Writes docs/performance-programs.md.

    .venv/bin/python bench/real_programs.py [--runs 5] [--pythons 3.12,3.13]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "bench" / "programs"
CASES = {
    "cli_report (argparse, csv, json, logging, re, ...)": ["cli_report.py"],
    "pytest test_inventory.py (33 tests)": ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inventory.py"],
}
SCOPES = {"default scope": [], "--record-all": ["--record-all"]}


def pyenv_python(version: str) -> Path:
    root = subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True).stdout.strip()
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    if not found:
        sys.exit(f"bench: CPython {version} not found under {root}/versions")
    return Path(found[-1])


def bench_venv(version: str, venvs: Path) -> Path:
    """A venv with our wheel and pytest (rebuilt when the wheel changes)."""
    wheels = sorted((REPO / "dist").glob("codetracer_python_recorder-*manylinux*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        sys.exit("bench: no recorder wheel in dist/: run `make wheel`")
    venv = venvs / f"bench-real-{version}"
    python = venv / "bin" / "python"
    stamp = venv / ".wheel"
    want = f"{wheels[-1].name} {wheels[-1].stat().st_mtime_ns}"
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        subprocess.run([str(pyenv_python(version)), "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheels[-1]), "pytest"],
            check=True,
        )
        stamp.write_text(want)
    return python


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    e["PYTHONHASHSEED"] = "0"
    return e


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=PROGRAMS, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def measure(python: Path, args: list[str], extra: list[str], runs: int, scratch: Path) -> dict[str, float]:
    plain, e2e, inrun, size = [], [], [], 0
    for _ in range(runs):
        plain.append(timed([str(python), *args]))
        out = scratch / "trace"
        shutil.rmtree(out, ignore_errors=True)
        e2e.append(timed([str(python), "-m", "codetracer_python_recorder", "-o", str(out), *extra, *args]))
        meta = json.loads((out / "trace_metadata.json").read_text())
        inrun.append(meta["timings"]["recording_seconds"])
        size = (out / "trace.json").stat().st_size
    p = statistics.median(plain)
    return {
        "plain_s": p,
        "inrun_x": statistics.median(inrun) / p,
        "e2e_x": statistics.median(e2e) / p,
        "trace_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pythons", default="3.12,3.13")
    ap.add_argument("--venvs", type=Path, default=REPO / ".venvs")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "performance-programs.md")
    o = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for version in o.pythons.split(","):
            python = bench_venv(version, o.venvs)
            for case, args in CASES.items():
                for scope, extra in SCOPES.items():
                    r = measure(python, args, extra, o.runs, Path(tmp))
                    rows.append((version, case, scope, r))
                    print(
                        f"{version} {case} [{scope}]: plain {r['plain_s'] * 1000:.0f} ms, in-run {r['inrun_x']:.2f}x, "
                        f"end-to-end {r['e2e_x']:.2f}x, trace.json {r['trace_bytes'] / 1e6:.3f} MB",
                        file=sys.stderr,
                    )
    lines = [
        "# Real programs under the recorder",
        "",
        "Produced by `make bench` (`.venv/bin/python bench/real_programs.py "
        f"--runs {o.runs} --pythons {o.pythons}`); medians, ratios against plain python measured in the same run.",
        "In-run: start to stop of the recording; end-to-end: the whole process, to a finished trace.json.",
        "",
        "| CPython | program | scope | plain | in-run | end-to-end | trace.json |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for version, case, scope, r in rows:
        lines.append(
            f"| {version} | {case} | {scope} | {r['plain_s'] * 1000:.0f} ms | {r['inrun_x']:.2f}x | "
            f"{r['e2e_x']:.2f}x | {r['trace_bytes'] / 1e6:.3f} MB |"
        )
    o.out.write_text("\n".join(lines) + "\n")
    print(f"bench: wrote {o.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
