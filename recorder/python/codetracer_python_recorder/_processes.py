"""Child processes that start a new interpreter of the program's python: a
``subprocess`` run of ``sys.executable``, ``multiprocessing``'s spawn and
forkserver workers, ``concurrent.futures.ProcessPoolExecutor`` with either
(docs/recorder.md, "Processes"). A child made by ``os.fork()`` is followed
by the native side (``session/fork.rs``).

A recording that follows children puts ``CODETRACER_PARENT_TRACE`` in the
environment its children inherit, not in ``os.environ`` (:func:`export`;
the program sees plain python's environment): its trace folder, its
program and the options it was started with, as a Python literal. A python of the same environment started with
it (the wheel's ``.pth`` imports ``_autostart``, which calls :func:`follow`)
records its own run into ``<folder>/processes/<pid>/`` with those options;
its own children inherit the variable unchanged (taken out of the child's
``os.environ`` too), so every new interpreter
below the first recording lands in that recording's ``processes/`` (a
child's forked children in the child's folder, as ``fork.rs`` does). The
first recording's stop lists the traces written by then (``threads.json``,
``session.toml``). A child run with an environment the program made
(``env=``, ``os.execve``) gets the variable from the stand-ins of
``_child_env.py``.

``multiprocessing``'s helper processes are not the program's: the resource
tracker is not recorded, and the forkserver itself is not either, but each
worker it forks records from the fork on, into the recording that was
current in the parent when the worker was forked. A process that records
one trace after another (a test run: :func:`one_after_another`) keeps
that recording's description in a file of its own, rewritten at each
export, and the variable names it (``current``): the forkserver, started
under an earlier recording and outliving it, reads it at each fork.
"""

from __future__ import annotations

import atexit
import os
import sys

from . import _child_env, _env, _native
from .errors import RecorderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The folder of the children's traces in a recording's folder (``fork.rs``'s too).
PROCESSES_DIR = "processes"
#: How ``multiprocessing`` starts its processes: ``python -c CODE`` with these.
_SPAWN_CODE = "from multiprocessing.spawn import "
_FORKSERVER_CODE = "from multiprocessing.forkserver import "
_MULTIPROCESSING_CODE = "from multiprocessing."
#: The longest value the variable holds; longer options go in ``processes/<_OPTIONS_FILE>``.
_MAX_VALUE = 64 * 1024
_OPTIONS_FILE = ".parent-options.txt"
#: What this process exported last (the variable is not in ``os.environ``: ``_env.export``).
_exported: list[str | None] = [None]
#: Whether this process records one trace after another (:func:`one_after_another`).
_one_after_another = [False]
#: The file describing this process's current recording, when it records one
#: trace after another, and the process that made it (a forked child keeps it).
_current: list[tuple[str, int] | None] = [None]
#: The recorder's own command line, run by the program as a child: it records on its own.
_RECORDER_MODULE = __name__.rpartition(".")[0]


def one_after_another(on: bool) -> None:
    """This process records one trace after another (a test run: one trace
    per test) from now on, or no longer: a forkserver started under one of
    them follows the one current at each fork."""
    _one_after_another[0] = on


def export(trace_dir: str | os.PathLike[str], program: str, options: dict[str, Any]) -> None:
    """After a recording started with ``options`` (``_native.start``'s
    keywords): its children inherit the variable when it follows processes;
    otherwise none is left from an enclosing recording."""
    if not options.get("follow_processes"):
        withdraw()
        return
    # As a Python literal (``repr``; read with ``ast.literal_eval``): no
    # encoder to import before the program runs (docs/recorder.md, "Processes").
    doc: dict[str, Any] = {
        "dir": os.path.abspath(os.fspath(trace_dir)),
        "program": program,
        "version": _native.__version__,
        "options": options,
    }
    if _one_after_another[0]:
        doc["current"] = _write_current(repr(doc))
    text = repr(doc)
    if len(text) > _MAX_VALUE:
        # Large filter files: the options go in a file, the variable names it
        # (an environment past the kernel's limits would fail every exec).
        path = os.path.join(str(doc["dir"]), PROCESSES_DIR, _OPTIONS_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        text = "@" + path
    _env.export(_env.PARENT_TRACE, text)
    _exported[0] = text
    _child_env.install()  # and to children given an environment the program made


def _write_current(text: str) -> str:
    """Makes ``text`` the description of this process's current recording
    (replacing the file whole: a forking forkserver reads it at any time);
    the file's path."""
    made = _current[0]
    if made is not None and made[1] == os.getpid():
        path = made[0]
    else:
        import tempfile

        fd, path = tempfile.mkstemp(prefix="codetracer-recording-", suffix=".txt")
        os.close(fd)
        _current[0] = (path, os.getpid())
    with open(path + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".new", path)
    return path


def withdraw() -> None:
    """The recording stopped: children started from now on are not followed."""
    text, _exported[0] = _exported[0], None
    _env.export(_env.PARENT_TRACE, None)
    _child_env.uninstall()
    made, _current[0] = _current[0], None
    if made is not None and made[1] == os.getpid():  # (not a forked child's: the parent's file)
        try:
            os.remove(made[0])
        except OSError:
            pass
    if text is not None and text.startswith("@"):
        try:
            os.remove(text[1:])
            os.rmdir(os.path.dirname(text[1:]))  # only when no child wrote a trace there
        except OSError:
            pass


def follow() -> None:
    """In a new interpreter started with the variable (the ``.pth``
    auto-start): record this process into the parent's ``processes/<pid>/``;
    for the forkserver, each worker it forks. Never writes to stdout; a
    failure to start says so on stderr and the program runs untraced."""
    from . import _first_import

    # Out of os.environ (the program sees plain python's), kept for this process's children.
    text = _env.take_inherited(_env.PARENT_TRACE) or ""
    if not _first_import or _native.is_tracing():
        return  # followed already
    # (And everything a forkserver's worker needs: imported before the recorder is hidden.)
    import ast
    import json

    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        doc = ast.literal_eval(text)
    except (OSError, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return
    if not isinstance(doc, dict) or doc.get("version") != _native.__version__ or _runs_the_recorder():
        return
    code = _dash_c_code()
    if code is not None and code.startswith(_FORKSERVER_CODE):
        os.register_at_fork(after_in_child=lambda: _record_forked(doc, ast.literal_eval, json.dumps))
        return
    if code is not None and code.startswith(_MULTIPROCESSING_CODE) and not code.startswith(_SPAWN_CODE):
        return  # the resource tracker: multiprocessing's, not the program's
    _record(
        doc, "spawn" if code is not None and code.startswith(_SPAWN_CODE) else "interpreter", json.dumps, forked=False
    )


def _record_forked(doc: dict[str, Any], literal_eval: Any, dumps: Any) -> None:
    """In a worker the forkserver forked: record it into the recording
    current in the parent now (``doc``'s ``current`` file, when the parent
    records one trace after another); none when that recording has ended."""
    path = doc.get("current")
    if isinstance(path, str):
        try:
            with open(path, encoding="utf-8") as f:
                doc = literal_eval(f.read())
        except (OSError, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return
        if not isinstance(doc, dict) or doc.get("version") != _native.__version__:
            return
    _record(doc, "forkserver", dumps, forked=True)


def _record(doc: dict[str, Any], started: str, dumps: Any, *, forked: bool) -> None:
    """Starts this process's recording (``started``: ``interpreter``,
    ``spawn``, ``forkserver``), with the parent's options."""
    options = dict(doc["options"])
    if started == "interpreter":
        from .session import program_from_argv

        program = program_from_argv()
        # A script's recording begins when its own code starts (as the
        # auto-start's), unless the parent records only under a path.
        if options.get("activation_path") is None and os.path.isfile(program):
            options["activation_path"] = program
    else:
        # A multiprocessing worker runs the parent's program (its main module
        # as __mp_main__) and the function it was given.
        program = str(doc["program"])
    pid = os.getpid()
    trace_dir = os.path.join(str(doc["dir"]), PROCESSES_DIR, str(pid))
    try:
        _native.start(trace_dir, program, list(sys.argv[1:]), **options)
        _native._mark_child_process(
            dumps({"pid": pid, "parent_pid": os.getppid(), "forked": forked, "started": started})
        )
    except (RecorderError, OSError, ValueError, TypeError) as exc:
        sys.stderr.write(f"codetracer-python-recorder: error: the child process {pid} is not recorded: {exc}\n")
        return
    _child_env.install()  # its own children given an environment of its making follow too
    atexit.register(_finish)


def _finish() -> None:
    """At the child's exit: its trace, with its exit status."""
    if not _native.is_tracing():
        return
    try:
        _native.stop(exit_status())
    except RecorderError as exc:
        sys.stderr.write(f"codetracer-python-recorder: error: {exc}\n")


def exit_status() -> int:
    """The status this interpreter exits with, seen from an ``atexit``
    handler (the interpreter tells no one): 1 after an uncaught exception
    (130 for KeyboardInterrupt, as the command line reports it), the code of
    the ``SystemExit`` that left the program's module code (``sys.exit(n)``;
    multiprocessing's ``spawn_main``), else 0. ``os._exit(n)`` stops the
    recording before this, with ``n``."""
    last = getattr(sys, "last_exc", None)
    if last is not None:
        return 130 if isinstance(last, KeyboardInterrupt) else 1
    seen = _native._exit_status_seen()
    return 0 if seen is None else int(seen)


def _dash_c_code() -> str | None:
    """The code of ``python [options] -c CODE``, else None."""
    argv: list[str] = list(getattr(sys, "orig_argv", ()))[1:]
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        arg = argv[i]
        if arg == "-c":
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("-c"):
            return arg[2:]
        if arg.startswith("-m") or arg == "--":
            return None
        i += 2 if arg in ("-X", "-W") else 1
    return None


def _runs_the_recorder() -> bool:
    """``python -m codetracer_python_recorder ...`` (or its console script):
    the child records on its own terms."""
    argv: list[str] = list(getattr(sys, "orig_argv", ()))
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-m" and i + 1 < len(argv):
            return argv[i + 1] == _RECORDER_MODULE
        if arg.startswith("-m"):
            return arg[2:] == _RECORDER_MODULE
    return os.path.basename(sys.argv[0] if sys.argv else "") == _RECORDER_MODULE.replace("_", "-")
