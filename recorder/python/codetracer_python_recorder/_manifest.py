"""CodeTracer's multi-trace ``session.toml`` (a folder of several traces
opened as one session), written for test runs (docs/test-runs.md) and for the
traces of a program's threads (docs/recorder.md, "Threads"), and the threads'
index ``threads.json``.

Kept small and free of module-level imports beyond ``os``: the command line
loads it before the program runs, and a module it imports then (``re``,
``json``) would be missing from the program's ``sys.modules`` where plain
python has it (see session.hide_recorder_modules).
"""

from __future__ import annotations

import os

from . import _replaycost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The most traces CodeTracer's replay backend accepts in one ``session.toml``
#: (measured on ../shared/tools/replay-server, CodeTracer a387f8faf2e2: more
#: than 3 entries are refused, "the TCT-M1 cap is 3", and exactly 3 must carry
#: the roles frontend-js, frontend-wasm and backend), so at most 2 traces are
#: listed; every trace stays in its folder and in the folder's index
#: (``tests.json``, ``threads.json``).
SESSION_MAX_TRACES = 2

SESSION_MANIFEST = "session.toml"
THREADS_INDEX = "threads.json"


def write_session_manifest(out_dir: str, entries: list[tuple[str, str, str, str]]) -> None:
    """``session.toml`` in CodeTracer's manifest format: ``version = 1`` and one
    ``[[trace]]`` per ``(recording_id, relative path, role, thread prefix)``.
    CodeTracer's parser takes a subset of TOML (no escapes; ``#`` starts a
    comment anywhere): every value is checked to need none."""
    lines = [
        "# CodeTracer multi-trace session: opening this folder opens the traces below,",
        "# the first one stepped (written by codetracer-python-recorder)",
        "version = 1",
    ]
    for recording_id, path, role, prefix in entries:
        values = {
            "recording_id": recording_id,
            "path": path.replace(os.sep, "/"),
            "role": role,
            "default_thread_prefix": prefix,
        }
        lines.append("")
        lines.append("[[trace]]")
        for key, value in values.items():
            if manifest_text(value) != value:
                raise ValueError(f"{key} {value!r} cannot be written to session.toml")
            lines.append(f'{key} = "{value}"')
    _replaycost.write_text(os.path.join(out_dir, SESSION_MANIFEST), "\n".join(lines) + "\n")


def manifest_text(text: str) -> str:
    """``text`` without what CodeTracer's manifest parser cannot read in a value."""
    import re

    return re.sub(r'["#\\\r\n]', "_", text)


def annotate_threads(out_dir: str) -> list[dict[str, Any]]:
    """Adds the replay estimate (``steps``, ``trace_bytes``,
    ``replay_estimate``) to the metadata of every thread trace listed in
    ``out_dir``'s ``threads.json``, and of every forked child's trace that
    has none yet (a child writes its own when it ends; one the parent's stop
    recovered has none); those traces' facts, for the budget note."""
    index_path = os.path.join(out_dir, THREADS_INDEX)
    if not os.path.exists(index_path):
        return []  # (one trace: no json to import after the program)
    import json

    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return []
    facts = []
    for row in [*index.get("threads", []), *index.get("processes", [])]:
        folder = os.path.join(out_dir, str(row.get("folder")))
        meta_path = os.path.join(folder, "trace_metadata.json")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        if "pid" in row and "replay_estimate" in meta:
            continue
        trace = _replaycost.annotate(folder)
        if trace is not None:
            facts.append({"id": os.path.abspath(folder), **trace})
    return facts


def write_threads(out_dir: str, index: str) -> None:
    """Called by the recorder when a recording with traces of other threads
    or of forked children stopped: ``index`` (JSON: ``main``, the folder's
    own trace; ``threads``, one row per thread trace in the order the threads
    first ran recorded code; ``processes``, one row per forked child whose
    trace was written by then) becomes ``threads.json``, and ``session.toml``
    lists the main trace first and the first other thread's (else the first
    child's) trace after it."""
    import json

    doc = json.loads(index)
    _replaycost.write_json(os.path.join(out_dir, THREADS_INDEX), doc)
    listed = [doc["main"], *doc["threads"], *doc["processes"]][:SESSION_MAX_TRACES]
    write_session_manifest(
        out_dir,
        [
            (
                t["recording_id"],
                t["folder"],
                manifest_text(t["name"] if "pid" in t else f"thread {t['name']}"),
                manifest_text(t["prefix"]),
            )
            for t in listed
        ],
    )
