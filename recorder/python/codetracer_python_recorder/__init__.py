"""CodeTracer's Python recorder.

Record a program from the command line::

    python -m codetracer_python_recorder --trace-dir DIR script.py args...

or a region of code from Python::

    import codetracer_python_recorder as ctr
    with ctr.trace("trace-dir"):
        work()

The trace folder holds ``trace.json``, ``trace_metadata.json`` and
``trace_paths.json`` (CodeTracer's db-backend format); with ``--format ctfs``
(``format="ctfs"``), ``trace.ct`` (CodeTracer's CTFS container) instead of
``trace.json``. The recorder never
writes to stdout; its diagnostics go to stderr or ``--log-file``.
"""

import sys

#: The modules loaded before this package (its first statement runs here, no
#: ``from __future__`` import before it): what the recorded program must find
#: in ``sys.modules`` (see :func:`.session.hide_recorder_modules`).
STARTUP_MODULES: tuple[str, ...] = tuple(sys.modules)

import os

from .errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_TARGET,
    EXIT_USAGE,
    EnvironmentError,  # noqa: A004 - the kind's name (errors.py)
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
    raise _unsupported(
        UsageError(
            f"Python {sys.version.split()[0]} at {sys.executable} is too old: the recorder needs CPython 3.12 or newer (sys.monitoring)",
            "ERR_UNSUPPORTED_PYTHON",
            {"executable": sys.executable},
        )
    )
if sys.implementation.name != "cpython":
    raise _unsupported(
        UsageError(
            f"the recorder supports CPython only, not {sys.implementation.name} ({sys.executable})",
            "ERR_UNSUPPORTED_IMPLEMENTATION",
            {"executable": sys.executable},
        )
    )

from . import _native

# The command line hides this package from the program it records; a program
# importing it again gets a fresh package, which shares the first one's
# exception classes, so `except RecorderError` catches what the recorder
# raises whichever import named it.
from . import errors as _errors

_first_errors = _native._errors_module()
#: Whether this is the package's first import in the process (not one after
#: the recorder hid itself: the program's, or site running the wheel's .pth
#: a second time, as CPython 3.12 does in a venv). Hooks are registered once.
_first_import = _first_errors is _errors
if not _first_import:
    for _name in ("RecorderError", "UsageError", "EnvironmentError", "TargetError", "InternalError"):
        setattr(_errors, _name, getattr(_first_errors, _name))
        globals()[_name] = getattr(_first_errors, _name)
from .session import flush, is_tracing, run_tests, set_metrics_exporter, start, stop, trace

# A forked child must not write into its parent's recording; and no thread
# of the recorder's runs at a fork (CPython would warn of one).
if _first_import:
    os.register_at_fork(before=_native._before_fork, after_in_child=_native._after_fork_in_child)

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
    "run_tests",
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
