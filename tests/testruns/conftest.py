"""Fixtures of the test-run suite: CPython 3.12 / 3.13 venvs holding the
recorder wheel, pytest and its plugins (requirements.txt), and a runner
that drives the installed console script as CodeTracer's `ct` does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SUPPORTED, _venv_with_wheel, recorder_wheel

HERE = Path(__file__).resolve().parent
#: The suites that the tests record, not tests of this project.
collect_ignore = ["suite", "usuite", "tsuite", "psuite"]
SUITE = HERE / "suite"
USUITE = HERE / "usuite"
#: A suite whose tests start threads (a thread pool; a thread that outlives its test).
TSUITE = HERE / "tsuite"
#: A suite whose tests start child processes (fork, subprocess, process pools; one outlives its test).
PSUITE = HERE / "psuite"
REQUIREMENTS = HERE / "requirements.txt"


def _venv(version: str) -> Path:
    """`.venvs/tests<ver>`: the wheel and requirements.txt; rebuilt when either changes."""
    return _venv_with_wheel(version, recorder_wheel(), name="tests", requirements=REQUIREMENTS)


@pytest.fixture(scope="session", params=SUPPORTED, ids=lambda v: f"py{v}")
def tests_python(request) -> Path:
    """A CPython 3.12 / 3.13 venv with the recorder wheel, pytest and its plugins (requirements.txt)."""
    return _venv(request.param)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CODETRACER_", "PYTEST_")) and k not in ("PYTHONPATH",)
    }
    env.update(extra or {})
    return env


def run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, cwd=cwd, env=clean_env(env), capture_output=True, timeout=timeout)
