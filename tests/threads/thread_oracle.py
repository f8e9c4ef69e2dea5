"""The oracle of a threaded program: what each of its threads held at every
line, measured without any recorder (tests/replay/oracle.py's steps, one
list per thread).

Run as a script with the interpreter under test (standard library only):

    python thread_oracle.py OUT.json PROGRAM.py [ARGS ...]

It runs PROGRAM as `__main__` under `sys.settrace` (the main thread) and
`threading.settrace` (every thread `threading` starts: each gets a tracer of
its own on its first event) and writes to OUT.json `{thread name: [steps]}`
when PROGRAM's main code ends; a daemon thread still running then is written
as far as it got.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "replay"))

from oracle import run_program, step_tracer


def main(argv: list[str]) -> None:
    out_path, program, *args = argv
    program = os.path.abspath(program)
    with open(program, "rb") as fh:
        code = compile(fh.read(), program, "exec")
    per_thread: dict[str, list[dict]] = {}
    lock = threading.Lock()

    def own_tracer(name: str) -> types.FunctionType:
        steps: list[dict] = []
        with lock:
            per_thread[name] = steps
        return step_tracer(program, code, steps)

    def first_event(frame: types.FrameType, event: str, arg: object):
        # A new thread's first event: its own tracer from now on.
        tracer = own_tracer(threading.current_thread().name)
        sys.settrace(tracer)
        return tracer(frame, event, arg)

    def dump() -> None:
        with lock:
            doc = {name: list(steps) for name, steps in per_thread.items()}
        with open(out_path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=0)

    threading.settrace(first_event)
    sys.settrace(own_tracer(threading.current_thread().name))
    try:
        run_program(program, code, args)
    finally:
        sys.settrace(None)
        threading.settrace(None)
        dump()


if __name__ == "__main__":
    main(sys.argv[1:])
