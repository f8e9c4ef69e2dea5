"""A child made by os.fork() goes on recording into a trace of its own,
processes/<pid>/ in the parent's trace folder (docs/recorder.md,
"Processes"), however it ends; the parent's trace stays the parent's, the
output and exit statuses plain python's, and the folder opens as a session
of both in CodeTracer's replay-server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_threads import R, meta, needs_server, run

FORKS = Path(__file__).resolve().parents[1] / "recorder" / "programs" / "fork_endings.py"
#: How the child ends (fork_endings.py's argument), and its exit status.
ENDINGS = {"return": 0, "exit3": 3, "raise": 1, "os_exit": 4}


def trace(folder: Path) -> list[dict]:
    return json.loads((folder / "trace.json").read_text(encoding="utf-8"))


def lines(events: list[dict]) -> list[int]:
    return [e["Step"]["line"] for e in events if "Step" in e]


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(FORKS.read_text().splitlines(), 1) if line.startswith(text))


@pytest.mark.parametrize("how", list(ENDINGS))
def test_a_forked_child_records_into_a_trace_of_its_own(recorder_python: Path, tmp_path: Path, how: str) -> None:
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(FORKS), how], FORKS.parent)
    recorded = run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(FORKS), how], FORKS.parent
    )
    assert recorded.returncode == plain.returncode == 0
    assert sorted(recorded.stdout.splitlines()) == sorted(plain.stdout.splitlines())
    assert recorded.stderr == plain.stderr
    index = json.loads((out / "threads.json").read_text())
    [row] = index["processes"]
    child = out / row["folder"]
    assert row["folder"] == f"processes/{row['pid']}" and row["exit_status"] == ENDINGS[how]
    m = meta(child)
    assert m["process"]["pid"] == row["pid"] and m["process"]["parent_pid"] != row["pid"]
    assert m["partial"] is False and m["exit_status"] == ENDINGS[how]
    assert m["recording_id"] == row["recording_id"] != meta(out)["recording_id"]
    events = trace(child)
    calls = [e["Call"] for e in events if "Call" in e]
    assert [c["args"][0]["value"]["i"] for c in calls if c["args"]] == [21]  # child_work(21)
    returns = [e["Return"]["return_value"] for e in events if "Return" in e]
    assert {"kind": "Int", "i": 42} in [{k: r.get(k) for k in ("kind", "i")} for r in returns]
    assert any(e.get("Event", {}).get("content") == "child 42\n" for e in events)
    # The child's steps begin after the fork, in the frame that forked.
    assert lines(events)[:2] == [1, line_of("if pid == 0")]
    if how == "return":
        assert lines(events)[-1] == line_of('print("end of"')
    # The parent's trace: the parent's only.
    parent = trace(out)
    assert not [e for e in parent if e.get("Function", {}).get("name") == "child_work"]
    assert lines(parent)[-1] == line_of('print("end of"')


def test_no_follow_processes_leaves_the_child_unrecorded(recorder_python: Path, tmp_path: Path) -> None:
    for options, env in ((["--no-follow-processes"], None), ([], {"CODETRACER_NO_FOLLOW_PROCESSES": "1"})):
        out = tmp_path / f"out{len(options)}"
        done = run(
            [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), *options, str(FORKS), "return"],
            FORKS.parent,
            env,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert sorted(p.name for p in out.iterdir()) == ["trace.json", "trace_metadata.json", "trace_paths.json"]


@needs_server
@pytest.mark.replay
def test_the_folder_opens_as_a_session_of_parent_and_child(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(FORKS), "return"], FORKS.parent
    )
    assert done.returncode == 0, done.stderr.decode()
    [row] = json.loads((out / "threads.json").read_text())["processes"]
    names = R.session_threads(out, tmp_path / "rt")
    assert names == ["main:<thread 1>", f"process-{row['pid']}:<thread 1>"]
    # The child's trace alone: the child's steps, child_work's value included.
    seen = R.recorded_steps(R.replay(out / row["folder"], tmp_path / "rt2", only={str(FORKS)}))
    where = [(s.func, s.line) for s in seen]
    assert where[0] == ("<__main__>", line_of("if pid == 0"))
    assert ("child_work", line_of("    return n * 2")) in where
    assert where[-1] == ("<__main__>", line_of('print("end of"'))
    assert seen[-1].vars["pid"] == "0" and seen[-1].vars["how"] == '"return"'


@pytest.mark.parametrize("how", ["join", "terminate"])
def test_a_fork_pools_workers_are_recorded(recorder_python: Path, tmp_path: Path, how: str) -> None:
    """Workers that end themselves write their traces; workers the pool
    kills leave their stream, which the parent's stop turns into a trace
    marked partial."""
    program = Path(__file__).resolve().parent / "programs" / "pool_fork.py"
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(program), how], program.parent)
    recorded = run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(program), how], program.parent
    )
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    rows = json.loads((out / "threads.json").read_text())["processes"]
    assert len(rows) == 2
    squared = []
    for row in rows:
        m = meta(out / row["folder"])
        if how == "join":
            assert m["partial"] is False
        else:
            # terminate() sends each worker its end-of-work marker before it
            # kills it: a worker that reads it first ends cleanly (a complete
            # trace, exit status 0); one that is killed leaves a partial one.
            assert m["partial"] is True or m.get("exit_status") == 0, m
        # Its replay estimate: written by the child, or by the parent for a trace it recovered.
        assert m["trace_bytes"] == (out / row["folder"] / "trace.json").stat().st_size
        assert m["steps"] == m["stats"]["steps"] and m["replay_estimate"]["memory_bytes_low"] > 0
        events = trace(out / row["folder"])
        squared += [c["args"][0]["value"]["i"] for c in (e["Call"] for e in events if "Call" in e) if c["args"]]
    if how == "join":
        assert sorted(squared) == [1, 2, 3]  # each task ran in one of the workers, each recorded
