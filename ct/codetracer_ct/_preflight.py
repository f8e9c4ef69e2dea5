"""Preflight: ONE probe process of the chosen interpreter, in the recording's
own environment, reports everything ct must check before recording
(version, implementation, free-threading, whether the recorder imports and
which version it is). Each problem becomes a diagnostic that says what to do.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple

from . import __version__
from ._errors import PreflightError

MINIMUM = (3, 12)
RECORDER_MODULE = "codetracer_python_recorder"
MARKER = "CODETRACER-PREFLIGHT:"

# Kept valid for any Python a user may have on PATH (even 2.7), so an old
# interpreter gets the "too old" diagnostic rather than a SyntaxError.
PROBE = r"""
import json, platform, sys, sysconfig
info = {
    "version_info": list(sys.version_info[:3]),
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
    "executable": sys.executable,
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "recorder_importable": False,
    "recorder_version": None,
    "recorder_file": None,
    "import_error": None,
}
try:
    import codetracer_python_recorder as m
    info["recorder_importable"] = True
    info["recorder_version"] = getattr(m, "__version__", None)
    info["recorder_file"] = getattr(m, "__file__", None)
except BaseException as exc:
    info["import_error"] = "%s: %s" % (type(exc).__name__, exc)
sys.stdout.write("\n" + "CODETRACER-PREFLIGHT:" + json.dumps(info) + "\n")
"""


@dataclass(frozen=True)
class Probe:
    interpreter: Path
    version_info: Tuple[int, ...]
    version: str
    implementation: str
    executable: str
    free_threaded: bool
    recorder_importable: bool
    recorder_version: Optional[str]
    recorder_file: Optional[str]
    import_error: Optional[str]


def install_hint() -> str:
    return (
        f"install it into that interpreter with `<python> -m pip install codetracer-python-recorder=={__version__}`, "
        "or run ct through the CodeTracer launcher (`ct`, `ct-python-recorder`) that puts the bundled recorder "
        "on PYTHONPATH, or set CODETRACER_RECORDER_PATH to a folder holding `codetracer_python_recorder`"
    )


def probe(interpreter: Path, environ: Mapping[str, str], cwd: Optional[str] = None) -> Probe:
    """Run the probe with `interpreter` in `environ` (the recording's)."""
    try:
        done = subprocess.run(
            [str(interpreter), "-c", PROBE],
            env=dict(environ),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise PreflightError(f"cannot run the interpreter {interpreter}: {exc}") from exc
    lines = [line for line in done.stdout.decode("utf-8", "replace").splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PreflightError(
            f"the interpreter {interpreter} could not run the preflight probe "
            f"(exit status {done.returncode}){': ' + detail[-1] if detail else ''}"
        )
    data = json.loads(lines[-1][len(MARKER) :])
    return Probe(
        interpreter=interpreter,
        version_info=tuple(data["version_info"]),
        version=data["version"],
        implementation=data["implementation"],
        executable=data["executable"],
        free_threaded=bool(data["free_threaded"]),
        recorder_importable=bool(data["recorder_importable"]),
        recorder_version=data["recorder_version"],
        recorder_file=data["recorder_file"],
        import_error=data["import_error"],
    )


def check(found: Probe) -> None:
    """Raise PreflightError for the first problem of `found`."""
    where = f"{found.interpreter}" + ("" if str(found.interpreter) == found.executable else f" ({found.executable})")
    if found.implementation != "CPython":
        raise PreflightError(
            f"{where} is {found.implementation} {found.version}; the recorder supports CPython "
            f"{MINIMUM[0]}.{MINIMUM[1]}+ only: put a CPython first on PATH or pass --python"
        )
    if found.version_info[:2] < MINIMUM:
        raise PreflightError(
            f"{where} is Python {found.version}; recording needs Python {MINIMUM[0]}.{MINIMUM[1]} or newer "
            "(sys.monitoring): activate a newer interpreter, or pass --python / set $PYTHON"
        )
    if not found.recorder_importable:
        extra = " (free-threaded builds are not supported)" if found.free_threaded else ""
        raise PreflightError(
            f"the recorder `{RECORDER_MODULE}` is not importable by {where}{extra}: "
            f"{found.import_error}; {install_hint()}"
        )
    if found.recorder_version != __version__:
        raise PreflightError(
            f"{where} imports {RECORDER_MODULE} {found.recorder_version} from {found.recorder_file}, "
            f"but ct {__version__} needs version {__version__}: {install_hint()}"
        )


def run(interpreter: Path, environ: Mapping[str, str], cwd: Optional[str] = None) -> Probe:
    found = probe(interpreter, environ, cwd)
    check(found)
    return found
