"""PYTHONPATH composition: THE one place that puts the recorder's folder on
a child's PYTHONPATH (docs/design/bundling-and-ct-record.md §5).

The folder is prepended without ever creating an empty entry (an empty entry
puts the current directory on sys.path). The user's own value is kept
verbatim after it, and `CODETRACER_ORIG_PYTHONPATH` records it (`unset` or
`set:<value>`) so the recorder restores it before the script runs and the
script's subprocesses see exactly what they would have seen.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

from . import _env

ORIGINAL_VARIABLE = _env.ORIG_PYTHONPATH.name


def prepend(folders: Sequence[str], current: Optional[str], sep: str = os.pathsep) -> str:
    """`folders` then the user's `current` PYTHONPATH (kept as is, empty
    entries included: they are the user's); never a new empty entry."""
    head = [folder for folder in folders if folder]
    if current:
        return sep.join(head + [current])
    return sep.join(head)


def original_marker(current: Optional[str]) -> str:
    """The value of CODETRACER_ORIG_PYTHONPATH for a user PYTHONPATH."""
    return "unset" if current is None else "set:" + current


def entries(value: Optional[str], sep: str = os.pathsep) -> List[str]:
    return value.split(sep) if value else []


def child_environment(environ: Mapping[str, str], folder: Optional[str], sep: str = os.pathsep) -> Dict[str, str]:
    """The environment of the recording: `environ` untouched except `folder`
    prepended to PYTHONPATH (when it is not there already) and the original
    value recorded for the recorder to restore (unless a launcher upstream
    already recorded it: then that record stays)."""
    env = dict(environ)
    if not folder:
        return env
    current = env.get("PYTHONPATH")
    if folder in entries(current, sep):
        return env
    env.setdefault(ORIGINAL_VARIABLE, original_marker(current))
    env["PYTHONPATH"] = prepend([folder], current, sep)
    return env
