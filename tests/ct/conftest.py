"""Helpers of the `ct` suites: a clean user environment (own PATH, HOME,
data dir, no PYTHONPATH) and a runner of `ct` as a real process."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import pytest


def _shared_helpers():
    """tests/conftest.py's plain helpers, loaded by path: `from conftest
    import` would get whichever folder's conftest.py was imported last."""
    spec = importlib.util.spec_from_file_location(
        "_ct_shared_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _shared_helpers()
pyenv_python = _shared.pyenv_python
recorder_wheel = _shared.recorder_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CT_SOURCE = REPO / "ct"
LAUNCHER = HERE / "ct_launcher.py"
FAKE_RECORDER = HERE / "fake_recorder"

# Variables of the test runner's own environment that would leak into "the
# user's" environment and change what python does.
SCRUB = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHON",
    "VIRTUAL_ENV",
    "PYTHONSTARTUP",
    "PYTHONSAFEPATH",
    "PYENV_VERSION",
    "UV_PROJECT_ENVIRONMENT",
    "PIP_REQUIRE_VIRTUALENV",
)


class User:
    """A user's shell: environment, PATH directories, data dir, cwd."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"  # where "python" lives, first on PATH
        self.tools = root / "tools"  # git and sh only
        self.home = root / "home"
        self.data = root / "data"
        self.cwd = root / "work"
        for folder in (self.bin, self.tools, self.home, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        for tool in ("git", "sh"):
            found = shutil.which(tool)
            if found:
                (self.tools / tool).symlink_to(found)
        env = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith("CODETRACER_")}
        env.update(
            PATH=os.pathsep.join([str(self.bin), str(self.tools)]),
            HOME=str(self.home),
            CODETRACER_DATA_DIR=str(self.data),
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.env: Dict[str, str] = env

    def use_python(self, python: Path, names: Sequence[str] = ("python3", "python")) -> None:
        for name in names:
            link = self.bin / name
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(python)

    def write(self, name: str, text: str) -> Path:
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def ct(
        self,
        *args: str,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[Path] = None,
        launcher: Optional[List[str]] = None,
    ) -> subprocess.CompletedProcess:
        command = (launcher or [sys.executable, str(LAUNCHER)]) + list(args)
        return subprocess.run(
            command,
            env=dict(env or self.env),
            cwd=str(cwd or self.cwd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
        )

    def run(
        self, *command: str, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(command),
            env=dict(env or self.env),
            cwd=str(cwd or self.cwd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
        )

    def rows(self) -> List[Dict[str, object]]:
        db = self.data / "index.sqlite3"
        if not db.exists():
            return []
        with sqlite3.connect(str(db)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute("SELECT * FROM traces ORDER BY id")]

    def traces(self) -> List[str]:
        folder = self.data / "traces"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def user(tmp_path: Path) -> User:
    return User(tmp_path)


def metadata(folder: Path) -> Dict[str, object]:
    return json.loads((Path(folder) / "trace_metadata.json").read_text())
