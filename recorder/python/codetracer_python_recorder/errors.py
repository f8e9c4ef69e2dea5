"""The recorder's exception hierarchy and exit codes (docs/design/error-policy.md §2, §3).

Every failure of the recorder itself surfaces as a :class:`RecorderError`
subclass carrying a stable ``code`` (``"ERR_..."``), a ``kind`` and a
``context`` dict; the command line exits with the kind's exit code. Failures
of the traced program are *not* recorder errors: the command line exits with
the program's own status, exactly like ``python script.py``.
"""

from __future__ import annotations

__all__ = [
    "EXIT_USAGE",
    "EXIT_ENVIRONMENT",
    "EXIT_TARGET",
    "EXIT_INTERNAL",
    "RecorderError",
    "UsageError",
    "EnvironmentError",
    "TargetError",
    "InternalError",
]

#: Exit status of the command line when the recorder fails, per kind.
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 10
EXIT_TARGET = 20
EXIT_INTERNAL = 70


class RecorderError(Exception):
    """Base of every recorder failure."""

    kind: str = "internal"
    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, code: str = "ERR_INTERNAL", context: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.context = dict(context or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_json(self) -> str:
        """The one-line JSON diagnostic (``--json-errors``)."""
        import json  # only on the error path: keeps start-up light

        return json.dumps(
            {
                "error_code": self.code,
                "kind": self.kind,
                "message": self.message,
                "context": {k: str(v) for k, v in self.context.items()},
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


class UsageError(RecorderError):
    """Caller mistakes: bad flags or values, unsupported interpreter, conflicting sessions."""

    kind = "usage"
    exit_code = EXIT_USAGE


class EnvironmentError(RecorderError):  # noqa: A001 - the kind's name (docs/design/error-policy.md §3)
    """I/O, permissions, resource exhaustion, a tool id taken by another tool."""

    kind = "environment"
    exit_code = EXIT_ENVIRONMENT


class TargetError(RecorderError):
    """The traced program broke the recording (or recorded nothing under --require-trace)."""

    kind = "target"
    exit_code = EXIT_TARGET


class InternalError(RecorderError):
    """A bug in the recorder, including a contained panic."""

    kind = "internal"
    exit_code = EXIT_INTERNAL
