"""Child processes that start a new interpreter of the program's python —
multiprocessing's spawn and forkserver workers, a ProcessPoolExecutor's, a
subprocess run of sys.executable — each recorded into a trace of its own,
processes/<pid>/ in the parent's trace folder (docs/recorder.md,
"Processes"); output and exit statuses stay plain python's; a child killed
by SIGKILL leaves a trace marked partial; --no-follow-processes gives
today's trace. Each child's trace, opened alone in CodeTracer's
replay-server, steps through the child's lines with the values the oracle
(oracle_site/sitecustomize.py: sys.settrace in every process of a plain
run) saw."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "programs" / "children.py"
ORACLE_SITE = HERE / "oracle_site"

sys.path.insert(0, str(HERE.parent / "replay"))

import replay as R

needs_server = pytest.mark.skipif(
    not R.REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is absent ({R.REPLAY_SERVER}): the child traces were NOT opened",
)

#: How children.py starts its child: what the child's metadata says of it,
#: the arguments of the program's function `work` in the child, its exit status.
MODES = {
    "spawn": ("spawn", [4], 0),
    "forkserver": ("forkserver", [4], 0),
    "pool": ("spawn", [2, 3], 0),
    "subprocess": ("interpreter", [5], 3),
}


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=PROGRAM.parent, env=R.clean_env(env), input=b"", capture_output=True, timeout=180)


def record(
    python: Path, out: Path, mode: str, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return run([str(python), "-m", "codetracer_python_recorder", "-o", str(out), *options, str(PROGRAM), mode], env)


def meta(folder: Path) -> dict:
    return json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))


def events(folder: Path) -> list[dict]:
    return json.loads((folder / "trace.json").read_text(encoding="utf-8"))


def work_args(folder: Path) -> list[int]:
    evs = events(folder)
    work = [i for i, e in enumerate(e for e in evs if "Function" in e) if e["Function"]["name"] == "work"]
    return [c["args"][0]["value"]["i"] for c in (e["Call"] for e in evs if "Call" in e) if c["function_id"] in work]


_runs: dict[tuple[str, str], tuple] = {}


@pytest.fixture(params=list(MODES))
def children(request, recorder_python: Path, tmp_path_factory):
    """children.py MODE plainly, under the oracle, and recorded (once per interpreter and mode)."""
    mode = request.param
    key = (str(recorder_python), mode)
    if key not in _runs:
        work = tmp_path_factory.mktemp(f"processes-{mode}")
        plain = run([str(recorder_python), str(PROGRAM), mode])
        (work / "oracle").mkdir()
        oracle = run(
            [str(recorder_python), str(PROGRAM), mode],
            {"PYTHONPATH": str(ORACLE_SITE), "PROCESS_ORACLE": f"{work / 'oracle'}::{PROGRAM}"},
        )
        assert oracle.returncode == 0, oracle.stderr.decode()
        recorded = record(recorder_python, work / "out", mode)
        _runs[key] = (mode, work, plain, recorded)
    return _runs[key]


def test_output_and_exit_status_stay_plain_pythons(children) -> None:
    mode, _, plain, recorded = children
    assert plain.returncode == recorded.returncode == 0, recorded.stderr.decode()
    assert recorded.stdout == plain.stdout
    assert recorded.stderr == plain.stderr == b""


def test_each_child_records_into_a_trace_of_its_own(children) -> None:
    mode, work, _, _ = children
    out = work / "out"
    started, args, status = MODES[mode]
    rows = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    # One child: multiprocessing's resource tracker and forkserver are not the program's.
    assert [p.name for p in (out / "processes").iterdir()] == [str(rows[0]["pid"])]
    [row] = rows
    child = out / row["folder"]
    m = meta(child)
    parent = meta(out)
    assert m["process"]["pid"] == row["pid"] and m["process"]["started"] == started
    assert m["process"]["forked"] is (mode == "forkserver")
    assert m["partial"] is False and row["partial"] is False
    assert m["exit_status"] == row["exit_status"] == status
    assert m["recording_id"] == row["recording_id"] != parent["recording_id"]
    assert parent["processes"].startswith("child processes:")
    # The child's trace holds the program's function as the child ran it; the parent's does not.
    assert work_args(child) == args
    assert work_args(out) == []
    assert {e["Event"]["content"] for e in events(child) if "Event" in e} >= {
        f"work {args[0]} {sum(i * i for i in range(args[0]))}\n"
    }
    # The replay estimate, as every trace of the folder gets.
    assert m["trace_bytes"] == (child / "trace.json").stat().st_size and m["steps"] == m["stats"]["steps"]
    manifest = tomllib.loads((out / "session.toml").read_text(encoding="utf-8"))
    assert [t["path"] for t in manifest["trace"]] == [".", row["folder"]]


def test_no_follow_processes_gives_todays_trace(recorder_python: Path, tmp_path: Path) -> None:
    followed = record(recorder_python, tmp_path / "followed", "subprocess")
    assert followed.returncode == 0, followed.stderr.decode()
    for name, options, env in (
        ("flag", ["--no-follow-processes"], None),
        ("env", [], {"CODETRACER_NO_FOLLOW_PROCESSES": "1"}),
    ):
        out = tmp_path / name
        done = record(recorder_python, out, "subprocess", *options, env=env)
        assert (done.returncode, done.stdout, done.stderr) == (followed.returncode, followed.stdout, followed.stderr)
        assert sorted(p.name for p in out.iterdir()) == ["trace.json", "trace_metadata.json", "trace_paths.json"]
        assert meta(out)["processes"].startswith("not followed:")
        # The parent's own trace: the same bytes, following or not.
        for f in ("trace.json", "trace_paths.json"):
            assert (out / f).read_bytes() == (tmp_path / "followed" / f).read_bytes(), f


def test_a_child_killed_by_sigkill_leaves_a_trace_marked_partial(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(PROGRAM), "kill"])
    recorded = record(recorder_python, out, "kill")
    assert plain.stdout == b"child said ready and ended with -9\n"
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert meta(out)["partial"] is False
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    m = meta(out / row["folder"])
    assert row["partial"] is True and m["partial"] is True and m["reason"]
    assert m["process"]["started"] == "interpreter" and m["process"]["pid"] == row["pid"]
    # What the child's recorder had written when it was killed: its entry at least.
    assert {"Path": str(PROGRAM)} in events(out / row["folder"]) and m["stats"]["steps"] >= 1


def test_the_program_and_its_children_see_plain_pythons_environment(recorder_python: Path, tmp_path: Path) -> None:
    """CODETRACER_PARENT_TRACE is in the environment children inherit, not
    in os.environ, of the program or of a followed child, even one run with
    an environment the program made (`env=`: a copy of os.environ, an empty
    one), which is followed too (test_made_env.py)."""
    program = tmp_path / "own_env.py"
    show = "import os; print(sorted(k for k in os.environ if k.startswith('CODETRACER')))"
    program.write_text(
        "import os, subprocess, sys\n"
        f"{show}\n"
        f"subprocess.run([sys.executable, '-c', {show!r}])\n"
        f"subprocess.run([sys.executable, '-c', {show!r}], env=dict(os.environ))\n"
        f"subprocess.run([sys.executable, '-c', {show!r}], env={{}})\n"
    )
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(program)])
    done = run([str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(program)])
    assert plain.stdout == b"[]\n" * 4
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert len(list((out / "processes").iterdir())) == 3


@needs_server
@pytest.mark.replay
def test_each_child_trace_steps_through_the_childs_lines(children) -> None:
    """The child's trace opened alone: after its `<toplevel>` entry, every
    step of the program's file the child ran (its main module as
    `__mp_main__` for a multiprocessing worker, then `work`), with the values
    the oracle saw."""
    mode, work, _, _ = children
    [row] = json.loads((work / "out" / "threads.json").read_text(encoding="utf-8"))["processes"]
    ran = [json.loads(p.read_text(encoding="utf-8")) for p in (work / "oracle").iterdir()]
    workers = [doc for doc in ran if any(s["func"] == "work" for s in doc["steps"])]
    assert len(workers) == 1, f"the oracle saw {len(workers)} children run work(): {[d['argv'] for d in ran]}"
    want = [R.Step(s["func"], s["line"], s["vars"], s["hidden"]) for s in workers[0]["steps"]]
    seen = R.recorded_steps(R.replay(work / "out" / row["folder"], work / "rt", only={str(PROGRAM)}))
    assert R.diff(want, seen) is None, R.diff(want, seen)


#: A child run as `python -c CODE` and the exit status its trace must say.
ENDINGS = {
    "import sys; sys.exit(5)": 5,
    "raise ValueError('boom')": 1,
    "import os; os._exit(4)": 4,
    "x = 1": 0,
    "import sys; sys.exit('bye')": 1,
}


def test_each_childs_trace_has_its_exit_status(recorder_python: Path, tmp_path: Path) -> None:
    program = tmp_path / "endings.py"
    program.write_text(
        "import subprocess, sys\n"
        f"for code in {list(ENDINGS)!r}:\n"
        "    print(subprocess.run([sys.executable, '-c', code]).returncode, flush=True)\n"
    )
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(program)])
    done = run([str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(program)])
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert plain.stdout.decode().split() == [str(s) for s in ENDINGS.values()]
    rows = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    assert [(r["exit_status"], r["partial"]) for r in rows] == [(s, False) for s in ENDINGS.values()]
    assert all(meta(out / r["folder"])["program"] == "-c" for r in rows)


def test_children_record_with_the_parents_options(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = record(recorder_python, out, "spawn", "--format", "ctfs", "--values", "args")
    assert done.returncode == 0, done.stderr.decode()
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    child, parent = meta(out / row["folder"]), meta(out)
    assert (out / row["folder"] / "trace.ct").is_file() and not (out / row["folder"] / "trace.json").exists()
    for key in ("format", "values", "trace_filter"):
        assert child[key] == parent[key], key


def test_a_child_still_running_never_blocks_the_parent(recorder_python: Path, tmp_path: Path) -> None:
    """The parent's stop lists the children that ended; one still running
    writes its own trace when it ends, into the same folder (not listed:
    `ct show` finds it there)."""
    program = tmp_path / "outlives.py"
    program.write_text(
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(4)'],\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print('parent done')\n"
    )
    out = tmp_path / "out"
    import time

    began = time.monotonic()
    done = run([str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(program)])
    assert time.monotonic() - began < 4
    assert (done.returncode, done.stdout, done.stderr) == (0, b"parent done\n", b"")
    assert meta(out)["partial"] is False and not (out / "threads.json").exists()
    # (The child may not even have started recording yet.)
    deadline = time.monotonic() + 30
    while not list(out.glob("processes/*/trace_metadata.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [child] = list((out / "processes").iterdir())
    m = meta(child)
    assert m["partial"] is False and m["exit_status"] == 0 and m["process"]["pid"] == int(child.name)


def test_options_too_large_for_the_environment_reach_the_children(recorder_python: Path, tmp_path: Path) -> None:
    """A filter file of 100 KB (its contents travel with the options, for
    the metadata's hashes) would make the environment too large to exec:
    the options go in a file the variable names, removed at the stop."""
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 100_000 + '\n[meta]\nname = "big"\nversion = 1\n\n[scope]\ndefault_exec = "trace"\n')
    out = tmp_path / "out"
    done = record(recorder_python, out, "spawn", "--trace-filter", str(big))
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    assert meta(out / row["folder"])["trace_filter"] == meta(out)["trace_filter"]
    assert work_args(out / row["folder"]) == [4]
    assert sorted(p.name for p in (out / "processes").iterdir()) == [str(row["pid"])]


def test_an_auto_started_recording_follows_its_children(recorder_python: Path, tmp_path: Path) -> None:
    """CODETRACER_TRACE=DIR: the program's child records into DIR/processes/,
    with its exit status (the auto-start's trace says the program's own)."""
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(PROGRAM), "subprocess"])
    done = run([str(recorder_python), str(PROGRAM), "subprocess"], {"CODETRACER_TRACE": str(out)})
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    assert (row["exit_status"], meta(out)["exit_status"]) == (3, 0)
    assert work_args(out / row["folder"]) == [5] and work_args(out) == []


@needs_server
@pytest.mark.replay
def test_a_ctfs_childs_trace_opens_alone(recorder_python: Path, tmp_path: Path) -> None:
    """trace.ct, what CodeTracer's UI opens: a spawn worker's steps through work()."""
    out = tmp_path / "out"
    done = record(recorder_python, out, "spawn", "--format", "ctfs")
    assert done.returncode == 0, done.stderr.decode()
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    seen = R.recorded_steps(R.replay(out / row["folder"], tmp_path / "rt", only={str(PROGRAM)}))
    work = [s for s in seen if s.func == "work"]
    assert work[0].vars == {"n": "4"} and work[-1].vars["total"] == "14", work
