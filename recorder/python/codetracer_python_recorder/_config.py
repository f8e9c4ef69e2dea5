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
    messages); ``keyword``: the API's, if it has one."""

    __slots__ = ("name", "flags", "kind", "var", "choices", "default", "code", "keyword")

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
    ) -> None:
        self.name, self.flags, self.kind, self.var = name, flags, kind, var
        self.choices, self.default, self.code = choices, default, code
        self.keyword = name if keyword == "" else keyword

    @property
    def takes_value(self) -> bool:
        """Whether its flag is followed by a value (``--format json``)."""
        return self.kind not in ("switch", "off")


OPTIONS: tuple[Option, ...] = (
    Option("trace_dir", ("--trace-dir", "--out-dir", "-o"), "path", var=_env.TRACE_DIR, keyword=None),
    Option(
        "format",
        ("--format",),
        "choice",
        var=_env.FORMAT,
        choices=_native.FORMATS,
        default=_native.DEFAULT_FORMAT,
        code="ERR_FORMAT_UNSUPPORTED",
    ),
    Option("activation_path", ("--activation-path",), "path", var=_env.ACTIVATION_PATH),
    Option("values", ("--values",), "choice", var=_env.VALUES, choices=VALUES, default="locals"),
    Option("max_depth", ("--max-depth",), "count"),
    Option("max_items", ("--max-items",), "count"),
    Option("max_str", ("--max-str",), "count"),
    Option("max_nodes", ("--max-nodes",), "count"),
    # The policy (docs/design/error-policy.md §5).
    Option(
        "on_recorder_error",
        ("--on-recorder-error",),
        "choice",
        var=_env.ON_RECORDER_ERROR,
        choices=("abort", "disable"),
        default="abort",
    ),
    Option("log_level", ("--log-level",), "level", var=_env.LOG_LEVEL, default="warn"),
    Option("log_file", ("--log-file",), "text", var=_env.LOG_FILE),
    Option("require_trace", ("--require-trace",), "switch", var=_env.REQUIRE_TRACE, default=False),
    Option("keep_partial_trace", ("--keep-partial-trace",), "switch", var=_env.KEEP_PARTIAL_TRACE, default=False),
    Option("json_errors", ("--json-errors",), "switch", var=_env.JSON_ERRORS, default=False, keyword=None),
    Option("threads", ("--no-threads",), "off", var=_env.NO_THREADS, default=True),
    Option("follow_processes", ("--no-follow-processes",), "off", var=_env.NO_FOLLOW_PROCESSES, default=True),
    # Scope (_filters.py): what is recorded.
    Option("include", ("--include",), "list"),
    Option("exclude", ("--exclude",), "list"),
    Option("trace_filter", ("--trace-filter",), "list", var=_env.TRACE_FILTER),
    Option("record_all", ("--record-all",), "switch", default=False),
    Option("redact", ("--no-redact",), "off", default=True),
    Option("auto_filter", ("--no-auto-filter",), "off", default=True, keyword=None),
    # Test runs (docs/test-runs.md).
    Option("trace_per_test", ("--trace-per-test",), "switch"),
    Option("single_trace", ("--single-trace",), "switch", keyword=None),
    Option("record_framework", ("--record-framework",), "switch", default=False),
    Option(
        "replay_budget", ("--replay-budget",), "size", var=_env.REPLAY_BUDGET, default=_replaycost.DEFAULT_BUDGET_BYTES
    ),  # run_tests() only
)

#: What ``--log-level`` takes.
LOG_LEVELS: tuple[str, ...] = ("off", "error", "warn", "info", "debug", "trace")

#: Each option by its flags.
BY_FLAG: dict[str, Option] = {flag: o for o in OPTIONS for flag in o.flags}
#: Each option by its name.
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


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
        }


def one(option: Option, given: Any, *, api: bool = False) -> tuple[Any, str | None]:
    """One option's value: ``given`` (None: not given), else its variable,
    else its default, checked; and where it came from (None: the default)."""
    if option.kind == "list":
        items = [given] if isinstance(given, (str, os.PathLike)) else list(given or ())
        return [os.fspath(v) for v in items], None
    if given == "" and option.kind == "path":
        given = None  # `-o ''`, `activation_path=""`: not given, as an empty variable is
    source = f"{option.keyword}=" if api and option.keyword else option.flags[0]
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
    caller has no keyword for (absent from ``given``) keeps its default. The
    scope is resolved from the folder ``script_dir`` up (None: the current
    folder); ``framework``: a test run's, whose own code
    ``record_framework`` adds; ``logging``: send the recorder's diagnostics
    where ``log_level`` and ``log_file`` say now (the command line does,
    before the program runs, for the errors it reports before ``start``;
    ``start`` does it too)."""
    values: dict[str, object] = {}
    for o in OPTIONS:
        values[o.name] = one(o, given.get(o.name), api=api)[0] if o.name in given or not api else o.default
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
