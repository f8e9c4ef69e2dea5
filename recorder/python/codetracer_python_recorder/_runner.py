"""Running the program as python runs it (like coverage.py's ``PyRunner``):
``python script.py ARGS``, ``python -m module ARGS``, or a test framework as
``python -m pytest ARGS`` / ``python -m unittest ARGS`` runs it (the last in
``_testrun``).

:meth:`ProgramRunner.prepare` sets up the program's world before the
recording starts (``sys.argv``, ``sys.path[0]``, the ``__main__`` module, the
compiled code or the module's spec); :meth:`ProgramRunner.run` runs it, and
the program's own ``SystemExit`` or exception propagates to the caller.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types

TYPE_CHECKING = False  # not `from typing import ...`: start-up cost
if TYPE_CHECKING:
    from typing import Any, NoReturn


class ProgramRunner:
    """One of: a script (``script``), a module (``module``), a test run
    (``framework``), with the program's ``args``."""

    def __init__(
        self,
        *,
        script: str | None = None,
        module: str | None = None,
        framework: str | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.script = script
        self.module = module
        self.framework = framework
        self.args = list(args or [])
        #: The program's name in the trace: the script's absolute path, the
        #: module's file, or the framework's ``__main__`` file.
        self.program = ""
        #: The module's spec (``-m``), when it was found.
        self.spec: Any = None
        #: What finding the module imported (its packages), as ``python -m`` has them.
        self.spec_imports: set[str] = set()
        self._code: types.CodeType | None = None
        self._main = types.ModuleType("__main__")
        self._testrun: Any = None

    @property
    def as_module(self) -> bool:
        """Whether python itself would run it as ``-m`` (runpy is the program's then)."""
        return self.script is None

    def prepare(self) -> int | None:
        """The program's world, before the recording starts. Returns an exit
        status when the program cannot start (a syntax error: 1, after the
        traceback python prints); a missing script exits as python does (2)."""
        if self.framework is not None:
            # Imported now: the program's run hides the recorder's package
            # (and a launcher's PYTHONPATH entry is gone by then).
            from . import _testrun

            self._testrun = _testrun
            self.program = _framework_main(self.framework)
        elif self.script is not None:
            return self._prepare_script(self.script)
        else:
            self._prepare_module(str(self.module))
        return None

    def _prepare_script(self, script: str) -> int | None:
        try:
            with open(script, "rb") as f:
                source = f.read()
        except OSError as exc:
            _missing_script(script, exc)
        self.program = os.path.abspath(script)
        sys.argv = [script, *self.args]
        sys.path[0] = os.path.dirname(os.path.realpath(script))
        main = self._main
        main.__file__ = self.program
        main.__cached__ = None  # type: ignore[attr-defined]  # ModuleType does not declare it
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", self.program)
        main.__builtins__ = __builtins__  # type: ignore[attr-defined]  # (nor this)
        main.__spec__ = None
        try:
            self._code = compile(source, self.program, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            sys.excepthook(type(exc), exc, None)
            return 1
        return None

    def _prepare_module(self, module: str) -> None:
        from importlib.util import find_spec

        sys.argv = ["-m", *self.args]
        sys.path[0] = os.getcwd()
        before = set(sys.modules)
        try:
            spec = find_spec(module)
            if spec is not None and spec.submodule_search_locations is not None:
                spec = find_spec(module + ".__main__")
        except Exception:  # noqa: BLE001 - runpy reports it when the module runs, as python -m does
            spec = None
        self.spec = spec
        self.program = spec.origin if spec is not None and spec.origin else module
        self.spec_imports = set(sys.modules) - before

    def run(self, tests: object = None) -> None:
        """Runs the program (``tests``: a test run's per-test traces)."""
        if self.framework is not None:
            if os.path.isfile(self.program):
                # `__main__` as `python -m FRAMEWORK` has it (not the recorder's
                # console script): a multiprocessing spawn worker of a test
                # runs no main module again (multiprocessing.spawn skips `*.__main__`).
                from importlib.util import spec_from_file_location

                main = self._main
                main.__file__ = self.program
                main.__spec__ = spec_from_file_location(f"{self.framework}.__main__", self.program)
                sys.modules["__main__"] = main
            self._testrun.run(self.framework, self.args, tests)
        elif self._code is not None:
            sys.modules["__main__"] = self._main
            exec(self._code, self._main.__dict__)
        else:
            import runpy

            runpy._run_module_as_main(self.module, alter_argv=True)  # type: ignore[attr-defined]  # private: what python -m runs


def _framework_main(framework: str) -> str:
    """The program of a test run, as `python -m FRAMEWORK` has it: the
    framework's `__main__` file (or its name, when it is not installed)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(f"{framework}.__main__")
    except Exception:  # noqa: BLE001 - reported when the run imports it
        spec = None
    return spec.origin if spec is not None and spec.origin else f"-m {framework}"


def _missing_script(path: str, exc: OSError) -> NoReturn:
    """The words and status of `python missing.py`."""
    interpreter = sys.orig_argv[0] if getattr(sys, "orig_argv", None) else sys.executable
    sys.stderr.write(f"{interpreter}: can't open file {os.path.abspath(path)!r}: [Errno {exc.errno}] {exc.strerror}\n")
    raise SystemExit(2)
