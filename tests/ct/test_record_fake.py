"""ct's own logic end to end as processes, against the FAKE recorder
(tests/ct/fake_recorder): argv/exit parity, index rows and folders, failure
handling, list/show/delete. The real recorder is exercised in e2e/."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import FAKE_RECORDER, User, metadata, pyenv_python

APP = """\
import os, sys
def square(x):
    return x * x
total = sum([square(i) for i in range(4)])
print("argv", sys.argv[1:], "total", total)
print("err", file=sys.stderr)
sys.exit(int(os.environ.get("APP_STATUS", "0")))
"""


@pytest.fixture
def fake(user: User) -> User:
    user.use_python(pyenv_python("3.12"))
    user.env["CODETRACER_RECORDER_PATH"] = str(FAKE_RECORDER)
    user.write("app.py", APP)
    return user


def test_record_keeps_stdio_and_exit_status_and_indexes(fake: User):
    fake.env["APP_STATUS"] = "3"
    plain = fake.run("python3", "app.py", "x", "y z")
    done = fake.ct("record", "app.py", "x", "y z")
    assert (done.returncode, done.stdout) == (plain.returncode, plain.stdout) == (3, b"argv ['x', 'y z'] total 14\n")
    assert done.stderr.startswith(b"err\n")
    [row] = fake.rows()
    folder = fake.data / "traces" / "1"
    assert done.stderr.decode().endswith(f"ct: trace 1 recorded in {folder}\n")
    assert row["id"] == 1 and row["program"] == "app.py" and json.loads(row["args"]) == ["x", "y z"]
    assert row["cwd"] == str(fake.cwd) and row["exit_status"] == 3 and row["status"] == "complete"
    assert row["interpreter"] == str(fake.bin / "python3") and row["language"] == "python-db"
    assert row["recorder_version"] == "0.4.0" and row["folder"] == str(folder)
    assert (folder / "files" / str(fake.cwd / "app.py").lstrip("/")).read_text() == APP


def test_list_show_delete(fake: User):
    assert fake.ct("record", "app.py", env=dict(fake.env, FAKE_RECORDER_NO_STATS="1")).returncode == 0
    assert fake.ct("record", "-m", "app", "m").returncode == 0
    listing = fake.ct("list").stdout.decode().splitlines()
    assert listing[0].split() == ["ID", "CREATED", "STATUS", "EXIT", "UPLOADED", "TESTS", "THREADS", "PROGRAM"]
    assert [line.split()[0] for line in listing[1:]] == ["1", "2"]
    assert listing[2].endswith("-m app m")
    rows = json.loads(fake.ct("list", "--json").stdout)
    assert [r["id"] for r in rows] == [1, 2] and rows[1]["program"] == "-m app"

    shown = json.loads(fake.ct("show", "1", "--json").stdout)
    summary = shown["summary"]
    assert summary["source"] == "trace.json"  # the fake writes no stats: scanned
    assert summary["calls"] == 5 and summary["files"] == 1
    assert summary["top_functions"][0]["name"] == "square" and summary["top_functions"][0]["calls"] == 4
    stats = json.loads(fake.ct("show", "2", "--json").stdout)["summary"]
    assert stats["source"] == "trace_metadata.json"
    assert (stats["calls"], stats["files"], stats["top_functions"][0]["name"]) == (5, 1, "square")
    text = fake.ct("show", "1").stdout.decode()
    assert "most called functions:" in text and "square" in text and "exit status: 0" in text

    deleted = fake.ct("delete", "1")
    assert (deleted.returncode, deleted.stdout) == (0, b"deleted trace 1\n")
    assert fake.traces() == ["2"] and [r["id"] for r in fake.rows()] == [2]
    missing = fake.ct("show", "1")
    assert (missing.returncode, missing.stderr) == (1, b"ct: no trace with id 1 (see `ct list`)\n")
    assert fake.ct("delete", "1").returncode == 1


def test_show_counts_the_threads_and_lists_the_children_each_test_started(fake: User):
    """A test run's tests.json row lists the threads the test started (their
    traces in its folder's threads/, docs/test-runs.md): `ct show` counts
    them on the test's line, and lists the child processes it started below
    it; `--json` has them."""
    assert fake.ct("record", "app.py").returncode == 0
    pool = {
        "id": "t.py::test_pool",
        "kind": "test",
        "outcome": "passed",
        "folder": "tests/t.py_test_pool",
        "steps": 12,
        "threads": [
            {
                "name": f"pool_{n}",
                "folder": f"tests/t.py_test_pool/threads/{n + 1}-pool_{n}",
                "steps": 9,
                "partial": False,
                "running_at_stop": False,
            }
            for n in range(2)
        ],
        "processes": [
            {
                "name": "process 41",
                "pid": 41,
                "started": "spawn",
                "folder": "tests/t.py_test_pool/processes/41",
                "steps": 29,
                "partial": False,
                "exit_status": 0,
            },
            {"name": "process 42", "pid": 42, "folder": "tests/t.py_test_pool/processes/42", "running_at_end": True},
        ],
    }
    plain = {
        "id": "t.py::test_plain",
        "kind": "test",
        "outcome": "passed",
        "folder": "tests/t.py_test_plain",
        "steps": 3,
    }
    (fake.data / "traces" / "1" / "tests.json").write_text(json.dumps({"framework": "pytest", "traces": [pool, plain]}))
    text = fake.ct("show", "1").stdout.decode().splitlines()
    at = next(i for i, line in enumerate(text) if "t.py::test_pool" in line)
    assert text[at].endswith("tests/t.py_test_pool  +2 thread(s)  +2 process(es)")
    assert text[at + 1 : at + 3] == [
        "      process 41 (spawn)  29 steps  tests/t.py_test_pool/processes/41  complete, exit status 0",
        "      process 42  - steps  tests/t.py_test_pool/processes/42  still running at the run's end (no trace yet)",
    ]
    assert next(line for line in text if "t.py::test_plain" in line).endswith("tests/t.py_test_plain")
    shown = json.loads(fake.ct("show", "1", "--json").stdout)["tests"]
    assert [[t["name"] for t in test.get("threads", [])] for test in shown] == [["pool_0", "pool_1"], []]


def test_empty_list(fake: User):
    assert fake.ct("list").stdout == b"no traces yet: record one with `ct record script.py`\n"
    assert fake.ct("list", "--json").stdout == b"[]\n"


def test_recorder_failure_is_reported_and_leaves_nothing(fake: User):
    fake.env["FAKE_RECORDER_FAIL"] = "environment"
    done = fake.ct("record", "app.py")
    assert done.returncode == 10 and done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines[0] == "codetracer-python-recorder: fake failure requested"
    error = json.loads(lines[1].split("ct: the recorder failed: ", 1)[1])
    assert error["error_code"] == "ERR_FAKE_ENVIRONMENT" and error["kind"] == "Environment"
    assert "nothing was added to the index" in lines[2]
    assert fake.rows() == [] and fake.traces() == []


def test_no_trace_never_turns_into_success(fake: User):
    fake.env["FAKE_RECORDER_NO_TRACE"] = "1"
    done = fake.ct("record", "app.py")
    assert done.returncode == 70
    assert b"no trace was recorded (recorder exit status 0)" in done.stderr
    assert fake.rows() == [] and fake.traces() == []


def test_partial_trace_is_kept_and_marked(fake: User):
    fake.env["FAKE_RECORDER_PARTIAL"] = "1"
    done = fake.ct("record", "app.py")
    assert done.returncode == 0
    assert b"ct: trace 1 is PARTIAL" in done.stderr
    assert [r["status"] for r in fake.rows()] == ["partial"]


def test_flags_reach_the_recorder_and_custom_trace_dir(fake: User):
    done = fake.ct(
        "record",
        "-o",
        "out",
        "--activation-path",
        "app.py",
        "--values",
        "args",
        "--require-trace",
        "--max-str=50",
        "app.py",
        "--values",
        "x",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"argv ['--values', 'x'] total 14\n"
    options = metadata(fake.cwd / "out")["fake_options"]
    assert options == {
        "--trace-dir": str(fake.cwd / "out"),
        "--format": "ctfs",
        "--activation-path": "app.py",
        "--values": "args",
        "--max-str": "50",
        "--require-trace": True,
    }
    [row] = fake.rows()
    assert row["folder"] == str(fake.cwd / "out") and fake.traces() == []
    deleted = fake.ct("delete", "1")
    assert deleted.stdout == f"deleted trace 1 (kept {fake.cwd / 'out'}: it is outside the data dir)\n".encode()
    assert (fake.cwd / "out" / "trace.json").is_file()


def test_with_diff_stores_the_repository_diff(fake: User):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "app.py"], ["commit", "-q", "-m", "x"]):
        assert fake.run(*git, *command).returncode == 0
    fake.write("app.py", APP.replace("range(4)", "range(5)"))
    done = fake.ct("record", "--with-diff", "app.py")
    assert done.returncode == 0, done.stderr
    diff = (fake.data / "traces" / "1" / "diff.patch").read_text()
    assert "-total = sum([square(i) for i in range(4)])" in diff and "+total" in diff
    assert fake.rows()[0]["with_diff"] == 1


def test_with_diff_outside_a_repository_warns(fake: User):
    done = fake.ct("record", "--with-diff", "app.py")
    assert done.returncode == 0
    assert b"is not inside a git work tree; recording without a diff" in done.stderr
    assert fake.rows()[0]["with_diff"] == 0


def test_unittest_runs_under_the_recorder(fake: User):
    fake.write("test_it.py", "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n")
    done = fake.ct("record", "--unittest", "test_it", "-q")
    assert done.returncode == 0, done.stderr
    assert b"Ran 1 test" in done.stderr
    assert fake.rows()[0]["program"] == "--unittest"


def test_unknown_language_is_a_usage_error(fake: User):
    fake.write("data.txt", "hello\n")
    done = fake.ct("record", "data.txt")
    assert done.returncode == 2
    assert b"cannot tell the language of 'data.txt'" in done.stderr


def test_python_shebang_is_python(fake: User):
    fake.write("tool", "#!/usr/bin/env python3\nprint('tool ran')\n")
    done = fake.ct("record", "tool")
    assert (done.returncode, done.stdout) == (0, b"tool ran\n")


def test_pythonpath_is_restored_for_the_script_and_its_children(fake: User):
    fake.write(
        "pp.py",
        "import os, subprocess\nprint(repr(os.environ.get('PYTHONPATH')))\n"
        "subprocess.run(['python', '-c', 'import os; print(repr(os.environ.get(\"PYTHONPATH\")))'])\n",
    )
    for value in (None, "", "/somewhere"):
        env = dict(fake.env)
        if value is not None:
            env["PYTHONPATH"] = value
        plain = fake.run("python3", "pp.py", env=env)
        done = fake.ct("record", "pp.py", env=env)
        assert done.stdout == plain.stdout == ((repr(value) + "\n") * 2).encode()


def test_no_target_is_a_usage_error(fake: User):
    done = fake.ct("record", "--with-diff")
    assert done.returncode == 2 and b"a script, -m MODULE, --pytest or --unittest is required" in done.stderr


def test_help_everywhere(fake: User):
    for args in (
        ["--help"],
        ["record", "--help"],
        ["list", "--help"],
        ["show", "--help"],
        ["delete", "--help"],
        ["upload", "--help"],
        ["login", "--help"],
    ):
        done = fake.ct(*args)
        assert done.returncode == 0 and done.stdout.startswith(b"usage: ct"), args
    assert fake.ct("--version").stdout == b"ct 0.4.0\n"


def test_no_python_is_127(user: User):
    user.write("app.py", APP)
    done = user.ct("record", "app.py")
    assert (done.returncode, done.stdout, done.stderr) == (127, b"", b"python: command not found\n")
    assert user.rows() == []


def test_signal_death_is_passed_on(fake: User):
    fake.write("kill.py", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    fake.env["FAKE_RECORDER_NO_TRACE"] = "1"
    done = fake.ct("record", "kill.py")
    assert done.returncode == -15
    assert subprocess.run(["python3", "kill.py"], cwd=fake.cwd, env=fake.env).returncode == -15


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.11"])
def test_staged_ct_under_an_old_python_says_so(user: User, tmp_path, version: str):
    """The launcher runs `python -m codetracer_ct` with whatever python is
    first on PATH: an old one gets ct's diagnostic, not a SyntaxError."""
    import shutil

    from .conftest import CT_SOURCE

    staged = tmp_path / "resources" / "python"
    shutil.copytree(FAKE_RECORDER, staged)
    shutil.copytree(CT_SOURCE / "codetracer_ct", staged / "codetracer_ct")
    old = pyenv_python(version)
    user.use_python(old)
    user.write("app.py", APP)
    env = dict(user.env, PYTHONPATH=str(staged), CODETRACER_ORIG_PYTHONPATH="unset")
    done = user.ct("record", "app.py", env=env, launcher=["python3", "-m", "codetracer_ct"])
    assert (done.returncode, done.stdout) == (10, b"")
    message = done.stderr.decode()
    assert message.startswith("ct: error: ") and f"is Python {version}." in message
    assert "recording needs Python 3.12 or newer" in message
    assert user.rows() == []


def test_unwritable_data_dir_is_an_error_not_a_traceback(fake: User):
    (fake.root / "file").write_text("")
    fake.env["CODETRACER_DATA_DIR"] = str(fake.root / "file" / "data")
    for args in (["list"], ["record", "app.py"]):
        done = fake.ct(*args)
        assert done.returncode == 10
        assert done.stderr.decode().splitlines()[-1].startswith(f"ct: error: cannot use the trace index {fake.root}")


def test_pytest_runs_under_the_recorder(fake: User):
    import sysconfig

    fake.env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]  # the test runner's pytest, for python 3.12
    fake.write("test_it.py", "def test_ok():\n    assert 1 + 1 == 2\n")
    done = fake.ct("record", "--pytest", "-q", "-p", "no:cacheprovider", "test_it.py")
    assert done.returncode == 0, done.stderr
    assert b"1 passed" in done.stdout
    [row] = fake.rows()
    assert row["program"] == "--pytest" and json.loads(row["args"]) == ["-q", "-p", "no:cacheprovider", "test_it.py"]


def test_a_folder_with_main_is_python(fake: User):
    fake.write("tooldir/__main__.py", "print('dir ran')\n")
    done = fake.ct("record", "tooldir")
    assert (done.returncode, done.stdout) == (0, b"dir ran\n"), done.stderr
    assert fake.rows()[0]["program"] == "tooldir"
