"""How each tracer is run, and what it left on disk.

Every tracer runs the workload as its main script in a fresh process; the
driver measures the process (proc.py) and then calls `collect` on the
run's scratch folder, which it deletes afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .floor import RUNNER

__all__ = ["Context", "Tracer", "TRACERS", "DEFAULT_TRACERS", "read_ours"]


@dataclass(frozen=True)
class Context:
    """Where the tracers of one interpreter live."""

    python: Path  # the bench venv's python (plain, floor, ours, viztracer)
    floor_dir: Path | None = None  # folder holding _ctfloor
    upstream_python: Path | None = None


@dataclass(frozen=True)
class Tracer:
    name: str
    family: str  # plain | floor | ours | viztracer | upstream (the venv part it needs)
    label: str
    argv: Callable[[Context, Path, Path], list[str]]
    collect: Callable[[Path], dict[str, Any]]
    upstream_scale: bool = False  # runs at --upstream-scale (too slow for --scale)
    env: dict[str, str] = field(default_factory=dict)  # added to the run's environment
    trace_file: str = "trace.json"  # what its trace bytes are the size of


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.exists() else None


def _nothing(_work: Path) -> dict[str, Any]:
    return {}


def _plain(ctx: Context, script: Path, work: Path) -> list[str]:
    return [str(ctx.python), str(script)]


def _floor(mode: str) -> Callable[[Context, Path, Path], list[str]]:
    def argv(ctx: Context, script: Path, work: Path) -> list[str]:
        extra = ["--records", str(work / "records.bin")] if mode == "record8" else []
        return [str(ctx.python), str(RUNNER), "--mode", mode, "--ext-dir", str(ctx.floor_dir), *extra, str(script)]

    return argv


def _record8_collect(work: Path) -> dict[str, Any]:
    return {"output_bytes": _size(work / "records.bin")}


def _ours(values: str, format: str = "json") -> Callable[[Context, Path, Path], list[str]]:
    def argv(ctx: Context, script: Path, work: Path) -> list[str]:
        return [
            str(ctx.python),
            "-m",
            "codetracer_python_recorder",
            "--trace-dir",
            str(work / "trace"),
            "--format",
            format,
            "--values",
            values,
            str(script),
        ]

    return argv


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _one_trace(trace_dir: Path) -> dict[str, Any]:
    meta = _read_json(trace_dir / "trace_metadata.json")
    return {
        # trace.json, or trace.ct (--format ctfs)
        "trace_bytes": _size(trace_dir / "trace.json") or _size(trace_dir / "trace.ct"),
        "stream_bytes": _get(meta, "stats", "stream_bytes"),
        "recorder_events": _get(meta, "stats", "events"),
        "drain_s": _get(meta, "timings", "drain_seconds"),
        "convert_s": _get(meta, "timings", "convert_seconds"),
        "total_s": _get(meta, "timings", "total_seconds"),
        "stages": _stages(meta),
    }


def _stages(meta: Any) -> dict[str, float]:
    """Every `*_seconds` figure of trace_metadata.json's `timings` (the
    stages the recorder times; docs/interfaces.md §2), whatever their names."""
    timings = _get(meta, "timings")
    if not isinstance(timings, dict):
        return {}
    return {
        k: float(v)
        for k, v in timings.items()
        if k.endswith("_seconds") and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


#: Figures summed over a recording's traces (the rest are the main trace's).
SUMMED = ("trace_bytes", "stream_bytes", "recorder_events", "convert_s")


def read_ours(trace_dir: Path) -> dict[str, Any]:
    """Figures from our recorder's trace folder (docs/interfaces.md §2);
    a key the recorder does not write yet comes back as None. A recording of
    threads or forked children (threads.json, docs/recorder.md "Threads")
    adds their traces' bytes, events and convert time to the main trace's."""
    figures = _one_trace(trace_dir)
    index = _read_json(trace_dir / "threads.json")
    threads = (index.get("threads") or []) if isinstance(index, dict) else []
    rows = [*threads, *(index.get("processes") or [])] if isinstance(index, dict) else []
    for row in rows:
        other = _one_trace(trace_dir / str(row.get("folder")))
        for key in SUMMED:
            if figures[key] is not None and other[key] is not None:
                figures[key] += other[key]
        for key, seconds in other["stages"].items():  # the stages' time spent on every trace
            figures["stages"][key] = figures["stages"].get(key, 0.0) + seconds
    return figures


def _ours_collect(work: Path) -> dict[str, Any]:
    return read_ours(work / "trace")


def _viztracer(ctx: Context, script: Path, work: Path) -> list[str]:
    return [str(ctx.python.parent / "viztracer"), "-o", str(work / "viztracer.json"), "--quiet", str(script)]


def _viztracer_collect(work: Path) -> dict[str, Any]:
    return {"output_bytes": _size(work / "viztracer.json")}


def _upstream(ctx: Context, script: Path, work: Path) -> list[str]:
    return [
        str(ctx.upstream_python),
        "-m",
        "codetracer_python_recorder",
        "--format",
        "json",
        "--trace-dir",
        str(work / "trace"),
        str(script),
    ]


def _upstream_collect(work: Path) -> dict[str, Any]:
    return {"trace_bytes": _size(work / "trace" / "trace.json")}


TRACERS: dict[str, Tracer] = {
    t.name: t
    for t in [
        Tracer("plain", "plain", "plain python", _plain, _nothing),
        Tracer("floor-noop", "floor", "C no-op sys.monitoring callbacks", _floor("noop"), _nothing),
        Tracer("floor-record8", "floor", "C callbacks + 8-byte record per event", _floor("record8"), _record8_collect),
        Tracer("ours-none", "ours", "ours --values=none", _ours("none"), _ours_collect),
        Tracer("ours-args", "ours", "ours --values=args", _ours("args"), _ours_collect),
        Tracer("ours-locals", "ours", "ours --values=locals (full fidelity)", _ours("locals"), _ours_collect),
        Tracer(
            "ours-portable",
            "ours",
            "ours --values=locals, portable path (CODETRACER_PORTABLE=1: public C API only)",
            _ours("locals"),
            _ours_collect,
            env={"CODETRACER_PORTABLE": "1"},
        ),
        Tracer(
            "ours-ctfs",
            "ours",
            "ours --values=locals --format ctfs (trace.ct)",
            _ours("locals", "ctfs"),
            _ours_collect,
            trace_file="trace.ct",
        ),
        Tracer("viztracer", "viztracer", "viztracer (defaults)", _viztracer, _viztracer_collect),
        Tracer(
            "upstream",
            "upstream",
            "codetracer-python-recorder 0.3.0 --format json",
            _upstream,
            _upstream_collect,
            upstream_scale=True,
        ),
    ]
}
DEFAULT_TRACERS = tuple(TRACERS)
