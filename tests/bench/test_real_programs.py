"""bench/real_programs.py: the goal rows and the table it writes to
docs/performance-programs.md, from hand-made rows, and what it counts of a
trace folder (no program is run)."""

from __future__ import annotations

import json
from pathlib import Path

import real_programs as rp


def _row(version: str, where: str, scope: str, e2e: float) -> rp.Row:
    case = next(c for c in rp.CASES if c.where == where)
    return (version, case, scope, "ctfs", {"plain_s": 0.5, "inrun_x": 1.0, "e2e_x": e2e, "bytes": 2e6})


def test_goal_rows_judge_the_worst_default_scope_row_and_more_itertools() -> None:
    rows = [
        _row("3.12", "own", "default scope", 1.2),
        _row("3.12", "own", "default scope", 1.7),
        _row("3.12", "own", "--record-all", 30.0),  # (not a goal's)
        _row("3.12", "more-itertools", "default scope", 5.5),
        _row("3.13", "own", "default scope", 1.4),
    ]
    text = rp.render(rows, "--runs 1", ["3.12", "3.13"])
    assert "| our programs, default scope, end to end (worst) | <= 1.5x | 1.70 (NOT met) | 1.40 (met) |" in text
    assert "| more-itertools recipes tests to trace.ct, end to end | <= 6.0x | 5.50 (met) | n/a |" in text
    assert (
        "| 3.12 | more-itertools tests/test_recipes.py, --pytest (one trace per test) | default scope | ctfs |" in text
    )
    assert "`.venv/bin/python bench/real_programs.py --runs 1`" in text


def test_a_folder_counts_every_traces_recording_and_bytes(tmp_path: Path) -> None:
    """A test run's folder: every trace's recording seconds and trace files."""
    for sub, seconds, size in ((".", 0.25, 10), ("tests/a", 0.5, 100), ("tests/a/processes/7", 1.0, 1000)):
        folder = tmp_path / sub
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trace_metadata.json").write_text(json.dumps({"timings": {"recording_seconds": seconds}}))
        (folder / "trace.ct").write_bytes(b"x" * size)
        (folder / "trace_paths.json").write_text("[]")  # (not a trace file)
    assert rp.folder_facts(tmp_path) == (1.75, 1110)
