"""Fixtures shared by every suite: the CPython interpreters (found through
pyenv, never by a hard-coded path) and venvs holding the freshly built
recorder wheel."""

from __future__ import annotations

import fcntl
import glob
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "dist"
SUPPORTED = ("3.12", "3.13")


def pyenv_python(version: str) -> Path:
    """Newest pyenv CPython `version`.x; fails loudly when absent."""
    try:
        root = subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"pyenv is required to find CPython {version}: {exc}", pytrace=False)
    candidates = sorted(
        glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parents[1].name.split(".")],
    )
    if not candidates:
        pytest.fail(f"CPython {version} not found under {root}/versions (run: pyenv install {version})", pytrace=False)
    return Path(candidates[-1])


def workspace_binary(exe: str, *packages: str) -> Path:
    """A release binary of the recorder's Cargo workspace, built (with
    `packages`) when out of date."""
    build = ["cargo", "build", "--quiet", "--release", "--manifest-path", str(REPO / "recorder" / "Cargo.toml")]
    subprocess.run([*build, *(a for p in packages for a in ("-p", p))], check=True)
    path = REPO / "recorder" / "target" / "release" / exe
    assert path.exists()
    return path


@pytest.fixture(scope="session")
def trace_check() -> Path:
    """The ct-trace-check binary (official schema + replay invariants; `--events` dumps)."""
    return workspace_binary("ct-trace-check", "trace-check")


def recorder_wheel() -> Path:
    wheels = sorted(DIST.glob("codetracer_python_recorder-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        pytest.fail("no recorder wheel in dist/: run `make wheel` first", pytrace=False)
    return wheels[-1]


def _venv_with_wheel(version: str, wheel: Path, name: str = "rec", requirements: Path | None = None) -> Path:
    """A venv `.venvs/<name><ver>` with the recorder wheel installed, and
    `requirements` (from PyPI) when given (reused while both are the same)."""
    venv = REPO / ".venvs" / f"{name}{version.replace('.', '')}"
    python = venv / "bin" / "python"
    stamp = venv / ".wheel"
    want = f"{wheel.name} {wheel.stat().st_mtime_ns} {wheel.stat().st_size}"
    if requirements is not None:
        want += " " + requirements.read_text()
    venv.parent.mkdir(exist_ok=True)
    # One builder at a time (pytest-xdist workers each run session fixtures).
    with open(venv.parent / f".{name}{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == want:
            return python
        subprocess.run([str(pyenv_python(version)), "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-index", "--force-reinstall", str(wheel)], check=True)
        if requirements is not None:
            subprocess.run([*pip, "-r", str(requirements)], check=True)
        stamp.write_text(want)
    return python


@pytest.fixture(scope="session")
def built_wheel() -> Path:
    """The recorder wheel of `make wheel` (dist/)."""
    return recorder_wheel()


@pytest.fixture(scope="session", params=SUPPORTED, ids=lambda v: f"py{v}")
def recorder_python(request) -> Path:
    """A CPython 3.12 / 3.13 with the recorder wheel installed."""
    return _venv_with_wheel(request.param, recorder_wheel())


@pytest.fixture(scope="session")
def recorder_pythons() -> dict[str, Path]:
    """Every supported CPython with the recorder wheel installed, by version
    (for tests that compare the versions' traces)."""
    return {version: _venv_with_wheel(version, recorder_wheel()) for version in SUPPORTED}


@pytest.fixture(scope="session")
def python312() -> Path:
    return pyenv_python("3.12")


@pytest.fixture(scope="session")
def python313() -> Path:
    return pyenv_python("3.13")


@pytest.fixture(scope="session")
def python311() -> Path:
    return pyenv_python("3.11")
