"""`ct record`: run the user's script under the recorder with the user's own
interpreter and environment (docs/design/bundling-and-ct-record.md §1, §3, §4, §6), then import the trace
into the local index."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _datadir, _env, _exitcodes, _formats, _git, _preflight, _pythonpath, _summary
from ._errors import GitUnavailable, UsageError
from ._index import Index, Trace, utc_now
from ._interpreter import find_python

LANGUAGE = "python-db"
# The second is a misspelling CodeTracer's design text used (docs/design/bundling-and-ct-record.md §5).
RECORDER_PATH_VARIABLES = (_env.RECORDER_PATH.name, "CODERTRACER_RECORDER_PATH")
ERROR_FILE_VARIABLE = _env.ERROR_FILE.name
PARTIAL_STAGING = ".codetracer-partial"
DIFF_FILE = "diff.patch"
FILES_DIR = "files"


@dataclass(frozen=True)
class Request:
    """What to record: `target` is a script path (`module=False`) or a
    module name (`module=True`, also for --pytest / --unittest)."""

    target: str
    args: Tuple[str, ...] = ()
    module: bool = False
    python: Optional[str] = None
    activation_path: Optional[str] = None
    with_diff: bool = False
    trace_dir: Optional[str] = None
    format: str = _formats.DEFAULT_FORMAT
    recorder_options: Tuple[str, ...] = ()
    program_label: Optional[str] = None  # e.g. "--pytest" for the index
    test_framework: Optional[str] = None  # "pytest" / "unittest": the recorder's test run

    @property
    def target_argv(self) -> List[str]:
        if self.test_framework:
            return ["--" + self.test_framework] + list(self.args)
        return (["-m", self.target] if self.module else [self.target]) + list(self.args)


#: How many failing tests `ct record` names at the end of a test run.
FAILING_SHOWN = 10


def warn(message: str) -> None:
    sys.stderr.write(f"ct: {message}\n")
    sys.stderr.flush()


# --- language detection -------------------------------------------------------


def is_python_target(request: Request, cwd: str) -> bool:
    """`.py`/`.pyz` file, `-m module`, a folder with `__main__.py` (all of
    which `python` runs), or a file whose shebang names python."""
    if request.module or request.target.endswith((".py", ".pyw", ".pyz")):
        return True
    path = Path(cwd, request.target)
    if (path / "__main__.py").is_file():
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


# --- where the recorder comes from --------------------------------------------


def recorder_folder(environ: Mapping[str, str]) -> Optional[str]:
    """A folder to put on PYTHONPATH so the recorder imports: the launcher
    override, else the folder ct itself was staged in (resources/python/)
    when the recorder sits beside it; None: it must be installed."""
    for variable in RECORDER_PATH_VARIABLES:
        value = environ.get(variable)
        if value:
            return value
    staged = Path(__file__).resolve().parent.parent
    if (staged / _preflight.RECORDER_MODULE / "__init__.py").is_file():
        return str(staged)
    return None


# --- the run --------------------------------------------------------------------


def _run_child(command: List[str], env: Dict[str, str], cwd: str) -> int:
    """Run the recording with inherited stdio. ct survives the terminal's
    Ctrl-C (the child gets it too and decides) without passing an ignored
    SIGINT on: a handler, unlike SIG_IGN, is reset by exec."""
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, lambda signum, frame: None)
    except ValueError:  # not the main thread
        previous = None
    try:
        child = subprocess.Popen(command, env=env, cwd=cwd)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # pragma: no cover - handler replaced above
                continue
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _read_error(path: Path) -> Optional[Dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text.splitlines()[-1])
    except ValueError:
        return {"error_code": None, "kind": None, "message": text, "context": {}}
    return data if isinstance(data, dict) else None


def _copy_sources(folder: Path) -> int:
    """Copy every recorded source file into `folder/files/<absolute path>`."""
    try:
        with open(folder / "trace_paths.json", encoding="utf-8") as handle:
            paths = json.load(handle)
    except (OSError, ValueError):
        return 0
    copied = 0
    target_root = folder / FILES_DIR
    for name in paths if isinstance(paths, list) else []:
        if not isinstance(name, str) or not os.path.isabs(name):
            continue
        source = Path(name)
        if not source.is_file():
            continue
        anchor = source.drive.rstrip(":") if source.drive else ""
        relative = Path(anchor, *source.parts[1:])
        destination = target_root / relative
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(source), str(destination))
            copied += 1
        except OSError as exc:
            warn(f"could not copy {source} into the trace: {exc}")
    return copied


def _status_of(folder: Path) -> Optional[str]:
    metadata = _summary.read_metadata(folder)
    if metadata is not None:
        return "partial" if metadata.get("partial") else "complete"
    if (folder / PARTIAL_STAGING).is_dir():
        return "partial"
    return None


def exit_like(status: int) -> int:
    """The status to exit with so a shell sees what it would have seen: a
    child killed by a signal kills ct with the same signal."""
    if status >= 0:
        return status
    signum = -status
    if hasattr(signal, "SIGKILL") and signum != signal.SIGKILL:
        try:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        except (OSError, ValueError):
            pass
    return 128 + signum


def record(request: Request, environ: Mapping[str, str] = os.environ, cwd: Optional[str] = None) -> int:
    """Record `request`; returns the exit status of `ct record` (the
    script's, unless the recording itself failed). Raises a `CtError`
    when ct cannot record (`NotFound`: no interpreter, `PreflightError`,
    `IndexUnavailable`, `UsageError`)."""
    cwd = cwd or os.getcwd()
    if not is_python_target(request, cwd):
        raise UsageError(
            f"cannot tell the language of {request.target!r}: ct records Python programs "
            "(a .py file, -m module, or a file with a python shebang)"
        )
    interpreter = find_python(request.python, environ)
    env = _pythonpath.child_environment(environ, recorder_folder(environ))
    probe = _preflight.run(interpreter, env, cwd)

    diff: Optional[bytes] = None
    if request.with_diff:
        base = Path(cwd) if request.module else Path(cwd, request.target).parent
        try:
            diff = _git.repository_diff(base)
        except GitUnavailable as exc:
            warn(f"--with-diff: {exc}; recording without a diff")

    data = _datadir.data_dir(environ)
    with Index(_datadir.index_path(data)) as index:
        trace_id = index.allocate_id()
        created = utc_now()
        default_folder = request.trace_dir is None
        folder = (
            _datadir.traces_dir(data) / str(trace_id) if request.trace_dir is None else Path(cwd, request.trace_dir)
        )
        folder = Path(os.path.abspath(str(folder)))
        folder.parent.mkdir(parents=True, exist_ok=True)

        scratch = Path(tempfile.mkdtemp(prefix="ct-record-"))
        error_file = scratch / "error.json"
        env[ERROR_FILE_VARIABLE] = str(error_file)
        command = [
            str(interpreter),
            "-m",
            _preflight.RECORDER_MODULE,
            "--trace-dir",
            str(folder),
            "--format",
            request.format,
        ]
        if request.activation_path:
            command += ["--activation-path", request.activation_path]
        command += list(request.recorder_options)
        command += request.target_argv
        try:
            status = _run_child(command, env, cwd)
            error = _read_error(error_file)
        finally:
            shutil.rmtree(str(scratch), ignore_errors=True)

        if error is not None:
            warn(
                "the recorder failed: "
                + json.dumps({key: error.get(key) for key in ("error_code", "kind", "message", "context")})
            )
        state = _status_of(folder)
        if state is None:
            if default_folder and folder.is_dir():
                shutil.rmtree(str(folder), ignore_errors=True)
            warn(f"no trace was recorded (recorder exit status {status}); nothing was added to the index")
            if status != 0:
                return exit_like(status)
            return _exitcodes.for_kind(error.get("kind")) if error else _exitcodes.INTERNAL

        if diff is not None:
            (folder / DIFF_FILE).write_bytes(diff)
        _copy_sources(folder)
        metadata = _summary.read_metadata(folder) or {}
        index.add(
            Trace(
                id=trace_id,
                program=request.program_label or request.target,
                args=list(request.args),
                cwd=cwd,
                language=LANGUAGE,
                interpreter=str(interpreter),
                python_executable=probe.executable,
                python_version=probe.version,
                recorder_version=str((metadata.get("recorder") or {}).get("version") or probe.recorder_version),
                exit_status=status,
                with_diff=diff is not None,
                status=state,
                error_code=(error or {}).get("error_code") or metadata.get("reason"),
                created_at=created,
                folder=str(folder),
            )
        )
    if state == "partial":
        warn(f"trace {trace_id} is PARTIAL: {folder}")
        if _summary.read_metadata(folder) is None:
            warn(f"recover it with: {interpreter} -m {_preflight.RECORDER_MODULE} recover {folder}")
    else:
        warn(f"trace {trace_id} recorded in {folder}")
    _report_tests(folder)
    return exit_like(status)


def _report_tests(folder: Path) -> None:
    """After a test run: the failing tests, each with the command that opens
    its own trace in CodeTracer (docs/test-runs.md)."""
    run = _summary.read_tests(folder)
    if run is None:
        return
    tests = [t for t in run["traces"] if t.get("kind") == "test"]
    failing = [t for t in tests if t.get("outcome") in ("failed", "error")]
    counts = ", ".join(f"{n} {o}" for o, n in run.get("counts", {}).items() if n)
    warn(f"{len(tests)} tests ({counts}), one trace each in {folder / 'tests'}")
    shown = failing[:FAILING_SHOWN]
    for test in shown:
        where = folder / test["folder"] if test.get("folder") else folder
        warn(f"{test.get('outcome', '').upper()} {test['id']}: ct replay --trace-folder {where}")
    if len(failing) > len(shown):
        warn(f"... and {len(failing) - len(shown)} more failing tests (`ct show` lists them all)")
