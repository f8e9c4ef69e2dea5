"""What opening a trace will cost CodeTracer's replay backend, estimated from
its step count, and the one warning a recording gets when a trace is past the
budget (docs/test-runs.md, "Traces that open").

The figures are per step, measured with ../shared/tools/replay-server
(CodeTracer a387f8faf2e2) to its first stop, on trace.ct (one ``events.log``
stream, the layout this recorder writes). What each step holds makes them
vary tenfold (2026-12-07, CPython 3.12, docs/test-runs.md "Traces that
open"): 4.5 KB and 16 us per step (bench/workloads/w_recursion: a few small
ints), 10 KB (w_numeric), 23 KB and 73 us (w_mixed), 28 KB and 65 us (the
bench's test suite), 46 KB and 200 us (w_objects: instances and dicts). So
the estimate is a range: ``low`` (the lightest), ``typical`` (the middle) and
``high`` (the heaviest); the note says a trace is too big only when even the
low end is past the budget (4 GB: about 930,000 steps), so it never warns
of a trace that opens. A trace.json is loaded whole: 60-110 times its
size (../shared/tools/REPLAY.md); its time, 24 us per step (idna's suite).
"""

from __future__ import annotations

import os
import sys

from . import _env, _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Backend memory (bytes) and open time (seconds) per step, by trace
#: format: (low, typical, high).
PER_STEP = {
    "ctfs": {"memory_bytes": (4_500, 23_000, 46_000), "open_seconds": (16e-6, 70e-6, 200e-6)},
    "json": {"memory_bytes": (29_000, 29_000, 29_000), "open_seconds": (24e-6, 24e-6, 24e-6)},
}
#: trace.json is loaded whole: the backend's memory is 60-110 times the
#: file's size (../shared/tools/REPLAY.md), which bounds it better than its steps.
JSON_SIZE_FACTOR = (60, 85, 110)
#: The default budget of backend memory: about 930,000 steps of trace.ct at the low end.
DEFAULT_BUDGET_BYTES = 4 * 1024**3
BUDGET_ENV = _env.REPLAY_BUDGET.name

#: The flags that narrow a recording, named by the note.
NARROWING = "--include/--exclude or --activation-path"


def estimate(folder: str, trace_format: str, steps: int | None) -> dict[str, Any]:
    """``steps``, ``trace_bytes`` and ``replay_estimate`` of the trace in ``folder``."""
    path = os.path.join(folder, _native.TRACE_FILES.get(trace_format, _native.TRACE_FILES[_native.DEFAULT_FORMAT]))
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    out: dict[str, Any] = {"steps": steps, "trace_bytes": size}
    per = PER_STEP.get(trace_format)
    if steps is not None and per is not None:
        memory, seconds = per["memory_bytes"], per["open_seconds"]
        low, typical, high = (int(steps * m) for m in memory)
        basis = f"{memory[0]}-{memory[2]} B (typically {memory[1]}) and {seconds[1] * 1e6:g} us per step"
        if trace_format == "json" and size is not None:
            low, typical, high = (size * f for f in JSON_SIZE_FACTOR)
            basis = f"{JSON_SIZE_FACTOR[0]}-{JSON_SIZE_FACTOR[2]} times the file's size and {seconds[1] * 1e6:g} us per step"
        out["replay_estimate"] = {
            "memory_bytes": typical,
            "memory_bytes_low": low,
            "memory_bytes_high": high,
            "open_seconds": round(steps * seconds[1], 3),
            "basis": f"{basis} ({trace_format}, CodeTracer's replay-server; docs/test-runs.md)",
        }
    return out


def parse_budget(text: str, source: str) -> int:
    """A budget in bytes from ``4GB``, ``512MB``, ``4`` (GB), ``0`` (never warn)."""
    from .errors import UsageError

    t = text.strip().upper()
    scale = 1024**3
    for suffix, s in (("GB", 1024**3), ("G", 1024**3), ("MB", 1024**2), ("M", 1024**2)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], s
            break
    try:
        value = float(t)
        if value < 0:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"invalid value {text!r} for {source}: expected a size such as 4GB or 512MB",
            "ERR_INVALID_OPTION",
            {"option": source, "value": text},
        ) from None
    return int(value * scale)


def warn_over_budget(traces: list[dict[str, Any]], budget: int, narrowing: str) -> bool:
    """One note on stderr when the largest trace would need more than
    ``budget`` bytes of backend memory even at the low end of its estimate;
    names the biggest. Returns whether it warned."""
    if budget <= 0:
        return False

    def need(t: dict[str, Any], end: str = "memory_bytes_low") -> int:
        return int((t.get("replay_estimate") or {}).get(end) or 0)

    over = sorted((t for t in traces if need(t) > budget), key=need, reverse=True)
    if not over:
        return False
    names = ", ".join(
        f"{t['id']} ({t.get('steps') or 0:,} steps, {need(t) / 1024**3:.1f}-"
        f"{need(t, 'memory_bytes_high') / 1024**3:.1f} GB)"
        for t in over[:3]
    )
    more = f" and {len(over) - 3} more" if len(over) > 3 else ""
    sys.stderr.write(
        f"codetracer-python-recorder: note: {len(over)} trace(s) too big for CodeTracer to open "
        f"(over the {budget / 1024**3:.1f} GB replay budget, {BUDGET_ENV}): {names}{more}; "
        f"narrow the recording with {narrowing}\n"
    )
    sys.stderr.flush()
    return True


def annotate_single(trace_dir: str, report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Adds the estimate to one finished trace's metadata; the trace's facts
    (an empty list when no trace was written)."""
    if not report or not (report.get("complete") or report.get("partial")):
        return []
    facts = annotate(trace_dir)
    return [] if facts is None else [{"id": os.path.abspath(trace_dir), **facts}]


def annotate(folder: str) -> dict[str, Any] | None:
    """Adds the estimate (``steps``, ``trace_bytes``, ``replay_estimate``) to
    the metadata of the finished trace in ``folder``, as ``meta.update()``
    and :func:`write_json` would, but without Python's ``json`` (the
    recorder's native module reads and writes the file: a module imported
    after the program is one a program that never imported it would not
    have paid for); the facts, or None when the metadata cannot be read."""

    def facts(trace_format: str | None, steps: int | None) -> dict[str, Any]:
        return estimate(folder, trace_format or _native.DEFAULT_FORMAT, steps)

    try:
        return _native._annotate_metadata(os.path.join(folder, "trace_metadata.json"), facts)
    except OSError:
        return None


def write_json(path: str, doc: object) -> None:
    """``doc`` as indented JSON at ``path``, replaced atomically."""
    import json

    write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def write_text(path: str, text: str) -> None:
    """``text`` at ``path``, replaced atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
