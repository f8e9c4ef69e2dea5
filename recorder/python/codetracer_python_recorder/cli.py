"""``python -m codetracer_python_recorder [options] script.py args...``

Runs the script exactly as ``python script.py args...`` would — same
``sys.argv``, ``sys.path[0]``, ``__main__`` module, stdin/stdout/stderr bytes,
tracebacks and exit status — while recording it. Options stop at the script
(or at ``-m MODULE``); everything after belongs to the script.

Exit status: the script's own, unless the recorder fails and the policy makes
that fatal: then 2 (usage), 10 (environment), 20 (target) or 70 (internal),
with a diagnostic on stderr, a JSON line with ``--json-errors``, and the same
JSON object in ``$CODETRACER_ERROR_FILE`` when that is set.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import types

TYPE_CHECKING = False  # not `from typing import ...`: start-up cost
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

from . import _config, _env, _manifest, _native, _processes, _replaycost
from ._runner import ProgramRunner
from .errors import RecorderError, UsageError
from .session import PACKAGE_DIR

PROG = "codetracer-python-recorder"


def usage() -> str:
    """``--help``: each option's entry from the option table
    (:func:`_config.help_entry`), in three groups."""

    def entries(*names: str) -> str:
        return "".join(_config.help_entry(_config.BY_NAME[name]) for name in names)

    return f"""\
usage: {PROG} [options] script.py [args...]
       {PROG} [options] -m module [args...]
       {PROG} [options] --pytest [pytest args...]
       {PROG} [options] --unittest [unittest args...]
       {PROG} recover TRACE_DIR

Record a Python program into a CodeTracer trace, running it exactly as
`python script.py args...` would.

options:
{entries(*_GENERAL)}
test runs (docs/test-runs.md):
  --pytest ARGS...      run `python -m pytest ARGS...` in this process and record it;
                        everything after the flag goes to pytest
  --unittest ARGS...    the same for `python -m unittest ARGS...`
{entries(*_TEST_RUNS)}
scope (what is recorded; default: the program, not the standard library,
installed packages or the recorder):
{entries(*_SCOPE)}  --version             print the version and exit
  -h, --help            show this help and exit

exit status: the script's own; 2, 10, 20, 70 when the recorder fails
(usage, environment, target, internal).
"""


#: The groups of ``--help``: the test runs', the scope's, and every other row of the option table.
_TEST_RUNS = ("trace_per_test", "single_trace", "record_framework", "replay_budget")
_SCOPE = ("include", "exclude", "record_all", "trace_filter", "auto_filter", "redact")
_GENERAL = tuple(o.name for o in _config.OPTIONS if o.flags and o.name not in _TEST_RUNS + _SCOPE)

#: Options after which every argument belongs to a test framework.
_FRAMEWORK_OPTS = {"--pytest": "pytest", "--unittest": "unittest"}

#: Options of the upstream recorder (codetracer-python-recorder 0.3) this one
#: does not take, with what to do instead. Only consulted for an option not
#: in the option table (_config.OPTIONS): an option added there wins.
_UPSTREAM_ONLY = {
    "--io-capture": "this recorder has no --io-capture switch: the program's writes to sys.stdout and "
    "sys.stderr are always recorded as trace events, and its output stays its own, byte for byte",
    "--propagate-script-exit": "this recorder always exits with the script's own status (unless the "
    "recorder itself fails); drop the flag",
}

USAGE_LINE = (
    f"usage: {PROG} [options] script.py [args...] | -m module [args...] | --pytest [args...] | "
    "--unittest [args...] | recover TRACE_DIR (see --help)"
)


def _unknown_option(option: str) -> UsageError:
    """The error for an option this parser does not know."""
    name = option.partition("=")[0]
    hint = _UPSTREAM_ONLY.get(name)
    if hint is not None:
        return UsageError(
            f"unknown option {name!r}: {hint}", "ERR_INVALID_OPTION", {"option": name, "upstream_only": "true"}
        )
    import difflib  # only on this path

    close = difflib.get_close_matches(
        name, sorted({*_config.BY_FLAG, *_FRAMEWORK_OPTS, "--help", "--version"}), n=2, cutoff=0.8
    )
    also = f"; did you mean {' or '.join(close)}?" if close else ""
    return UsageError(
        f"unknown option {name!r} (options go before the script{also})", "ERR_INVALID_OPTION", {"option": name}
    )


class Options:
    """The parsed command line: the options as given (by name, for
    :func:`_config.resolve`) and the program (a plain class: dataclasses
    costs start-up time)."""

    def __init__(self) -> None:
        self.given: dict[str, Any] = {}
        self.framework: str | None = None
        self.module: str | None = None
        self.script: str | None = None
        self.script_args: list[str] = []


def parse_args(argv: Sequence[str]) -> Options:
    """Options up to the script (or ``-m MODULE``); the rest is the script's."""
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a in ("-h", "--help"):
            sys.stdout.write(usage())
            raise SystemExit(0)
        if a == "--version":
            sys.stdout.write(f"{PROG} {_native.__version__}\n")
            raise SystemExit(0)
        if a in _FRAMEWORK_OPTS:
            o.framework = _FRAMEWORK_OPTS[a]
            o.script_args = list(argv[i + 1 :])
            return _check_test_options(o)
        if a == "-m":
            if i + 1 >= len(argv):
                raise UsageError("-m needs a module name", "ERR_INVALID_OPTION", {"option": "-m"})
            o.module = argv[i + 1]
            o.script_args = list(argv[i + 2 :])
            return o
        name, eq, inline = a.partition("=")
        if a.startswith("--trace-filter:"):  # upstream's spelling: --trace-filter:PATH
            name, eq, inline = "--trace-filter", "=", a[len("--trace-filter:") :]
        option = _config.BY_FLAG.get(name)
        if option is not None and option.takes_value and (eq or name == a):
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value{_allowed(name)}", "ERR_INVALID_OPTION", {"option": name})
                inline = argv[i + 1]
                i += 1
            if option.kind == "list":
                o.given.setdefault(option.name, []).append(inline)
            else:
                o.given[option.name] = _config.check(option, inline, name) if option.kind == "count" else inline
            i += 1
            continue
        if option is not None and not option.takes_value and name == a:
            o.given[option.name] = option.kind == "switch"  # `off`: its --no- flag turns it off
            i += 1
            continue
        if a.startswith("-") and a != "-":
            raise _unknown_option(a)
        break
    if i >= len(argv):
        raise UsageError(
            "no script to record: give a script (or -m module, --pytest, --unittest) after the options",
            "ERR_INVALID_OPTION",
        )
    o.script = argv[i]
    o.script_args = list(argv[i + 1 :])
    return _check_test_options(o)


def _check_test_options(o: Options) -> Options:
    """The test-run options make sense together and with the target."""
    if o.given.get("trace_per_test") and o.given.get("single_trace"):
        raise UsageError(
            "--trace-per-test and --single-trace exclude each other", "ERR_INVALID_OPTION", {"option": "--single-trace"}
        )
    if o.framework is None:
        for flag, attr in (
            ("--trace-per-test", "trace_per_test"),
            ("--single-trace", "single_trace"),
            ("--record-framework", "record_framework"),
        ):
            if o.given.get(attr):
                raise UsageError(
                    f"{flag} applies to test runs: give --pytest or --unittest", "ERR_INVALID_OPTION", {"option": flag}
                )
    return o


def _allowed(flag: str) -> str:
    """`: one of ...` for an option whose values are a fixed set."""
    option = _config.BY_FLAG.get(flag)
    choices = option.choices if option is not None else ()
    return f" (one of: {', '.join(choices)})" if choices else ""


def restore_pythonpath() -> None:
    """Undo a launcher's PYTHONPATH prepend for the script (docs/interfaces.md)."""
    orig = _env.pop(_env.ORIG_PYTHONPATH)
    if orig is None:
        return
    current = os.environ.get("PYTHONPATH", "")
    if orig == "unset":
        original = None
        os.environ.pop("PYTHONPATH", None)
    elif orig.startswith("set:"):
        original = orig[4:]
        os.environ["PYTHONPATH"] = original
    else:
        return
    keep = set((original or "").split(os.pathsep))
    injected = {e for e in current.split(os.pathsep) if e and e not in keep}
    injected |= {os.path.abspath(e) for e in injected}
    sys.path[:] = [p for p in sys.path if p not in injected]


def _default_trace_dir() -> str:
    return os.path.abspath(time.strftime("trace-%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}")


_sigint_exit = False


def _exit_like_sigint() -> None:
    """Runs last at exit: die of SIGINT as plain python does after an
    uncaught KeyboardInterrupt (so the parent sees the same status)."""
    if not _sigint_exit:
        return
    import signal  # imports enum: only on this path

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the signal
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _strip_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(PACKAGE_DIR):
        tb = tb.tb_next
    return tb


_error_file: str | None = None


def report_failure(err: RecorderError, json_errors: bool, early: bool = False) -> int:
    """Prints a recorder failure (and its JSON forms); returns its exit code.
    A usage error (a bad option or environment value, `--format binary`, a
    trace path that is a file) is the caller's mistake: always printed here,
    on stderr with the usage line, in one shape whenever it was raised.
    `early`: raised before the diagnostics channel was configured, so
    printed here too; any later failure goes to the diagnostics channel."""
    if early or isinstance(err, UsageError):
        sys.stderr.write(f"{PROG}: error: {err.message} [{err.code}]\n")
        if isinstance(err, UsageError):
            sys.stderr.write(USAGE_LINE + "\n")
        sys.stderr.flush()
    else:
        _native.log_message("error", err.message, err.code)
    line = err.to_json()
    path = _error_file
    if path:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as exc:
            sys.stderr.write(f"{PROG}: warning: cannot write CODETRACER_ERROR_FILE {path!r}: {exc}\n")
    if json_errors:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    return err.exit_code


def _config_of(o: Options) -> _config.RecordingConfig:
    """The recording's configuration from the command line (``_config``:
    environment fallbacks, checks, the policy switches and the scope)."""
    script_dir = os.path.dirname(os.path.abspath(o.script)) if o.script is not None else os.getcwd()
    return _config.resolve(o.given, script_dir=script_dir, framework=o.framework, logging=True)


def main(argv: Sequence[str] | None = None) -> int:
    global _sigint_exit, _error_file
    atexit.register(_exit_like_sigint)  # registered first, so it runs last
    restore_pythonpath()
    # Ours, not the script's: the script sees the environment plain python would.
    _error_file = _env.pop(_env.ERROR_FILE)
    _env.put(_env.CLI_ACTIVE, "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    json_errors = False
    try:
        if argv and argv[0] == "recover":
            if len(argv) != 2:
                raise UsageError("usage: codetracer-python-recorder recover TRACE_DIR", "ERR_INVALID_OPTION")
            events, threads, processes = _native.recover(argv[1])
            done = [f"a partial trace of {events} events"] if events is not None else []
            done += [f"{n} {what} trace(s)" for n, what in ((threads, "thread"), (processes, "forked child's")) if n]
            sys.stderr.write(f"{PROG}: recovered {', '.join(done)} in {argv[1]}\n")
            return 0
        o = parse_args(argv)
        config = _config_of(o)
        json_errors = config.json_errors
    except RecorderError as err:
        json_errors = json_errors or "--json-errors" in argv or _env.is_on(_env.JSON_ERRORS)
        return report_failure(err, json_errors, early=True)
    finally:
        _env.pop(_env.CLI_ACTIVE)

    trace_dir = config.trace_dir or _default_trace_dir()

    from . import _filters  # (imported by _config; named here, before the program's run hides it)

    # The program's world, as `python script.py` / `python -m module` sets it up.
    runner = ProgramRunner(
        script=o.script if o.framework is None and o.module is None else None,
        module=o.module if o.framework is None else None,
        framework=o.framework,
        args=o.script_args,
    )
    failed = runner.prepare()
    if failed is not None:
        return failed
    program = runner.program
    if runner.script is not None:
        _filters.add_entry(config.scope, script=program)
    elif runner.module is not None:
        spec = runner.spec
        _filters.add_entry(config.scope, module=spec.name if spec else None, origin=spec.origin if spec else None)

    started = False
    args = list(o.script_args)

    start_options = config.native([PACKAGE_DIR])

    def start(directory: str, program: str) -> object:
        started = _native.start(directory, program, args, **start_options)
        _processes.export(directory, program, start_options)  # children follow (docs/recorder.md, "Processes")
        return started

    testrun = runner._testrun  # (imported by prepare(), for a test run)
    tests = None
    if testrun is not None and not config.single_trace:
        _processes.one_after_another(True)
        fallback = program
        tests = testrun.TestTraces(
            trace_dir,
            o.framework,
            lambda d, p: start(d, p or fallback),
            remote={"args": args, "kwargs": start_options, "program": program},
        )
    try:
        started = bool(start(trace_dir, program))
    except RecorderError as err:
        if config.on_recorder_error == "abort" or isinstance(err, UsageError):
            return report_failure(err, json_errors)
        _native.log_message("warning", f"recording disabled, the program runs untraced: {err.message}", err.code)
        start_failure: RecorderError | None = err
    else:
        start_failure = None

    from . import STARTUP_MODULES
    from .session import hide_recorder_modules, program_modules

    hide_recorder_modules(program_modules(STARTUP_MODULES, as_module=runner.as_module) | runner.spec_imports)
    status, pending, hot_failure = _run_program(runner, tests if started else None)

    reported = False
    if started and hot_failure is None and _native.is_tracing():
        reported = _end_events(pending)
        if start_options["threads"]:
            _wait_for_threads()
    last_report = None
    if started:
        try:
            if _native.is_tracing() or tests is None:
                last_report = dict(_native.stop(status))
            _processes.withdraw()
        except RecorderError as err:
            return report_failure(err, json_errors)
        except KeyboardInterrupt:
            # Ctrl-C while the trace was written (the recording is kept to
            # `recover`): die of SIGINT, as python does on Ctrl-C.
            _sigint_exit = True
            return 130
    if started and hot_failure is None:
        narrowing = testrun.narrowing(o.framework or "") if testrun is not None else _replaycost.NARROWING
        # (In a forked child, the report is of the child's own trace.)
        written = str(last_report["trace_dir"]) if last_report is not None else trace_dir
        _finish_traces(written, tests, last_report, status, config.replay_budget, narrowing)
        if o.framework is None and last_report is not None:
            note = _filters.entry_note(
                last_report.get("stats"),
                entry=f"-m {o.module}" if o.module else o.script or "",
                origin=program,
                record_all=config.record_all,
                activation=bool(config.activation_path),
            )
            if note:
                sys.stderr.write(f"{PROG}: note: {note}\n")
    if hot_failure is not None:
        return report_failure(hot_failure, json_errors)
    if start_failure is not None and config.require_trace:
        return report_failure(start_failure, json_errors)

    if isinstance(pending, SystemExit):
        raise pending
    if pending is not None:
        if not reported:
            _report_uncaught(pending)
        if isinstance(pending, KeyboardInterrupt):
            _sigint_exit = True
            return 130
        return 1
    return status


def _run_program(runner: ProgramRunner, tests: object) -> tuple[int, BaseException | None, RecorderError | None]:
    """Runs the program: its exit status, what ended it (its SystemExit or
    uncaught exception, to re-raise or report once the trace is written),
    and a recorder failure its monitoring callbacks raised into it."""
    try:
        runner.run(tests)
    except SystemExit as exc:
        c = exc.code
        return (0 if c is None else c if isinstance(c, int) else 1), exc, None
    except KeyboardInterrupt as exc:
        return 130, exc, None
    except RecorderError as exc:
        if _is_hot_path_error(exc):
            return exc.exit_code, None, exc
        return 1, exc, None
    except BaseException as exc:  # noqa: BLE001 - the script's uncaught exception
        return 1, exc, None
    return 0, None, None


def _finish_traces(
    trace_dir: str, tests: Any, last_report: dict[str, object] | None, status: int, budget: int, narrowing: str
) -> None:
    """After the last trace was written: a test run's index and manifest,
    each trace's replay estimate (every thread's and forked child's too), and the note when one is past the budget."""
    try:
        if tests is not None:
            traces = tests.finish(last_report, status)
        else:
            traces = _replaycost.annotate_single(trace_dir, last_report) + _manifest.annotate_threads(trace_dir)
        _replaycost.warn_over_budget(traces, budget, narrowing)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: warning: cannot write the trace index: {exc}\n")


def _wait_for_threads() -> None:
    """What the interpreter does at exit before the atexit handlers: run
    ``threading``'s exit hooks (a thread pool's workers are told to end) and
    wait for the threads that are not daemons, so their traces hold their
    whole run. Idempotent: the interpreter's own call then does nothing."""
    threading = sys.modules.get("threading")
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:
        return
    try:
        shutdown()
    except KeyboardInterrupt:
        pass  # Ctrl-C while waiting: the traces end here


def _report_uncaught(exc: BaseException) -> None:
    """As the interpreter reports an uncaught exception, minus our frames."""
    tb = _strip_own_frames(exc.__traceback__)
    exc.__traceback__ = tb
    sys.excepthook(type(exc), exc, tb)


def _end_events(pending: BaseException | None) -> bool:
    """How the run ended, on its last step, while still recording: an
    uncaught exception's traceback (printed now, so the trace's terminal
    shows it) and an Error event; `sys.exit` with a non-zero status or a
    message, an Error event (and the message the interpreter prints).
    Returns whether the traceback was printed."""
    if pending is None:
        return False
    if isinstance(pending, SystemExit):
        code = pending.code
        if code is None or code == 0:
            return False
        if not isinstance(code, int):
            text = str(code)
            _native.record_event(_native.EVENT_STDERR, text + "\n")
            _native.record_event(_native.EVENT_ERROR, f"SystemExit: {text}")
        else:
            _native.record_event(_native.EVENT_ERROR, f"SystemExit: exit status {code}")
        return False
    _report_uncaught(pending)
    _native.record_event(_native.EVENT_ERROR, _exception_line(pending))
    return True


def _exception_line(exc: BaseException) -> str:
    """`Type: message` as the last line of a traceback (the message read
    from the exception's args, never by calling its __str__)."""
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    args = exc.args if isinstance(getattr(exc, "args", None), tuple) else ()
    if len(args) == 1 and type(args[0]) is str and args[0]:
        return f"{name}: {args[0]}"
    return name


def _is_hot_path_error(exc: RecorderError) -> bool:
    """A recorder error raised into the program by a monitoring callback
    (policy abort): its traceback ends in the program's code, not ours."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and not last.tb_frame.f_code.co_filename.startswith(PACKAGE_DIR)
