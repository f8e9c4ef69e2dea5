"""The oracle of a program's child processes: what each process running
PROGRAM held at every line of PROGRAM, measured without any recorder
(tests/replay/oracle.py's steps). Put on PYTHONPATH with
PROCESS_ORACLE=OUT_DIR::PROGRAM; every python started with both (the
program, its subprocess and multiprocessing children, the forkserver's
workers) writes OUT_DIR/<pid>.json, {"pid", "argv", "steps"}, at its end.
Test-only, standard library only; never imports the recorder."""

import atexit
import json
import os
import sys


def _install(out_dir, program):
    sys.path.insert(
        0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "replay")
    )
    from oracle import step_tracer

    sys.path.pop(0)
    state = {}

    def fresh():
        steps = []
        inner = step_tracer(program, None, steps)

        def tracer(frame, event, arg):
            before = len(steps)
            result = inner(frame, event, arg)
            if len(steps) > before and frame.f_code.co_name == "<module>":
                if event == "call":
                    del steps[before:]  # a module's entry: the replay shows it as its line 1's step
                else:
                    steps[-1]["func"] = f"<{frame.f_globals.get('__name__')}>"
            return tracer if result is not None else None

        state["steps"] = steps
        sys.settrace(tracer)

    def dump():
        with open(os.path.join(out_dir, f"{os.getpid()}.json"), "w", encoding="utf-8") as fh:
            json.dump({"pid": os.getpid(), "argv": list(sys.orig_argv), "steps": state["steps"]}, fh)

    real_exit = os._exit

    def os_exit(status):
        dump()
        real_exit(status)

    os._exit = os_exit
    os.register_at_fork(after_in_child=fresh)
    atexit.register(dump)
    fresh()


_spec = os.environ.get("PROCESS_ORACLE")
if _spec:
    _install(*_spec.split("::", 1))
