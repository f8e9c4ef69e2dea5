"""The Python API: :func:`start`, :func:`stop`, :func:`trace`, :func:`is_tracing`, :func:`flush`.

A recording covers every thread: the one that started it in the folder's
own trace, each other one in a trace of its own (see the README on threads).
``stop()`` converts the in-run stream into ``trace.json`` and moves the trace
into place atomically; recorder failures raise :class:`~.errors.RecorderError`
subclasses according to the policy switches (``on_recorder_error``,
``require_trace``, ``keep_partial_trace``, or their ``CODETRACER_*``
environment variables).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `from typing import ...`: typing costs ~15 ms of start-up

from . import _native, _processes

if TYPE_CHECKING:  # typing and pathlib cost ~35 ms of start-up; only annotations need them
    from pathlib import Path
    from typing import Any

__all__ = ["start", "stop", "trace", "is_tracing", "flush", "run_tests", "set_metrics_exporter"]

#: Files of the recorder itself are never recorded.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: What ``python -m`` imports to run a module (runpy and its imports on 3.12
#: and 3.13): under ``python -m codetracer_python_recorder script.py`` they
#: are the recorder's, not the script's (``python script.py`` has none).
_RUN_MODULE_IMPORTS = frozenset(
    {
        "runpy",
        "importlib",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "importlib._abc",
        "importlib.machinery",
        "importlib.util",
        "types",
        "warnings",
        "pkgutil",
    }
)


def program_modules(startup: tuple[str, ...], *, as_module: bool) -> set[str]:
    """The names in ``sys.modules`` a plain run of the program starts with:
    ``startup`` (the modules loaded before the recorder's package) without the
    package, and without what ``python -m`` loaded to run it unless the
    program itself runs as ``-m module``. That is the contiguous stretch of
    ``runpy``'s imports around ``runpy`` in load order (a ``.pth`` file's
    earlier import of one of them stays)."""
    pkg = __name__.rpartition(".")[0]
    names = [n for n in startup if n != pkg and not n.startswith(pkg + ".")]
    if not as_module and "runpy" in names:
        lo = hi = names.index("runpy")
        while lo > 0 and names[lo - 1] in _RUN_MODULE_IMPORTS:
            lo -= 1
        while hi + 1 < len(names) and names[hi + 1] in _RUN_MODULE_IMPORTS:
            hi += 1
        del names[lo : hi + 1]
    return set(names)


def hide_recorder_modules(keep: set[str]) -> None:
    """Removes from ``sys.modules`` every module but ``keep`` and
    ``__main__`` — the recorder's own and what it imported — so the program
    sees the modules plain python would give it (and imports the others
    afresh, as it would). The recorder keeps its references."""
    for name in list(sys.modules):
        if name in keep or name == "__main__":
            continue
        mod = sys.modules.pop(name)
        parent, _, child = name.rpartition(".")
        holder = sys.modules.get(parent) if parent in keep else None
        if holder is not None and getattr(holder, child, None) is mod:
            try:
                delattr(holder, child)
            except AttributeError:
                pass


def program_from_argv() -> str:
    """The program's name for the trace when the caller gives none: the
    script's absolute path, or, for code without a file of its own, what
    the interpreter was given: ``-c``, ``-m MODULE``, ``<stdin>`` (``python -``)
    or ``<python>`` (the interactive prompt)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 == "-c":
        return "-c"
    if argv0 == "-m":
        # The module is named only in orig_argv until runpy has found it.
        orig = list(getattr(sys, "orig_argv", ()))[1:]
        for i, a in enumerate(orig):
            if a == "-m" and i + 1 < len(orig):
                return f"-m {orig[i + 1]}"
            if a.startswith("-m") and len(a) > 2:
                return f"-m {a[2:]}"
        return "-m"
    if argv0 == "-":
        return "<stdin>"
    if not argv0:
        return "<python>"
    return os.path.abspath(argv0)


def start(
    trace_dir: str | os.PathLike[str],
    *,
    program: str | None = None,
    args: list[str] | None = None,
    values: str | None = None,
    activation_path: str | os.PathLike[str] | None = None,
    max_depth: int | None = None,
    max_items: int | None = None,
    max_str: int | None = None,
    max_nodes: int | None = None,
    format: str | None = None,
    on_recorder_error: str | None = None,
    require_trace: bool | None = None,
    keep_partial_trace: bool | None = None,
    log_level: str | None = None,
    log_file: str | None = None,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    record_all: bool = False,
    trace_filter: str | os.PathLike[str] | list[str | os.PathLike[str]] | None = None,
    redact: bool = True,
    threads: bool | None = None,
    follow_processes: bool | None = None,
) -> Path:
    """Start recording into ``trace_dir``; returns the folder.

    This thread's trace is the folder's own; every other thread that runs
    recorded code gets one in ``threads/`` (``threads.json`` lists them;
    ``threads=False`` or ``$CODETRACER_NO_THREADS=1``: only this thread).
    A child made by ``os.fork()`` records into ``processes/<pid>/``
    (``follow_processes=False`` or ``$CODETRACER_NO_FOLLOW_PROCESSES=1``: it
    stops recording at once).

    Scope as on the command line: the program's own code by default (not
    the standard library or installed packages), widened or narrowed by
    ``include`` / ``exclude`` globs, ``record_all``, and ``trace_filter``
    file(s) after ``$CODETRACER_TRACE_FILTER`` and the project's
    ``.codetracer/trace-filter.toml``; ``redact=False`` keeps values under
    secret-looking names. ``format``: a name of the format table
    (``_native.FORMATS``: json for trace.json, ctfs for trace.ct).

    An option not given takes its environment variable, else its default,
    as on the command line (``_config``: ``format``, ``values``,
    ``activation_path``, ``threads``, ``follow_processes`` and the policy
    switches have variables); a bad value is a :class:`~.errors.UsageError`
    naming the keyword (``format=``) or the variable."""
    from pathlib import Path

    if program is None:
        program = program_from_argv()
    if args is None:
        args = list(sys.argv[1:])
    from . import _config

    script_dir = os.path.dirname(program) if os.path.isabs(program) else os.getcwd()
    config = _config.resolve(
        {
            "values": values,
            "activation_path": activation_path,
            "max_depth": max_depth,
            "max_items": max_items,
            "max_str": max_str,
            "max_nodes": max_nodes,
            "format": format,
            "on_recorder_error": on_recorder_error,
            "require_trace": require_trace,
            "keep_partial_trace": keep_partial_trace,
            "log_level": log_level,
            "log_file": log_file,
            "include": include,
            "exclude": exclude,
            "record_all": record_all,
            "trace_filter": trace_filter,
            "redact": redact,
            "threads": threads,
            "follow_processes": follow_processes,
        },
        api=True,
        script_dir=script_dir,
    )
    trace_dir = os.fspath(trace_dir)
    # Built before the recording starts: nothing the recorder itself runs
    # (here pathlib's constructors) may appear in the trace.
    folder = Path(trace_dir)
    options = config.native([PACKAGE_DIR])
    _native.start(trace_dir, program, list(args), **options)
    _processes.export(trace_dir, program, options)  # children follow (docs/recorder.md, "Processes")
    return folder


def run_tests(
    framework: str,
    args: list[str] | tuple[str, ...] = (),
    trace_dir: str | os.PathLike[str] = "trace",
    *,
    trace_per_test: bool = True,
    record_framework: bool = False,
    replay_budget: str | None = None,
    include: list[str] | tuple[str, ...] = (),
    **options: Any,
) -> int:
    """Run ``pytest`` or ``unittest`` in this process as ``python -m FRAMEWORK
    ARGS`` runs it, recorded into ``trace_dir`` (one trace per test unless
    ``trace_per_test=False``; docs/test-runs.md); returns its exit status.
    ``sys.argv`` and ``sys.path[0]`` are the framework's during the run and
    given back after it. ``options`` are :func:`start`'s."""
    from . import _config, _replaycost, _testrun

    if framework not in _testrun.FRAMEWORKS:
        from .errors import UsageError

        raise UsageError(
            f"invalid test framework {framework!r}: expected {' or '.join(_testrun.FRAMEWORKS)}",
            "ERR_INVALID_OPTION",
            {"option": "framework", "value": framework},
        )
    budget, _ = _config.one(_config.BY_NAME["replay_budget"], replay_budget, api=True)
    if record_framework:
        include = (*include, *_testrun.FRAMEWORK_MODULES[framework])
    out = os.path.abspath(os.fspath(trace_dir))
    arguments = list(args)

    def begin(directory: str, program: str) -> object:
        return start(directory, program=program or f"-m {framework}", args=arguments, include=include, **options)

    traces = _testrun.TestTraces(out, framework, begin) if trace_per_test else None
    saved = (list(sys.argv), sys.path[0] if sys.path else None)
    _processes.one_after_another(trace_per_test)
    begin(out, f"-m {framework}")
    status = 0
    try:
        _testrun.run(framework, arguments, traces)
    except SystemExit as exc:
        code = exc.code
        status = 0 if code is None else code if isinstance(code, int) else 1
    finally:
        sys.argv[:] = saved[0]
        if saved[1] is not None:
            sys.path[0] = saved[1]
        _processes.one_after_another(False)
    report = dict(stop(status)) if is_tracing() else None
    if traces is not None:
        recorded = traces.finish(report, status)
    else:
        recorded = _replaycost.annotate_single(out, report)
    _replaycost.warn_over_budget(recorded, budget, _testrun.narrowing(framework))
    return status


def stop(exit_status: int | None = None) -> dict[str, Any]:
    """Stop recording and write the trace; returns what happened
    (``trace_dir``, ``complete``, ``partial``, ``error_code``;
    ``handed_to_parent``: in a forked child, the trace is left to the
    parent's stop, which writes it — docs/recorder.md, "Processes")."""
    _processes.withdraw()
    return _native.stop(exit_status)


def is_tracing() -> bool:
    """Whether a recording is active in this process."""
    return _native.is_tracing()


def set_metrics_exporter(exporter: Any) -> None:
    """Receive the recorder's counters (a dict: dropped_events, detaches,
    panics_caught, other_thread_events, unreadable_frames) at the end of each
    recording; ``None`` restores the default no-op sink."""
    _native.set_metrics_exporter(exporter)


def flush() -> None:
    """Write the recorder's in-memory buffers to disk now."""
    _native.flush()


class trace:  # noqa: N801 - used as a function: `with trace(dir):`
    """Record the body of a ``with`` block into ``trace_dir``."""

    def __init__(self, trace_dir: str | os.PathLike[str], **options: Any) -> None:
        self._dir = trace_dir
        self._options = options

    def __enter__(self) -> Path:
        return start(self._dir, **self._options)

    def __exit__(self, *exc: object) -> None:
        stop()
