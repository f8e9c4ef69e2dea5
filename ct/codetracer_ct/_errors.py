"""Every error that ends a `ct` command: one base, :class:`CtError`,
carrying the exit status (`_exitcodes`). `cli.main` catches it once and
prints its :meth:`~CtError.diagnostic` on stderr, so a failure exits the same
way whichever command meets it (an unusable index is 10 from `record` as
from `list`).

======  =======================================================
status  error
======  =======================================================
1       :class:`CtError` (e.g. `ct upload --test` of no such
        test), :class:`UnknownTrace`
2       :class:`UsageError`, :class:`ConfigError` (bad settings)
3       :class:`TraceUnusable`
10      :class:`IndexUnavailable`, :class:`PreflightError`,
        :class:`GitUnavailable`, :class:`ConfigError` (I/O)
11-15   :class:`UploadFailed` (its own status), 130 interrupted
127     :class:`NotFound`: no interpreter, in the shell's words
======  =======================================================
"""

from __future__ import annotations

from typing import Optional

from . import _exitcodes


class CtError(Exception):
    """Ends the command: the message is for the user, :attr:`exit_status`
    is the process's."""

    exit_status: int = _exitcodes.FAILURE
    #: What :meth:`diagnostic` puts before the message.
    prefix = "ct: error: "

    def __init__(self, message: str, exit_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_status is not None:
            self.exit_status = exit_status

    def diagnostic(self) -> str:
        """The line `ct` prints on stderr (without its newline)."""
        return self.prefix + self.message


class UsageError(CtError):
    """The command line asks for something ct cannot do."""

    exit_status = _exitcodes.USAGE


class UnknownTrace(CtError):
    """No trace in the index has this id."""

    prefix = "ct: "

    def __init__(self, trace_id: int) -> None:
        super().__init__(f"no trace with id {trace_id} (see `ct list`)")
        self.trace_id = trace_id


class NotFound(CtError):
    """No interpreter: the message is what a shell prints for the same
    command (`python: command not found`), printed as it is; exit 127."""

    exit_status = _exitcodes.COMMAND_NOT_FOUND
    prefix = ""

    def __init__(self, name: str, message: str, source: str) -> None:
        super().__init__(message)
        self.name = name
        self.source = source


class PreflightError(CtError):
    """A problem of the chosen interpreter that stops the recording; the
    message says what to do."""

    exit_status = _exitcodes.ENVIRONMENT


class IndexUnavailable(CtError):
    """The index cannot be opened or migrated; the message says why."""

    exit_status = _exitcodes.ENVIRONMENT


class GitUnavailable(CtError):
    """git is missing, or the folder is not in a git work tree; the message
    says which and what to do (`--with-diff` then records without a diff)."""

    exit_status = _exitcodes.ENVIRONMENT


class ConfigError(CtError):
    """Upload settings are missing or invalid (exit 2), or their file cannot
    be read or written (exit 10); the message says which."""

    exit_status = _exitcodes.USAGE


class TraceUnusable(CtError):
    """The trace cannot be uploaded (as asked); the message says why."""

    exit_status = _exitcodes.UPLOAD_TRACE_UNUSABLE


class UploadFailed(CtError):
    """The upload did not complete; the status tells the kind of failure
    (`_exitcodes.UPLOAD_*`, `INTERRUPTED`)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message, exit_status)
