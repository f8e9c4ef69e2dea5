"""The trace of a thread is replayed beside the run, on the recording's one
converter thread, as its stream is flushed and once the thread ended
(docs/recorder.md, "Threads"), and holds
exactly what converting it at stop gives (CODETRACER_LIVE_CONVERT=0); the
converter ends before each os.fork(), so the program prints what plain
python prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import PROGRAMS
from .test_threads import meta, record, run

ENDED = PROGRAMS / "ended.py"


def rows(out: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads((out / "threads.json").read_text())["threads"]}


def events(trace_check: Path, folder: Path) -> list[str]:
    done = subprocess.run([str(trace_check), "--events", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_ended_threads_are_replayed_beside_the_run_into_the_same_traces(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    beside = record(recorder_python, tmp_path / "beside", "--format", "ctfs", program=ENDED)
    after = record(
        recorder_python, tmp_path / "after", "--format", "ctfs", program=ENDED, env={"CODETRACER_LIVE_CONVERT": "0"}
    )
    assert (beside.returncode, beside.stdout) == (after.returncode, after.stdout) == (0, b"done\n"), beside.stderr
    got, want = rows(tmp_path / "beside"), rows(tmp_path / "after")
    assert set(got) == set(want) == {"long", "first", "second", "third", "ticker"}
    for name in ("long", "first", "second"):  # ended well before the stop
        timings = meta(tmp_path / "beside" / got[name]["folder"])["timings"]
        assert timings["convert_streamed"] is True and timings["trace_made_seconds"] > 0, timings
    assert "convert_streamed" not in meta(tmp_path / "after" / want["first"]["folder"])["timings"]
    # (The daemon thread's trace ends wherever the stop found it.)
    for name in ("long", "first", "second", "third"):
        assert events(trace_check, tmp_path / "beside" / got[name]["folder"]) == events(
            trace_check, tmp_path / "after" / want[name]["folder"]
        ), name
    # (The main trace holds the Thread objects, whose idents vary run to run.)
    assert "threads_finish_seconds" in meta(tmp_path / "beside")["timings"]


def test_a_fork_after_threads_ended_shows_no_warning_of_the_converter(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    plain = run([str(recorder_python), str(ENDED), "fork"], ENDED.parent)
    recorded = run(
        [
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            "--format",
            "ctfs",
            "--trace-dir",
            str(tmp_path / "t"),
            str(ENDED),
            "fork",
        ],
        ENDED.parent,
    )
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    got = rows(tmp_path / "t")
    assert set(got) == {"long", "first", "second", "third", "ticker"}
    assert meta(tmp_path / "t" / got["first"]["folder"])["timings"]["convert_streamed"] is True
    assert len(json.loads((tmp_path / "t" / "threads.json").read_text())["processes"]) == 1
    assert subprocess.run([str(trace_check), str(tmp_path / "t")], capture_output=True).returncode == 0
    for row in got.values():
        assert (
            subprocess.run([str(trace_check), str(tmp_path / "t" / row["folder"])], capture_output=True).returncode == 0
        )
