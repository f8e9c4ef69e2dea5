"""Every exit status `ct` itself chooses (docs/design/error-policy.md §2 kinds; 127 as the shell
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

# `ct upload` (docs/ct.md "Upload"): one status per kind of failure, so a
# script can tell "fix the trace" from "fix the token" from "try later".
UPLOAD_TRACE_UNUSABLE = 3  # folder missing, not a trace, partial without --allow-partial, no recording id
UPLOAD_NETWORK = 11  # the server cannot be reached (after the retries)
UPLOAD_AUTH = 12  # HTTP 401 / 403: the token is missing, wrong or not allowed
UPLOAD_NOT_FOUND = 13  # HTTP 404, or an organisation the server does not list
UPLOAD_TOO_LARGE = 14  # HTTP 413: the server refuses a trace this large
UPLOAD_SERVER = 15  # HTTP 5xx / 429 after the retries, or an answer ct cannot use
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

RECORDER_FAILURES = frozenset({USAGE, ENVIRONMENT, TARGET, INTERNAL})

_BY_KIND = {"usage": USAGE, "environment": ENVIRONMENT, "target": TARGET, "internal": INTERNAL}


def for_kind(kind: Optional[str]) -> int:
    """The exit status of a recorder error kind (`Internal` when unknown)."""
    return _BY_KIND.get((kind or "").lower(), INTERNAL)
