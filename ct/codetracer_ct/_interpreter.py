"""Interpreter discovery: THE one place that decides which `python` runs a
recording (docs/design/bundling-and-ct-record.md §3).

Order: an explicit `--python`, then `$CODETRACER_PYTHON`, then `$PYTHON`,
then `python3` and `python` looked up on `$PATH` exactly as the user's shell
would (so an activated venv, `uv run`, pyenv shims and pipx-style wrappers
pick the interpreter `python` would). The first source that is set decides:
when it names nothing runnable there is no fallback to another interpreter.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Optional, Tuple

from . import _env
from ._errors import NotFound

ENV_VARIABLES = (_env.PYTHON.name, "PYTHON")
PATH_NAMES = ("python3", "python")


def _has_separator(command: str) -> bool:
    return os.sep in command or (os.altsep is not None and os.altsep in command)


def _resolve(command: str, environ: Mapping[str, str], source: str) -> Path:
    """`command` as a shell resolves it: a path is used as is, a bare name is
    searched on $PATH."""
    if _has_separator(command):
        path = Path(command)
        if path.is_dir():
            raise NotFound(command, f"{command}: Is a directory", source)
        if not path.exists():
            raise NotFound(command, f"{command}: No such file or directory", source)
        if not os.access(str(path), os.X_OK):
            raise NotFound(command, f"{command}: Permission denied", source)
        return path.absolute()
    found = _which(command, environ)
    if found is None:
        raise NotFound(command, f"{command}: command not found", source)
    return found


def _which(name: str, environ: Mapping[str, str]) -> Optional[Path]:
    search = environ.get("PATH", os.defpath)
    found = shutil.which(name, path=search)
    return Path(found).absolute() if found else None


def describe(explicit: Optional[str] = None, environ: Mapping[str, str] = os.environ) -> Tuple[str, str]:
    """(command, source) that discovery will use, before resolving it."""
    if explicit:
        return explicit, "--python"
    for variable in ENV_VARIABLES:
        value = environ.get(variable, "")
        if value:
            return value, f"${variable}"
    return "", "PATH"


def find_python(explicit: Optional[str] = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The interpreter a recording runs with (see the module docstring).

    Raises NotFound when the chosen source names nothing runnable."""
    command, source = describe(explicit, environ)
    if command:
        return _resolve(command, environ, source)
    for name in PATH_NAMES:
        found = _which(name, environ)
        if found is not None:
            return found
    # What the user sees when typing `python` (docs/design/bundling-and-ct-record.md §3, §6).
    raise NotFound(PATH_NAMES[-1], f"{PATH_NAMES[-1]}: command not found", source)
