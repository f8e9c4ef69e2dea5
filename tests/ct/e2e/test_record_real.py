"""`ct record` end to end with the REAL recorder wheel and real
interpreters/environments: a venv (via PATH and via $PYTHON), `uv run`, a
pyenv-style shim, python 3.11 first on PATH, a recorder missing, PYTHONPATH
unset/empty/set, a `python` subprocess, concurrent runs, failures; and the
sqlite rows and folders they leave.

Parity is asserted against the same command run with plain `python`: same
stdout bytes, same exit status, the script's stderr first and unchanged."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import pytest

from ..conftest import LAUNCHER, User, metadata

APP = """\
import os, subprocess, sys
def square(x):
    return x * x
total = sum([square(i) for i in range(4)])
print("argv", sys.argv, "total", total)
print("path", sys.path)
print("env", sorted(os.environ.items()), flush=True)
subprocess.run(["python", "-c", "import os, importlib.util; "
                "print('child', repr(os.environ.get('PYTHONPATH')), "
                "importlib.util.find_spec('codetracer_python_recorder') is not None)"], check=True)
print("to stderr", file=sys.stderr)
sys.exit(int(os.environ.get("APP_STATUS", "0")))
"""


def parity(
    user: User, *args: str, env: Optional[Dict[str, str]] = None, python: str = "python", ct_args: tuple = ()
) -> subprocess.CompletedProcess:
    """Run `python args` and `ct record args`; assert the user sees the same."""
    plain = user.run(python, *args, env=env)
    done = user.ct("record", *ct_args, *args, env=env)
    assert done.stdout.decode() == plain.stdout.decode(), explain(plain.stdout, done.stdout)
    assert done.returncode == plain.returncode, done.stderr.decode()
    assert done.stderr.startswith(plain.stderr), done.stderr.decode()
    return done


def explain(plain: bytes, recorded: bytes) -> str:
    """The lines that differ; for APP's `env` line, the variables that do."""
    out = []
    for a, b in zip(plain.decode().splitlines(), recorded.decode().splitlines()):
        if a == b:
            continue
        if a.startswith("env [") and b.startswith("env ["):
            ea, eb = dict(ast.literal_eval(a[4:])), dict(ast.literal_eval(b[4:]))
            changed = {k: (ea.get(k), eb.get(k)) for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k)}
            out.append(f"environment differs (python, ct record): {changed}")
        else:
            out.append(f"python:     {a}\nct record:  {b}")
    return "\n".join(out) or "line counts differ"


def assert_indexed(user: User, done: subprocess.CompletedProcess, trace_id: int = 1) -> Dict[str, object]:
    rows = {row["id"]: row for row in user.rows()}
    row = rows[trace_id]
    folder = Path(str(row["folder"]))
    assert done.stderr.decode().endswith(f"ct: trace {trace_id} recorded in {folder}\n")
    assert row["status"] == "complete" and row["recorder_version"] == "0.4.0"
    assert row["exit_status"] == done.returncode
    # ct's default format: CTFS (`trace.ct`), no trace.json.
    for name in ("trace.ct", "trace_metadata.json", "trace_paths.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "trace.json").exists() and metadata(folder)["format"] == "ctfs"
    assert metadata(folder).get("partial") in (False, None)
    return row


@pytest.fixture
def venv_user(user: User, recorder_python: Path) -> User:
    user.write("app.py", APP)
    user.venv = recorder_python.parent.parent
    return user


def activate(user: User, venv: Path) -> None:
    user.env["PATH"] = os.pathsep.join([str(venv / "bin"), user.env["PATH"]])
    user.env["VIRTUAL_ENV"] = str(venv)


def test_activated_venv(venv_user: User):
    activate(venv_user, venv_user.venv)
    venv_user.env["APP_STATUS"] = "3"
    done = parity(venv_user, "app.py", "x", "y z")
    assert done.returncode == 3
    assert b"child None True" in done.stdout  # installed in the venv; no PYTHONPATH
    row = assert_indexed(venv_user, done)
    assert row["interpreter"] == str(venv_user.venv / "bin" / "python3")
    assert row["python_executable"] == str(venv_user.venv / "bin" / "python3")
    assert json.loads(str(row["args"])) == ["x", "y z"] and row["program"] == "app.py"
    assert row["cwd"] == str(venv_user.cwd) and row["language"] == "python-db"
    folder = Path(str(row["folder"]))
    assert folder == venv_user.data / "traces" / "1"
    assert (folder / "files" / str(venv_user.cwd / "app.py").lstrip(os.sep)).read_text() == APP

    shown = json.loads(venv_user.ct("show", "1", "--json").stdout)
    assert shown["summary"]["source"] == "trace_metadata.json"
    assert shown["summary"]["events"] > 0 and shown["summary"]["files"] >= 1
    assert "exit status: 3" in venv_user.ct("show", "1").stdout.decode()

    venv_user.write("calls.py", "def square(x):\n    return x * x\nfor i in range(50):\n    square(i)\n")
    assert venv_user.ct("record", "calls.py").returncode == 0
    summary = json.loads(venv_user.ct("show", "2", "--json").stdout)["summary"]
    assert summary["top_functions"][0]["name"] == "square" and summary["top_functions"][0]["calls"] == 50
    assert summary["calls"] >= 51 and summary["steps"] >= 100
    text = venv_user.ct("show", "2").stdout.decode()
    assert "most called functions:" in text and "square" in text


def test_venv_through_dollar_python_beats_path(venv_user: User, python311: Path):
    venv_user.use_python(python311)  # an unsuitable python first on PATH ...
    venv_user.env["PYTHON"] = str(venv_user.venv / "bin" / "python")  # ... but $PYTHON says which
    done = venv_user.ct("record", "app.py")
    assert done.returncode == 0, done.stderr.decode()
    row = assert_indexed(venv_user, done)
    assert row["interpreter"] == str(venv_user.venv / "bin" / "python")


def test_pyenv_style_shim_first_on_path(venv_user: User):
    shims = venv_user.root / "shims"
    shims.mkdir()
    for name in ("python", "python3"):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec "{venv_user.venv / "bin" / "python"}" "$@"\n')
        shim.chmod(0o755)
    venv_user.env["PATH"] = os.pathsep.join([str(shims), venv_user.env["PATH"]])
    done = parity(venv_user, "app.py")
    row = assert_indexed(venv_user, done)
    assert row["interpreter"] == str(shims / "python3")  # what the shell runs ...
    assert row["python_executable"] == str(venv_user.venv / "bin" / "python")  # ... and where it leads


def test_python311_first_on_path_is_a_clear_preflight_error(user: User, python311: Path, recorder_site: Path):
    user.use_python(python311)
    user.env["CODETRACER_RECORDER_PATH"] = str(recorder_site)
    user.write("app.py", APP)
    done = user.ct("record", "app.py")
    assert done.returncode == 10 and done.stdout == b""
    message = done.stderr.decode()
    assert message.startswith(f"ct: error: {user.bin / 'python3'}")  # the interpreter the shell resolves
    assert "is Python 3.11." in message
    assert "needs Python 3.12 or newer" in message
    assert user.rows() == [] and user.traces() == []


def test_no_python_at_all_is_127(user: User):
    user.write("app.py", APP)
    done = user.ct("record", "app.py")
    assert (done.returncode, done.stdout, done.stderr) == (127, b"", b"python: command not found\n")
    assert not (user.data / "index.sqlite3").exists() or user.rows() == []


def test_recorder_missing_from_the_interpreter(user: User, python312: Path):
    user.use_python(python312)
    user.write("app.py", APP)
    done = user.ct("record", "app.py")
    assert done.returncode == 10 and done.stdout == b""
    message = done.stderr.decode()
    assert f"the recorder `codetracer_python_recorder` is not importable by {user.bin / 'python3'}" in message
    assert "ModuleNotFoundError" in message
    assert "pip install codetracer-python-recorder==0.4.0" in message
    assert user.rows() == []


@pytest.mark.parametrize("pythonpath", [None, "", "extra"], ids=["unset", "empty", "set"])
def test_pythonpath_parity_with_a_python_subprocess(
    user: User, python312: Path, recorder_site: Path, pythonpath: Optional[str]
):
    """The recorder comes through PYTHONPATH (CODETRACER_RECORDER_PATH, as the
    bundle does); the script, sys.path and its `python` child see the user's
    own PYTHONPATH, exactly as without ct."""
    user.use_python(python312)
    user.write("app.py", APP)
    (user.cwd / "extra").mkdir()
    user.env["CODETRACER_RECORDER_PATH"] = str(recorder_site)
    if pythonpath is not None:
        user.env["PYTHONPATH"] = pythonpath
    done = parity(user, "app.py")
    assert f"child {pythonpath!r} False".encode() in done.stdout
    assert_indexed(user, done)


@pytest.mark.parametrize("pythonpath", [None, "", "extra"], ids=["unset", "empty", "set"])
def test_staged_folder_launched_like_the_shims(user: User, python312: Path, staged: Path, pythonpath: Optional[str]):
    """ct and the recorder from resources/python/, run as the launcher runs
    them: PYTHONPATH=<staged>[:<user's>], CODETRACER_ORIG_PYTHONPATH, then
    `python -m codetracer_ct` with the python the shell resolves."""
    user.use_python(python312)
    user.write("app.py", APP)
    (user.cwd / "extra").mkdir()
    if pythonpath is not None:
        user.env["PYTHONPATH"] = pythonpath
    plain = user.run("python", "app.py")
    launched = dict(user.env)
    launched["CODETRACER_ORIG_PYTHONPATH"] = "unset" if pythonpath is None else "set:" + pythonpath
    launched["PYTHONPATH"] = str(staged) + (os.pathsep + pythonpath if pythonpath else "")
    done = user.ct("record", "app.py", env=launched, launcher=["python3", "-m", "codetracer_ct"])
    assert done.stdout.decode() == plain.stdout.decode(), explain(plain.stdout, done.stdout)
    assert done.returncode == plain.returncode
    assert done.stderr.startswith(plain.stderr)
    assert f"child {pythonpath!r} False".encode() in done.stdout
    assert_indexed(user, done)


def test_uv_run_in_a_project_without_dependencies(user: User, python312: Path, recorder_site: Path):
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    project = user.cwd
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.12"\ndependencies = []\n'
    )
    user.write("app.py", APP)
    user.env.update(
        UV_CACHE_DIR=str(user.root / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_CONFIG="1",
        UV_OFFLINE="1",
        CODETRACER_RECORDER_PATH=str(recorder_site),
    )
    base = [uv, "run", "--offline", "--python", str(python312)]
    plain = user.run(*base, "python", "app.py")
    assert plain.returncode == 0, plain.stderr.decode()
    done = user.ct("record", "app.py", launcher=[*base, "--", sys.executable, str(LAUNCHER)])
    assert done.stdout.decode() == plain.stdout.decode(), explain(plain.stdout, done.stdout)
    assert done.returncode == 0, done.stderr.decode()
    row = assert_indexed(user, done)
    assert row["interpreter"] == str(project / ".venv" / "bin" / "python3")


def test_two_concurrent_recordings(venv_user: User):
    activate(venv_user, venv_user.venv)
    venv_user.write("slow.py", "import sys, time\ntime.sleep(1)\nprint(sys.argv[1])\n")
    runs = [
        subprocess.Popen(
            [sys.executable, str(LAUNCHER), "record", "slow.py", str(n)],
            env=venv_user.env,
            cwd=str(venv_user.cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in (1, 2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(out for out, _ in outputs) == [b"1\n", b"2\n"]
    rows = venv_user.rows()
    assert sorted(row["id"] for row in rows) == [1, 2]
    assert venv_user.traces() == ["1", "2"]
    for row in rows:
        folder = Path(str(row["folder"]))
        assert folder == venv_user.data / "traces" / str(row["id"])
        assert metadata(folder)["args"] == json.loads(str(row["args"]))


def test_uncaught_exception_parity(venv_user: User):
    activate(venv_user, venv_user.venv)
    venv_user.write("boom.py", "def f():\n    raise ValueError('boom')\nf()\n")
    done = parity(venv_user, "boom.py")
    assert done.returncode == 1
    assert_indexed(venv_user, done)


def test_module_and_unittest(venv_user: User):
    activate(venv_user, venv_user.venv)
    venv_user.write("pkg/__init__.py", "")
    venv_user.write("pkg/tool.py", "import sys\nprint('tool', sys.argv[1:])\n")
    done = parity(venv_user, "-m", "pkg.tool", "a")
    assert done.stdout == b"tool ['a']\n"
    venv_user.write(
        "test_it.py", "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
    )
    done = venv_user.ct("record", "--unittest", "test_it")
    assert done.returncode == 0 and b"Ran 1 test" in done.stderr
    programs = [row["program"] for row in venv_user.rows()]
    assert programs == ["-m pkg.tool", "--unittest"]


def test_recorder_failure_is_structured_and_leaves_no_row(venv_user: User):
    activate(venv_user, venv_user.venv)
    (venv_user.cwd / "not-a-dir").write_text("a file where the trace folder should go")
    done = venv_user.ct("record", "-o", "not-a-dir", "app.py")
    assert done.returncode in (2, 10, 20, 70), done.stderr.decode()
    lines = done.stderr.decode().splitlines()
    reported = [line for line in lines if line.startswith("ct: the recorder failed: ")]
    assert reported, lines
    error = json.loads(reported[0].split(": ", 2)[2])
    assert error["error_code"] and error["error_code"].startswith("ERR_") and error["kind"]
    assert venv_user.rows() == []


def test_with_diff_and_delete(venv_user: User):
    activate(venv_user, venv_user.venv)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "app.py"], ["commit", "-q", "-m", "x"]):
        assert venv_user.run(*git, *command).returncode == 0
    venv_user.write("app.py", APP.replace("range(4)", "range(3)"))
    done = venv_user.ct("record", "--with-diff", "app.py")
    assert done.returncode == 0, done.stderr.decode()
    row = assert_indexed(venv_user, done)
    assert row["with_diff"] == 1
    assert "+total = sum([square(i) for i in range(3)])" in (Path(str(row["folder"])) / "diff.patch").read_text()
    assert venv_user.ct("delete", "1", "--json").returncode == 0
    assert venv_user.rows() == [] and venv_user.traces() == []


def test_pytest_under_the_real_recorder(user: User, python312: Path, staged: Path):
    """`ct record --pytest` through the launcher's way of running ct (the
    staged resources/python/ on PYTHONPATH): one trace per test, the failing
    tests named with the command that opens each; `ct list`, `ct show` and
    `ct upload --test` know the tests."""
    import sysconfig

    user.use_python(python312)
    pythonpath = sysconfig.get_paths()["purelib"]  # the test runner's pytest (3.12)
    user.env["PYTHONPATH"] = pythonpath
    user.write("test_it.py", "def test_ok():\n    assert 1 + 1 == 2\n\ndef test_bad():\n    assert 1 == 2\n")
    plain = user.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_it.py")
    launched = dict(user.env)
    launched["CODETRACER_ORIG_PYTHONPATH"] = "set:" + pythonpath
    launched["PYTHONPATH"] = str(staged) + os.pathsep + pythonpath
    launcher = ["python3", "-m", "codetracer_ct"]
    done = user.ct("record", "--pytest", "-q", "-p", "no:cacheprovider", "test_it.py", env=launched, launcher=launcher)
    assert (done.returncode, plain.returncode) == (1, 1), done.stderr.decode()
    assert done.stdout.split(b" in ")[0] == plain.stdout.split(b" in ")[0], done.stderr.decode()
    row = user.rows()[0]
    folder = Path(str(row["folder"]))
    assert row["program"] == "--pytest" and row["status"] == "complete" and row["exit_status"] == 1
    lines = done.stderr.decode().splitlines()
    assert f"ct: trace 1 recorded in {folder}" in lines
    assert f"ct: 2 tests (1 passed, 1 failed), one trace each in {folder / 'tests'}" in lines
    assert (
        f"ct: FAILED test_it.py::test_bad: ct replay --trace-folder {folder / 'tests' / 'test_it.py_test_bad'}" in lines
    )
    assert (folder / "tests" / "test_it.py_test_bad" / "trace.ct").is_file()
    listed = user.ct("list", env=launched, launcher=launcher).stdout.decode().splitlines()
    assert listed[0].split()[5] == "TESTS" and "2 (1 failing)" in listed[1]
    shown = user.ct("show", "1", env=launched, launcher=launcher).stdout.decode()
    assert "tests (2, failing first; `ct upload 1 --test ID` sends one):" in shown
    bad_line = next(line for line in shown.splitlines() if "test_it.py::test_bad" in line)
    assert bad_line.split()[0] == "failed" and "tests/test_it.py_test_bad" in bad_line
    data = json.loads(user.ct("show", "1", "--json", env=launched, launcher=launcher).stdout)
    assert [(t["id"], t["outcome"]) for t in data["tests"]] == [
        ("test_it.py::test_bad", "failed"),
        ("test_it.py::test_ok", "passed"),
    ]
    missing = user.ct("upload", "1", "--test", "test_it.py::nope", env=launched, launcher=launcher)
    assert missing.returncode == 1 and b"'test_it.py::nope' is not a test of" in missing.stderr


def test_scope_and_redaction_options_reach_the_recorder(venv_user: User):
    """`ct record` passes the scope options through, repeatable ones in order."""
    activate(venv_user, venv_user.venv)
    venv_user.write(
        "scoped.py", "import json\ndef f(password):\n    return json.dumps([password])\nprint(f('pw-77'))\n"
    )
    venv_user.write("f.toml", '[[scope.rules]]\nselector = "pkg:json"\nexec = "trace"\n')
    done = venv_user.ct(
        "record",
        "--format",
        "json",
        "--include",
        "json.encoder",
        "--exclude",
        "json.decoder",
        "--trace-filter",
        "f.toml",
        "--no-redact",
        "scoped.py",
    )
    assert done.returncode == 0, done.stderr.decode()
    folder = Path(str({row["id"]: row for row in venv_user.rows()}[1]["folder"]))
    meta = metadata(folder)
    assert meta["trace_filter"]["include"] == ["json.encoder"] and meta["trace_filter"]["exclude"] == ["json.decoder"]
    assert meta["trace_filter"]["filters"][-1]["path"] == str(venv_user.cwd / "f.toml")
    paths = json.loads((folder / "trace_paths.json").read_text())
    assert any(p.endswith("/json/encoder.py") for p in paths) and not any(p.endswith("/json/decoder.py") for p in paths)
    assert "pw-77" in (folder / "trace.json").read_text()
    done = venv_user.ct("record", "--record-all", "scoped.py")
    meta = metadata(Path(str({row["id"]: row for row in venv_user.rows()}[2]["folder"])))
    assert meta["trace_filter"]["record_all"] is True and meta["trace_filter"]["redact"] is True


def test_record_format_ctfs_and_show_it(venv_user: User):
    """`ct record --format ctfs` (the default) writes trace.ct (the user sees
    what plain python shows), indexes it, copies its sources, and `ct show`
    reads it; `--format json` writes trace.json."""
    activate(venv_user, venv_user.venv)
    done = parity(venv_user, "app.py", ct_args=("--format", "ctfs"))
    rows = venv_user.rows()
    assert [r["status"] for r in rows] == ["complete"]
    folder = Path(str(rows[0]["folder"]))
    assert done.stderr.decode().endswith(f"ct: trace 1 recorded in {folder}\n")
    assert (folder / "trace.ct").is_file() and not (folder / "trace.json").exists()
    meta = metadata(folder)
    assert meta["format"] == "ctfs" and meta["partial"] is False
    assert (folder / "files" / str(venv_user.cwd / "app.py").lstrip("/")).is_file()
    shown = json.loads(venv_user.ct("show", "1", "--json").stdout)["summary"]
    stats = meta["stats"]
    assert shown["format"] == "ctfs"
    assert (shown["events"], shown["steps"], shown["calls"]) == (stats["events"], stats["steps"], stats["calls"])
    assert any(f["name"] == "square" for f in shown["top_functions"])
    text = venv_user.ct("show", "1").stdout.decode()
    assert "format:" in text and "ctfs" in text
    # A bad format is ct's usage error: nothing runs, nothing is indexed.
    bad = venv_user.ct("record", "--format", "binary", "app.py")
    assert bad.returncode == 2 and b"invalid choice: 'binary'" in bad.stderr and bad.stdout == b""
    assert len(venv_user.rows()) == 1
    done = parity(venv_user, "app.py", ct_args=("--format", "json"))
    folder = Path(str(venv_user.rows()[1]["folder"]))
    # (APP's python child is recorded too, into processes/, listed by threads.json and session.toml.)
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "session.toml",
        "threads.json",
        "trace.json",
        "trace_metadata.json",
        "trace_paths.json",
    ]
    assert [metadata(child)["format"] for child in (folder / "processes").iterdir()] == ["json"]
    assert metadata(folder)["format"] == "json"
    assert json.loads(venv_user.ct("show", "2", "--json").stdout)["summary"]["format"] == "json"


THREADED = """\
import os, sys, threading, time
def work(n):
    total = 0
    for i in range(n):
        total += i
    return total
# (The children are forked before any thread starts: python warns of a fork with threads.)
if len(sys.argv) > 1:  # a child that outlives the recording: its trace is written after it
    late = os.fork()
    if late == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        time.sleep(float(sys.argv[1]))
        work(3)
        os._exit(0)
pid = os.fork()
if pid == 0:
    work(5)
    os._exit(0)
os.waitpid(pid, 0)
threads = [threading.Thread(target=work, args=(10 + i,), name=f"worker-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done", work(3))
"""


def test_show_and_list_the_threads_and_processes(venv_user: User):
    """A recording of a program with threads and a forked child: `ct show`
    lists each trace (the main thread first) with name, ident or pid, steps,
    folder and state, `--json` as `threads`; `ct list` counts them. A child
    still running after the recording shows as such until its trace is there."""
    activate(venv_user, venv_user.venv)
    venv_user.write("threaded.py", THREADED)
    parity(venv_user, "threaded.py")
    folder = Path(str(venv_user.rows()[0]["folder"]))
    index = json.loads((folder / "threads.json").read_text())
    (child,) = index["processes"]
    shown = json.loads(venv_user.ct("show", "1", "--json").stdout)["threads"]
    assert [(r["kind"], r["name"], r["folder"], r["state"]) for r in shown] == [
        ("thread", "MainThread", ".", "complete"),
        ("thread", "worker-0", "threads/1-worker-0", "complete"),
        ("thread", "worker-1", "threads/2-worker-1", "complete"),
        ("process", f"process {child['pid']}", f"processes/{child['pid']}", "complete"),
    ]
    for row in shown:
        assert row["steps"] == metadata(folder / row["folder"])["stats"]["steps"] > 0
    assert shown[1]["ident"] == index["threads"][0]["ident"] and shown[3]["exit_status"] == 0
    text = venv_user.ct("show", "1").stdout.decode().splitlines()
    assert f"threads and processes (4 traces, each opens alone; folders in {folder}):" in text
    worker = next(line for line in text if "worker-1" in line).split()
    assert worker[0] == "thread" and worker[-2:] == ["threads/2-worker-1", "complete"]
    assert worker[worker.index("steps") - 1] == f"{shown[2]['steps']:,}"
    listed = venv_user.ct("list").stdout.decode().splitlines()
    assert listed[0].split()[6] == "THREADS" and listed[1].split()[6:9] == ["3", "+1", "proc"]

    done = venv_user.ct("record", "threaded.py", "4")
    assert done.returncode == 0, done.stderr.decode()
    late = json.loads(venv_user.ct("show", "2", "--json").stdout)["threads"][-1]
    assert late["kind"] == "process" and late["state"] == "still running (no trace yet)" and late["steps"] is None
    folder = Path(str(venv_user.rows()[1]["folder"]))
    assert not any(
        row["folder"] == late["folder"] for row in json.loads((folder / "threads.json").read_text())["processes"]
    )
    deadline = time.monotonic() + 60
    while not (folder / late["folder"] / "trace_metadata.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the metadata is the last file renamed into the folder
    late = json.loads(venv_user.ct("show", "2", "--json").stdout)["threads"][-1]
    assert late["state"] == "complete" and late["steps"] > 0
    assert venv_user.ct("list").stdout.decode().splitlines()[2].split()[6:9] == ["3", "+2", "proc"]
