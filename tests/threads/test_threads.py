"""Every thread of the program recorded, each into a trace of its own
(docs/recorder.md, "Threads"), and what CodeTracer's replay-server shows of
them.

programs/workers.py runs the program's own functions in plain threads, a
thread pool, a thread whose exception goes to threading.excepthook, and a
daemon thread still running at exit. The oracle (thread_oracle.py: plain
python under sys.settrace and threading.settrace, no recorder) gives each
thread's steps; each thread's trace, opened alone in the replay-server and
stepped through, must show exactly those (a daemon's as far as the trace
goes). The folder opens as a session listing the main trace and the first
other thread's; `--no-threads` gives the main trace alone, the same bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import ORACLE, PROGRAMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "replay"))

import replay as R
from dap import DapClient

WORKERS = PROGRAMS / "workers.py"
#: The threads of workers.py, as `threading` names them.
NAMES = {"worker-0", "worker-1", "pool_0", "pool_1", "failing", "ticker"}
#: Threads whose work is handed out by the pool: which takes which task varies run to run.
POOL = ("pool_0", "pool_1")
#: The daemon thread still running when the program ends.
DAEMON = "ticker"

needs_server = pytest.mark.skipif(
    not R.REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is absent ({R.REPLAY_SERVER}): the thread traces were NOT opened",
)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=cwd, env=R.clean_env(env), input=b"", capture_output=True, timeout=180)


def record(
    python: Path, out: Path, *options: str, env: dict[str, str] | None = None, program: Path = WORKERS
) -> subprocess.CompletedProcess[bytes]:
    return run(
        [str(python), "-m", "codetracer_python_recorder", "--trace-dir", str(out), *options, str(program)],
        program.parent,
        env,
    )


def meta(folder: Path) -> dict:
    return json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))


def steps(raw: list[dict]) -> list[R.Step]:
    return [R.Step(s["func"], s["line"], s["vars"], s["hidden"]) for s in raw]


_runs: dict[str, tuple] = {}


@pytest.fixture
def workers(recorder_python: Path, tmp_path_factory):
    """workers.py under the oracle, plainly, recorded, and recorded with
    --no-threads (once per interpreter)."""
    key = str(recorder_python)
    if key not in _runs:
        work = tmp_path_factory.mktemp("threads")
        plain = run([str(recorder_python), str(WORKERS)], WORKERS.parent)
        oracle = run([str(recorder_python), str(ORACLE), str(work / "oracle.json"), str(WORKERS)], WORKERS.parent)
        assert oracle.returncode == 0, oracle.stderr.decode()
        expected = {name: steps(s) for name, s in json.loads((work / "oracle.json").read_text("utf-8")).items()}
        recorded = record(recorder_python, work / "out")
        alone = record(recorder_python, work / "main-only", "--no-threads")
        _runs[key] = (work, plain, expected, recorded, alone)
    return _runs[key]


def test_each_thread_gets_a_trace_of_its_own(workers) -> None:
    work, _, _, recorded, _ = workers
    out = work / "out"
    assert recorded.returncode == 0, recorded.stderr.decode()
    index = json.loads((out / "threads.json").read_text(encoding="utf-8"))
    rows = index["threads"]
    assert {r["name"] for r in rows} == NAMES
    assert [r["index"] for r in rows] == list(range(1, len(rows) + 1))
    main = meta(out)
    assert index["main"]["recording_id"] == main["recording_id"] and index["main"]["folder"] == "."
    assert main["thread"] == {"main": True, "ident": index["main"]["ident"], "other_thread_traces": len(rows)}
    assert main["threads"].startswith("per-thread:")
    # Every event of every thread is in some trace: none counted as lost.
    assert main["metrics"]["other_thread_events"] == 0
    for row in rows:
        folder = out / row["folder"]
        assert row["folder"] == f"threads/{row['index']}-{row['name']}"
        m = meta(folder)
        assert m["recording_id"] == row["recording_id"] != main["recording_id"]
        assert m["thread"]["name"] == row["name"] and m["thread"]["ident"] == row["ident"]
        assert m["partial"] is False and m["stats"]["steps"] == row["stats"]["steps"] > 0
        # The replay estimate, as the main trace's (docs/test-runs.md, "Traces that open").
        assert m["steps"] == row["stats"]["steps"] and m["trace_bytes"] == (folder / "trace.json").stat().st_size
        assert 0 < m["replay_estimate"]["memory_bytes_low"] <= m["replay_estimate"]["memory_bytes_high"]
        assert m["metrics"]["other_thread_events"] == 0 and m["metrics"]["dropped_events"] == 0
        assert m["thread"]["started_before_recording"] is False
        running = row["name"] == DAEMON
        assert m["thread"]["running_at_stop"] is running
        assert ("incomplete" in m["thread"]) is running
        assert {p.name for p in folder.iterdir()} == {"trace.json", "trace_paths.json", "trace_metadata.json"}
    assert not [p for p in (out / "threads").iterdir() if p.name.startswith(".")]
    # The manifest: the main trace first, then the first other thread's (the
    # replay-server takes at most 2 traces but frontend/backend roles).
    manifest = tomllib.loads((out / "session.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == 1
    assert [(t["path"], t["role"], t["default_thread_prefix"], t["recording_id"]) for t in manifest["trace"]] == [
        (".", "thread MainThread", "main", main["recording_id"]),
        (rows[0]["folder"], f"thread {rows[0]['name']}", f"1-{rows[0]['name']}", rows[0]["recording_id"]),
    ]


def test_the_replay_budget_note_weighs_every_thread_trace(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = record(recorder_python, out, "--replay-budget", "0.0000001GB")
    assert r.returncode == 0, r.stderr.decode()
    notes = [line for line in r.stderr.decode().splitlines() if "too big for CodeTracer to open" in line]
    threads = json.loads((out / "threads.json").read_text(encoding="utf-8"))["threads"]
    assert len(notes) == 1 and f": note: {1 + len(threads)} trace(s) too big" in notes[0], notes
    assert f"and {len(threads) - 2} more" in notes[0]


def test_output_and_exit_status_stay_plain_pythons(workers) -> None:
    _, plain, _, recorded, alone = workers
    assert plain.returncode == recorded.returncode == alone.returncode == 0
    assert recorded.stdout == plain.stdout == alone.stdout
    # threading.excepthook's report of the failing thread.
    assert b"Exception in thread failing" in plain.stderr
    assert recorded.stderr == plain.stderr == alone.stderr


def test_no_threads_gives_the_main_trace_alone_byte_for_byte(workers, recorder_python: Path) -> None:
    work, _, _, _, _ = workers
    out, alone = work / "out", work / "main-only"
    assert sorted(p.name for p in alone.iterdir()) == ["trace.json", "trace_metadata.json", "trace_paths.json"]
    for name in ("trace.json", "trace_paths.json"):
        assert (alone / name).read_bytes() == (out / name).read_bytes(), name
    m = meta(alone)
    assert m["threads"].startswith("main-only:") and "thread" not in m
    # The other threads' events reached the recorder and were counted, not recorded.
    assert m["metrics"]["other_thread_events"] > 0
    env = record(recorder_python, work / "env", env={"CODETRACER_NO_THREADS": "1"})
    assert env.returncode == 0
    assert sorted(p.name for p in (work / "env").iterdir()) == sorted(p.name for p in alone.iterdir())
    assert (work / "env" / "trace.json").read_bytes() == (alone / "trace.json").read_bytes()


def test_the_apis_threads_option(recorder_python: Path, tmp_path: Path) -> None:
    """start(threads=False) records the calling thread alone."""
    code = (
        "import threading, codetracer_python_recorder as ctr\n"
        "def f(n):\n    return n * 2\n"
        "ctr.start({out!r}, threads={threads})\n"
        "t = threading.Thread(target=f, args=(3,), name='helper'); t.start(); t.join()\n"
        "ctr.stop()\n"
    )
    # The second recording goes into the first one's folder: its thread
    # traces, index and manifest go.
    out = tmp_path / "api"
    for threads, listed in ((True, ["helper"]), (False, None)):
        program = tmp_path / f"api_{threads}.py"
        program.write_text(code.format(out=str(out), threads=threads))
        r = run([str(recorder_python), str(program)], tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        if listed is None:
            assert sorted(p.name for p in out.iterdir()) == ["trace.json", "trace_metadata.json", "trace_paths.json"]
        else:
            rows = json.loads((out / "threads.json").read_text())["threads"]
            assert [r["name"] for r in rows] == listed


def test_threads_running_before_the_start_are_recorded_from_then_on(recorder_python: Path, tmp_path: Path) -> None:
    program = PROGRAMS / "late_start.py"
    out = tmp_path / "out"
    r = run([str(recorder_python), str(program), str(out)], program.parent)
    assert r.returncode == 0, r.stderr.decode()
    rows = {row["name"]: row for row in json.loads((out / "threads.json").read_text())["threads"]}
    assert set(rows) == {"early", "late"}
    early, late = meta(out / rows["early"]["folder"])["thread"], meta(out / rows["late"]["folder"])["thread"]
    assert early["started_before_recording"] is True and "running before the recording started" in early["incomplete"]
    assert late["started_before_recording"] is False and "incomplete" not in late
    # The early thread's loop, after the start, is in its trace.
    trace = json.loads((out / rows["early"]["folder"] / "trace.json").read_text())
    lines = [e["Step"]["line"] for e in trace if "Step" in e]
    loop = [i for i, line in enumerate(program.read_text().splitlines(), 1) if "total += i" in line][0]
    assert lines.count(loop) == 4


# --- what CodeTracer's replay-server shows ----------------------------------------------
def _replayed(work: Path, folder: str) -> list[R.Step]:
    rep = R.replay(work / "out" / folder, work / f"rt-{folder.replace('/', '-')}", only={str(WORKERS)})
    return rep.steps


@needs_server
@pytest.mark.replay
def test_each_thread_trace_steps_through_that_threads_lines(workers) -> None:
    """Each trace opened alone: its first stop is the `<toplevel>` entry at
    the first function the thread ran (as a program's trace starts at the
    module's), then every step of the thread as the oracle saw it."""
    work, _, expected, _, _ = workers
    rows = json.loads((work / "out" / "threads.json").read_text())["threads"]
    got = {row["name"]: _replayed(work, row["folder"]) for row in rows}
    failures = []
    for name, seen in got.items():
        first, rest = seen[0], [s for s in seen[1:] if s.func != "<toplevel>"]
        want = expected[name] if name not in POOL else None
        if want is None:  # the pool: the same tasks, by either of its threads
            want = next(expected[p] for p in POOL if expected[p][0].vars == (seen[1].vars if len(seen) > 1 else {}))
        assert (first.func, first.line) == ("<toplevel>", want[0].line), name
        if name == DAEMON:
            n = min(len(rest), len(want) - 1)
            assert n > 0
            problem = R.diff(want[1 : n + 1], rest[:n])
        else:
            problem = R.diff(want[1:], rest)
            if problem is None and len(rest) != len(want) - 1:
                problem = f"{len(rest)} steps replayed, the thread ran {len(want) - 1}"
        if problem:
            failures.append(f"{name}: {problem}")
    assert not failures, "\n".join(failures)


@needs_server
@pytest.mark.replay
def test_the_folder_opens_as_a_session_whose_main_thread_steps_as_before(workers) -> None:
    work, _, expected, _, _ = workers
    out = work / "out"
    rows = json.loads((out / "threads.json").read_text())["threads"]
    with DapClient(R.REPLAY_SERVER, work / "rt-session") as c:
        c.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
        c.request("launch", {"traceFolder": str(out), "program": "main", "pid": 1})
        c.request("configurationDone", {})
        c.wait_event("stopped", timeout=60)
        names = [t["name"] for t in c.request("threads", {})["body"]["threads"]]
        processes = c.request("ct/listProcesses", {})["body"]
    assert names == ["main:<thread 1>", f"1-{rows[0]['name']}:<thread 1>"]
    assert len(processes.get("processes", processes) if isinstance(processes, dict) else processes) == 2
    # The session's first trace (the main thread) steps as the main trace alone
    # does, and as the program's main thread ran.
    session = R.recorded_steps(R.replay(out, work / "rt-session-steps", only={str(WORKERS)}))
    assert R.diff(expected["MainThread"], session) is None
    assert len(session) == len(expected["MainThread"])
    alone = R.recorded_steps(R.replay(work / "main-only", work / "rt-main-only", only={str(WORKERS)}))
    assert session == alone


@needs_server
@pytest.mark.replay
def test_a_ctfs_folder_opens_as_a_session_and_each_thread_trace_alone(recorder_python: Path, tmp_path: Path) -> None:
    """trace.ct, what CodeTracer's UI opens: the same session, and a thread's
    trace.ct steps through that thread's lines."""
    out = tmp_path / "out"
    done = record(recorder_python, out, "--format", "ctfs")
    assert done.returncode == 0, done.stderr.decode()
    rows = json.loads((out / "threads.json").read_text())["threads"]
    assert all((out / r["folder"] / "trace.ct").is_file() for r in rows)
    names = R.session_threads(out, tmp_path / "rt")
    assert names == ["main:<thread 1>", f"1-{rows[0]['name']}:<thread 1>"]
    row = next(r for r in rows if r["name"] == "failing")
    seen = [(s.func, s.line) for s in R.replay(out / row["folder"], tmp_path / "rt2", only={str(WORKERS)}).steps]
    fails = [i for i, line in enumerate(WORKERS.read_text().splitlines(), 1) if line.startswith("def fails")][0]
    assert seen[0] == ("<toplevel>", fails) and seen[1:3] == [("fails", fails + 1), ("fails", fails + 2)]
