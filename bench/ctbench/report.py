"""The tables: markdown for docs/performance.md, also printed on the console."""

from __future__ import annotations

from collections.abc import Sequence

from . import stats
from .analysis import (
    Figures,
    Goal,
    SuiteFigures,
    figures,
    geomeans,
    goals,
    open_figures,
    stage_medians,
    suite_figures,
    suite_goals,
    twin_goals,
)
from .results import Cell, OpenCell, Session, SuiteResult, is_reference, workload_stem
from .testsuite import PYTEST_ARGS, SUITE
from .tracers import TRACERS

__all__ = ["markdown_table", "fmt", "render", "render_testsuite"]

NA = "n/a"


def fmt(value: float | None, kind: str) -> str:
    """One figure as text: kind x (ratio), ns, s, mb, b (bytes/event), f (plain)."""
    if value is None:
        return NA
    if kind == "x":
        return f"{value:.2f}×"
    if kind == "ns":
        return f"{value:,.0f}"
    if kind == "s":
        return f"{value:.3f}"
    if kind == "mb":
        return f"{value:.1f}"
    if kind == "b":
        return f"{value:.1f}"
    return f"{value:.3g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rss(f: Figures) -> str:
    if f.rss_mb is None:
        return NA
    delta = "" if f.rss_delta_mb is None or f.cell.tracer == "plain" else f" ({f.rss_delta_mb:+.1f})"
    return f"{f.rss_mb:.1f}{delta}"


def _b(v: float) -> str:
    return f"{v:,.1f}" if v >= 1 else f"{v:.3f}"


def _bytes_per_event(f: Figures) -> str:
    """Bytes per monitoring event (our count, the same divisor for every tracer)."""
    parts = []
    if f.kept_b_ev is not None:
        parts.append(f"kept {_b(f.kept_b_ev)}")
    if f.trace_b_ev is not None:
        tracer = TRACERS.get(f.cell.tracer)
        parts.append(f"{tracer.trace_file if tracer else 'trace.json'} {_b(f.trace_b_ev)}")
    if f.output_b_ev is not None:
        parts.append(f"output {_b(f.output_b_ev)}")
    if not parts and TRACERS.get(f.cell.tracer) and TRACERS[f.cell.tracer].family == "ours":
        return NA
    return ", ".join(parts) if parts else "—"


#: The two sets of workloads a session can hold: (reference?, heading).
SETS = ((True, "reference workloads"), (False, "the project's workloads"))


def _sets(session: Session) -> list[tuple[bool, str]]:
    """The sets the session measured, the reference set first."""
    return [(ref, title) for ref, title in SETS if any(is_reference(c.workload) == ref for c in session.cells)]


def _stage_table(cells: list[Cell]) -> str | None:
    """Our recorder's stage timings (every `*_seconds` key of its
    trace_metadata.json `timings`), medians per tracer and workload."""
    rows = [(c, stage_medians(c)) for c in cells if c.runs and not c.failed]
    rows = [(c, st) for c, st in rows if st]
    if not rows:
        return None
    keys = list(dict.fromkeys(k for _, st in rows for k in st))
    return markdown_table(
        ["tracer", "workload", *(k.removesuffix("_seconds") + " s" for k in keys)],
        [[c.tracer, workload_stem(c.workload), *(fmt(st.get(k), "s") for k in keys)] for c, st in rows],
    )


def _python_section(
    session: Session, python: str, notes: list[str], reference: bool = False, title: str = ""
) -> tuple[str, dict[tuple[str, str], Figures]]:
    cells = [c for c in session.cells if c.python == python and is_reference(c.workload) == reference]
    figs: dict[tuple[str, str], Figures] = {}
    rows: list[list[str]] = []
    for c in cells:
        label = c.tracer
        if c.missing:
            notes.append(f"CPython {python}, {c.tracer}: n/a — {c.missing}")
            if not any(r[0] == label and r[1] == "all" for r in rows):
                rows.append([label, "all", NA] + [NA] * 8)
            continue
        if c.failed:
            notes.append(f"CPython {python}, {c.tracer} on {c.workload}: FAILED — {c.failed}")
            rows.append([label, workload_stem(c.workload), f"{c.scale:g}"] + ["FAILED"] + [NA] * 7)
            continue
        f = figures(session, c)
        figs[(c.tracer, c.workload)] = f
        events = NA if f.events_main is None else f"{f.events_main:,} / {f.events_total:,}"
        rows.append(
            [
                label,
                workload_stem(c.workload),
                f"{c.scale:g}",
                events,
                fmt(f.ratio_inrun, "x"),
                fmt(f.ns_inrun, "ns"),
                fmt(f.ratio_wall, "x"),
                fmt(f.ns_wall, "ns"),
                fmt(f.mb_s, "mb"),
                _bytes_per_event(f),
                _rss(f),
            ]
        )
    rows.sort(key=lambda r: r[1] == "all")  # the n/a tracers after the measured ones
    header = [
        "tracer",
        "workload",
        "scale",
        "events (main / all)",
        "in-run ×",
        "in-run ns/event",
        "whole ×",
        "whole ns/event",
        "trace.json MB/s",
        "bytes/event",
        "peak RSS MB (Δ plain)",
    ]
    summary = []
    for name in dict.fromkeys(c.tracer for c in cells):
        fs = [f for (t, _), f in figs.items() if t == name]
        if not fs or name == "plain":
            continue
        g = geomeans(fs)
        summary.append(
            [
                name,
                TRACERS[name].label if name in TRACERS else name,
                str(len(fs)),
                fmt(g["ratio_inrun"], "x"),
                fmt(g["ratio_wall"], "x"),
            ]
        )
    parts = [
        f"## CPython {python}" + (f", {title}" if title else ""),
        "Geo-mean over the workloads (each ratio against plain python at the same scale):",
        markdown_table(["tracer", "what", "workloads", "in-run ×", "whole ×"], summary),
        "Per workload (medians of the runs):",
        markdown_table(header, rows),
    ]
    stages = _stage_table(cells)
    if stages:
        parts += [
            "Our recorder's stages (every `*_seconds` of `timings` in trace_metadata.json, summed over a "
            "recording's traces; medians of the runs):",
            stages,
        ]
    return "\n\n".join(parts), figs


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _open_cell(cell: OpenCell | None, seconds: float | None, mb: float | None) -> str:
    if cell is None:
        return NA
    if cell.failed:
        return "FAILED"
    if cell.not_opened:
        return cell.not_opened
    return f"{fmt(seconds, 's')} / {NA if mb is None else f'{mb:,.0f}'}"


def _size_mb(cell: OpenCell | None) -> str:
    return NA if cell is None or cell.trace_bytes is None else f"{cell.trace_bytes / 1e6:,.1f}"


def _open_section(session: Session, notes: list[str]) -> str | None:
    """Opening each workload's trace in CodeTracer's replay-server (docs/ctfs.md),
    or why it was not measured; None when the session did not ask for it."""
    o = session.options.get("open")
    if not o:
        return None
    parts = ["## Opening the trace in CodeTracer's replay-server"]
    if o.get("skipped"):
        notes.append(f"replay-server open: {o['skipped']}")
        return "\n\n".join([*parts, f"Not measured: {o['skipped']}."])
    parts.append(
        "Wall seconds from spawning `replay-server dap-server --stdio` to its first stop on the trace, and the "
        f"server's peak RSS (`/usr/bin/time -v`), medians of {o.get('runs', '?')} open(s) of the trace folder of "
        f"a run of `ours-locals` (trace.json) and `ours-ctfs` (trace.ct) at scale {_num(o.get('scale'))}. "
        "A trace.json above "
        f"{_num(o.get('json_max_mb'))} MB is not opened (the server loads JSON whole, at 60-110x its size in "
        f"memory), nor is a trace whose open needs more than {_num(o.get('max_gb'))} GB of address space. The goal "
        "rows take the worst workload among those where both opened; docs/ctfs.md says why this replay-server "
        "build cannot reach 1/10."
    )
    for py in session.options["pythons"]:
        rows = []
        for f in open_figures(session, py):
            rows.append(
                [
                    f.workload,
                    _size_mb(f.json),
                    _open_cell(f.json, f.json_s, f.json_mb),
                    _size_mb(f.ct),
                    _open_cell(f.ct, f.ct_s, f.ct_mb),
                    fmt(f.ratio_s, "f"),
                    fmt(f.ratio_mb, "f"),
                ]
            )
            for cell in (f.json, f.ct):
                if cell is not None and cell.failed:
                    notes.append(
                        f"CPython {py}, replay-server open of {f.workload} ({cell.format}): FAILED — {cell.failed}"
                    )
        if rows:
            parts += [
                f"CPython {py}:",
                markdown_table(
                    [
                        "workload",
                        "trace.json MB",
                        "json open s / peak MB",
                        "trace.ct MB",
                        "ct open s / peak MB",
                        "time ct/json",
                        "peak memory ct/json",
                    ],
                    rows,
                ),
            ]
    return "\n\n".join(parts)


SUITE_MODES = {"plain": "plain pytest", "per-test": "one trace per test", "single": "one trace (`--single-trace`)"}


def _goal_table(pythons: list[str], goals_by_py: dict[str, list[Goal]]) -> str:
    rows: dict[str, list[str]] = {}
    limits: dict[str, str] = {}
    for py in pythons:
        for g in goals_by_py.get(py, []):
            limits[g.name] = g.limit
            rows.setdefault(g.name, []).append(
                NA
                if g.measured is None and g.met is None
                else f"{NA if g.measured is None else f'{g.measured:.3g}'} ({g.verdict})"
            )
    return markdown_table(
        ["goal", "limit", *[f"CPython {p}" for p in pythons]], [[n, limits[n], *v] for n, v in rows.items()]
    )


def _int(v: int | None) -> str:
    return NA if v is None else f"{v:,}"


def _per_step(b: float | None, s: float | None) -> tuple[str, str]:
    return (NA if b is None else f"{b:,.0f}"), (NA if s is None else f"{s * 1e6:,.1f}")


def _suite_tables(f: SuiteFigures, notes: list[str]) -> list[str]:
    r = f.result
    out = [f"CPython {r.python}:"]
    if r.missing:
        notes.append(f"CPython {r.python}, test suite: n/a — {r.missing}")
        return [*out, f"n/a: {r.missing}"]
    if r.failed:
        notes.append(f"CPython {r.python}, test suite: FAILED — {r.failed}")
        return [*out, f"FAILED: {r.failed}"]
    single = r.single
    rows = []
    for mode, label in SUITE_MODES.items():
        traces = steps = size = NA
        if mode == "per-test":
            traces, steps, size = f"{r.traces:,}", f"{r.steps:,}", f"{r.trace_bytes / 1e6:,.1f}"
        elif mode == "single" and single is not None:
            traces, steps = "1", _int(single.steps)
            size = NA if single.trace_bytes is None else f"{single.trace_bytes / 1e6:,.1f}"
        rows.append(
            [
                label,
                fmt(f.wall_s.get(mode), "s"),
                fmt(f.ratio.get(mode), "x"),
                fmt(f.cpu_s.get(mode), "s"),
                fmt(f.cpu_ratio.get(mode), "x"),
                fmt(f.rss_mb.get(mode), "mb"),
                traces,
                steps,
                size,
            ]
        )
    out.append(
        markdown_table(
            ["run", "wall s", "× plain", "CPU s", "CPU × plain", "peak RSS MB", "traces", "steps", "trace.ct MB"], rows
        )
    )
    facts = []
    if r.largest is not None:
        facts.append(
            f"- largest per-test trace: `{r.largest.id}`, {_int(r.largest.steps)} steps, "
            f"{_int(r.largest.trace_bytes)} bytes of trace.ct"
        )
    if single is not None:
        est = (
            "no replay estimate"
            if single.estimate_bytes is None
            else f"replay estimate {single.estimate_bytes / 2**30:,.1f} GB and {single.estimate_s or 0:,.1f} s"
        )
        so = r.single_open
        opened = (
            ""
            if so is None
            else f"; {so.not_opened}"
            if so.not_opened
            else f"; open FAILED: {so.failed}"
            if so.failed
            else f"; opened in {fmt(stats.median(x.seconds for x in so.runs), 's')} s"
        )
        facts.append(
            f"- the single trace: {_int(single.steps)} steps, {_int(single.trace_bytes)} bytes of trace.ct, "
            f"{est}{opened}"
        )
    out.append("\n".join(facts))
    rows = []
    for o in f.opened:
        c = o.cell
        if c.failed:
            notes.append(
                f"CPython {r.python}, replay-server open of the test suite's {o.facts.id}: FAILED — {c.failed}"
            )
        kb = NA if o.facts.trace_bytes is None else f"{o.facts.trace_bytes / 1024:,.0f}"
        rows.append(
            [
                f"`{o.facts.id}`",
                _int(o.facts.steps),
                kb,
                _open_cell(c, o.seconds, o.mb),
                fmt(o.cpu_s, "s"),
                *_per_step(o.b_step, o.s_step),
                *_per_step(o.above_b_step, o.above_s_step),
                *_per_step(o.estimate_b_step, o.estimate_s_step),
            ]
        )
    if rows:
        out.append(
            markdown_table(
                [
                    "per-test trace",
                    "steps",
                    "trace.ct KB",
                    "open s / peak MB",
                    "open CPU s",
                    "B/step",
                    "µs/step",
                    "above the smallest: B/step",
                    "µs/step",
                    "estimate B/step",
                    "µs/step",
                ],
                rows,
            )
        )
    return out


def _suite_section(session: Session, notes: list[str]) -> str | None:
    """The test suite recorded (docs/test-runs.md), or None when it was not run."""
    results: list[SuiteResult] = session.testsuite
    if not results:
        return None
    o = session.options.get("testsuite", {})
    figs = {r.python: suite_figures(r) for r in results}
    ok = next((r for r in results if not r.failed and r.counts), None)
    if ok is not None:
        counts = ", ".join(f"{n:,} {k}" for k, n in ok.counts.items() if n)
        size = (
            f"{sum(ok.counts.values()):,} tests ({counts}), {ok.steps:,} steps recorded in all "
            f"(CPython {ok.python}, one trace per test)"
        )
    else:
        size = "no run finished"
    cmd = " ".join(PYTEST_ARGS)
    parts = [
        "## A test suite recorded",
        f"The suite `bench/programs/{SUITE.name}` (`test_ledger.py` on `ledger.py`, a few tests failing on purpose): "
        f"{size}. Plain `python -m pytest {cmd}` against `codetracer-python-recorder --out-dir OUT --format ctfs "
        f"--pytest {cmd}` (the default scope: the tests and the code under test), one trace per test (the default) "
        "and `--single-trace`: wall seconds of the whole pytest process, to finished traces, and its CPU seconds "
        f"(user + system), medians of {o.get('runs', '?')} run(s) after {o.get('warmup', '?')} warm-up run(s), the "
        "three interleaved in each round. The per-test traces with the most steps "
        f"({o.get('opens', '?')}) and the one with the fewest (the server's fixed cost) are opened in CodeTracer's "
        f"replay-server as in the section above, medians of {o.get('runs', '?')} open(s), under a limit of "
        f"{_num(o.get('max_gb'))} GB of address space; the single trace is opened only when its replay estimate "
        f"is under {_num(o.get('single_max_gb'))} GB. Per step: the open's peak memory and seconds over the "
        "trace's steps, the same above the smallest trace's (what each further step costs), and the recorder's "
        "replay estimate (`replay_estimate` of tests.json, `_replaycost.PER_STEP`).",
        _goal_table([r.python for r in results], {py: suite_goals(f) for py, f in figs.items()}),
    ]
    if o.get("skipped"):
        notes.append(f"test suite opens: {o['skipped']}")
        parts.append(f"Opens not measured: {o['skipped']}.")
    for r in results:
        parts += _suite_tables(figs[r.python], notes)
    return "\n\n".join(parts)


def render_testsuite(session: Session, command: str) -> str:
    """The test-suite section alone (`bench/run.py --only-testsuite`)."""
    notes: list[str] = []
    parts = [f"Generated by `{command}`.", _machine(session), _suite_section(session, notes) or "Not run."]
    if notes:
        parts += ["Not measured:", "\n".join(f"- {n}" for n in dict.fromkeys(notes))]
    return "\n\n".join(parts) + "\n"


def _machine(session: Session) -> str:
    m = session.machine
    lines = [
        f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory', '?')}, {m.get('os', '?')}",
        f"- date: {m.get('date', '?')}",
    ]
    if m.get("load"):  # a shared machine: other work slows the wall times down
        lines.append(f"- load average at the start (1 / 5 / 15 min): {m['load']}")
    for py, vers in session.versions.items():
        lines.append(f"- CPython {py}: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    return "\n".join(lines)


def render(session: Session, command: str) -> str:
    o = session.options
    notes: list[str] = []
    sections = []
    ref = o.get("reference") or {}
    measured = _sets(session)
    judged = next((r for r, _ in measured), False)  # the reference set when the session ran it
    figs_by: dict[tuple[str, bool], dict[tuple[str, str], Figures]] = {}
    for reference, title in measured or [(False, "")]:
        folder = ref.get("folder", "the reference folder") if reference else o.get("workloads", "bench/workloads")
        heading = f"{title} ({folder})" if len(measured) > 1 or reference else ""
        for py in o["pythons"]:
            text, figs = _python_section(session, py, notes, reference, heading)
            sections.append(text)
            figs_by[(py, reference)] = figs
    goal_rows = {
        py: goals(session, py, figs_by.get((py, judged), {})) + twin_goals(py, figs_by.get((py, False), {}))
        for py in o["pythons"]
    }
    goal_table = _goal_table(o["pythons"], goal_rows)
    if judged:
        judged_note = (
            f"The goal rows judge the reference workloads ({ref.get('folder', '?')}); the `w_threads` / "
            "`w_procpool` rows compare the project's workloads with their single-threaded twins."
        )
    else:
        why = "was not asked for (`--no-reference`)" if ref.get("why") == "--no-reference" else "is absent"
        judged_note = (
            f"**WARNING: the reference workloads folder {ref.get('folder', '(not recorded)')} {why}: the goal rows "
            "below judge the project's own workloads (bench/workloads), not the reference set.**"
        )
        notes.append(f"reference workloads: {ref.get('folder', '(not recorded)')} {why}; goals judged on ours")
    st_rows = []
    for py in o["pythons"]:
        st = session.startup.get(py)
        if not st:
            st_rows.append([py, NA, NA, NA, NA, NA, NA])
            continue

        def ms(v: float | None) -> str:
            return NA if v is None else f"{v * 1e3:.1f}"

        st_rows.append(
            [
                py,
                ms(st["python_s"]),
                ms(st["python_empty_s"]),
                ms(st.get("version_s")),
                ms(st.get("record_empty_s")),
                fmt(st.get("version_added_ms"), "mb"),
                fmt(st.get("record_added_ms"), "mb"),
            ]
        )
    startup = markdown_table(
        [
            "CPython",
            "python -c pass ms",
            "python empty.py ms",
            "--version ms",
            "record empty.py ms",
            "added by --version ms",
            "added by recording ms",
        ],
        st_rows,
    )
    scale_note = (
        f"Scale {o['scale']:g}"
        + (" (the default; `--scale 1` is the workloads' full size when the disk allows)" if o["scale"] == 0.1 else "")
        + f"; upstream 0.3.0 at scale {o['upstream_scale']:g}, against plain at that scale. "
        f"Medians of {o['runs']} runs after {o['warmup']} warm-up run(s), tracers interleaved."
    )
    parts = [
        "# Performance",
        f"Generated by `bench/run.py` (the recorder's speed). Reproduce with:\n\n```\n{command}\n```",
        scale_note,
        _machine(session),
        "## Goals",
        judged_note,
        goal_table,
        "## Start-up (hyperfine medians)",
        startup,
    ]
    opened = _open_section(session, notes)
    if opened:
        parts.append(opened)
    suite = _suite_section(session, notes)
    if suite:
        parts.append(suite)
    parts += sections
    if notes:
        parts += ["## Not measured", "\n".join(f"- {n}" for n in dict.fromkeys(notes))]
    parts += ["## Method", METHOD.strip()]
    return "\n\n".join(parts) + "\n"


METHOD = """
- Workloads: the reference workloads of `../shared/bench/workloads` (`--reference`; their README there) when
  that folder exists, and the project's own, `bench/workloads` (see bench/README.md), each run as the main
  script of a fresh process with `ANCHOR_SCALE` set; every run's `ANCHOR_RESULT` check value must equal plain
  python's, or the benchmark fails loudly. The two sets are kept apart (a reference workload's name in
  results.json is `ref/<stem>`) and get tables of their own; the goal rows judge the reference set, or, when
  its folder is absent (a bare clone) or `--no-reference` is given, the project's with a warning above them.
- Stages: every `*_seconds` key of `timings` in our recorder's `trace_metadata.json` (summed over a
  recording's thread and process traces), medians of the runs, whatever stages the recorder times.
- Events: LINE + PY_START + PY_RESUME + PY_RETURN + PY_YIELD, counted once per interpreter/workload/scale by
  the `_ctfloor` extension in mode `count` (cached in `bench/out/events.json`, beside `--json`). "main" events
  are those of running the script as `__main__` minus those of importing it (its `main()`); "all" is the whole
  program.
- in-run = `main()` seconds from `ANCHOR_RESULT` (+ `timings.drain_seconds` from our `trace_metadata.json`:
  flushing the in-run buffers at stop; the thread traces are finished after it, `threads_finish_seconds`);
  in-run ns/event = (in-run − plain `main()`) / main events.
- whole = the process from spawn to exit (for our recorder: end-to-end to a finished `trace.json`, or
  `trace.ct` for `ours-ctfs`, the CTFS format (docs/ctfs.md) with the same values as `ours-locals`); whole
  ns/event = (whole − plain whole) / all events. Peak RSS is the child's `ru_maxrss` from `wait4`; CPU
  ns/event = (user + system seconds of the process and the children it waited for, from `wait4`, − plain's) /
  all events: the whole recording (in-run, converters, forked workers) on whichever core it ran.
- trace.json MB/s = trace file bytes / `timings.convert_seconds`. bytes/event: kept = `stats.stream_bytes`
  (ours) or the 8-byte records (floor); trace.json / trace.ct = its size on disk; output = the tracer's own file;
  all divided by the "all" monitoring events above (not the recorder's own `stats.events`).
  Traces are deleted after each run.
- replay-server open: `bench/ctbench/replay_open.py` opens the kept trace folders of `ours-locals` and
  `ours-ctfs` over DAP (`initialize`, `launch`, `configurationDone`, the first `stopped`) under
  `/usr/bin/time -v` and `prlimit --as` (`--open-max-gb`), one open at a time after the workload's runs;
  `--no-open` skips it, `--replay-server` names the binary, `--open-json-max-mb` caps the trace.json it tries.
- Test suite (docs/test-runs.md): `bench/ctbench/testsuite.py` runs `bench/programs/suite` in a copy under
  `bench/out/work/` (pytest `-q -p no:cacheprovider`), plain, one trace per test and `--single-trace`, all
  `--format ctfs`, interleaved; wall and CPU seconds (`wait4`) of the whole process; steps and sizes from the
  recorder's `OUT/tests.json` and the single trace's `trace_metadata.json`; opens as above. `--no-testsuite`
  skips it, `--only-testsuite` runs it alone (`--testsuite-opens`, `--testsuite-single-max-gb`).
- Floors: `bench/floor/_ctfloor.c`, C `sys.monitoring` callbacks built with `cc` for each interpreter:
  `noop` returns None; `record8` appends an 8-byte record per event to a growable buffer written to a file at
  exit.
- Upstream `codetracer-python-recorder==0.3.0` exists only as a cp312 wheel (CPython 3.13: n/a) and is run at
  `--upstream-scale` because it is ~10⁴ ns/event; ns/event does not depend on the scale (w_objects: 37.6k,
  39.6k, 41.2k at 0.003, 0.01, 0.03). Upstream's ns/event moves between sessions far more than ours (most of
  its time is system time writing its trace): w_objects measured 57.3k on one day's earlier run and 35.9-37.6k
  later, with ours at 411-422 both times, so the "fewer ns/event than upstream" row moved from 136x to ~90x
  with no change on our side. Frozen tuples (docs/recorder.md, Trails) then cut ours on w_objects to ~377
  ns/event (about 98x). w_objects is the worst workload for it: its many impure lines each compare every
  local that holds objects.
- Goals: in-run and end to end judge full fidelity (`--values=locals`) to a trace.ct (`ours-ctfs`; in-run
  falls back to `ours-locals` when `ours-ctfs` is not run); "w_threads / w_threads_twin" and "w_procpool /
  w_procpool_twin" compare the in-run ns/event (wall: what the program waits) and the CPU ns/event (what the
  recording costs on whichever core it ran) of a threaded / process-pool workload with its twin's, the
  same work in the main thread of one process (bench/workloads). A workload and its twin are measured in
  the same rounds (each round runs both, every tracer) and at least 7 rounds (bench/run.py `TWIN_RUNS`):
  both last 9-30 ms of plain python at scale 0.1, and their ratio is judged at 1.2x. On 2 cores a forked
  worker hands its trace to the pool's parent instead of converting beside its run (docs/recorder.md,
  "Processes").
  "fewer ns/event than upstream" compares in-run ns/event of `--values=locals` with upstream's;
  "within 2x of the floor" compares in-run ns/event of `--values=none` with the 8-byte-record floor's.
  Absolute times on shared machines vary between sessions; compare rows of the same table. `main()` of
  w_mixed lasts only ~40 ms at scale 0.1, so its in-run ns/event carry tens of ns of noise (even below 0).
- Scale 1: `make bench BENCH_ARGS="--scale 1"`; our `--values=locals` trace.json alone is then ~15 GB for
  w_mixed (≈12 kB/event above), so check the free disk first. The tests of this harness are in `tests/bench/`
  (no timing assertions).
"""
