"""Fake recorder CLI (see __init__). Test knobs, read from the environment:
FAKE_RECORDER_FAIL=<kind>  fail before running the script (error file, exit)
FAKE_RECORDER_PARTIAL=1    run the script, keep a trace marked partial
FAKE_RECORDER_NO_TRACE=1   run the script, write nothing (and say nothing)
FAKE_RECORDER_NO_STATS=1   write no `stats` into trace_metadata.json
"""

import json
import os
import runpy
import sys
import uuid

CODES = {"usage": 2, "environment": 10, "target": 20, "internal": 70}
VALUE_OPTIONS = {
    "--trace-dir",
    "--out-dir",
    "-o",
    "--format",
    "--activation-path",
    "--values",
    "--max-depth",
    "--max-items",
    "--max-str",
    "--on-recorder-error",
    "--log-level",
    "--log-file",
    "--replay-budget",
}


def restore_pythonpath():
    marker = os.environ.pop("CODETRACER_ORIG_PYTHONPATH", None)
    if marker is None:
        return
    injected = os.environ.get("PYTHONPATH", "")
    if marker == "unset":
        os.environ.pop("PYTHONPATH", None)
        original = ""
    else:
        original = marker[len("set:") :]
        os.environ["PYTHONPATH"] = original
    keep = set(original.split(os.pathsep)) if original else set()
    for entry in injected.split(os.pathsep):
        if entry and entry not in keep:
            while entry in sys.path:
                sys.path.remove(entry)


ERROR_FILE = os.environ.pop("CODETRACER_ERROR_FILE", None)


def fail(kind, message):
    path = ERROR_FILE
    error = {"error_code": "ERR_FAKE_" + kind.upper(), "kind": kind.capitalize(), "message": message, "context": {}}
    if path:
        with open(path, "w") as handle:
            json.dump(error, handle)
    sys.stderr.write("codetracer-python-recorder: %s\n" % message)
    raise SystemExit(CODES[kind])


def parse(argv):
    options = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "-m":
            return options, ("module", argv[i + 1]), argv[i + 2 :]
        if token in ("--pytest", "--unittest"):  # a test run: the framework, as `python -m` runs it
            return options, ("module", token[2:]), argv[i + 1 :]
        if token.startswith("-"):
            if token in VALUE_OPTIONS:
                options[token] = argv[i + 1]
                i += 2
            else:
                options[token] = True
                i += 1
            continue
        return options, ("script", token), argv[i + 1 :]
    fail("usage", "no script")


def main():
    restore_pythonpath()
    options, (kind, target), args = parse(sys.argv[1:])
    if os.environ.get("FAKE_RECORDER_FAIL"):
        fail(os.environ["FAKE_RECORDER_FAIL"], "fake failure requested")
    folder = os.path.abspath(options.get("--trace-dir") or options.get("-o") or "trace-fake")
    paths, functions, events, index = [], {}, [], {}
    workdir = os.getcwd() + os.sep

    def path_id(filename):
        if filename not in index:
            index[filename] = len(paths)
            paths.append(filename)
            events.append({"Path": filename})
        return index[filename]

    def tracer(frame, event, arg):
        code = frame.f_code
        filename = os.path.abspath(code.co_filename)
        if code.co_filename.startswith("<") or not filename.startswith(workdir):  # the user's own files only
            return None
        if event == "call":
            key = (filename, code.co_firstlineno, code.co_name)
            if key not in functions:
                functions[key] = len(functions)
                events.append(
                    {"Function": {"path_id": path_id(filename), "line": code.co_firstlineno, "name": code.co_name}}
                )
            events.append({"Call": {"function_id": functions[key], "args": []}})
        elif event == "line":
            events.append({"Step": {"path_id": path_id(filename), "line": frame.f_lineno}})
        elif event == "return":
            events.append({"Return": {"return_value": {"kind": "None", "type_id": 0}}})
        return tracer

    status = 0
    if kind == "script":
        sys.argv = [target] + list(args)
        sys.path[0] = os.path.dirname(os.path.abspath(target))
    else:
        sys.argv = [target] + list(args)
        sys.path[0] = os.getcwd()
    sys.settrace(tracer)
    try:
        if kind == "script":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            sys.stderr.write("%s\n" % code)
            status = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        sys.settrace(None)
    if os.environ.get("FAKE_RECORDER_NO_TRACE"):
        return status
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "trace.json"), "w") as handle:
        json.dump(events, handle)
    with open(os.path.join(folder, "trace_paths.json"), "w") as handle:
        json.dump(paths, handle)
    metadata = {
        "workdir": os.getcwd(),
        "program": target,
        "args": list(args),
        "recorder": {"name": "fake", "version": "0.4.0"},
        "exit_status": status,
        "recording_id": str(uuid.uuid4()),
        "partial": bool(os.environ.get("FAKE_RECORDER_PARTIAL")),
        "fake_options": options,
    }
    if not os.environ.get("FAKE_RECORDER_NO_STATS"):
        calls = {}
        for event in events:
            if "Call" in event:
                calls[event["Call"]["function_id"]] = calls.get(event["Call"]["function_id"], 0) + 1
        names = sorted(functions, key=functions.get)
        top = sorted(calls.items(), key=lambda item: -item[1])[:10]
        metadata["stats"] = {
            "events": len(events),
            "steps": sum("Step" in e for e in events),
            "calls": sum(calls.values()),
            "returns": sum("Return" in e for e in events),
            "values": 0,
            "paths": len(paths),
            "functions": len(functions),
            "top_functions": [
                {"name": names[f][2], "path": names[f][0], "line": names[f][1], "calls": n} for f, n in top
            ],
        }
    with open(os.path.join(folder, "trace_metadata.json"), "w") as handle:
        json.dump(metadata, handle)
    return status


if __name__ == "__main__":
    sys.stdout.flush()
    raise SystemExit(main())
