"""Every exit status `ct` itself chooses (ADR 0004 §2 kinds; 127 as the shell
gives for a missing command). The recording's own status is the script's."""
from __future__ import annotations

from typing import Optional

OK = 0
FAILURE = 1  # e.g. `ct show` of an unknown id
USAGE = 2
ENVIRONMENT = 10
TARGET = 20
INTERNAL = 70
COMMAND_NOT_FOUND = 127

RECORDER_FAILURES = frozenset({USAGE, ENVIRONMENT, TARGET, INTERNAL})

_BY_KIND = {"usage": USAGE, "environment": ENVIRONMENT, "target": TARGET, "internal": INTERNAL}


def for_kind(kind: Optional[str]) -> int:
    """The exit status of a recorder error kind (`Internal` when unknown)."""
    return _BY_KIND.get((kind or "").lower(), INTERNAL)
