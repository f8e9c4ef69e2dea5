"""Children started with an environment the program made: followed too
(docs/recorder.md, "Processes").

A recording that follows processes puts ``CODETRACER_PARENT_TRACE`` in the
environment the process's children inherit (``_processes.export``), not in
``os.environ``, so a child given an environment of the program's making —
``subprocess.run([...], env=dict(os.environ, X="1"))``, ``env={"PATH": ...}``,
``os.execve``, ``os.spawnve``, ``os.posix_spawn`` — would start without it.
While such a recording runs, the functions through which a program passes
an environment to a new program are stood in for by built-ins
(``_native._parent_env_stand_in``, ``child_env.rs``) that call the
program's own with a new environment, the given one plus the variable: the
program's mapping is never changed and no frame of ours is in a traceback.
They are ``os.execve``, ``os.posix_spawn``, ``os.posix_spawnp`` (``os``'s
``spawnve``, ``execle``, ``execvpe`` call ``execve``; ``subprocess``'s
``posix_spawn`` path calls ``os.posix_spawn``) and ``subprocess``'s own
name for ``_posixsubprocess.fork_exec``, ``subprocess._fork_exec`` (its
fork path, Lib/subprocess.py of 3.12 and 3.13). The recorder does not
import ``subprocess`` (start-up time): when the program has not, a finder
at the head of ``sys.meta_path`` waits for its import, answers for
``subprocess`` only, and leaves once it has put the stand-in there. The
recording's stop gives every function back (unless the program replaced
our stand-in with its own) and takes the finder away.

Each stand-in finds the environment's position in its function's
``__text_signature__`` (the argument named ``env``); a function without
one (not CPython's own: the program replaced it) is left alone.
"""

from __future__ import annotations

import os
import sys

from . import _native
from .errors import RecorderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

#: The functions of ``os`` that take the new program's environment.
_OS_FUNCTIONS = ("execve", "posix_spawn", "posix_spawnp")
#: ``subprocess``'s name for ``_posixsubprocess.fork_exec``.
_SUBPROCESS = "subprocess"
_SUBPROCESS_FORK_EXEC = "_fork_exec"
#: The argument that holds the environment.
_ENV_ARGUMENT = "env"

#: What stands in now: (the module, the attribute, the program's own, ours).
_installed: list[tuple[ModuleType, str, Any, Any]] = []
#: Whether the stand-ins are wanted (a recording that follows processes runs).
_active = [False]


def install() -> None:
    """A recording that follows processes started: children given an
    environment get the variable too (idempotent)."""
    if _active[0]:
        return
    _active[0] = True
    for name in _OS_FUNCTIONS:
        _stand_in(os, name)
    subprocess = sys.modules.get(_SUBPROCESS)
    if subprocess is not None:
        _stand_in(subprocess, _SUBPROCESS_FORK_EXEC)
    elif os.name == "posix":  # (Windows' subprocess hands env= to CreateProcess: nothing to stand in for)
        sys.meta_path.insert(0, _WATCH)


def uninstall() -> None:
    """The recording stopped: the program's own functions back, no finder left."""
    _active[0] = False
    _leave_meta_path()
    while _installed:
        module, attribute, own, ours = _installed.pop()
        if getattr(module, attribute, None) is ours:
            setattr(module, attribute, own)


def _stand_in(module: ModuleType, attribute: str) -> None:
    own = getattr(module, attribute, None)
    index = _env_index(getattr(own, "__text_signature__", None))
    if own is None or index is None:
        return
    try:
        ours = _native._parent_env_stand_in(own, str(getattr(own, "__name__", "")), index)
    except RecorderError:
        return
    setattr(module, attribute, ours)
    _installed.append((module, attribute, own, ours))


def _env_index(signature: str | None) -> int | None:
    """The position of the ``env`` argument in a built-in's text signature
    (``($module, path, argv, env, /, *, ...)``), None when it has none."""
    if not signature or not signature.startswith("(") or not signature.endswith(")"):
        return None
    position = 0
    for part in signature[1:-1].split(","):
        name = part.strip().partition("=")[0].strip()
        if name.startswith("$") or name == "/":
            continue
        if name.startswith("*"):
            return None
        if name == _ENV_ARGUMENT:
            return position
        position += 1
    return None


def _leave_meta_path() -> None:
    try:
        sys.meta_path.remove(_WATCH)
    except ValueError:
        pass


class _SubprocessImport:
    """The finder waiting for ``subprocess``'s import (every other name:
    None at once). Its spec is the one the finders after it give, with a
    loader that runs the real one, then puts the stand-in in the module."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _SUBPROCESS:
            return None
        for finder in sys.meta_path:
            find = None if finder is self else getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


class _Loader:
    """The real loader of ``subprocess``, given back to the module and its
    spec before the module's code runs (the module sees its own loader)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def create_module(self, spec: Any) -> Any:
        return self.real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.real
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self.real
        self.real.exec_module(module)
        if _active[0]:
            _leave_meta_path()
            _stand_in(module, _SUBPROCESS_FORK_EXEC)


_WATCH = _SubprocessImport()
