"""A child run with an environment the program made — `env=dict(os.environ,
X="1")`, `env={"PATH": ..., "X": "1"}`, through subprocess's fork path and
its posix_spawn path, os.spawnve — is recorded into processes/<pid>/ like
one run with the process's environment (docs/recorder.md, "Processes":
the stand-ins of `_child_env.py`), sees exactly the environment it was
given, and the program's dict stays as it made it; the stand-ins and the
finder waiting for `subprocess` are gone after the stop; with
--no-follow-processes nothing is followed. Each child's trace opened alone
in CodeTracer's replay-server steps through the child's lines with the
values the oracle saw."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from .test_processes import ORACLE_SITE, R, events, meta, needs_server, run, work_args

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "programs" / "made_env.py"
MODES = ("copy", "bare", "fork-path", "spawn-path", "spawnve")

_runs: dict[tuple[str, str], tuple] = {}


def record(python: Path, out: Path, mode: str, *options: str):
    return run([str(python), "-m", "codetracer_python_recorder", "-o", str(out), *options, str(PROGRAM), mode])


@pytest.fixture(params=MODES)
def made(request, recorder_python: Path, tmp_path_factory):
    """made_env.py MODE plainly and recorded (once per interpreter and mode)."""
    mode = request.param
    key = (str(recorder_python), mode)
    if key not in _runs:
        work = tmp_path_factory.mktemp(f"made-env-{mode}")
        plain = run([str(recorder_python), str(PROGRAM), mode])
        recorded = record(recorder_python, work / "out", mode)
        _runs[key] = (mode, work, plain, recorded)
    return _runs[key]


def test_the_child_sees_the_environment_it_was_given(made) -> None:
    """Output (the child prints its os.environ) and exit statuses: plain
    python's, byte for byte; the parent's dict is as it made it."""
    mode, _, plain, recorded = made
    assert plain.returncode == 0, plain.stderr.decode()
    assert plain.stdout.decode().endswith("child exit 3 env as made True\n")
    assert b"CODETRACER" not in plain.stdout
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_the_child_is_recorded_and_listed(made) -> None:
    mode, work, _, _ = made
    out = work / "out"
    [row] = json.loads((out / "threads.json").read_text(encoding="utf-8"))["processes"]
    assert [p.name for p in (out / "processes").iterdir()] == [str(row["pid"])]
    child = out / row["folder"]
    m = meta(child)
    assert m["process"]["pid"] == row["pid"] and m["process"]["started"] == "interpreter"
    assert m["partial"] is False and m["exit_status"] == row["exit_status"] == 3
    assert work_args(child) == [5] and work_args(out) == []
    manifest = tomllib.loads((out / "session.toml").read_text(encoding="utf-8"))
    assert [t["path"] for t in manifest["trace"]] == [".", row["folder"]]


def test_no_follow_processes_follows_no_child(recorder_python: Path, tmp_path: Path) -> None:
    plain = run([str(recorder_python), str(PROGRAM), "bare"])
    out = tmp_path / "out"
    done = record(recorder_python, out, "bare", "--no-follow-processes")
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert not (out / "processes").exists() and not (out / "threads.json").exists()
    assert meta(out)["processes"].startswith("not followed:")


def test_a_failed_start_reports_as_plain_python(recorder_python: Path, tmp_path: Path) -> None:
    """A program that cannot start (3.13: raised by os.posix_spawn itself,
    our stand-in; 3.12: by subprocess after its fork path): the same
    traceback, no frame of ours in it."""
    program = tmp_path / "missing.py"
    program.write_text(
        "import os, subprocess\nsubprocess.run(['/no/such/program'], env={'PATH': os.environ['PATH']})\n"
    )
    plain = run([str(recorder_python), str(program)])
    done = run([str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(tmp_path / "out"), str(program)])
    assert plain.returncode == 1 and plain.stderr.endswith(b"No such file or directory: '/no/such/program'\n")
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_a_followed_childs_own_children_follow_too(recorder_python: Path, tmp_path: Path) -> None:
    """Each child runs the next with an environment of its making: every
    one records into the first recording's processes/."""
    program = tmp_path / "nested.py"
    program.write_text(
        "import os, subprocess, sys\n"
        "depth = int(sys.argv[1])\n"
        "print('depth', depth, flush=True)\n"
        "if depth < 2:\n"
        "    subprocess.run([sys.executable, __file__, str(depth + 1)], env={'PATH': os.environ['PATH']}, cwd='/')\n"
    )
    out = tmp_path / "out"
    plain = run([str(recorder_python), str(program), "0"])
    done = run([str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(out), str(program), "0"])
    assert plain.stdout == b"depth 0\ndepth 1\ndepth 2\n"
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    said = [
        {e["Event"]["content"] for e in events(child) if "Event" in e}
        for child in sorted((out / "processes").iterdir(), key=lambda p: meta(p)["process"]["pid"])
    ]
    assert sorted(said, key=sorted) == [{"depth 1\n"}, {"depth 2\n"}]


#: A program using the API: what it holds of the stand-ins' places before
#: start, during the recording and after stop (argv[1]: "before": subprocess
#: imported before start, "during": imported while recording, "never").
API_PROGRAM = """\
import os, posix, sys
import codetracer_python_recorder as recorder

when = sys.argv[1]
{follow}
def places():
    sub = sys.modules.get("subprocess")
    return [list(sys.meta_path), os.execve, os.posix_spawn, os.posix_spawnp,
            sub and sub._fork_exec, sub and sub.Popen._execute_child]

if when == "before":
    import subprocess
before = places()
recorder.start(sys.argv[2], **options)
if when != "never":
    import subprocess
    import _posixsubprocess
    subprocess.run([sys.executable, "-c", "pass"], env={{"PATH": os.environ["PATH"]}})
    os.spawnve(os.P_WAIT, sys.executable, [sys.executable, "-c", "pass"], {{}})
during = places()
recorder.stop()
after = places()
if when == "during":
    before[4:] = [_posixsubprocess.fork_exec, subprocess.Popen._execute_child]
print("given back", after == before)
print("stood in", [a is not b for a, b in zip(during[1:5], after[1:5])], len(during[0]) - len(after[0]))
if when != "never":
    print("real", subprocess._fork_exec is _posixsubprocess.fork_exec, os.execve is posix.execve)
"""


@pytest.mark.parametrize("when", ["before", "during", "never"])
@pytest.mark.parametrize("follow", [True, False])
def test_stop_gives_the_programs_functions_back(recorder_python: Path, tmp_path: Path, when: str, follow: bool) -> None:
    program = tmp_path / "api.py"
    program.write_text(API_PROGRAM.format(follow=f"options = {{'follow_processes': {follow}}}"))
    out = tmp_path / "out"
    done = run([str(recorder_python), str(program), when, str(out)])
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "given back True"
    if not follow:
        assert lines[1] == "stood in [False, False, False, False] 0"
    elif when == "never":
        # The os functions, and the finder waiting for subprocess's import.
        assert lines[1] == "stood in [True, True, True, False] 1"
    else:
        assert lines[1] == "stood in [True, True, True, True] 0"
    if when != "never":
        assert lines[2] == "real True True"
        children = list((out / "processes").iterdir()) if (out / "processes").exists() else []
        assert len(children) == (2 if follow else 0)


@needs_server
@pytest.mark.replay
def test_the_childs_trace_steps_through_its_lines(made, recorder_python: Path) -> None:
    """The child's trace opened alone: every step of made_env.py the child
    ran, with the values the oracle (oracle_site: the child run plainly,
    under sys.settrace) saw."""
    mode, work, _, _ = made
    oracle = work / "oracle"
    oracle.mkdir(exist_ok=True)
    done = run(
        [str(recorder_python), str(PROGRAM), "child", "5"],
        {"PYTHONPATH": str(ORACLE_SITE), "PROCESS_ORACLE": f"{oracle}::{PROGRAM}"},
    )
    assert done.returncode == 3, done.stderr.decode()
    [ran] = [json.loads(p.read_text(encoding="utf-8")) for p in oracle.iterdir()]
    want = [R.Step(s["func"], s["line"], s["vars"], s["hidden"]) for s in ran["steps"]]
    [row] = json.loads((work / "out" / "threads.json").read_text(encoding="utf-8"))["processes"]
    seen = R.recorded_steps(R.replay(work / "out" / row["folder"], work / "rt", only={str(PROGRAM)}))
    assert any(s.func == "work" for s in seen)
    assert R.diff(want, seen) is None, R.diff(want, seen)
