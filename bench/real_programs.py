"""Real programs under the recorder, plain and recorded, to a finished
trace.json and to a finished trace.ct:

- a stdlib-heavy CLI script and a pytest run of a test file of our own
  (bench/programs/), with the default scope (the program only) and with
  ``--record-all``;
- more-itertools' recipes tests, its sdist's own package as the program
  (the version pinned in bench/pins.toml, fetched with ``pip download``
  into bench/out/cache/), recorded as CodeTracer records a test run
  (``--pytest``: one trace per test), to trace.ct.

For each: plain wall time, the recording's in-run time (start to stop of
the recordings: ``timings.recording_seconds`` summed over every
``trace_metadata.json`` of the folder) and its end-to-end time (the whole
process, to finished traces), each as a ratio to plain measured in the same
run, and the folder's trace bytes. Medians of ``--runs`` (more-itertools:
at most 2, its recorded run lasts minutes). Writes
docs/performance-programs.md, with the goal rows of docs/performance.md's
"real programs" goals.

    .venv/bin/python bench/real_programs.py [--runs 5] [--pythons 3.12,3.13] [--only more-itertools]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ctbench.envs import load_pins, newest_wheel
from ctbench.pythons import pyenv_python

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "bench" / "programs"
CACHE = REPO / "bench" / "out" / "cache"
#: The goals (issue text in docs/performance.md, Goals): the worst default-scope
#: row of our own programs, end to end; more-itertools' recipes tests to trace.ct.
OWN_PROGRAMS_LIMIT = 1.5
MORE_ITERTOOLS_LIMIT = 6.0
METADATA = "trace_metadata.json"
TRACE_FILES = ("trace.json", "trace.ct")


@dataclass(frozen=True)
class Case:
    name: str
    #: The program's arguments after ``python`` (plain) and after the recorder's options.
    plain: tuple[str, ...]
    recorded: tuple[str, ...]
    #: (scope, the recorder's options) pairs and the formats it is recorded to.
    scopes: tuple[tuple[str, tuple[str, ...]], ...]
    formats: tuple[str, ...]
    #: "own" (bench/programs) or "more-itertools" (the sdist's folder).
    where: str = "own"
    #: At most this many runs (a program of minutes: its medians need fewer).
    max_runs: int = 1_000


DEFAULT = ("default scope", ())
RECORD_ALL = ("--record-all", ("--record-all",))
PYTEST_Q = ("-q", "-p", "no:cacheprovider")
CASES = (
    Case(
        "cli_report (argparse, csv, json, logging, re, ...)",
        ("cli_report.py",),
        ("cli_report.py",),
        (DEFAULT, RECORD_ALL),
        ("json", "ctfs"),
    ),
    Case(
        "pytest test_inventory.py (33 tests), one trace",
        ("-m", "pytest", *PYTEST_Q, "test_inventory.py"),
        ("-m", "pytest", *PYTEST_Q, "test_inventory.py"),
        (DEFAULT, RECORD_ALL),
        ("json", "ctfs"),
    ),
    Case(
        "more-itertools tests/test_recipes.py, --pytest (one trace per test)",
        ("-m", "pytest", *PYTEST_Q, "tests/test_recipes.py"),
        ("--pytest", *PYTEST_Q, "tests/test_recipes.py"),
        (DEFAULT,),
        ("ctfs",),
        where="more-itertools",
        max_runs=2,
    ),
)


def bench_venv(version: str, venvs: Path) -> Path:
    """A venv with our wheel and the pinned pytest (rebuilt when either changes)."""
    wheel = newest_wheel(REPO / "dist")
    if wheel is None:
        sys.exit("bench: no recorder wheel in dist/: run `make wheel`")
    pytest_req = load_pins()["pytest"]["requirement"]
    venv = venvs / f"bench-real-{version}"
    python = venv / "bin" / "python"
    stamp = venv / ".wheel"
    want = f"{wheel.name} {wheel.stat().st_mtime_ns} {pytest_req}"
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        subprocess.run([str(pyenv_python(version)), "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--force-reinstall", str(wheel), pytest_req], check=True)
        stamp.write_text(want)
    return python


def more_itertools_sdist(python: Path, scratch: Path) -> Path:
    """The pinned more-itertools sdist, unpacked into ``scratch`` (its
    package is the program: imported from the folder, not installed)."""
    req = load_pins()["more-itertools"]["requirement"]
    CACHE.mkdir(parents=True, exist_ok=True)
    name, _, version = req.partition("==")
    archives = sorted(CACHE.glob(f"{name.replace('-', '_')}-{version}.tar.gz"))
    if not archives:
        pip = [str(python), "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps"]
        subprocess.run([*pip, "--no-binary", ":all:", "-d", str(CACHE), req], check=True)
        archives = sorted(CACHE.glob(f"{name.replace('-', '_')}-{version}.tar.gz"))
    if not archives:
        sys.exit(f"bench: pip download of {req} gave no sdist in {CACHE}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(scratch, filter="data")
    return scratch / archives[0].name.removesuffix(".tar.gz")


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    e["PYTHONHASHSEED"] = "0"
    return e


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    # (A test run's status says whether its tests passed: not checked, the same plain and recorded.)
    subprocess.run(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def folder_facts(out: Path) -> tuple[float, int]:
    """Seconds recorded (``recording_seconds`` of every trace's metadata in
    the folder) and the bytes of its trace files."""
    seconds = 0.0
    size = 0
    for root, _dirs, files in os.walk(out):
        if METADATA in files:
            meta = json.loads((Path(root) / METADATA).read_text(encoding="utf-8"))
            seconds += float(meta.get("timings", {}).get("recording_seconds", 0.0))
        size += sum((Path(root) / f).stat().st_size for f in files if f in TRACE_FILES)
    return seconds, size


Row = tuple[str, "Case", str, str, dict[str, float]]


def measure(
    python: Path, case: Case, extra: tuple[str, ...], fmt: str, runs: int, cwd: Path, scratch: Path
) -> dict[str, float]:
    plain: list[float] = []
    e2e: list[float] = []
    inrun: list[float] = []
    size = 0
    for _ in range(runs):
        plain.append(timed([str(python), *case.plain], cwd))
        out = scratch / "trace"
        shutil.rmtree(out, ignore_errors=True)
        recorder = [str(python), "-m", "codetracer_python_recorder", "--out-dir", str(out), "--format", fmt]
        e2e.append(timed([*recorder, *extra, *case.recorded], cwd))
        seconds, size = folder_facts(out)
        inrun.append(seconds)
    p = statistics.median(plain)
    return {
        "plain_s": p,
        "inrun_x": statistics.median(inrun) / p,
        "e2e_x": statistics.median(e2e) / p,
        "bytes": float(size),
    }


def goal_rows(rows: list[Row], versions: list[str]) -> list[str]:
    """The goal rows, one column per CPython: the worst end to end of our
    own programs with the default scope, and more-itertools' to trace.ct."""

    def cell(values: list[float], limit: float) -> str:
        if not values:
            return "n/a"
        worst = max(values)
        return f"{worst:.2f} ({'met' if worst <= limit else 'NOT met'})"

    own: list[str] = []
    more: list[str] = []
    for version in versions:
        picked = [r for r in rows if r[0] == version and r[2] == DEFAULT[0]]
        own.append(cell([r[4]["e2e_x"] for r in picked if r[1].where == "own"], OWN_PROGRAMS_LIMIT))
        more.append(cell([r[4]["e2e_x"] for r in picked if r[1].where == "more-itertools"], MORE_ITERTOOLS_LIMIT))
    head = " | ".join(f"CPython {v}" for v in versions)
    return [
        f"| goal | limit | {head} |",
        "|---|---|" + "---|" * len(versions),
        f"| our programs, default scope, end to end (worst) | <= {OWN_PROGRAMS_LIMIT}x | {' | '.join(own)} |",
        f"| more-itertools recipes tests to trace.ct, end to end | <= {MORE_ITERTOOLS_LIMIT}x | {' | '.join(more)} |",
    ]


def render(rows: list[Row], argv: str, versions: list[str]) -> str:
    lines = [
        "# Real programs under the recorder",
        "",
        f"Produced by `make bench` (`.venv/bin/python bench/real_programs.py {argv}`); medians, ratios against "
        "plain python measured in the same run.",
        "In-run: start to stop of the recordings (every trace's `recording_seconds`); end-to-end: the whole "
        "process, to finished traces; bytes: the folder's trace files.",
        "",
        *goal_rows(rows, versions),
        "",
        "| CPython | program | scope | format | plain | in-run | end-to-end | traces |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for version, case, scope, fmt, r in rows:
        lines.append(
            f"| {version} | {case.name} | {scope} | {fmt} | {r['plain_s'] * 1000:.0f} ms | {r['inrun_x']:.2f}x | "
            f"{r['e2e_x']:.2f}x | {r['bytes'] / 1e6:.3f} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pythons", default="3.12,3.13")
    ap.add_argument("--only", default="", help="comma-separated words: run only the programs whose name has one")
    ap.add_argument("--venvs", type=Path, default=REPO / ".venvs")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "performance-programs.md")
    o = ap.parse_args(argv)
    words = [w for w in o.only.split(",") if w]
    cases = [c for c in CASES if not words or any(w in c.name for w in words)]
    versions = o.pythons.split(",")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for version in versions:
            python = bench_venv(version, o.venvs)
            for case in cases:
                cwd = PROGRAMS
                if case.where == "more-itertools":
                    cwd = more_itertools_sdist(python, Path(tmp) / f"src-{version}")
                for scope, extra in case.scopes:
                    for fmt in case.formats:
                        r = measure(python, case, extra, fmt, min(o.runs, case.max_runs), cwd, Path(tmp))
                        rows.append((version, case, scope, fmt, r))
                        print(
                            f"{version} {case.name} [{scope}, {fmt}]: plain {r['plain_s'] * 1000:.0f} ms, "
                            f"in-run {r['inrun_x']:.2f}x, end-to-end {r['e2e_x']:.2f}x, {r['bytes'] / 1e6:.3f} MB",
                            file=sys.stderr,
                        )
    shown = " ".join(sys.argv[1:] if argv is None else argv) or f"--runs {o.runs} --pythons {o.pythons}"
    o.out.write_text(render(rows, shown, versions), encoding="utf-8")
    print(f"bench: wrote {o.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
