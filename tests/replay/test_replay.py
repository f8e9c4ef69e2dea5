"""Our traces, opened in CodeTracer's replay backend (../shared/tools/replay-server)
over DAP, show at every step what the program held (docs/replay-tests.md).

For each program of programs/: the oracle (oracle.py, plain python under
sys.settrace, no recorder) gives every step's function, line and variables;
the recording is stepped through with stepIn from the first step to the last,
reading the top frame and ct/load-locals at each stop. Both sides are rendered
to one canonical text (docs/replay-tests.md) and must be equal step by step.
Also: the terminal pane shows the program's stdout, and a run that ends by an
uncaught exception or sys.exit(3) is flagged as an error end (and a normal
run is not).
"""

from __future__ import annotations

import difflib

import pytest
import replay as R

pytestmark = pytest.mark.replay

# A known bug is written as the reason of a strict xfail here (none today).
PROGRAMS = {
    "names": None,
    "objects": None,
    "loops": None,
    "calls": None,
    "recursion": None,
    "generators": None,
    "exceptions": None,
    "comprehensions": None,
    "module_level": None,
    "output": None,
    "logging_output": None,
    "uncaught": None,
    "exit_code": None,
    "class_bodies": None,
    "generator_expressions": None,
}
# Programs that write to stdout: the terminal must show exactly that.
OUTPUT = {"cli_tool": None, "output": None, "logging_output": None, "uncaught": None, "exit_code": None}
# Programs that end in error (status of the plain run), and programs that end normally.
ERROR_END = {"uncaught": ("ValueError", 1), "exit_code": (None, 3)}
NORMAL_END = ["names", "output", "generators"]


def _params(table: dict[str, str | None]) -> list:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=why, strict=True)) if why else name
        for name, why in table.items()
    ]


@pytest.mark.parametrize("name", _params(PROGRAMS))
def test_every_step_shows_what_the_program_held(replay_case, name):
    case = replay_case(name)
    assert case.recorded.returncode == case.plain.returncode, case.recorded.stderr.decode(errors="replace")
    assert case.expected, "the oracle saw no step of the program"
    steps = R.recorded_steps(case.replayed())
    problem = R.diff(case.expected, steps)
    assert problem is None, f"{name}: the replay differs from what the program held\n{problem}"


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_every_cpython_steps_through_the_same_lines(replay_cases, name):
    """A program steps through the same lines on CPython 3.12 and 3.13: the
    lines sys.settrace reports (equal on both), a call's first line included
    (a class body's `class` line, a lambda's, a generator expression's)."""
    cases = replay_cases(name)

    def lines(steps: list[R.Step]) -> list[str]:  # a recording may name a function by its plain name
        return [f"{s.func.rsplit('.', 1)[-1]}:{s.line}" for s in steps]

    settrace = {v: lines(c.expected) for v, c in cases.items()}
    recorded = {v: lines(R.recorded_steps(c.replayed())) for v, c in cases.items()}
    (first, want), *others = settrace.items()
    for version, got in others:
        assert got == want, f"{name}: sys.settrace steps differently on {first} and {version}"
    for version, got in recorded.items():
        assert got == want, f"{name}: the recording on {version} steps differently from sys.settrace\n" + "\n".join(
            difflib.unified_diff(want, got, "sys.settrace", f"recording on {version}", lineterm="")
        )


@pytest.mark.parametrize("name", _params(OUTPUT))
def test_terminal_shows_the_programs_output(replay_case, name):
    case = replay_case(name)
    stdout = case.plain.stdout.decode("utf-8")
    assert stdout, "the program writes to stdout: the test needs output to look for"
    terminal = case.replayed().terminal
    assert terminal == stdout, f"terminal pane:\n{terminal!r}\nprogram's stdout:\n{stdout!r}"


@pytest.mark.parametrize("name", list(ERROR_END))
def test_error_end_is_flagged(replay_case, name):
    case = replay_case(name)
    text, status = ERROR_END[name]
    assert case.plain.returncode == status
    errors = case.replayed().errors
    assert errors, f"{name} exits with status {status} but the replay flags no error end"
    if text:
        assert any(text in e for e in errors), errors


@pytest.mark.parametrize("name", NORMAL_END)
def test_normal_end_is_not_flagged(replay_case, name):
    case = replay_case(name)
    assert case.plain.returncode == 0
    assert case.replayed().errors == []


@pytest.mark.parametrize("name", ["cli_tool", "imports_only"])
def test_real_programs_open_and_replay_the_program_line_by_line(replay_case, name):
    """A CLI tool built on argparse, json, logging, dataclasses and collections,
    and `import json, threading`: the default scope keeps their traces small
    enough to open, and the replay walks the program's own lines in the order
    it ran them. (Values of big stdlib objects such as an ArgumentParser are
    cut by the recorder's bounds, which the oracle does not model.)"""
    case = replay_case(name)
    assert case.recorded.returncode == case.plain.returncode == 0
    steps = R.recorded_steps(case.replayed())
    assert [(s.func.rsplit(".", 1)[-1], s.line) for s in steps] == [
        (s.func.rsplit(".", 1)[-1], s.line) for s in case.expected
    ]
    assert case.replayed().terminal == case.plain.stdout.decode()
