"""Spike: can a trace give a Python program's locals by change instead of by
snapshot, and CodeTracer's replay-server still show them right at every step?
(docs/performance.md, "Values by change instead of by snapshot".)

Our recorder writes, after each `Step`, a `Value` record for every variable
the frame can see. The trace schema has a second way: `VariableCell
{variable_id, place}` binds a variable of the current call to a place,
`CellValue` / `AssignCell` set the place's value, `DropVariable` unbinds.
These tests take a trace our recorder wrote, rewrite its `Value` records
into those events (a place per call and variable; a value only where it
changed), open both in the replay-server, and compare what ct/load-locals
shows at every stop. The recorder itself does not write these events.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import replay as R
from dap import DapClient

pytestmark = pytest.mark.replay

PROGRAMS = ["calls", "loops", "recursion", "names", "objects", "generators"]


def by_change(events: list[dict[str, Any]], *, rebind_every_step: bool) -> list[dict[str, Any]]:
    """`events` with each step's `Value` records replaced by cell events: a
    variable's first value in a call binds it to a new place (`VariableCell`
    + `CellValue`), a later different value is an `AssignCell`, an unchanged
    one writes nothing, and a variable the step no longer shows is dropped
    (`DropVariable`). With `rebind_every_step` every shown variable's
    `VariableCell` is written again at each step (no value with it)."""
    out: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []  # per open call: place, bound, last value of each variable
    places = 0
    i = 0
    while i < len(events):
        event = events[i]
        kind = next(iter(event))
        i += 1
        if kind == "Call":
            frames.append({"place": {}, "bound": set(), "last": {}})
        elif kind == "Return" and frames:
            frames.pop()
        out.append(event)
        if kind != "Step":
            continue
        shown: list[dict[str, Any]] = []  # the step's Values; interning records between them pass through
        while i < len(events) and next(iter(events[i])) not in ("Step", "Call", "Return"):
            if "Value" in events[i]:
                shown.append(events[i]["Value"])
            else:
                out.append(events[i])
            i += 1
        if not frames:
            continue
        frame = frames[-1]
        seen = set()
        for v in shown:
            var, value = v["variable_id"], v["value"]
            seen.add(var)
            if var not in frame["place"]:
                frame["place"][var] = places
                places += 1
                out.append({"VariableCell": {"variable_id": var, "place": frame["place"][var]}})
                out.append({"CellValue": {"place": frame["place"][var], "value": value}})
            else:
                if rebind_every_step or var not in frame["bound"]:
                    out.append({"VariableCell": {"variable_id": var, "place": frame["place"][var]}})
                if frame["last"][var] != value:
                    out.append({"AssignCell": {"place": frame["place"][var], "new_value": value}})
            frame["bound"].add(var)
            frame["last"][var] = value
        for var in sorted(frame["bound"] - seen):
            out.append({"DropVariable": var})
            frame["bound"].discard(var)
    return out


def _write_by_change(case, folder: Path, *, rebind_every_step: bool) -> list[dict[str, Any]]:
    shutil.copytree(case.trace_dir, folder)
    events = json.loads((case.trace_dir / "trace.json").read_text(encoding="utf-8"))
    rewritten = by_change(events, rebind_every_step=rebind_every_step)
    (folder / "trace.json").write_text(json.dumps(rewritten), encoding="utf-8")
    return rewritten


def _replay_by_change(case, tmp_path: Path, *, rebind_every_step: bool) -> tuple[list[R.Step], dict[str, int]]:
    folder = tmp_path / "by-change"
    events = json.loads((case.trace_dir / "trace.json").read_text(encoding="utf-8"))
    rewritten = _write_by_change(case, folder, rebind_every_step=rebind_every_step)
    counts = {k: sum(1 for e in rewritten if k in e) for k in ("Value", "VariableCell", "CellValue", "AssignCell")}
    counts["Value before"] = sum(1 for e in events if "Value" in e)
    rep = R.replay(folder, tmp_path / "runtime", only={str(case.program)})
    assert rep.errors == case.replayed().errors
    return rep.steps, counts


@pytest.mark.parametrize("name", PROGRAMS)
def test_locals_by_change_show_what_snapshots_show(replay_case, tmp_path, name):
    """Values by change, each step re-binding its visible variables
    (`VariableCell` only, no value): every stop shows the same locals, with
    the same values, as the trace our recorder wrote."""
    case = replay_case(name)
    steps, counts = _replay_by_change(case, tmp_path, rebind_every_step=True)
    assert counts["Value"] == 0 and counts["VariableCell"] > 0
    assert counts["CellValue"] + counts["AssignCell"] < counts["Value before"], counts
    want = case.replayed().steps
    assert len(steps) == len(want)
    for got, expected in zip(steps, want, strict=True):
        assert (got.where(), got.vars) == (expected.where(), expected.vars)


@pytest.mark.xfail(
    strict=True,
    reason="replay-server a387f8faf2e2 (src/db-backend/src/trace_processor.rs, Step): the current call's "
    "bindings are copied into variable_cells[current_step_id] before current_step_id moves to the new step, "
    "so a step shows only the variables bound at that very step",
)
@pytest.mark.parametrize("name", ["calls", "loops"])
def test_bindings_carry_into_later_steps_of_the_call(replay_case, tmp_path, name):
    """Values by change with each variable bound once per call (what the
    schema's events promise: a binding lasts until dropped or the call
    returns)."""
    case = replay_case(name)
    steps, _ = _replay_by_change(case, tmp_path, rebind_every_step=False)
    want = case.replayed().steps
    assert [(s.where(), s.vars) for s in steps] == [(s.where(), s.vars) for s in want]


@contextmanager
def _stopped_in(trace_dir: Path, runtime_dir: Path, stops: int) -> Iterator[tuple[DapClient, dict[str, Any]]]:
    """The replay-server on `trace_dir`, stopped after `stops` stepIns: the
    client and the stop's location."""
    with DapClient(R.REPLAY_SERVER, runtime_dir) as c:
        c.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
        c.request("launch", {"traceFolder": str(trace_dir), "program": "main", "pid": 1})
        c.request("configurationDone", {})
        c.wait_event("stopped")
        for _ in range(stops):
            c.request("stepIn", {"threadId": 1})
            c.wait_event("stopped")
        location = R._last_move(c)
        assert location is not None
        yield c, location


def _flow_values(trace_dir: Path, runtime_dir: Path, stops: int) -> list[str]:
    """The flow view (`ct/load-flow`, call mode) of the call stopped in after
    `stops` stepIns: each flow step's position and its values before and
    after, as text."""
    with _stopped_in(trace_dir, runtime_dir, stops) as (c, location):
        c.request("ct/load-flow", {"flowMode": 0, "location": location})
        update = c.wait_event("ct/updated-flow", timeout=30)
    found: list[str] = []

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            if "beforeValues" in o:
                keys = ("rrTicks", "position", "beforeValues", "afterValues")
                found.append(json.dumps({k: o.get(k) for k in keys}, sort_keys=True))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(update["body"])
    return found


def test_flow_view_by_change_shows_what_snapshots_show(replay_case, tmp_path):
    """The flow ("omniscience") view of `sum_to` in loops.py (its loop: the
    values of `i` and `total` before and after each line) is the same from
    values by change (re-bound at every step) as from snapshots."""
    case = replay_case("loops")
    _write_by_change(case, tmp_path / "by-change", rebind_every_step=True)
    want = _flow_values(case.trace_dir, tmp_path / "runtime-snapshots", 8)
    assert want and any('"total"' in w for w in want), want
    assert _flow_values(tmp_path / "by-change", tmp_path / "runtime-by-change", 8) == want


def _history(trace_dir: Path, runtime_dir: Path, stops: int, expression: str) -> list[str]:
    """CodeTracer's value history (`ct/load-history`) of `expression` in the
    call stopped in after `stops` stepIns: each entry's step and value."""
    with _stopped_in(trace_dir, runtime_dir, stops) as (c, location):
        body = c.request("ct/load-history", {"expression": expression, "location": location, "isForward": True})["body"]
    return [json.dumps([r["location"]["rrTicks"], r["value"]], sort_keys=True) for r in body["results"]]


@pytest.mark.xfail(
    strict=True,
    reason="replay-server a387f8faf2e2 (src/db-backend/src/db.rs, load_history): a variable's history is read "
    "from the Value records of each step of the call only (variables_at), never from its cells, so values "
    "by change give an empty history",
)
def test_value_history_by_change_shows_what_snapshots_show(replay_case, tmp_path):
    """CodeTracer's value history of `total` in `sum_to` (loops.py) is the
    same from values by change (re-bound at every step) as from snapshots:
    the reason the recorder keeps writing snapshots (docs/performance.md,
    "Values by change instead of by snapshot")."""
    case = replay_case("loops")
    _write_by_change(case, tmp_path / "by-change", rebind_every_step=True)
    want = _history(case.trace_dir, tmp_path / "runtime-snapshots", 8, "total")
    assert len(want) > 2, want
    assert _history(tmp_path / "by-change", tmp_path / "runtime-by-change", 8, "total") == want
