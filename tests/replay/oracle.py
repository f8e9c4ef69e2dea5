"""The oracle: what a program held at every line, measured without any recorder.

Run as a script with the interpreter under test (standard library only, never
imports the recorder):

    python oracle.py OUT.json PROGRAM.py [ARGS ...]

It runs PROGRAM as `__main__` under `sys.settrace` and writes to OUT.json, for
every event of a frame of PROGRAM's own file, one step in the shape the replay
backend shows a recording:

- a `call` event gives the step at the function's first line (`co_firstlineno`),
  with the frame's locals at entry (its arguments), the step a recording shows
  before the function's first line runs (not for the module itself: the replay
  shows that step as its `<toplevel>` entry stop);
- a `line` event gives the step of that line with the frame's locals *before*
  the line runs (settrace's `line` event comes before the line's instructions,
  as the recorder's LINE event does).

Each step is `{"func", "line", "vars": {name: canonical}, "hidden": [names]}`.
Values are rendered by `canon()` into the canonical text documented in
docs/replay-tests.md; `hidden` lists the names dropped at that step (dunders,
and modules / functions / classes at module level and in class bodies, which
the recorder does not show), so the comparison can drop them from the
recording's side too. The program's output goes where it would go plainly;
the exit status is the program's own (an uncaught exception prints its
traceback and exits 1, `sys.exit(n)` exits n).
"""

from __future__ import annotations

import builtins
import inspect
import json
import math
import os
import sys
import types

MAX_DEPTH = 3  # ct/load-locals is asked for depthLimit 3; the programs stay shallower
_SUSPENDABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_HIDDEN_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def canon(v: object, depth: int = 0) -> str:
    """Canonical text of a live value (see docs/replay-tests.md)."""
    if v is None:
        return "None"
    if v is True or v is False:
        return "True" if v else "False"
    if isinstance(v, int) and type(v) is int:
        return str(v)
    if type(v) is float:
        return canon_float(v)
    if type(v) is str:
        return _quote(v)
    if depth >= MAX_DEPTH:
        return "..."
    if type(v) is list:
        return "[" + ", ".join(canon(x, depth + 1) for x in v) + "]"
    if type(v) is tuple:
        inner = ", ".join(canon(x, depth + 1) for x in v)
        return "(" + inner + ("," if len(v) == 1 else "") + ")"
    if type(v) is dict:
        return "{" + ", ".join(f"{canon(k, depth + 1)}: {canon(x, depth + 1)}" for k, x in v.items()) + "}"
    if type(v) is set:
        return "{" + ", ".join(sorted(canon(x, depth + 1) for x in v)) + "}" if v else "set()"
    if type(v) is frozenset:
        return "frozenset({" + ", ".join(sorted(canon(x, depth + 1) for x in v)) + "})"
    if type(v) in (bytes, bytearray):
        return repr(v)
    if isinstance(v, type):
        return f"<class '{v.__qualname__}'>"
    if isinstance(v, BaseException):
        return f"{type(v).__name__}: {v}"
    d = getattr(v, "__dict__", None)
    if isinstance(d, dict):
        fields = ", ".join(f"{k}={canon(x, depth + 1)}" for k, x in d.items())
        return f"{type(v).__name__}{{{fields}}}"
    return f"<{type(v).__name__} object>"  # how the recorder shows a value it does not expand


def canon_float(f: float) -> str:
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return repr(f)


def _is_hidden(name: str, value: object, namespace_frame: bool) -> bool:
    if name.startswith(".") or (name.startswith("__") and name.endswith("__")):  # ".0": a genexpr's iterator
        return True
    return namespace_frame and isinstance(value, _HIDDEN_TYPES)


def step_tracer(program: str, code: types.CodeType, steps: list[dict]):
    """A `sys.settrace` function appending to `steps` one step per event of a
    frame of `program` (the file `code`, the module, was compiled from), as
    the module docstring says. One per thread: its state is its thread's."""

    def snapshot(frame: types.FrameType, line: int) -> None:
        co = frame.f_code
        is_module = co.co_name == "<module>"
        namespace_frame = (
            is_module
            or frame.f_locals is not frame.f_globals
            and "__qualname__" in frame.f_locals
            and "__module__" in frame.f_locals
        )
        vars_: dict[str, str] = {}
        hidden: list[str] = []
        for name, value in list(frame.f_locals.items()):
            if _is_hidden(name, value, namespace_frame):
                hidden.append(name)
            else:
                vars_[name] = canon(value)
        func = "<__main__>" if is_module else co.co_qualname
        steps.append({"func": func, "line": line, "vars": dict(sorted(vars_.items())), "hidden": sorted(hidden)})

    last_line: dict[int, int] = {}  # id(frame) -> line of its latest step
    fresh_lasti: dict[types.CodeType, int] = {}

    def tracer(frame: types.FrameType, event: str, arg: object):
        if frame.f_code.co_filename != program:
            return None
        if event == "call":
            # A generator resumed at a yield goes on from the yield's line: no new
            # LINE there. A fresh start is at the instruction where the code's first
            # call ever started; a resume is anywhere else.
            start = fresh_lasti.setdefault(frame.f_code, frame.f_lasti)
            if frame.f_lasti == start or id(frame) not in last_line:
                last_line[id(frame)] = -1
            if frame.f_code is not code:  # the module's entry is the replay's <toplevel> stop
                snapshot(frame, frame.f_code.co_firstlineno)
        elif event == "line":
            # settrace also reports a backward jump that stays on the same line (each
            # turn of a one-line comprehension); sys.monitoring's LINE, what a
            # recording steps on, reports only a change of line.
            if last_line.get(id(frame)) != frame.f_lineno:
                snapshot(frame, frame.f_lineno)
            last_line[id(frame)] = frame.f_lineno
        elif event == "return" and not frame.f_code.co_flags & _SUSPENDABLE:
            last_line.pop(id(frame), None)
        return tracer

    return tracer


def run_program(program: str, code: types.CodeType, args: list[str]) -> None:
    """Runs `code` (compiled from `program`) as `__main__`, as `python PROGRAM ARGS` would."""
    globs = {
        "__name__": "__main__",
        "__file__": program,
        "__builtins__": builtins,
        "__doc__": None,
        "__package__": None,
        "__spec__": None,
        "__loader__": None,
        "__cached__": None,
    }
    sys.argv = [program, *args]
    sys.path[0] = os.path.dirname(program)
    exec(code, globs)


def main(argv: list[str]) -> None:
    out_path, program, *args = argv
    program = os.path.abspath(program)
    steps: list[dict] = []
    with open(program, "rb") as fh:
        code = compile(fh.read(), program, "exec")

    def dump() -> None:
        with open(out_path, "w", encoding="utf-8") as fh:
            json.dump(steps, fh, indent=0)

    sys.settrace(step_tracer(program, code, steps))
    try:
        run_program(program, code, args)
    except BaseException:
        sys.settrace(None)
        dump()
        raise  # the interpreter reports it as it would for the plain program
    sys.settrace(None)
    dump()


if __name__ == "__main__":
    main(sys.argv[1:])
