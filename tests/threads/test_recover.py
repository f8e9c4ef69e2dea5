"""`codetracer-python-recorder recover` after a recording of a threaded,
forking program was killed with SIGKILL (docs/recorder.md, "Threads",
"Processes"): every trace it left half-written — the main thread's, each
other thread's, the forked child's and its thread's — becomes a trace
marked partial that the trace checker accepts, and threads.json and
session.toml list them as a finished recording would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from .conftest import PROGRAMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "replay"))

import replay as R

KILLED = PROGRAMS / "killed.py"


def meta(folder: Path) -> dict:
    return json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))


def recover(python: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """`codetracer-python-recorder recover OUT`."""
    return subprocess.run(
        [str(python), "-m", "codetracer_python_recorder", "recover", str(out)],
        cwd=cwd,
        env=R.clean_env(),
        capture_output=True,
        timeout=120,
    )


def checked(trace_check: Path, folder: Path) -> None:
    """A trace marked partial that reads whole: trace.json passes the
    checker; a trace.ct carries the mark itself, which the checker reports
    (and nothing else), and every event of it reads into the official types."""
    assert meta(folder)["partial"] is True, folder
    done = subprocess.run([str(trace_check), str(folder)], capture_output=True, text=True)
    if not (folder / "trace.ct").exists():
        assert done.returncode == 0, f"{folder}: {done.stderr}"
        return
    assert done.returncode == 1 and done.stderr.endswith(
        "the recorder marked this trace partial: ERR_TRACE_STREAM_CORRUPT\n"
    ), done.stderr
    events = subprocess.run([str(trace_check), "--events", str(folder)], capture_output=True, text=True)
    assert events.returncode == 0, events.stderr
    rows = [json.loads(line) for line in events.stdout.splitlines()]
    assert any("Call" in e for e in rows) and any("Step" in e for e in rows)


@pytest.mark.parametrize("fmt", ["json", "ctfs"])
def test_recover_converts_every_thread_and_process_trace_of_a_killed_recording(
    recorder_python: Path, tmp_path: Path, trace_check: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            "--trace-dir",
            str(out),
            "--format",
            fmt,
            str(KILLED),
            str(tmp_path / "child-ready"),
        ],
        cwd=PROGRAMS,
        env=R.clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n", (
            proc.stderr.read() if proc.stderr else ""
        )
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the recording and its forked child
        proc.communicate(timeout=30)
    assert not (out / "trace_metadata.json").exists() and not (out / "threads.json").exists()
    children = [p for p in (out / "processes").iterdir()]
    assert len(children) == 1
    time.sleep(0.2)  # (the child, killed too, is gone)

    r = recover(recorder_python, out, tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert b"recovered a partial trace of" in r.stderr and b"3 thread trace(s), 1 forked child's trace(s)" in r.stderr
    checked(trace_check, out)
    index = json.loads((out / "threads.json").read_text(encoding="utf-8"))
    threads = index["threads"]
    assert sorted(t["name"] for t in threads) == ["spinner-0", "spinner-1"]
    assert [t["folder"] for t in threads] == [f"threads/{n}-{t['name']}" for n, t in enumerate(threads, 1)]
    for t in threads:
        assert t["partial"] is True and "killed" in t["incomplete"] and t["stats"]["calls"] >= 1
        checked(trace_check, out / t["folder"])
        assert meta(out / t["folder"])["recording_id"] == t["recording_id"]
    assert not [p for p in (out / "threads").iterdir() if p.name.startswith(".")]  # no staging folder left
    [process] = index["processes"]
    assert process["partial"] is True and process["folder"] == f"processes/{children[0].name}"
    child = out / process["folder"]
    checked(trace_check, child)
    [child_thread] = json.loads((child / "threads.json").read_text(encoding="utf-8"))["threads"]
    assert child_thread["name"] == "child-spinner"
    checked(trace_check, child / child_thread["folder"])
    # CodeTracer's manifest: the main trace, then the first other thread's.
    manifest = tomllib.loads((out / "session.toml").read_text(encoding="utf-8"))
    assert [(t["path"], t["recording_id"]) for t in manifest["trace"]] == [
        (".", meta(out)["recording_id"]),
        (threads[0]["folder"], threads[0]["recording_id"]),
    ]
    # Recovered once: a second recover finds nothing left.
    again = subprocess.run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "recover", str(out)],
        cwd=tmp_path,
        env=R.clean_env(),
        capture_output=True,
        timeout=60,
    )
    assert again.returncode != 0 and b"no partial recording to recover" in again.stderr
