"""Fixtures of the replay suite: the replay-server (the whole suite is skipped,
loudly, where it is absent: a bare clone), and one recorded + replayed +
oracle run per (interpreter, program), shared by the tests that look at it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay as R

SKIP_REASON = (
    f"replay-server not found at {R.REPLAY_SERVER} (a bare clone without ../shared/tools): the replay suite did NOT run"
)


def pytest_collection_modifyitems(config, items):
    if R.REPLAY_SERVER.exists():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if not R.REPLAY_SERVER.exists():
        terminalreporter.write_line(f"WARNING: {SKIP_REASON}", yellow=True, bold=True)


@dataclass
class Case:
    program: Path
    trace_dir: Path
    expected: list[R.Step]
    plain: R.Run
    recorded: R.Run
    replay: R.Replay | None
    replay_error: Exception | None

    def replayed(self) -> R.Replay:
        if self.replay_error is not None:
            raise self.replay_error
        assert self.replay is not None
        return self.replay


_cases: dict[tuple[str, str], Case] = {}


def _case(python: Path, name: str, tmp_path_factory) -> Case:
    """The program `name` run under the oracle, recorded with our recorder and
    stepped through in the replay-server, with `python` (each once)."""
    key = (str(python), name)
    if key not in _cases:
        program = R.program_path(name)
        work = tmp_path_factory.mktemp(f"replay-{name}")
        expected, plain = R.oracle(python, program, work)
        recorded = R.run(
            [str(python), "-m", "codetracer_python_recorder", "--trace-dir", str(work / "trace"), str(program)],
            program.parent,
        )
        rep, err = None, None
        try:
            rep = R.replay(work / "trace", work / "runtime", only={str(program)})
        except Exception as exc:  # re-raised by the test that needs the replay
            err = exc
        _cases[key] = Case(program, work / "trace", expected, plain, recorded, rep, err)
    return _cases[key]


@pytest.fixture(scope="session")
def replay_case(recorder_python: Path, tmp_path_factory):
    """replay_case(name) -> Case: the program run under the oracle, recorded with our
    recorder and stepped through in the replay-server (each once per interpreter)."""
    return lambda name: _case(recorder_python, name, tmp_path_factory)


@pytest.fixture(scope="session")
def replay_cases(recorder_pythons: dict[str, Path], tmp_path_factory):
    """replay_cases(name) -> {version: Case}, one per supported CPython (the
    same runs `replay_case` makes)."""
    return lambda name: {v: _case(python, name, tmp_path_factory) for v, python in recorder_pythons.items()}
