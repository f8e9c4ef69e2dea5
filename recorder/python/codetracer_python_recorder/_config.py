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
``--log-level``, ``--log-file``, ``--json-errors``) are rows too, marked
``policy``: their variables are the Rust side's and the Rust policy
(``src/policy.rs``) checks them, with the same message shape.
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
    ``switch`` (a flag: on when given), ``off`` (on unless its ``--no-`` flag
    or its variable, a boolean, turns it off), ``list`` (a repeatable
    value; its variable, if any, is read where the list is used: the trace
    filter's by ``_filters.resolve``, which puts its files first). ``flags``: the command line's spellings (the first one names it
    in messages); ``keyword``: the API's, if it has one; ``policy``: a
    switch of the Rust policy, passed to it as given (None: not given), its
    variable read and its value checked there (``src/policy.rs``)."""

    __slots__ = ("name", "flags", "kind", "var", "choices", "default", "code", "keyword", "policy")

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
        policy: bool = False,
    ) -> None:
        self.name, self.flags, self.kind, self.var = name, flags, kind, var
        self.choices, self.default, self.code = choices, default, code
        self.keyword = name if keyword == "" else keyword
        self.policy = policy

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
    Option("on_recorder_error", ("--on-recorder-error",), "text", policy=True),
    Option("log_level", ("--log-level",), "text", policy=True),
    Option("log_file", ("--log-file",), "text", policy=True),
    Option("require_trace", ("--require-trace",), "switch", policy=True),
    Option("keep_partial_trace", ("--keep-partial-trace",), "switch", policy=True),
    Option("json_errors", ("--json-errors",), "switch", policy=True, keyword=None),
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
    ``_filters.resolve``, from ``trace_filter`` and the rest) and ``policy``
    (the Rust policy's effective switches, a dict, when the command line
    asked for them); ``api``: given as keywords."""

    __slots__ = (*(o.name for o in OPTIONS), "scope", "policy", "api")

    if TYPE_CHECKING:
        trace_dir: str | None
        format: str
        activation_path: str | None
        values: str
        max_depth: int | None
        max_items: int | None
        max_str: int | None
        max_nodes: int | None
        on_recorder_error: str | None
        log_level: str | None
        log_file: str | None
        require_trace: bool | None
        keep_partial_trace: bool | None
        json_errors: bool | None
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
        policy: dict[str, Any] | None
        api: bool

    def __init__(self, values: Mapping[str, object], api: bool) -> None:
        for o in OPTIONS:
            object.__setattr__(self, o.name, values.get(o.name))
        object.__setattr__(self, "api", api)
        object.__setattr__(self, "scope", {})
        object.__setattr__(self, "policy", None)

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
            # The policy names a bad switch as the caller gave it (`on_recorder_error=`).
            "keywords": self.api,
        }


def one(option: Option, given: Any, *, api: bool = False) -> tuple[Any, str | None]:
    """One option's value: ``given`` (None: not given), else its variable,
    else its default, checked; and where it came from (None: the default).
    A policy switch is passed on as given (the Rust policy reads its
    variable and checks it)."""
    if option.policy:
        return given, None
    if option.kind == "list":
        items = [given] if isinstance(given, (str, os.PathLike)) else list(given or ())
        return [os.fspath(v) for v in items], None
    if given == "" and option.kind == "path":
        given = None  # `-o ''`, `activation_path=""`: not given, as an empty variable is
    source = f"{option.keyword}=" if api and option.keyword else option.flags[0]
    if given is None and option.var is not None:
        if option.kind == "off":
            given, source = (False if _env.is_on(option.var) else None), option.var.name
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
    policy: bool = False,
) -> RecordingConfig:
    """The configuration from ``given`` (option name -> value; None: not
    given), then each option's variable, then its default; ``api``: the
    values came as keywords (``format=``), else as flags, and an option the
    caller has no keyword for (absent from ``given``) keeps its default. The
    scope is resolved from the folder ``script_dir`` up (None: the current
    folder); ``framework``: a test run's, whose own code
    ``record_framework`` adds; ``policy``: resolve the Rust policy now (the
    command line does, before the program runs: a bad switch is a usage
    error then, and the diagnostics channel is set up)."""
    values: dict[str, object] = {}
    for o in OPTIONS:
        values[o.name] = one(o, given.get(o.name), api=api)[0] if o.name in given or not api else o.default
    config = RecordingConfig(values, api)
    if policy:
        object.__setattr__(
            config,
            "policy",
            _native.resolve_policy(
                on_recorder_error=config.on_recorder_error,
                require_trace=config.require_trace,
                keep_partial_trace=config.keep_partial_trace,
                log_level=config.log_level,
                log_file=config.log_file,
                json_errors=config.json_errors,
            ),
        )
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
