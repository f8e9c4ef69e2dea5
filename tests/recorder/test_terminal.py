"""CodeTracer's terminal shows what reached the user's terminal: text written
while stdout's or stderr's file descriptor points elsewhere (os.dup2,
pytest's fd capture) is a WriteFile event naming where it went, and text
written to a replacement stream (contextlib.redirect_stdout, pytest's
capture) is not recorded. The program's own bytes stay unchanged
(docs/recorder.md, "Output")."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.ctfs.dap_client import REPLAY_SERVER, Dap

from .conftest import PROGRAMS, Result, Trace, run

STDOUT, WRITE_FILE, STDERR = 0, 1, 2


def events(t: Trace) -> list[dict[str, Any]]:
    return [e["Event"] for e in t.events if "Event" in e]


def text_of(t: Trace, kind: int) -> str:
    return "".join(e["content"] for e in events(t) if e["kind"] == kind)


def same_bytes(plain: Result, recorded: Result) -> None:
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def replayed_terminal(trace_dir: Path, runtime: Path) -> str:
    """The terminal CodeTracer shows: ct/load-terminal of the replay-server."""
    runtime.mkdir(parents=True, exist_ok=True)
    dap = Dap(runtime)
    try:
        dap.launch(trace_dir)
        return "".join(e.get("content", "") for e in dap.terminal() or [])
    finally:
        dap.close()


def test_text_written_while_fd_1_and_2_point_at_a_file_is_not_terminal_output(record) -> None:
    plain, recorded, out = record(["fd_redirect.py"])
    same_bytes(plain, recorded)
    assert plain.stdout == b"before\nafter\nthe file got 'hidden\\nerr-hidden\\n'\n"
    t = Trace(out)
    assert text_of(t, STDOUT).encode() == plain.stdout
    assert text_of(t, STDERR).encode() == plain.stderr == b"err-before\nerr-after\n"
    hidden = [e for e in events(t) if e["kind"] == WRITE_FILE]
    assert [e["content"] for e in hidden] == ["hidden\n", "err-hidden\n"]
    # Where it went: the temporary file (unlinked: Linux names it "/tmp/#N (deleted)").
    assert all(e["metadata"] and e["metadata"] == hidden[0]["metadata"] for e in hidden), hidden
    assert hidden[0]["metadata"].startswith(("/", "fd ")), hidden


@pytest.mark.parametrize("fmt", ["json", "ctfs"])
def test_replay_server_terminal_shows_what_the_user_saw(fmt: str, recorder_python: Path, tmp_path: Path) -> None:
    if not REPLAY_SERVER.exists():
        pytest.skip(
            f"CodeTracer's replay-server is not at {REPLAY_SERVER} (see ../shared/tools/REPLAY.md): "
            "the terminal over DAP was NOT checked"
        )
    plain = run([str(recorder_python), "fd_redirect.py"], PROGRAMS)
    recorded = run(
        [
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            "--format",
            fmt,
            "--trace-dir",
            str(tmp_path / "trace"),
            "fd_redirect.py",
        ],
        PROGRAMS,
    )
    same_bytes(plain, recorded)
    assert replayed_terminal(tmp_path / "trace", tmp_path / "runtime").encode() == plain.stdout


def test_redirect_stdout_to_a_string_io_is_not_terminal_output(record) -> None:
    plain, recorded, out = record(["redirect_stdout.py"])
    same_bytes(plain, recorded)
    t = Trace(out)
    assert text_of(t, STDOUT).encode() == plain.stdout == b"shown\nbuffer held 'captured\\n'\n"
    assert not any("captured" in e["content"] and "held" not in e["content"] for e in events(t)), events(t)


TESTS = """\
import unittest


def test_prints():
    print("printed-by-a-test")


class Sub(unittest.TestCase):
    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                print("printed-in-subtest", i)
"""


def _pytest(recorder_python: Path, work: Path, *extra: str) -> tuple[Result, Result, Trace]:
    """`python -m pytest` on TESTS, plain and recorded, with the test runner's
    own pytest (pure Python) on PYTHONPATH."""
    (work / "test_prints.py").write_text(TESTS, encoding="utf-8")
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    args = ["-m", "pytest", "-p", "no:cacheprovider", *extra, "test_prints.py"]
    plain = run([str(recorder_python), *args], work, env)
    recorded = run(
        [
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            "--values",
            "none",
            "--trace-dir",
            str(work / "trace"),
            *args,
        ],
        work,
        env,
    )
    return plain, recorded, Trace(work / "trace")


def _untimed(b: bytes) -> bytes:
    return re.sub(rb" in \d+\.\d+s", b" in Ts", b)


def test_pytest_fd_capture_keeps_captured_prints_and_marks_out_of_the_terminal(
    recorder_python: Path, tmp_path: Path
) -> None:
    plain, recorded, t = _pytest(recorder_python, tmp_path, "-q")
    assert (
        (recorded.returncode, _untimed(recorded.stdout), recorded.stderr)
        == (plain.returncode, _untimed(plain.stdout), plain.stderr)
        == (0, _untimed(plain.stdout), b"")
    )
    assert b"printed" not in plain.stdout
    # The terminal is exactly what this run printed.
    assert text_of(t, STDOUT).encode() == recorded.stdout
    assert "printed" not in text_of(t, STDOUT) + text_of(t, STDERR)
    # The test's prints went to pytest's replacement stream: not recorded at all.
    assert not any("printed" in e["content"] for e in events(t))
    # pytest's own marks written while its fd capture held fd 1 (a subtest's
    # `u`, where pytest reports subtests: 9.0 on) are kept, out of the terminal.
    hidden = [e for e in events(t) if e["kind"] == WRITE_FILE]
    assert all(e["metadata"] for e in hidden), hidden
    if b"subtests passed" in plain.stdout:
        assert hidden, events(t)


def test_pytest_s_shows_the_prints_in_the_terminal(recorder_python: Path, tmp_path: Path) -> None:
    plain, recorded, t = _pytest(recorder_python, tmp_path, "-q", "-s")
    assert (recorded.returncode, _untimed(recorded.stdout), recorded.stderr) == (
        plain.returncode,
        _untimed(plain.stdout),
        plain.stderr,
    )
    assert b"printed-by-a-test" in plain.stdout and b"printed-in-subtest 2" in plain.stdout
    assert text_of(t, STDOUT).encode() == recorded.stdout
    assert not [e for e in events(t) if e["kind"] == WRITE_FILE]
