"""Environment auto-start: ``CODETRACER_TRACE=DIR`` records the whole
interpreter run into DIR and finalises the trace at interpreter exit; a
child process of a recording that follows its children
(``CODETRACER_PARENT_TRACE``) records into the parent's folder
(``_processes.py``).

Imported by the ``codetracer_python_recorder_autostart.pth`` file the wheel
installs, only when the variable is set (the .pth costs nothing otherwise),
which then calls :func:`hide`.
"""

from __future__ import annotations

import atexit
import os
import sys

from . import _env


def _autostart() -> None:
    trace_dir = _env.get(_env.TRACE)
    if _env.get(_env.CLI_ACTIVE) == "1":
        return
    if not trace_dir:
        if _env.get(_env.PARENT_TRACE):
            from . import _processes

            _processes.follow()
        return
    # Children inherit the environment: only the first process records into DIR.
    _env.pop(_env.TRACE)
    from . import _processes, start, stop
    from .errors import RecorderError
    from .session import program_from_argv

    # The script's absolute path, or `-c`, `-m MODULE`, `<stdin>`, `<python>`.
    program = program_from_argv()
    # Site initialisation goes on after this .pth (later .pth files, their
    # decoding, sitecustomize): none of it is the program. A script's
    # recording begins when the script's own code starts.
    activation = program if os.path.isfile(program) else None
    try:
        start(trace_dir, program=program, activation_path=activation)
    except RecorderError as exc:
        sys.stderr.write(f"codetracer-python-recorder: error: auto-start failed: {exc}\n")
        return

    def _finish() -> None:
        try:
            stop(_processes.exit_status())
        except RecorderError as exc:
            sys.stderr.write(f"codetracer-python-recorder: error: {exc}\n")

    atexit.register(_finish)


def hide() -> None:
    """Called by the .pth file once this module's import is complete: the
    program finds the modules it would find without the recorder."""
    from . import STARTUP_MODULES
    from .session import hide_recorder_modules, program_modules

    hide_recorder_modules(program_modules(STARTUP_MODULES, as_module=True))


_autostart()
