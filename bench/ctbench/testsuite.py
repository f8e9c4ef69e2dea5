"""A test suite recorded (docs/test-runs.md): the suite of bench/programs/suite (1,200
pytest tests of a small ledger module, ~1.5 M recorded steps in all) run
plain and under the recorder's test run, `--pytest` with `--format ctfs` and
the default scope, both one trace per test (the default) and
`--single-trace`; each whole pytest process timed, the tests' traces read
from OUT/tests.json (docs/test-runs.md), the largest per-test traces opened
in CodeTracer's replay-server (replay_open.py), and the single trace opened
only when its replay estimate is small enough (it is not, by far: a whole
suite is what one trace per test avoids).

The suite is copied to a scratch folder and run there, so that pytest's and
Python's caches never land in the repository. Each recorded run must end as
the plain one did (pytest's exit status and its summary line), or the suite
counts as failed."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .proc import run_measured
from .replay_open import measure_open
from .results import OpenCell, SuiteResult, SuiteRun, TraceFacts

__all__ = [
    "SUITE",
    "PYTEST_ARGS",
    "MODES",
    "SuiteOptions",
    "suite_argv",
    "parse_summary",
    "parse_index",
    "facts_from_meta",
    "to_open",
    "run_suite",
]

SUITE = Path(__file__).resolve().parent.parent / "programs" / "suite"
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider"]
#: What each mode adds to the command line of the recorder (none: plain pytest).
MODES = {"plain": None, "per-test": ["--format", "ctfs"], "single": ["--format", "ctfs", "--single-trace"]}

_SUMMARY_TIME = re.compile(r"\s+in [\d.]+s(?: \([^)]*\))?\s*=*\s*$")


@dataclass(frozen=True)
class SuiteOptions:
    runs: int
    warmup: int
    opens: int  # how many of the largest per-test traces to open
    single_max_gb: float  # open the single trace only when its replay estimate is under this
    server: Path | None  # None: no opens (--no-open, or no server here)
    json_max_mb: float
    timeout: float
    max_gb: float  # the address-space limit of every open (prlimit --as)


def suite_argv(python: Path, mode: str, out_dir: Path) -> list[str]:
    """The command of one run in `mode` (plain, per-test, single)."""
    extra = MODES[mode]
    if extra is None:
        return [str(python), "-m", "pytest", *PYTEST_ARGS]
    return [
        str(python),
        "-m",
        "codetracer_python_recorder",
        "--out-dir",
        str(out_dir),
        *extra,
        "--pytest",
        *PYTEST_ARGS,
    ]


def parse_summary(stdout: str) -> str | None:
    """pytest's summary line without its duration: `4 failed, 1196 passed`."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    return _SUMMARY_TIME.sub("", lines[-1]).strip("= ") or None


def _estimate(doc: dict[str, Any]) -> tuple[int | None, float | None]:
    est = doc.get("replay_estimate") or {}
    return est.get("memory_bytes"), est.get("open_seconds")


def parse_index(doc: dict[str, Any]) -> tuple[dict[str, int], list[TraceFacts], list[TraceFacts]]:
    """From tests.json: the counts per outcome, the tests' traces (those with
    a folder) and every trace (tests, the session, between-tests)."""
    tests, every = [], []
    for t in doc.get("traces", []):
        if t.get("folder") is None:
            continue
        facts = TraceFacts(t["id"], t["folder"], t.get("steps"), t.get("trace_bytes"), *_estimate(t))
        every.append(facts)
        if t.get("kind") == "test":
            tests.append(facts)
    return dict(doc.get("counts", {})), tests, every


def facts_from_meta(meta: dict[str, Any], trace_id: str = "single trace") -> TraceFacts:
    """The single trace's facts from its trace_metadata.json."""
    return TraceFacts(trace_id, ".", meta.get("steps"), meta.get("trace_bytes"), *_estimate(meta))


def to_open(tests: list[TraceFacts], n: int) -> list[TraceFacts]:
    """The `n` per-test traces with the most steps, most first, then the one
    with the fewest (its open is the server's fixed cost, which the others'
    per-step figures are taken above)."""
    ranked = sorted((t for t in tests if t.steps is not None), key=lambda t: (-(t.steps or 0), t.id))
    chosen = ranked[:n]
    if ranked and ranked[-1] not in chosen:
        chosen.append(ranked[-1])
    return chosen


def _measure(argv: list[str], cwd: Path, log_dir: Path, env: dict[str, str]) -> tuple[SuiteRun, int, str | None]:
    m = run_measured(argv, env=env, cwd=cwd, log_dir=log_dir)
    return SuiteRun(m.wall_s, m.cpu_s, m.maxrss_kb), m.returncode, parse_summary(m.stdout)


def run_suite(
    python: Path, py: str, scratch: Path, env: dict[str, str], o: SuiteOptions, log: Callable[[str], None]
) -> SuiteResult:
    """Plain, per-test and single runs interleaved (warm-up rounds first),
    then the opens; the trace folders are deleted as soon as they are read."""
    res = SuiteResult(py, {mode: [] for mode in MODES})
    shutil.rmtree(scratch, ignore_errors=True)
    work = scratch / "suite"
    shutil.copytree(SUITE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    kept = scratch / "kept"
    try:
        for rnd in range(o.warmup + o.runs):
            last = rnd == o.warmup + o.runs - 1
            for mode in MODES:
                out = scratch / mode
                shutil.rmtree(out, ignore_errors=True)
                run, status, summary = _measure(suite_argv(python, mode, out), work, scratch / "logs" / mode, env)
                if mode == "plain":
                    res.exit_status, res.summary = status, summary
                elif (status, summary) != (res.exit_status, res.summary):
                    res.failed = (
                        f"{mode}: pytest ended with status {status} and {summary!r}, plain pytest with "
                        f"{res.exit_status} and {res.summary!r} (logs: {scratch / 'logs' / mode})"
                    )
                    return res
                if rnd >= o.warmup:
                    res.runs[mode].append(run)
                if mode != "plain" and last:
                    _read_traces(res, mode, out, kept, o.opens)
                shutil.rmtree(out, ignore_errors=True)  # a single trace of the suite is tens of MB
            warm = " (warm-up)" if rnd < o.warmup else ""
            log(f"CPython {py} test suite: round {rnd + 1}/{o.warmup + o.runs}{warm}")
        _open_kept(res, py, kept, scratch / "open", o, log)
    except (OSError, ValueError, KeyError) as exc:
        res.failed = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def _read_traces(res: SuiteResult, mode: str, out: Path, kept: Path, opens: int) -> None:
    """Reads the last measured run's traces; keeps the folders to open."""
    kept.mkdir(parents=True, exist_ok=True)
    if mode == "per-test":
        counts, tests, every = parse_index(json.loads((out / "tests.json").read_text(encoding="utf-8")))
        res.counts = counts
        res.traces = len(every)
        res.steps = sum(t.steps or 0 for t in every)
        res.trace_bytes = sum(t.trace_bytes or 0 for t in every)
        res.opened = to_open(tests, opens)
        res.largest = next(iter(to_open(tests, 1)), None)
        for i, t in enumerate(res.opened):
            shutil.move(out / str(t.folder), kept / f"{i:02d}")
    else:
        res.single = facts_from_meta(json.loads((out / "trace_metadata.json").read_text(encoding="utf-8")))
        shutil.move(out, kept / "single")


def _open_kept(
    res: SuiteResult, py: str, kept: Path, scratch: Path, o: SuiteOptions, log: Callable[[str], None]
) -> None:
    server = o.server
    if server is None:
        return

    def opened(facts: TraceFacts, folder: Path) -> OpenCell:
        log(
            f"CPython {py} test suite: opening {facts.id} ({facts.steps:,} steps) in the replay-server "
            f"({o.runs} run(s))"
        )
        cell = measure_open(
            server,
            py,
            facts.id,
            "ct",
            folder if folder.is_dir() else None,
            runs=o.runs,
            scratch=scratch,
            json_max_mb=o.json_max_mb,
            timeout=o.timeout,
            max_gb=o.max_gb,
        )
        shutil.rmtree(folder, ignore_errors=True)
        return cell

    res.opens = [opened(t, kept / f"{i:02d}") for i, t in enumerate(res.opened)]
    single = res.single
    if single is None:
        return
    need = single.estimate_bytes
    if need is None or need > o.single_max_gb * 2**30:
        res.single_open = OpenCell(
            py,
            single.id,
            "ct",
            single.trace_bytes,
            not_opened=(
                f"not opened (estimated {need / 2**30:,.1f} GB, over {o.single_max_gb:g} GB)"
                if need is not None
                else "not opened (no replay estimate)"
            ),
        )
    else:
        res.single_open = opened(single, kept / "single")
