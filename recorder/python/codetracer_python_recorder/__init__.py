"""CodeTracer's Python recorder.

Record a program from the command line::

    python -m codetracer_python_recorder --trace-dir DIR script.py args...

or a region of code from Python::

    import codetracer_python_recorder as ctr
    with ctr.trace("trace-dir"):
        work()

The trace folder holds ``trace.json``, ``trace_metadata.json`` and
``trace_paths.json`` (CodeTracer's db-backend format). The recorder never
writes to stdout; its diagnostics go to stderr or ``--log-file``.
"""
from __future__ import annotations

import os
import sys

from .errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_TARGET,
    EXIT_USAGE,
    EnvironmentError,
    InternalError,
    RecorderError,
    TargetError,
    UsageError,
)


def _unsupported(error: UsageError) -> UsageError:
    """Run as ``python -m codetracer_python_recorder``: a clear message and
    the usage exit status instead of a traceback; imported: the exception."""
    if sys.argv[:1] == ["-m"]:
        sys.stderr.write(f"codetracer-python-recorder: error: {error.message} [{error.code}]\n")
        raise SystemExit(error.exit_code)
    return error


if sys.version_info < (3, 12):  # preflight before the extension is even loaded
    raise _unsupported(UsageError(
        f"Python {sys.version.split()[0]} at {sys.executable} is too old: the recorder needs CPython 3.12 or newer (sys.monitoring)",
        "ERR_UNSUPPORTED_PYTHON",
        {"executable": sys.executable},
    ))
if sys.implementation.name != "cpython":
    raise _unsupported(UsageError(
        f"the recorder supports CPython only, not {sys.implementation.name} ({sys.executable})",
        "ERR_UNSUPPORTED_IMPLEMENTATION",
        {"executable": sys.executable},
    ))

from . import _native  # noqa: E402
from .session import flush, is_tracing, set_metrics_exporter, start, stop, trace  # noqa: E402

# A forked child must not write into its parent's recording.
os.register_at_fork(after_in_child=_native._after_fork_in_child)

__version__: str = _native.__version__
SCHEMA_VERSION: str = _native.SCHEMA_VERSION

__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "start",
    "stop",
    "trace",
    "is_tracing",
    "flush",
    "set_metrics_exporter",
    "RecorderError",
    "UsageError",
    "EnvironmentError",
    "TargetError",
    "InternalError",
    "EXIT_USAGE",
    "EXIT_ENVIRONMENT",
    "EXIT_TARGET",
    "EXIT_INTERNAL",
]
