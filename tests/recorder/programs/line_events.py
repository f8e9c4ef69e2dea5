"""The lines plain python's sys.settrace reports for the program argv[2] (run
as __main__), written to argv[1] as a JSON list of lines: what the
recorder's steps must follow (docs/recorder.md, "Line events").

A step is a `line` event whose line differs from the frame's previous step
(settrace also reports a backward jump that stays on one line, and the line
a resumed generator goes on from; a recording steps on a change of line).
A frame's first step always counts: the first line of a class body, a
lambda, a one-line function or a generator expression included."""
import inspect
import json
import runpy
import sys

SUSPENDABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR

out, program = sys.argv[1], sys.argv[2]
lines = []
last = {}  # id(frame) -> line of its latest step (None: none yet)
fresh = {}  # code -> f_lasti of a call that starts it (a resume is anywhere else)


def tracer(frame, event, arg):
    if frame.f_code.co_filename != program:
        return None
    if event == "call":
        if frame.f_lasti == fresh.setdefault(frame.f_code, frame.f_lasti) or id(frame) not in last:
            last[id(frame)] = None
    elif event == "line":
        if last.get(id(frame)) != frame.f_lineno:
            lines.append(frame.f_lineno)
        last[id(frame)] = frame.f_lineno
    elif event == "return" and not frame.f_code.co_flags & SUSPENDABLE:
        last.pop(id(frame), None)
    return tracer


sys.argv = sys.argv[2:]
sys.settrace(tracer)
try:
    runpy.run_path(program, run_name="__main__")
finally:
    sys.settrace(None)
    with open(out, "w") as f:
        json.dump(lines, f)
