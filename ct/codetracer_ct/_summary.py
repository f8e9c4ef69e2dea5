"""What `ct show` says about a trace folder: its format (trace.json or the
CTFS trace.ct), counts and the most called functions, from `stats` in
trace_metadata.json (docs/interfaces.md §2), or by scanning trace.json when a
recorder wrote no stats."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import _formats

TOP = 10


def read_metadata(folder: Path) -> Optional[Dict[str, Any]]:
    try:
        with open(folder / "trace_metadata.json", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: The index of a test run's traces, written by the recorder (docs/test-runs.md).
TESTS_FILE = "tests.json"


def read_tests(folder: Path) -> Optional[Dict[str, Any]]:
    """The test run's index in `folder` (`framework`, `counts`, `traces`), or
    None when the folder is not a test run with one trace per test."""
    try:
        with open(folder / TESTS_FILE, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("traces"), list):
        return None
    return data


def tests_of(folder: Path) -> List[Dict[str, Any]]:
    """The tests of a test run (failing first), each with its id, outcome,
    duration, folder, steps and trace size; empty for other recordings."""
    run = read_tests(folder)
    tests = [t for t in (run or {}).get("traces", []) if isinstance(t, dict) and t.get("kind") == "test"]
    return sorted(tests, key=lambda t: t.get("outcome") not in ("failed", "error"))


#: The index of a recording's thread and forked-child traces, written by the
#: recorder (docs/recorder.md, "Threads" and "Processes").
THREADS_FILE = "threads.json"
PROCESSES_DIR = "processes"
STAGING_DIR = ".codetracer-partial"


def threads_of(folder: Path) -> List[Dict[str, Any]]:
    """The traces of a recording's threads (the main thread first) and of
    its forked children, each with `kind` (thread or process), `name`,
    `ident` or `pid`, `folder` (relative to `folder`), `steps` and `state`
    (complete, partial, running at stop, started before recording, still
    running: a child with no trace yet); empty when the recording has one
    trace."""
    try:
        with open(folder / THREADS_FILE, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError):
        index = {}
    index = index if isinstance(index, dict) else {}
    rows: List[Dict[str, Any]] = []
    main = index.get("main")
    if isinstance(main, dict):
        steps = ((read_metadata(folder) or {}).get("stats") or {}).get("steps")
        rows.append(_thread_row(main, steps))
    for thread in index.get("threads") or []:
        if isinstance(thread, dict):
            rows.append(_thread_row(thread, (thread.get("stats") or {}).get("steps")))
    listed = set()
    for process in index.get("processes") or []:
        if isinstance(process, dict) and process.get("folder"):
            listed.add(str(process["folder"]))
            rows.append(_process_row(folder, str(process["folder"]), process.get("pid")))
    # Children the index does not list: a child still running when the
    # recording stopped (its trace written later, or never: its staging folder).
    children = folder / PROCESSES_DIR
    for child in sorted(children.iterdir(), key=lambda p: p.name) if children.is_dir() else []:
        relative = f"{PROCESSES_DIR}/{child.name}"
        if child.is_dir() and relative not in listed:
            rows.append(_process_row(folder, relative, int(child.name) if child.name.isdigit() else None))
    return rows if len(rows) > 1 or any(r["kind"] == "process" for r in rows) else []


def _thread_row(row: Dict[str, Any], steps: Any) -> Dict[str, Any]:
    states = []
    if row.get("partial"):
        states.append("partial")
    if row.get("started_before_recording"):
        states.append("started before recording")
    if row.get("running_at_stop"):
        states.append("running at stop")
    return {
        "kind": "thread",
        "name": row.get("name"),
        "ident": row.get("ident"),
        "main": bool(row.get("main")),
        "folder": row.get("folder"),
        "steps": steps,
        "state": ", ".join(states) or "complete",
        "incomplete": row.get("incomplete"),
    }


def _process_row(folder: Path, relative: str, pid: Any) -> Dict[str, Any]:
    row = {"kind": "process", "name": f"process {pid}", "pid": pid, "main": False, "folder": relative}
    metadata = read_metadata(folder / relative)
    if metadata is None:
        staged = (folder / relative / STAGING_DIR).is_dir()
        state = "still running (no trace yet)" if staged else "no trace"
        return {**row, "steps": None, "state": state, "exit_status": None}
    return {
        **row,
        "steps": (metadata.get("stats") or {}).get("steps"),
        "state": "partial" if metadata.get("partial") else "complete",
        "exit_status": metadata.get("exit_status"),
    }


def find_test(folder: Path, test_id: str) -> Optional[Dict[str, Any]]:
    """The test `test_id` names: its exact id, else its folder name."""
    tests = tests_of(folder)
    for test in tests:
        if test.get("id") == test_id:
            return test
    for test in tests:
        if test.get("folder") and Path(str(test["folder"])).name == test_id:
            return test
    return None


def trace_format(folder: Path, metadata: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """`json` or `ctfs`: what the recorder wrote (trace_metadata.json's
    `format`), else which trace file the folder holds."""
    written = (metadata if metadata is not None else read_metadata(folder) or {}).get("format")
    if isinstance(written, str):
        return written
    for name, trace_file in _formats.TRACE_FILES.items():
        if (folder / trace_file).is_file():
            return name
    return None


def summarize(folder: Path) -> Dict[str, Any]:
    """{format, events, steps, calls, files, functions, top_functions, source}
    of the trace in `folder`; `source` says where the numbers came from."""
    metadata = read_metadata(folder) or {}
    return {"format": trace_format(folder, metadata), **_numbers(folder, metadata)}


def _numbers(folder: Path, metadata: Dict[str, Any]) -> Dict[str, Any]:
    stats = metadata.get("stats")
    if isinstance(stats, dict) and "events" in stats:
        return {
            "events": stats.get("events"),
            "steps": stats.get("steps"),
            "calls": stats.get("calls"),
            "files": stats.get("paths", _count_paths(folder)),
            "functions": stats.get("functions"),
            "top_functions": list(stats.get("top_functions") or [])[:TOP],
            "source": "trace_metadata.json",
        }
    return _scan(folder)


def _count_paths(folder: Path) -> Optional[int]:
    try:
        with open(folder / "trace_paths.json", encoding="utf-8") as handle:
            return len(json.load(handle))
    except (OSError, ValueError, TypeError):
        return None


def _scan(folder: Path) -> Dict[str, Any]:
    try:
        with open(folder / "trace.json", encoding="utf-8") as handle:
            events = json.load(handle)
    except (OSError, ValueError):
        return {
            "events": None,
            "steps": None,
            "calls": None,
            "files": _count_paths(folder),
            "functions": None,
            "top_functions": [],
            "source": "unavailable",
        }
    kinds: Counter[str] = Counter()
    paths: List[str] = []
    functions: List[Dict[str, Any]] = []
    calls: Counter[object] = Counter()  # function ids, as the JSON gives them
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            continue
        kind, payload = next(iter(event.items()))
        kinds[kind] += 1
        if kind == "Path":
            paths.append(payload)
        elif kind == "Function":
            functions.append(payload)
        elif kind == "Call" and isinstance(payload, dict):
            calls[payload.get("function_id")] += 1
    top = []
    for function_id, count in calls.most_common(TOP):
        if isinstance(function_id, int) and 0 <= function_id < len(functions):
            function = functions[function_id]
            path_id = function.get("path_id")
            path = paths[path_id] if isinstance(path_id, int) and 0 <= path_id < len(paths) else None
            top.append({"name": function.get("name"), "path": path, "line": function.get("line"), "calls": count})
    return {
        "events": sum(kinds.values()),
        "steps": kinds["Step"],
        "calls": kinds["Call"],
        "files": len(paths),
        "functions": len(functions),
        "top_functions": top,
        "source": "trace.json",
    }
