"""The recording options: one table (:data:`OPTIONS`, a row per option: its
command-line flags, its API keyword, its environment variable, its kind and
its default) and the one place that turns what the user gave — flags,
keywords, variables — into a checked :class:`RecordingConfig`
(:func:`resolve`). The command line (``cli.py``) and the API
(``session.start``, ``run_tests``) both go through it, and the native
``start`` receives its already checked values (``RecordingConfig.native``):
an invalid value has one message, ``invalid value 'X' for SOURCE: expected
...``, naming the flag, keyword or variable it came from, and one error code
(usage, exit 2; docs/errors.md).

Adding an option is one row here plus its use. The policy switches
(``--on-recorder-error``, ``--require-trace``, ``--keep-partial-trace``,
``--log-level``, ``--log-file``, ``--json-errors``; docs/design/error-policy.md
§5) are rows like the rest: resolved here, with their variables, and handed
to the Rust policy (``src/policy.rs``) as typed values it does not check again.
"""

from __future__ import annotations

import os

from . import _env, _native, _replaycost
from .errors import UsageError

TYPE_CHECKING = False  # not `from typing import ...`: typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: What ``--values`` takes: the native ``ValuesMode`` names.
VALUES: tuple[str, ...] = _native.VALUES_MODES


class Option:
    """One row. ``kind``: ``choice`` (one of ``choices``), ``count`` (an
    integer >= 0), ``path``, ``size`` (4GB, 512MB; in bytes), ``text``,
    ``level`` (a log level: :data:`LOG_LEVELS`, any case, ``warning`` for
    ``warn``), ``switch`` (a flag: on when given; its variable, a boolean,
    when not), ``off`` (on unless its ``--no-`` flag
    or its variable, a boolean, turns it off), ``list`` (a repeatable
    value; its variable, if any, is read where the list is used: the trace
    filter's by ``_filters.resolve``, which puts its files first).
    ``flags``: the command line's spellings (the first one names it in
    messages); ``keyword``: the API's, if it has one; ``summary`` and
    ``metavar``: its entry in ``--help`` (:func:`help_entry`)."""

    __slots__ = ("name", "flags", "kind", "var", "choices", "default", "code", "keyword", "summary", "metavar")

    def __init__(
        self,
        name: str,
        flags: tuple[str, ...],
        kind: str,
        *,
        var: _env.Var | None = None,
        choices: tuple[str, ...] = (),
        default: object = None,
        code: str = "ERR_INVALID_OPTION",
        keyword: str | None = "",
        summary: str = "",
        metavar: str | None = None,
    ) -> None:
        self.name, self.flags, self.kind, self.var = name, flags, kind, var
        self.choices, self.default, self.code = choices, default, code
        self.keyword = name if keyword == "" else keyword
        self.summary, self.metavar = summary, metavar

    @property
    def takes_value(self) -> bool:
        """Whether its flag is followed by a value (``--format json``)."""
        return self.kind not in ("switch", "off")


OPTIONS: tuple[Option, ...] = (
    Option(
        "trace_dir",
        ("--trace-dir", "--out-dir", "-o"),
        "path",
        var=_env.TRACE_DIR,
        keyword=None,
        metavar="DIR",
        summary="trace folder (default ./trace-<UTC time>-<pid>)",
    ),
    Option(
        "format",
        ("--format",),
        "choice",
        var=_env.FORMAT,
        choices=_native.FORMATS,
        default=_native.DEFAULT_FORMAT,
        code="ERR_FORMAT_UNSUPPORTED",
        summary="trace format: json (trace.json, the default) or ctfs (trace.ct, CodeTracer's binary container, "
        "which the bundles' ct-python-recorder launcher sets)",
    ),
    Option(
        "activation_path",
        ("--activation-path",),
        "path",
        var=_env.ACTIVATION_PATH,
        metavar="PATH",
        summary="record only while code of PATH runs",
    ),
    Option(
        "values",
        ("--values",),
        "choice",
        var=_env.VALUES,
        choices=VALUES,
        default="locals",
        summary="values to capture (default locals)",
    ),
    Option(
        "max_depth", ("--max-depth",), "count", metavar="N", summary="nesting depth of a captured value (default 3)"
    ),
    Option("max_items", ("--max-items",), "count", metavar="N", summary="items captured per container (default 32)"),
    Option("max_str", ("--max-str",), "count", metavar="N", summary="bytes captured per string (default 256)"),
    Option("max_nodes", ("--max-nodes",), "count", metavar="N", summary="values captured per variable (default 64)"),
    # The policy (docs/design/error-policy.md §5).
    Option(
        "on_recorder_error",
        ("--on-recorder-error",),
        "choice",
        var=_env.ON_RECORDER_ERROR,
        choices=("abort", "disable"),
        default="abort",
        summary="on a recorder failure: abort (the default) stops with its exit code, disable detaches, warns "
        "and lets the program finish",
    ),
    Option(
        "log_level",
        ("--log-level",),
        "level",
        var=_env.LOG_LEVEL,
        default="warn",
        metavar="LEVEL",
        summary="off, error, warn (default), info, debug, trace",
    ),
    Option(
        "log_file",
        ("--log-file",),
        "text",
        var=_env.LOG_FILE,
        metavar="PATH",
        summary="write diagnostics to PATH instead of stderr",
    ),
    Option(
        "require_trace",
        ("--require-trace",),
        "switch",
        var=_env.REQUIRE_TRACE,
        default=False,
        summary="a run that produced no complete trace fails",
    ),
    Option(
        "keep_partial_trace",
        ("--keep-partial-trace",),
        "switch",
        var=_env.KEEP_PARTIAL_TRACE,
        default=False,
        summary="on failure keep the trace, marked partial",
    ),
    Option(
        "json_errors",
        ("--json-errors",),
        "switch",
        var=_env.JSON_ERRORS,
        default=False,
        keyword=None,
        summary="append a JSON line describing a recorder failure to stderr",
    ),
    Option(
        "threads",
        ("--no-threads",),
        "off",
        var=_env.NO_THREADS,
        default=True,
        summary="record only the main thread (default: every thread that runs recorded code, each into a trace "
        "of its own in threads/)",
    ),
    Option(
        "follow_processes",
        ("--no-follow-processes",),
        "off",
        var=_env.NO_FOLLOW_PROCESSES,
        default=True,
        summary="record this process only (default: every child process running this python -- os.fork(), "
        "subprocess, multiprocessing -- records into processes/<pid>/)",
    ),
    # No flag: its variable only (src/tool.rs).
    Option("tool_id", (), "choice", var=_env.TOOL_ID, choices=("3", "4"), default="3", keyword=None),
    # Scope (_filters.py): what is recorded.
    Option(
        "include",
        ("--include",),
        "list",
        metavar="PATTERN",
        summary="also record code matching PATTERN: a path glob (a file, a folder, or anything with a path "
        "separator) or a module name glob (`json`, `mylib.*`); repeatable",
    ),
    Option(
        "exclude", ("--exclude",), "list", metavar="PATTERN", summary="do not record code matching PATTERN; repeatable"
    ),
    Option(
        "record_all",
        ("--record-all",),
        "switch",
        default=False,
        summary="record the standard library and installed packages too",
    ),
    Option(
        "trace_filter",
        ("--trace-filter",),
        "list",
        var=_env.TRACE_FILTER,
        metavar="PATH",
        summary="a trace filter file (upstream's TOML schema); repeatable, later files override earlier ones "
        "(the variable's paths, joined by `::`, come first; the project's .codetracer/trace-filter.toml is "
        "found from the script's folder up unless --no-auto-filter)",
    ),
    Option(
        "auto_filter",
        ("--no-auto-filter",),
        "off",
        default=True,
        keyword=None,
        summary="do not look for .codetracer/trace-filter.toml",
    ),
    Option(
        "redact",
        ("--no-redact",),
        "off",
        default=True,
        summary="write text under secret-looking names (password, token, api_key, ...) as it is instead of `<redacted>`",
    ),
    # Test runs (docs/test-runs.md).
    Option(
        "trace_per_test",
        ("--trace-per-test",),
        "switch",
        summary="one trace per test in the trace folder, with tests.json and CodeTracer's session.toml (the "
        "default in test runs)",
    ),
    Option("single_trace", ("--single-trace",), "switch", keyword=None, summary="one trace of the whole test run"),
    Option(
        "record_framework",
        ("--record-framework",),
        "switch",
        default=False,
        summary="record the test framework's own code too (default: the tests and the code under test only)",
    ),
    Option(
        "replay_budget",
        ("--replay-budget",),
        "size",
        var=_env.REPLAY_BUDGET,
        default=_replaycost.DEFAULT_BUDGET_BYTES,
        metavar="SIZE",
        summary="note on stderr when a trace would need more than SIZE of CodeTracer's replay memory to open "
        "(default 4GB, 0: never)",
    ),  # run_tests() only
)

#: What ``--log-level`` takes.
LOG_LEVELS: tuple[str, ...] = ("off", "error", "warn", "info", "debug", "trace")

#: Each option by its flags.
BY_FLAG: dict[str, Option] = {flag: o for o in OPTIONS for flag in o.flags}
#: Each option by its name.
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


def help_entry(option: Option) -> str:
    """The option's entry in ``--help``: its flags (with the value they
    take: the metavar, or the choices), then its summary and its variable
    (``env NAME``, in the summary's closing parenthesis if it has one),
    wrapped as argparse lays an entry out."""
    import textwrap  # only for --help

    value = option.metavar or ("|".join(option.choices) if option.choices else None)
    head = ", ".join(f"{flag} {value}" if value and option.takes_value else flag for flag in option.flags)
    text = option.summary
    if option.var is not None:
        on = "=1" if option.kind in ("switch", "off") else ""
        env = f"env {option.var.name}{on}"
        text = f"{text[:-1]}; {env})" if text.endswith(")") else f"{text} ({env})"
    lines = textwrap.wrap(text, 64)
    first = f"  {head}"
    if len(first) <= 22:
        return "\n".join([f"{first:<24}{lines[0]}", *(f"{'':24}{line}" for line in lines[1:])]) + "\n"
    return "\n".join([first, *(f"{'':24}{line}" for line in lines)]) + "\n"


def invalid(value: str, source: str, expected: str, code: str = "ERR_INVALID_OPTION") -> UsageError:
    """The one message for an option's bad value (the Rust policy's is the same shape)."""
    return UsageError(
        f"invalid value {value!r} for {source}: expected {expected}", code, {"option": source, "value": value}
    )


def one_of(choices: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def check(option: Option, value: Any, source: str) -> Any:
    """``value`` (from ``source``: a flag, ``keyword=`` or a variable) as the
    option's kind says, or the usage error that names ``source``."""
    kind = option.kind
    if kind == "choice":
        if value not in option.choices:
            raise invalid(str(value), source, one_of(option.choices), option.code)
        return value
    if kind == "count":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        try:
            number = int(str(value))
        except ValueError:
            number = -1
        if number < 0:
            raise invalid(str(value), source, "a non-negative integer", option.code)
        return number
    if kind == "level":
        level = str(value).lower()
        level = "warn" if level == "warning" else level
        if level not in LOG_LEVELS:
            raise invalid(str(value), source, one_of(LOG_LEVELS), option.code)
        return level
    if kind == "size":
        return _replaycost.parse_budget(str(value), source)
    if kind == "path":
        return os.path.abspath(os.fspath(value))
    if kind in ("switch", "off"):
        return bool(value)
    return value


class RecordingConfig:
    """Every recording option, resolved and checked (frozen: built once by
    :func:`resolve`). An attribute per row of :data:`OPTIONS` (None: not
    given and no default), plus ``scope`` (the flattened filter chain of
    ``_filters.resolve``, from ``trace_filter`` and the rest); ``api``:
    given as keywords."""

    __slots__ = (*(o.name for o in OPTIONS), "scope", "api")

    if TYPE_CHECKING:
        trace_dir: str | None
        format: str
        activation_path: str | None
        values: str
        max_depth: int | None
        max_items: int | None
        max_str: int | None
        max_nodes: int | None
        on_recorder_error: str
        log_level: str
        log_file: str | None
        require_trace: bool
        keep_partial_trace: bool
        json_errors: bool
        threads: bool
        follow_processes: bool
        tool_id: str
        include: list[str]
        exclude: list[str]
        trace_filter: list[str]
        record_all: bool
        redact: bool
        auto_filter: bool
        trace_per_test: bool | None
        single_trace: bool | None
        record_framework: bool
        replay_budget: int
        scope: dict[str, Any]
        api: bool

    def __init__(self, values: Mapping[str, object], api: bool) -> None:
        for o in OPTIONS:
            object.__setattr__(self, o.name, values.get(o.name))
        object.__setattr__(self, "api", api)
        object.__setattr__(self, "scope", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RecordingConfig is frozen: {name} is set by resolve()")

    def native(self, skip_prefixes: list[str]) -> dict[str, Any]:
        """The keyword arguments of the native ``start`` (values the Rust
        side takes as they are: it checks none of them again)."""
        return {
            "values": self.values,
            "activation_path": self.activation_path,
            "max_depth": self.max_depth,
            "max_items": self.max_items,
            "max_str": self.max_str,
            "max_nodes": self.max_nodes,
            "skip_prefixes": skip_prefixes,
            "format": self.format,
            "on_recorder_error": self.on_recorder_error,
            "require_trace": self.require_trace,
            "keep_partial_trace": self.keep_partial_trace,
            "log_level": self.log_level,
            "log_file": self.log_file,
            "trace_filter": self.scope,
            "threads": self.threads,
            "follow_processes": self.follow_processes,
            "tool_id": self.tool_id,
        }


def one(option: Option, given: Any, *, api: bool = False) -> tuple[Any, str | None]:
    """One option's value: ``given`` (None: not given), else its variable,
    else its default, checked; and where it came from (None: the default)."""
    if option.kind == "list":
        items = [given] if isinstance(given, (str, os.PathLike)) else list(given or ())
        return [os.fspath(v) for v in items], None
    if given == "" and option.kind == "path":
        given = None  # `-o ''`, `activation_path=""`: not given, as an empty variable is
    source = f"{option.keyword}=" if api and option.keyword else (option.flags or (option.name,))[0]
    if given is None and option.var is not None:
        if option.kind == "off":
            given, source = (False if _env.is_on(option.var) else None), option.var.name
        elif option.kind == "switch":
            text, source = _env.get(option.var), option.var.name
            given = None if text is None else _env.boolean(text)
            if text is not None and given is None:
                raise invalid(text, source, _env.BOOLEANS, option.code)
        else:
            given, source = _env.get(option.var) or None, option.var.name
    if given is None:
        return option.default, None
    return check(option, given, source), source


def resolve(
    given: Mapping[str, object],
    *,
    api: bool = False,
    script_dir: str | None = None,
    framework: str | None = None,
    logging: bool = False,
) -> RecordingConfig:
    """The configuration from ``given`` (option name -> value; None: not
    given), then each option's variable, then its default; ``api``: the
    values came as keywords (``format=``), else as flags, and an option the
    caller has no keyword for (absent from ``given``) keeps its default,
    unless it has no flag either (``tool_id``: its variable only). The
    scope is resolved from the folder ``script_dir`` up (None: the current
    folder); ``framework``: a test run's, whose own code
    ``record_framework`` adds; ``logging``: send the recorder's diagnostics
    where ``log_level`` and ``log_file`` say now (the command line does,
    before the program runs, for the errors it reports before ``start``;
    ``start`` does it too)."""
    values: dict[str, object] = {}
    for o in OPTIONS:
        asked = o.name in given or not api or not o.flags
        values[o.name] = one(o, given.get(o.name), api=api)[0] if asked else o.default
    config = RecordingConfig(values, api)
    if logging:
        _native.configure_logging(config.log_level, config.log_file)
    from . import _filters

    include = list(config.include)
    if framework is not None and config.record_framework:
        from ._testrun import FRAMEWORK_MODULES

        include += FRAMEWORK_MODULES[framework]
    object.__setattr__(
        config,
        "scope",
        _filters.resolve(
            script_dir=script_dir if script_dir is not None else os.getcwd(),
            filters=config.trace_filter,
            include=include,
            exclude=config.exclude,
            record_all=config.record_all,
            redact=config.redact,
            auto_discover=config.auto_filter,
        ),
    )
    return config
