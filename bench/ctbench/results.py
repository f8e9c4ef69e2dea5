"""What one benchmark session measured: per interpreter, workload, tracer
and scale, the list of runs (or why there are none). Serialisable to JSON
(bench/out/results.json) so a report can be re-rendered without re-running."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Run", "Cell", "OpenRun", "OpenCell", "Session", "events_key"]


@dataclass
class Run:
    main_s: float  # from ANCHOR_RESULT
    wall_s: float  # whole process
    maxrss_kb: int
    check: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cell:
    python: str
    workload: str
    tracer: str
    scale: float
    runs: list[Run] = field(default_factory=list)
    missing: str | None = None  # tracer not available here (n/a)
    failed: str | None = None  # tracer ran and failed (loud)


@dataclass
class OpenRun:
    seconds: float  # spawn of the replay-server to its first stop on the trace
    peak_kb: int  # the server's peak RSS


@dataclass
class OpenCell:
    """Opening one workload's trace in one format in the replay-server."""

    python: str
    workload: str
    format: str  # json (trace.json of ours-locals) | ct (trace.ct of ours-ctfs)
    trace_bytes: int | None
    runs: list[OpenRun] = field(default_factory=list)
    not_opened: str | None = None  # too big to open on this machine: "not opened (N MB)"
    failed: str | None = None  # the server did not reach its first stop (loud)


@dataclass
class Session:
    options: dict[str, Any]
    machine: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # "py|workload|scale" -> Events
    startup: dict[str, dict[str, Any]] = field(default_factory=dict)  # py -> Startup fields
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # py -> tracer -> version
    opens: list[OpenCell] = field(default_factory=list)  # replay-server open of the traces (issue 17)

    def cell(self, python: str, workload: str, tracer: str, scale: float) -> Cell | None:
        for c in self.cells:
            if (c.python, c.workload, c.tracer, c.scale) == (python, workload, tracer, scale):
                return c
        return None

    def open_cell(self, python: str, workload: str, fmt: str) -> OpenCell | None:
        for o in self.opens:
            if (o.python, o.workload, o.format) == (python, workload, fmt):
                return o
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        cells = [Cell(**{**c, "runs": [Run(**r) for r in c["runs"]]}) for c in data.get("cells", [])]
        opens = [OpenCell(**{**o, "runs": [OpenRun(**r) for r in o["runs"]]}) for o in data.get("opens", [])]
        return cls(
            data["options"],
            data["machine"],
            cells,
            data.get("events", {}),
            data.get("startup", {}),
            data.get("versions", {}),
            opens,
        )


def events_key(python: str, workload: str, scale: float) -> str:
    return f"{python}|{workload}|{scale!r}"
