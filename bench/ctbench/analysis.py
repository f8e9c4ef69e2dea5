"""From runs to figures: medians of each cell, compared with the plain run
of the same interpreter, workload and scale (measured in the same session),
and the goals (docs/performance.md "Goals")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import stats
from .results import Cell, OpenCell, Session, SuiteResult, TraceFacts, events_key
from .tracers import TRACERS

__all__ = [
    "Figures",
    "figures",
    "geomeans",
    "Goal",
    "goals",
    "GOAL_LIMITS",
    "OpenFigures",
    "open_figures",
    "OpenedTrace",
    "SuiteFigures",
    "suite_figures",
    "suite_goals",
    "twin_goals",
    "TWINS",
    "stage_medians",
]

GOAL_LIMITS = {
    "inrun_ratio": 5.0,
    "inrun_worst": 8.0,
    "upstream_speedup": 100.0,
    "kept_fraction": 0.25,
    "none_vs_floor": 2.0,
    "rss_mb": 64.0,
    "startup_ms": 30.0,
    "portable_vs_inplace": 3.0,
    "ctfs_whole_ratio": 5.0,
    "ctfs_whole_worst": 10.0,
    "twin_ratio": 1.2,
    "ctfs_fraction": 0.05,
    "ctfs_open_ratio": 0.1,
    "suite_open_s": 2.0,
    "suite_open_gb": 1.0,
}

#: Workloads whose ns/event must stay within GOAL_LIMITS["twin_ratio"] of
#: their single-threaded twin's (the same work in the main thread of one
#: process; bench/workloads): what recording threads and forked workers costs.
TWINS = {"w_threads": "w_threads_twin", "w_procpool": "w_procpool_twin"}


@dataclass(frozen=True)
class Figures:
    cell: Cell
    events_main: int | None
    events_total: int | None
    main_s: float | None
    inrun_s: float | None  # main() (+ drain_seconds for ours)
    wall_s: float | None  # whole process, for ours: end-to-end to a finished trace.json
    ratio_inrun: float | None
    ratio_wall: float | None
    ns_inrun: float | None  # (in-run - plain main()) / main events
    ns_wall: float | None  # (whole - plain whole) / all events
    ns_cpu: float | None  # (CPU seconds - plain's) / all events; the process tree's, from wait4
    rss_mb: float | None
    rss_delta_mb: float | None
    convert_s: float | None
    trace_bytes: float | None  # trace.json (ours, upstream)
    kept_bytes: float | None  # ours: compact in-run stream; record8: the records
    output_bytes: float | None  # other tracers' output file
    trace_b_ev: float | None
    kept_b_ev: float | None
    output_b_ev: float | None
    mb_s: float | None  # trace.json bytes / convert_seconds


def _med(cell: Cell, key: str) -> float | None:
    return stats.median(r.extra.get(key) for r in cell.runs)


def stage_medians(cell: Cell) -> dict[str, float | None]:
    """Per `*_seconds` key of the recorder's timings (tracers.read_ours), its
    median over the runs, in the order the recorder wrote them."""
    keys = dict.fromkeys(k for r in cell.runs for k in (r.extra.get("stages") or {}))
    return {k: stats.median((r.extra.get("stages") or {}).get(k) for r in cell.runs) for k in keys}


def figures(session: Session, cell: Cell) -> Figures:
    ev = session.events.get(events_key(cell.python, cell.workload, cell.scale), {})
    plain = session.cell(cell.python, cell.workload, "plain", cell.scale)
    ok = cell.runs and not cell.failed
    p_runs = plain.runs if plain is not None and not plain.failed else []
    main_s = stats.median(r.main_s for r in cell.runs) if ok else None
    wall_s = stats.median(r.wall_s for r in cell.runs) if ok else None
    rss_kb = stats.median(r.maxrss_kb for r in cell.runs) if ok else None
    p_main = stats.median(r.main_s for r in p_runs) if p_runs else None
    p_wall = stats.median(r.wall_s for r in p_runs) if p_runs else None
    cpu_s = stats.median(r.cpu_s for r in cell.runs) if ok else None
    p_cpu = stats.median(r.cpu_s for r in p_runs) if p_runs else None
    p_rss = stats.median(r.maxrss_kb for r in p_runs) if p_runs else None
    family = TRACERS[cell.tracer].family if cell.tracer in TRACERS else cell.tracer
    # (the thread traces are finished after the drain: docs/recorder.md "Threads")
    drain = _med(cell, "drain_s")
    inrun = stats.add(main_s, drain) if family == "ours" else main_s
    ev_main, ev_total = ev.get("main"), ev.get("total")
    trace_bytes, kept = _med(cell, "trace_bytes"), _med(cell, "stream_bytes")
    output = _med(cell, "output_bytes")
    if cell.tracer == "floor-record8":
        kept, output = output, None
    rss_mb = None if rss_kb is None else rss_kb / 1024
    return Figures(
        cell=cell,
        events_main=ev_main,
        events_total=ev_total,
        main_s=main_s,
        inrun_s=inrun,
        wall_s=wall_s,
        ratio_inrun=stats.ratio(inrun, p_main),
        ratio_wall=stats.ratio(wall_s, p_wall),
        ns_inrun=stats.ns_per_event(inrun, p_main, ev_main),
        ns_wall=stats.ns_per_event(wall_s, p_wall, ev_total),
        ns_cpu=stats.ns_per_event(cpu_s, p_cpu, ev_total),
        rss_mb=rss_mb,
        rss_delta_mb=None if rss_mb is None or p_rss is None else rss_mb - p_rss / 1024,
        convert_s=_med(cell, "convert_s"),
        trace_bytes=trace_bytes,
        kept_bytes=kept,
        output_bytes=output,
        trace_b_ev=stats.per_event(trace_bytes, ev_total),
        kept_b_ev=stats.per_event(kept, ev_total),
        output_b_ev=stats.per_event(output, ev_total),
        mb_s=stats.mb_per_s(trace_bytes, _med(cell, "convert_s")),
    )


@dataclass(frozen=True)
class OpenFigures:
    """One workload's trace opened in the replay-server, both formats: medians
    of the runs, and ct over json (None where either is not measured)."""

    workload: str
    json: OpenCell | None
    ct: OpenCell | None
    json_s: float | None
    json_mb: float | None
    ct_s: float | None
    ct_mb: float | None
    ratio_s: float | None
    ratio_mb: float | None


def _open_medians(cell: OpenCell | None) -> tuple[float | None, float | None]:
    if cell is None or not cell.runs or cell.failed or cell.not_opened:
        return None, None
    kb = stats.median(r.peak_kb for r in cell.runs)
    return stats.median(r.seconds for r in cell.runs), None if kb is None else kb / 1024


def open_figures(session: Session, python: str) -> list[OpenFigures]:
    """Per workload (in the order measured) of one interpreter."""
    out = []
    for workload in dict.fromkeys(o.workload for o in session.opens if o.python == python):
        j, c = session.open_cell(python, workload, "json"), session.open_cell(python, workload, "ct")
        (js, jm), (cs, cm) = _open_medians(j), _open_medians(c)
        out.append(OpenFigures(workload, j, c, js, jm, cs, cm, stats.ratio(cs, js), stats.ratio(cm, jm)))
    return out


def geomeans(figs: list[Figures]) -> dict[str, float | None]:
    return {
        "ratio_inrun": stats.geomean(f.ratio_inrun for f in figs),
        "ratio_wall": stats.geomean(f.ratio_wall for f in figs),
    }


@dataclass(frozen=True)
class Goal:
    python: str
    name: str
    limit: str
    measured: float | None
    met: bool | None  # None: not measurable in this session

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "NOT met")


def _worst(values: list[float | None], *, high: bool = True) -> float | None:
    present = [v for v in values if v is not None]
    if not values or len(present) != len(values):
        return None
    return max(present) if high else min(present)


def _limit(python: str, name: str, limit: float, value: float | None, *, at_least: bool = False) -> Goal:
    sign = ">=" if at_least else "<="
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return Goal(python, name, f"{sign} {limit:g}x", value, met)


def twin_goals(python: str, figs: dict[tuple[str, str], Figures]) -> list[Goal]:
    """Of full-fidelity recording (ours-ctfs, else ours-locals), each
    workload of TWINS over its twin: ns/event in main() (wall: what the
    program waits), and CPU ns/event of the whole process tree (what the
    recording costs whichever core it ran on: a pool's workers fill both
    cores of a 2-core machine, where the twin's converter has one to
    itself); figs: the project's workloads."""
    tracer = "ours-ctfs" if any(t == "ours-ctfs" for t, _ in figs) else "ours-locals"
    out = []
    for workload, twin in TWINS.items():
        if not any(w in (workload, twin) for _, w in figs):
            continue
        a, b = figs.get((tracer, workload)), figs.get((tracer, twin))
        for what, key in (("in-run ns/event", "ns_inrun"), ("CPU ns/event (process tree)", "ns_cpu")):
            ns_a, ns_b = (None if f is None else getattr(f, key) for f in (a, b))
            r = None if ns_a is None or ns_b is None or ns_b <= 0 else ns_a / ns_b
            out.append(_limit(python, f"{what}, {workload} / {twin} ({tracer})", GOAL_LIMITS["twin_ratio"], r))
    return out


def goals(session: Session, python: str, figs: dict[tuple[str, str], Figures]) -> list[Goal]:
    """The goals (docs/performance.md "Goals") for one interpreter; figs maps
    (tracer, workload) -> Figures of the workloads judged (the reference set
    when the session ran it)."""
    limits = GOAL_LIMITS
    workloads = sorted({w for _, w in figs})

    def col(tracer: str, attr: str) -> list[Any]:
        return [getattr(figs[(tracer, w)], attr) if (tracer, w) in figs else None for w in workloads]

    # Full fidelity (--values=locals), the default format (trace.ct) when measured.
    full = "ours-ctfs" if any(t == "ours-ctfs" for t, _ in figs) else "ours-locals"
    inrun = col(full, "ratio_inrun")
    out = [
        _limit(python, f"in-run geo-mean, {full} / plain", limits["inrun_ratio"], stats.geomean(inrun)),
        _limit(python, f"in-run, {full} / plain (worst workload)", limits["inrun_worst"], _worst(inrun)),
    ]
    up = col("upstream", "ns_inrun")
    ours = col("ours-locals", "ns_inrun")
    speed = [None if u is None or o is None or o <= 0 else u / o for u, o in zip(up, ours, strict=True)]
    s = _worst(speed, high=False)
    out.append(
        Goal(
            python,
            "fewer ns/event than upstream 0.3.0 (worst workload)",
            f">= {limits['upstream_speedup']:g}x",
            s,
            None if s is None else s >= limits["upstream_speedup"],
        )
    )
    frac = [
        None if k is None or t in (None, 0) else k / t
        for k, t in zip(col("ours-locals", "kept_bytes"), col("ours-locals", "trace_bytes"), strict=True)
    ]
    f = _worst(frac)
    out.append(
        Goal(
            python,
            "kept in-run bytes / trace.json bytes (worst workload)",
            f"<= {limits['kept_fraction']:g}",
            f,
            None if f is None else f <= limits["kept_fraction"],
        )
    )
    nv = [
        None if n is None or r in (None, 0) or r <= 0 else n / r
        for n, r in zip(col("ours-none", "ns_inrun"), col("floor-record8", "ns_inrun"), strict=True)
    ]
    n = _worst(nv)
    out.append(
        Goal(
            python,
            "ns/event --values=none / 8-byte-record floor (worst)",
            f"<= {limits['none_vs_floor']:g}x",
            n,
            None if n is None else n <= limits["none_vs_floor"],
        )
    )
    inplace, portable = (
        stats.geomean(col("ours-locals", "ratio_inrun")),
        stats.geomean(col("ours-portable", "ratio_inrun")),
    )
    p = None if inplace is None or portable is None or inplace <= 0 else portable / inplace
    out.append(
        Goal(
            python,
            "portable path / in place: in-run geo-mean of ours-portable / ours-locals",
            f"<= {limits['portable_vs_inplace']:g}x",
            p,
            None if p is None else p <= limits["portable_vs_inplace"],
        )
    )
    rss = _worst([v for t in ("ours-none", "ours-args", "ours-locals") for v in col(t, "rss_delta_mb")])
    out.append(
        Goal(
            python,
            "peak RSS above plain, MB (worst of ours)",
            f"<= {limits['rss_mb']:g}",
            rss,
            None if rss is None else rss <= limits["rss_mb"],
        )
    )
    # The trace.ct goals: end to end to a finished trace.ct, and its size against trace.json's (same values).
    if any(t == "ours-ctfs" for t, _ in figs):
        whole = col("ours-ctfs", "ratio_wall")
        out += [
            _limit(
                python,
                "end to end to a finished trace.ct, geo-mean / plain",
                limits["ctfs_whole_ratio"],
                stats.geomean(whole),
            ),
            _limit(
                python,
                "end to end to a finished trace.ct / plain (worst workload)",
                limits["ctfs_whole_worst"],
                _worst(whole),
            ),
        ]
        ct = [
            None if c is None or j in (None, 0) else c / j
            for c, j in zip(col("ours-ctfs", "trace_bytes"), col("ours-locals", "trace_bytes"), strict=True)
        ]
        c = _worst(ct)
        out.append(
            Goal(
                python,
                "trace.ct bytes / trace.json bytes (worst workload)",
                f"<= {limits['ctfs_fraction']:g}",
                c,
                None if c is None else c <= limits["ctfs_fraction"],
            )
        )
        # Goal 3: opening the trace.ct in the replay-server against opening the trace.json.
        opened = open_figures(session, python)
        for attr, what in (("ratio_s", "time"), ("ratio_mb", "peak memory")):
            known = [getattr(o, attr) for o in opened if getattr(o, attr) is not None]
            r = max(known) if known else None
            out.append(
                Goal(
                    python,
                    f"replay-server open {what} ct/json (worst workload)",
                    f"<= {limits['ctfs_open_ratio']:g}",
                    r,
                    None if r is None else r <= limits["ctfs_open_ratio"],
                )
            )
    st = session.startup.get(python, {})
    added = [st.get("version_added_ms"), st.get("record_added_ms")]
    a = _worst(added)
    out.append(
        Goal(
            python,
            "start-up added, ms (--version / empty script, worst)",
            f"<= {limits['startup_ms']:g}",
            a,
            None if a is None else a <= limits["startup_ms"],
        )
    )
    return out


@dataclass(frozen=True)
class OpenedTrace:
    """One per-test trace of the test suite opened in the replay-server:
    medians, and per step, both over all its steps and above the smallest
    opened trace (whose open is the server's fixed cost)."""

    facts: TraceFacts
    cell: OpenCell
    seconds: float | None
    mb: float | None
    cpu_s: float | None
    b_step: float | None  # peak bytes / steps
    s_step: float | None  # open seconds / steps
    above_b_step: float | None  # (peak - smallest's peak) / (steps - smallest's steps)
    above_s_step: float | None
    estimate_b_step: float | None  # the recorder's replay_estimate / steps
    estimate_s_step: float | None


@dataclass(frozen=True)
class SuiteFigures:
    result: SuiteResult
    wall_s: dict[str, float | None]  # mode -> median of the whole pytest process
    cpu_s: dict[str, float | None]
    rss_mb: dict[str, float | None]
    ratio: dict[str, float | None]  # mode -> wall / plain wall
    cpu_ratio: dict[str, float | None]  # mode -> CPU / plain CPU (less moved by other work on the machine)
    opened: list[OpenedTrace]
    worst_s: float | None  # the slowest open of the opened per-test traces
    worst_mb: float | None  # the largest peak of them
    all_opened: bool  # every chosen per-test trace opened (none over the memory limit)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def suite_figures(res: SuiteResult) -> SuiteFigures:
    def med(mode: str, attr: str) -> float | None:
        return stats.median(getattr(r, attr) for r in res.runs.get(mode, []))

    wall = {m: med(m, "wall_s") for m in res.runs}
    rss = {m: None if (v := med(m, "maxrss_kb")) is None else v / 1024 for m in res.runs}
    rows = []
    for facts, cell in zip(res.opened, res.opens, strict=False):
        secs, mb = _open_medians(cell)
        cpu = stats.median(r.cpu_s for r in cell.runs) if secs is not None else None
        rows.append((facts, cell, secs, mb, cpu))
    base = rows[-1] if len(rows) > 1 and rows[-1][2] is not None else None  # the smallest, opened last
    opened = []
    for i, (facts, cell, secs, mb, cpu) in enumerate(rows):
        peak_b = None if mb is None else mb * 2**20
        above_b = above_s = None
        if (
            base is not None
            and i < len(rows) - 1
            and facts.steps
            and base[0].steps is not None
            and facts.steps > base[0].steps
            and peak_b is not None
            and secs is not None
            and base[2] is not None
            and base[3] is not None
        ):
            span = facts.steps - base[0].steps
            above_b = (peak_b - base[3] * 2**20) / span
            above_s = (secs - base[2]) / span
        opened.append(
            OpenedTrace(
                facts,
                cell,
                secs,
                mb,
                cpu,
                _div(peak_b, facts.steps),
                _div(secs, facts.steps),
                above_b,
                above_s,
                _div(facts.estimate_bytes, facts.steps),
                _div(facts.estimate_s, facts.steps),
            )
        )
    measured = [o for o in opened if o.seconds is not None]
    cpu_s = {m: med(m, "cpu_s") for m in res.runs}
    return SuiteFigures(
        res,
        wall,
        cpu_s,
        rss,
        {m: stats.ratio(w, wall.get("plain")) for m, w in wall.items()},
        {m: stats.ratio(c, cpu_s.get("plain")) for m, c in cpu_s.items()},
        opened,
        max((o.seconds for o in measured if o.seconds is not None), default=None),
        max((o.mb for o in measured if o.mb is not None), default=None),
        bool(opened) and all(o.cell.not_opened is None and o.cell.failed is None for o in opened),
    )


def suite_goals(f: SuiteFigures) -> list[Goal]:
    """Every per-test trace of the suite opens in <= 2 s and <= 1 GB, judged
    on the worst of the opened ones (the largest by steps). A trace that did
    not open within --open-max-gb misses both; a failed open makes them n/a."""
    limits = GOAL_LIMITS
    failed = any(o.cell.failed for o in f.opened) or not f.opened
    over = any(o.cell.not_opened for o in f.opened)
    gb = None if f.worst_mb is None else f.worst_mb / 1024

    def verdict(value: float | None, limit: float) -> bool | None:
        if failed:
            return None
        if over:
            return False
        return None if value is None else value <= limit

    py = f.result.python
    return [
        Goal(
            py,
            "test suite: per-test trace open time, replay-server (worst opened)",
            f"<= {limits['suite_open_s']:g} s",
            f.worst_s,
            verdict(f.worst_s, limits["suite_open_s"]),
        ),
        Goal(
            py,
            "test suite: per-test trace open peak memory, GB (worst opened)",
            f"<= {limits['suite_open_gb']:g} GB",
            gb,
            verdict(gb, limits["suite_open_gb"]),
        ),
    ]
