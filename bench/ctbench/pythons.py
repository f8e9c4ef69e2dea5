"""Interpreter discovery for the benchmark: the newest pyenv CPython X.Y."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["PythonNotFound", "pyenv_python"]


class PythonNotFound(RuntimeError):
    pass


def _version_key(path: Path) -> list[int]:
    return [int(x) if x.isdigit() else 0 for x in path.parents[1].name.split(".")]


def pyenv_python(version: str) -> Path:
    """Newest `$(pyenv root)/versions/<version>.*/bin/python<version>`."""
    try:
        root = subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PythonNotFound(
            f"pyenv is required to find CPython {version} (https://github.com/pyenv/pyenv; "
            f"`make setup` checks it): {exc}"
        ) from exc
    found = sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}"), key=_version_key)
    if not found:
        raise PythonNotFound(f"CPython {version} not found under {root}/versions (run: pyenv install {version})")
    return found[-1]
