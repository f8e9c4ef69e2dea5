"""A forked child on a machine of at most two cores records without a
conversion beside its run and leaves its trace to the parent's stop
(docs/recorder.md, "Processes": the program's wait for its child is plain
python's). The trace is the one the child would have written: complete,
with its exit status and its own metadata; a child that ends after the
parent's recording stopped writes its own; a trace handed over to a parent
that was then killed is written whole by `recover`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PROGRAMS
from .test_recover import recover
from .test_threads import R

HANDOVER = PROGRAMS / "handover.py"
#: A child started as a new interpreter in each of four ways (tests/processes).
CHILDREN = Path(__file__).resolve().parents[1] / "processes" / "programs" / "children.py"

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")


def one_core() -> None:
    """The recording runs on one core (in the child, before exec): a
    machine of at most two cores, whatever this one has."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def record(python: Path, out: Path, how: str, fmt: str = "json", **popen) -> subprocess.Popen[bytes]:
    cmd = [str(python), "-m", "codetracer_python_recorder", "-o", str(out), "--format", fmt, str(HANDOVER), how]
    return subprocess.Popen(
        cmd,
        cwd=PROGRAMS,
        env=R.clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=one_core,
        **popen,
    )


def meta(folder: Path) -> dict:
    return json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))


def child_calls(folder: Path) -> list[int]:
    """The arguments of child_work's calls in the trace.json of `folder`."""
    events = json.loads((folder / "trace.json").read_text(encoding="utf-8"))
    fid = [i for i, f in enumerate(e["Function"] for e in events if "Function" in e) if f["name"] == "child_work"]
    return [c["args"][0]["value"]["i"] for c in (e["Call"] for e in events if "Call" in e) if c["function_id"] in fid]


@pytest.mark.parametrize("fmt", ["json", "ctfs"])
def test_the_parents_stop_writes_the_trace_its_child_handed_over(
    recorder_python: Path, tmp_path: Path, trace_check: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    proc = record(recorder_python, out, "wait", fmt)
    stdout, stderr = proc.communicate(timeout=180)
    assert (proc.returncode, stderr) == (0, b""), stderr.decode()
    assert sorted(stdout.splitlines()) == [b"child 8555", b"parent done"]
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    child = out / row["folder"]
    m = meta(child)
    assert m["timings"]["handed_to_parent"] is True and "recovered" not in m
    assert m["partial"] is False and m["exit_status"] == row["exit_status"] == 0
    assert m["process"]["pid"] == row["pid"] and m["recording_id"] == row["recording_id"]
    assert m["trace_bytes"] > 0 and m["steps"] == m["stats"]["steps"]  # the parent's replay estimate
    assert sorted(p.name for p in child.iterdir()) == sorted(
        ["trace_metadata.json", "trace_paths.json", "trace.json" if fmt == "json" else "trace.ct"]
    )  # no staging folder left
    done = subprocess.run([str(trace_check), str(child)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if fmt == "json":
        assert child_calls(child) == [30]


def test_a_child_that_outlives_the_parents_recording_writes_its_own_trace(
    recorder_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = record(recorder_python, out, "outlive")
    stdout, stderr = proc.communicate(timeout=180)
    # (The pipe stays open until the child ends: its line comes too.)
    assert (proc.returncode, sorted(stdout.splitlines()), stderr) == (0, [b"child 8555", b"parent done"], b"")
    # The parent's stop came first: the child was not there to list.
    assert meta(out)["partial"] is False and not (out / "threads.json").exists()
    deadline = time.monotonic() + 60
    while not list(out.glob("processes/*/trace_metadata.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [child] = list((out / "processes").iterdir())
    m = meta(child)
    assert m["partial"] is False and m["exit_status"] == 0 and "handed_to_parent" not in m["timings"]
    assert child_calls(child) == [30]


def test_recover_writes_a_handed_trace_whole_after_the_parent_was_killed(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = record(recorder_python, out, "die", start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"child 8555\n"
        assert proc.stdout.readline() == b"ready\n"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    [child] = list((out / "processes").iterdir())
    assert (child / ".codetracer-partial" / "handed.json").is_file() and not (child / "trace_metadata.json").exists()
    r = recover(recorder_python, out, tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert meta(out)["partial"] is True
    m = meta(child)
    assert m["partial"] is False and "recovered" not in m and m["exit_status"] == 0
    assert child_calls(child) == [30]
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    assert row["partial"] is False and out / row["folder"] == child


def test_the_api_says_a_forked_childs_trace_was_handed_to_the_parent(recorder_python: Path, tmp_path: Path) -> None:
    """`stop()` in the child answers `handed_to_parent` (not `complete`: the
    parent's `stop()` writes that trace, whole)."""
    program = tmp_path / "api_fork.py"
    program.write_text(
        "import os, sys\n"
        "import codetracer_python_recorder as ctr\n"
        "def square(n):\n"
        "    return n * n\n"
        "ctr.start(sys.argv[1])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    square(7)\n"
        "    r = ctr.stop()\n"
        "    print('child', r['complete'], r['handed_to_parent'], flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "r = ctr.stop()\n"
        "print('parent', r['complete'], r['handed_to_parent'], flush=True)\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [str(recorder_python), str(program), str(out)],
        cwd=tmp_path,
        env=R.clean_env(),
        capture_output=True,
        timeout=180,
        preexec_fn=one_core,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"child False True\nparent True False\n", b"")
    [child] = list((out / "processes").iterdir())
    m = meta(child)
    assert m["partial"] is False and m["timings"]["handed_to_parent"] is True
    assert json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"][0]["partial"] is False


@pytest.mark.parametrize("mode", ["subprocess", "spawn", "forkserver"])
def test_a_new_interpreters_trace_is_handed_to_the_parent_too(recorder_python: Path, tmp_path: Path, mode: str) -> None:
    """A child started as a new interpreter (`subprocess`, multiprocessing's
    spawn and forkserver) hands its trace over as a forked child does."""
    out = tmp_path / "out"
    cmd = [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(CHILDREN), mode]
    done = subprocess.run(
        cmd, cwd=CHILDREN.parent, env=R.clean_env(), capture_output=True, timeout=180, preexec_fn=one_core
    )
    assert done.returncode == 0, done.stderr.decode()
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    m = meta(out / row["folder"])
    assert m["timings"]["handed_to_parent"] is True and m["partial"] is False
    assert m["exit_status"] == row["exit_status"] == (3 if mode == "subprocess" else 0)
    assert m["process"]["started"] == ("interpreter" if mode == "subprocess" else mode)
