"""The environment variables the Python side of the recorder reads or sets:
one entry per variable (name, type, default, meaning), and the only reads of
them. The Rust side's are in ``src/env.rs``, ``ct``'s in
``codetracer_ct/_env.py``; tests/lint/test_lint_env.py checks that no
CODETRACER_ name is read anywhere else, that the lists agree, and that
README's option table and ``--help`` name every public one
(docs/recorder.md "Environment variables")."""

from __future__ import annotations

import os


class Var:
    """One variable. ``type``: ``bool`` (1/true/yes/on), ``path``, ``enum:
    a|b``, ``size``, ``paths`` (joined by ``::``), ``text``; ``default``: its
    value when unset ("" when nothing); ``public``: documented for users
    (README), else set by the recorder or a launcher for itself; ``flag``:
    the CLI option it stands for, if any. (A class, not a NamedTuple:
    ``typing`` costs start-up time.)"""

    __slots__ = ("name", "type", "default", "meaning", "public", "flag")

    def __init__(
        self, name: str, kind: str, default: str, meaning: str, public: bool = True, flag: str | None = None
    ) -> None:
        self.name, self.type, self.default, self.meaning = name, kind, default, meaning
        self.public, self.flag = public, flag


TRACE_DIR = Var("CODETRACER_TRACE_DIR", "path", "./trace-<UTC time>-<pid>", "trace folder", flag="--trace-dir")
FORMAT = Var(
    "CODETRACER_FORMAT",
    "enum: the format table (_native.FORMATS)",
    "the table's (_native.DEFAULT_FORMAT)",
    "trace format",
    flag="--format",
)
VALUES = Var("CODETRACER_VALUES", "enum: none|args|locals", "locals", "values to capture", flag="--values")
ACTIVATION_PATH = Var(
    "CODETRACER_ACTIVATION_PATH", "path", "", "record only while code of PATH runs", flag="--activation-path"
)
REPLAY_BUDGET = Var(
    "CODETRACER_REPLAY_BUDGET",
    "size",
    "4GB",
    "note on stderr when a trace would need more replay memory than this",
    flag="--replay-budget",
)
TRACE_FILTER = Var("CODETRACER_TRACE_FILTER", "paths", "", "trace filter files, joined by `::`", flag="--trace-filter")
NO_THREADS = Var(
    "CODETRACER_NO_THREADS", "bool", "0", "record only the thread that started the recording", flag="--no-threads"
)
NO_FOLLOW_PROCESSES = Var(
    "CODETRACER_NO_FOLLOW_PROCESSES",
    "bool",
    "0",
    "a child made by os.fork() stops recording at once",
    flag="--no-follow-processes",
)
# The policy switches (docs/design/error-policy.md §5; _config.py resolves them
# and hands the native start typed values).
ON_RECORDER_ERROR = Var(
    "CODETRACER_ON_RECORDER_ERROR",
    "enum: abort|disable",
    "abort",
    "on a recorder failure: stop with its exit code, or detach, warn and let the program finish",
    flag="--on-recorder-error",
)
REQUIRE_TRACE = Var(
    "CODETRACER_REQUIRE_TRACE",
    "bool",
    "0",
    "a run without a complete trace fails, even under disable",
    flag="--require-trace",
)
KEEP_PARTIAL_TRACE = Var(
    "CODETRACER_KEEP_PARTIAL_TRACE",
    "bool",
    "0",
    "on failure keep the trace, marked partial",
    flag="--keep-partial-trace",
)
LOG_LEVEL = Var(
    "CODETRACER_LOG_LEVEL",
    "enum: off|error|warn|info|debug|trace",
    "warn",
    "how much the recorder logs",
    flag="--log-level",
)
LOG_FILE = Var("CODETRACER_LOG_FILE", "path", "", "diagnostics go to this file instead of stderr", flag="--log-file")
JSON_ERRORS = Var(
    "CODETRACER_JSON_ERRORS", "bool", "0", "a recorder failure appends one JSON line to stderr", flag="--json-errors"
)
TOOL_ID = Var("CODETRACER_TOOL_ID", "enum: 3|4", "3", "the sys.monitoring tool id the recorder takes")
ERROR_FILE = Var("CODETRACER_ERROR_FILE", "path", "", "a recorder failure's JSON object is written to this file")
TRACE = Var("CODETRACER_TRACE", "path", "", "auto-start: any python run records itself into this folder")
PARENT_TRACE = Var(
    "CODETRACER_PARENT_TRACE",
    "text",
    "",
    "set by a recording that follows child processes (a Python literal: its trace folder and options): a python "
    'started with it records into <folder>/processes/<pid>/ (docs/recorder.md, "Processes")',
    public=False,
)
ORIG_PYTHONPATH = Var(
    "CODETRACER_ORIG_PYTHONPATH",
    "text",
    "",
    "set by a launcher that prepended the recorder's folder to PYTHONPATH: unset or set:<value>",
    public=False,
)
CLI_ACTIVE = Var(
    "CODETRACER_CLI_ACTIVE", "bool", "", "set by the CLI while it starts: auto-start stays off", public=False
)

ALL: tuple[Var, ...] = (
    TRACE_DIR,
    FORMAT,
    VALUES,
    ACTIVATION_PATH,
    REPLAY_BUDGET,
    TRACE_FILTER,
    NO_THREADS,
    NO_FOLLOW_PROCESSES,
    ON_RECORDER_ERROR,
    REQUIRE_TRACE,
    KEEP_PARTIAL_TRACE,
    LOG_LEVEL,
    LOG_FILE,
    JSON_ERRORS,
    TOOL_ID,
    ERROR_FILE,
    TRACE,
    PARENT_TRACE,
    ORIG_PYTHONPATH,
    CLI_ACTIVE,
)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
#: What a ``bool`` variable takes, for messages.
BOOLEANS = "1/true/yes/on or 0/false/no/off"


def get(var: Var) -> str | None:
    """The value of ``var``, or None when unset."""
    return os.environ.get(var.name)


def is_on(var: Var) -> bool:
    """Whether ``var`` holds a true boolean (1, true, yes, on)."""
    return (get(var) or "").strip().lower() in _TRUE


def boolean(text: str) -> bool | None:
    """``text`` as a ``bool`` variable's value (None: not one of :data:`BOOLEANS`)."""
    folded = text.strip().lower()
    return True if folded in _TRUE else False if folded in _FALSE else None


def pop(var: Var) -> str | None:
    """Removes ``var`` from the environment (the program must not see it); its value."""
    return os.environ.pop(var.name, None)


def put(var: Var, value: str) -> None:
    os.environ[var.name] = value


def export(var: Var, value: str | None) -> None:
    """Puts ``var`` (None: removes it) in the environment child processes
    inherit, not in ``os.environ``: the program sees the environment plain
    python gives it; a child started with its environment (``subprocess``
    without ``env=``, ``multiprocessing``) gets the variable."""
    if value is None:
        os.unsetenv(var.name)
    else:
        os.putenv(var.name, value)


def take_inherited(var: Var) -> str | None:
    """``var`` as this process inherited it: removed from ``os.environ``,
    kept for this process's own children (:func:`export`)."""
    value = os.environ.pop(var.name, None)
    if value is not None:
        os.putenv(var.name, value)
    return value
