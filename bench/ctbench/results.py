"""What one benchmark session measured: per interpreter, workload, tracer
and scale, the list of runs (or why there are none). Serialisable to JSON
(bench/out/results.json) so a report can be re-rendered without re-running."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Run",
    "Cell",
    "OpenRun",
    "OpenCell",
    "SuiteRun",
    "TraceFacts",
    "SuiteResult",
    "Session",
    "events_key",
    "REFERENCE",
    "is_reference",
    "workload_stem",
]

#: The prefix of a reference workload's name in a session (a w_*.py of the
#: reference folder, ../shared/bench/workloads): its cells, events and opens
#: never mix with those of the project's workload of the same file name.
REFERENCE = "ref/"


def is_reference(workload: str) -> bool:
    return workload.startswith(REFERENCE)


def workload_stem(workload: str) -> str:
    """The workload's file stem, without the reference prefix."""
    return workload.removeprefix(REFERENCE)


@dataclass
class Run:
    main_s: float  # from ANCHOR_RESULT
    wall_s: float  # whole process
    maxrss_kb: int
    check: str
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_s: float | None = None  # user + system of the process and the children it waited for (wait4)


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
    cpu_s: float | None = None  # the server's user + system seconds


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
class SuiteRun:
    """One run of the whole pytest process of the test suite (testsuite.py)."""

    wall_s: float
    cpu_s: float  # user + system
    maxrss_kb: int


@dataclass
class TraceFacts:
    """One trace of a test run, as the recorder describes it (tests.json or
    trace_metadata.json): its steps, trace.ct size and replay estimate."""

    id: str
    folder: str | None
    steps: int | None
    trace_bytes: int | None
    estimate_bytes: int | None = None  # replay_estimate.memory_bytes
    estimate_s: float | None = None  # replay_estimate.open_seconds


@dataclass
class SuiteResult:
    """The test suite on one interpreter: plain, one trace per test and one
    trace, and the replay-server opening the largest per-test traces."""

    python: str
    runs: dict[str, list[SuiteRun]] = field(default_factory=dict)  # mode -> runs
    summary: str | None = None  # pytest's last line, without its time ("4 failed, 1196 passed")
    exit_status: int | None = None
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> tests (tests.json)
    traces: int = 0  # per-test run: traces written (tests, session, between)
    steps: int = 0  # per-test run: steps of all its traces
    trace_bytes: int = 0  # per-test run: trace.ct bytes of all its traces
    largest: TraceFacts | None = None  # the per-test trace with the most steps
    opened: list[TraceFacts] = field(default_factory=list)  # the per-test traces opened, as opens[i]
    opens: list[OpenCell] = field(default_factory=list)
    single: TraceFacts | None = None
    single_open: OpenCell | None = None
    missing: str | None = None  # not runnable here (n/a): no wheel, no pytest
    failed: str | None = None  # ran and failed (loud)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SuiteResult:
        def facts(f: dict[str, Any] | None) -> TraceFacts | None:
            return None if f is None else TraceFacts(**f)

        def open_cell(o: dict[str, Any] | None) -> OpenCell | None:
            return None if o is None else OpenCell(**{**o, "runs": [OpenRun(**r) for r in o["runs"]]})

        return cls(
            **{
                **d,
                "runs": {m: [SuiteRun(**r) for r in rs] for m, rs in d.get("runs", {}).items()},
                "largest": facts(d.get("largest")),
                "opened": [TraceFacts(**f) for f in d.get("opened", [])],
                "opens": [open_cell(o) for o in d.get("opens", [])],
                "single": facts(d.get("single")),
                "single_open": open_cell(d.get("single_open")),
            }
        )


@dataclass
class Session:
    options: dict[str, Any]
    machine: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # "py|workload|scale" -> Events
    startup: dict[str, dict[str, Any]] = field(default_factory=dict)  # py -> Startup fields
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # py -> tracer -> version
    opens: list[OpenCell] = field(default_factory=list)  # replay-server open of the traces
    testsuite: list[SuiteResult] = field(default_factory=list)  # the test suite recorded

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
        suites = [SuiteResult.from_json(t) for t in data.get("testsuite", [])]
        return cls(
            data["options"],
            data["machine"],
            cells,
            data.get("events", {}),
            data.get("startup", {}),
            data.get("versions", {}),
            opens,
            suites,
        )


def events_key(python: str, workload: str, scale: float) -> str:
    return f"{python}|{workload}|{scale!r}"
