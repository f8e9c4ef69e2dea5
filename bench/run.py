#!/usr/bin/env python3
"""Benchmark the recorder against plain python, the C no-op and 8-byte-record
floors, viztracer and upstream codetracer-python-recorder 0.3.0 on the six
workloads of bench/workloads, on CPython 3.12 and 3.13 (the speed goals of docs/performance.md); and the
test suite of bench/programs/suite plain and recorded (testsuite.py).

Sets up its venvs under .venvs/bench-* (viztracer, our wheel from dist/, the
_ctfloor extension; upstream in .venvs/bench-upstream-312), runs everything,
prints the tables and writes them to docs/performance.md with the command
that reproduces them. Raw results go to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ctbench.analysis import TWINS
from ctbench.anchor import AnchorError, parse_anchor
from ctbench.dap import REPLAY_SERVER
from ctbench.envs import newest_wheel, setup_bench_env, setup_upstream_env
from ctbench.events import EventCache
from ctbench.proc import run_measured
from ctbench.replay_open import FORMATS, measure_open, server_missing
from ctbench.report import render, render_testsuite
from ctbench.results import REFERENCE, Cell, Run, Session, SuiteResult, events_key
from ctbench.startup import measure_startup
from ctbench.testsuite import SuiteOptions, run_suite
from ctbench.tracers import DEFAULT_TRACERS, TRACERS, Context, Tracer

REPO = Path(__file__).resolve().parent.parent
#: The reference workloads every tracer is compared on (../shared/bench/README.md),
#: beside the project's own when the folder exists.
REFERENCE_DIR = REPO.parent / "shared" / "bench" / "workloads"
DEFAULTS = {
    "scale": 0.1,
    "upstream_scale": 0.003,
    "runs": 5,
    "warmup": 1,
    "pythons": "3.12,3.13",
    "tracers": ",".join(DEFAULT_TRACERS),
    "out": "docs/performance.md",
    "testsuite_out": "bench/out/testsuite.md",
    "json": "bench/out/results.json",
    "testsuite_json": "bench/out/testsuite.json",
}


class CheckMismatch(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--scale",
        type=float,
        default=DEFAULTS["scale"],
        help="ANCHOR_SCALE of the workloads (1.0 = full size; traces can then be many GB)",
    )
    p.add_argument(
        "--upstream-scale",
        type=float,
        default=DEFAULTS["upstream_scale"],
        help="ANCHOR_SCALE for upstream 0.3.0, which is ~10^4 ns/event",
    )
    p.add_argument("--runs", type=int, default=DEFAULTS["runs"], help="measured runs per cell (medians)")
    p.add_argument("--warmup", type=int, default=DEFAULTS["warmup"], help="unmeasured runs before them")
    p.add_argument("--pythons", default=DEFAULTS["pythons"], help="comma-separated CPython versions (pyenv)")
    p.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help="run only this workload (w_recursion, recursion or w_recursion.py: in both sets; ref/recursion: the "
        "reference one alone; comma-separated, repeatable)",
    )
    p.add_argument(
        "--tracers",
        default=DEFAULTS["tracers"],
        help="comma-separated subset of: " + ", ".join(TRACERS) + " (plain is always run)",
    )
    p.add_argument(
        "--workloads", type=Path, default=REPO / "bench" / "workloads", help="folder of the w_*.py workloads"
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=REFERENCE_DIR,
        help="folder of the reference w_*.py workloads, run beside --workloads when it exists; the goal rows "
        "judge them (without it, the project's own workloads, said loudly)",
    )
    p.add_argument("--no-reference", action="store_true", help="do not run the reference workloads")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"markdown report to write (default: {DEFAULTS['out']}; with --only-testsuite, "
        f"{DEFAULTS['testsuite_out']})",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"raw results to write (default: {DEFAULTS['json']}; with --only-testsuite, {DEFAULTS['testsuite_json']})",
    )
    p.add_argument("--venvs", type=Path, default=REPO / ".venvs", help="where the bench-* venvs live")
    p.add_argument("--dist", type=Path, default=REPO / "dist", help="where `make wheel` put our wheel")
    p.add_argument("--startup-runs", type=int, default=20, help="hyperfine runs per start-up command")
    p.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    p.add_argument("--no-code-size", action="store_true", help="skip the code-object-size measurement")
    p.add_argument(
        "--no-open",
        action="store_true",
        help="skip opening the traces of ours-locals and ours-ctfs in CodeTracer's replay-server (done when "
        "ours-ctfs is among --tracers)",
    )
    p.add_argument(
        "--replay-server",
        type=Path,
        default=REPLAY_SERVER,
        help="CodeTracer's replay-server binary (../shared/tools/REPLAY.md)",
    )
    p.add_argument(
        "--open-json-max-mb",
        type=float,
        default=120.0,
        help="do not open a trace.json bigger than this: the replay-server needs 60-110x its size in "
        "memory (120 MB: ~13 GB of this 24 GB machine)",
    )
    p.add_argument(
        "--open-scale",
        type=float,
        default=None,
        help="ANCHOR_SCALE of the traces opened in the replay-server (one extra unmeasured run of "
        "ours-locals and ours-ctfs per workload); default: those of the measured runs at --scale",
    )
    p.add_argument(
        "--open-max-gb",
        type=float,
        default=14.0,
        help="address-space limit of the replay-server while it opens a trace (prlimit --as); a trace "
        "that needs more is reported as not opened",
    )
    p.add_argument(
        "--open-timeout",
        type=float,
        default=1800.0,
        help="seconds the replay-server may take to open one trace before the open counts as failed",
    )
    p.add_argument(
        "--only-testsuite",
        action="store_true",
        help="run only the test suite of bench/programs/suite (plain, one trace per test, one trace) and "
        "write its section alone",
    )
    p.add_argument("--no-testsuite", action="store_true", help="skip the test suite of bench/programs/suite")
    p.add_argument(
        "--testsuite-opens",
        type=int,
        default=3,
        help="how many of the test suite's per-test traces with the most steps to open in the "
        "replay-server (the one with the fewest is opened too: the server's fixed cost)",
    )
    p.add_argument(
        "--testsuite-single-max-gb",
        type=float,
        default=1.0,
        help="open the test suite's single trace only when its replay estimate is under this",
    )
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render the report from a results.json of an earlier session",
    )
    opts = p.parse_args(argv)
    unknown = [t for t in opts.tracers.split(",") if t and t not in TRACERS]
    if unknown:
        p.error(f"unknown tracer(s) {', '.join(unknown)}; choose from {', '.join(TRACERS)}")
    if opts.runs < 1 or opts.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    if opts.only_testsuite and opts.no_testsuite:
        p.error("--only-testsuite and --no-testsuite exclude each other")
    if opts.out is None:
        opts.out = Path(str(DEFAULTS["testsuite_out" if opts.only_testsuite else "out"]))
    if opts.json is None:
        opts.json = REPO / str(DEFAULTS["testsuite_json" if opts.only_testsuite else "json"])
    # The runs' scratch folders are beside it and each run changes into one (proc.py): absolute.
    opts.json = opts.json.resolve()
    return opts


def reproduce_command(argv: list[str]) -> str:
    if not argv:
        return "make bench        # = .venv/bin/python bench/run.py (defaults)"
    return ".venv/bin/python bench/run.py " + " ".join(shlex.quote(a) for a in argv)


def select_workloads(folder: Path, only: list[str] | None, reference: Path | None = None) -> list[tuple[str, Path]]:
    """(name, script) of the workloads to run: the reference folder's first
    (named REFERENCE + stem, so they never mix with ours of the same file
    name), then ours; `--only` picks by stem in both."""
    found = [(w.stem, w) for w in sorted(folder.glob("w_*.py"))]
    if not found:
        raise SystemExit(f"bench: no w_*.py workloads in {folder} (use --workloads DIR)")
    if reference is not None:
        found = [(REFERENCE + w.stem, w) for w in sorted(reference.glob("w_*.py"))] + found
    if not only:
        return found
    names = {o.removesuffix(".py") for item in only for o in item.split(",")}
    names |= {f"w_{n}" for n in names} | {REFERENCE + "w_" + n.removeprefix(REFERENCE) for n in names}
    # A stem picks it in both sets; REFERENCE + stem the reference one alone.
    chosen = [(n, w) for n, w in found if w.stem in names or n.startswith(REFERENCE) and n in names]
    if not chosen:
        stems = dict.fromkeys(w.stem for _, w in found)
        raise SystemExit(f"bench: --only {','.join(only)} matches none of {', '.join(stems)}")
    return chosen


def workloads_label(folder: Path) -> str:
    """--workloads as the report names it: relative to the repository when inside it."""
    folder = folder.resolve()
    return str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder)


def reference_folder(opts: argparse.Namespace) -> tuple[Path | None, dict[str, Any]]:
    """The reference folder to run (None: absent or --no-reference) and how
    the report states it (session.options["reference"])."""
    folder = opts.reference.resolve()
    if opts.no_reference:
        return None, {"folder": str(folder), "present": False, "why": "--no-reference"}
    if not any(folder.glob("w_*.py")):
        return None, {"folder": str(folder), "present": False, "why": "absent"}
    return folder, {"folder": str(folder), "present": True}


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        mem = "?"
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "load": load,
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_env(scale: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODETRACER_", "PYTHON", "VIRTUAL_ENV", "ANCHOR_"))}
    env.update(ANCHOR_SCALE=repr(scale), PYTHONHASHSEED="0")
    return env


def distribution_version(python: Path, dist: str) -> str | None:
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def run_once(tracer: Tracer, ctx: Context, script: Path, scale: float, scratch: Path, keep: Path | None = None) -> Run:
    """One measured run; raises RuntimeError/AnchorError when it fails.
    `keep`: where to move the run's trace folder instead of deleting it."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        m = run_measured(
            tracer.argv(ctx, script, scratch),
            env={**run_env(scale), **tracer.env},
            cwd=scratch,
            log_dir=scratch / "logs",
        )
        if m.returncode != 0:
            tail = " | ".join(m.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"exit status {m.returncode}: {tail}")
        anchor = parse_anchor(m.stderr)
        run = Run(anchor.seconds, m.wall_s, m.maxrss_kb, anchor.check, tracer.collect(scratch), m.cpu_s)
        if keep is not None and (scratch / "trace").is_dir():
            shutil.rmtree(keep, ignore_errors=True)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(scratch / "trace", keep)
        return run
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # traces can be GBs


#: Measured runs of a workload judged against its twin (the goal rows "w_threads
#: / w_threads_twin", ...: docs/performance.md) at least: both are short (9-30 ms
#: of plain python at scale 0.1) and their ratio is judged at 1.2x, so a pair is
#: measured in the same rounds, each round running both, and with more rounds
#: than the other workloads get.
TWIN_RUNS = 7


def count_events(
    session: Session,
    py: str,
    name: str,
    script: Path,
    env: Any,
    scales: list[float],
    cache: EventCache,
    versions: dict[str, str],
) -> None:
    """The monitoring events of `script` at each scale (cached), for the per-event figures."""
    if env.floor_dir is None:
        return
    for s in scales:
        try:
            ev = cache.get(env.python, versions["python"], env.floor_dir, script, s)
        except subprocess.CalledProcessError as exc:
            log(
                f"CPython {py} {name}: counting events failed (exit status {exc.returncode}); ns/event and bytes/event are n/a"
            )
            continue
        session.events[events_key(py, name, s)] = asdict(ev)


def measure_workload(
    session: Session,
    py: str,
    group: list[tuple[str, Path]],
    plan: list[tuple[Tracer, float]],
    ctx: Context,
    opts: argparse.Namespace,
    scratch: Path,
    keep: dict[str, Path] | None = None,
    runs: int | None = None,
) -> None:
    """Measures the workloads of `group` (one, or one and its twin) in the
    same rounds: in each, every tracer of `plan` on each workload, plain
    python included. `keep`: tracer name -> where to keep the trace folder
    of its last measured run (of the group's first workload). `runs`:
    measured rounds (default --runs)."""
    runs = opts.runs if runs is None else runs
    cells = {(name, t.name, s): Cell(py, name, t.name, s) for name, _ in group for t, s in plan}
    session.cells.extend(cells.values())
    checks: dict[tuple[str, float], str] = {}
    for rnd in range(opts.warmup + runs):
        for k, (name, script) in enumerate(group):
            for tracer, scale in plan:  # interleaved: plain and every tracer in each round
                cell = cells[(name, tracer.name, scale)]
                if cell.failed:
                    continue
                try:
                    last = rnd == opts.warmup + runs - 1 and k == 0
                    dest = (keep or {}).get(tracer.name) if last else None
                    run = run_once(tracer, ctx, script, scale, scratch / tracer.name, dest)
                except (RuntimeError, AnchorError, OSError) as exc:
                    cell.failed = str(exc)
                    log(f"FAILED: CPython {py} {tracer.name} on {name}: {exc}")
                    continue
                key = (name, scale)
                expected = checks.setdefault(key, run.check) if tracer.name == "plain" else checks.get(key)
                if expected is not None and run.check != expected:
                    raise CheckMismatch(
                        f"CPython {py} {tracer.name} on {name} (scale {scale:g}): check value "
                        f"{run.check!r} != plain python's {expected!r}"
                    )
                if rnd >= opts.warmup:
                    cell.runs.append(run)
        log(
            f"CPython {py} {' + '.join(name for name, _ in group)}: round {rnd + 1}/{opts.warmup + runs}"
            + (" (warm-up)" if rnd < opts.warmup else "")
        )


def run_python(
    session: Session, py: str, tracers: list[Tracer], workloads: list[tuple[str, Path]], opts: argparse.Namespace
) -> None:
    families = {t.family for t in tracers}
    wheel = newest_wheel(opts.dist)
    log(f"CPython {py}: setting up {opts.venvs}/bench-{py.replace('.', '')}")
    env = setup_bench_env(
        py, opts.venvs, wheel=wheel, viztracer="viztracer" in families, ours="ours" in families, floor=True
    )
    if "upstream" in families:
        up = setup_upstream_env(py, opts.venvs)
        if up.missing:
            env.missing["upstream"] = up.missing
        upstream_python = up.python
    else:
        upstream_python = None
    ctx = Context(env.python, env.floor_dir, upstream_python)
    for reason in env.missing.values():
        log(f"CPython {py}: n/a: {reason}")
    versions = {"python": platform_version(env.python)}
    for name, py_, dist in (
        ("viztracer", env.python, "viztracer"),
        ("ours", env.python, "codetracer_python_recorder"),
        ("upstream", upstream_python, "codetracer_python_recorder"),
    ):
        if name in families and name not in env.missing and py_ is not None:
            versions[name] = distribution_version(py_, dist) or "?"
    session.versions[py] = versions

    runnable = [t for t in tracers if t.family not in env.missing]
    scales = sorted({opts.upstream_scale if t.upstream_scale else opts.scale for t in runnable}, reverse=True)
    cache = EventCache(opts.json.parent / "events.json")
    open_on = "open" in session.options and not session.options["open"].get("skipped")
    paired = {twin: name for name, twin in TWINS.items()}
    names = {name for name, _ in workloads}
    for name, script in workloads:
        if paired.get(name) in names:
            continue  # (measured with the workload it is the twin of)
        twin = TWINS.get(name)
        group = [(name, script)] + [(w, sc) for w, sc in workloads if w == twin]
        runs = max(opts.runs, TWIN_RUNS) if len(group) > 1 else opts.runs
        for counted, counted_script in group:
            count_events(session, py, counted, counted_script, env, scales, cache, versions)
        plan = [(TRACERS["plain"], s) for s in scales]
        plan += [(t, opts.upstream_scale if t.upstream_scale else opts.scale) for t in runnable if t.name != "plain"]
        kept = opts.json.parent / "work" / "kept"
        keep = {name: kept / name for name, _ in FORMATS.values() if open_on and any(t.name == name for t in runnable)}
        try:
            own_scale = bool(keep) and opts.open_scale is not None and opts.open_scale != opts.scale
            measure_workload(
                session, py, group, plan, ctx, opts, opts.json.parent / "work", None if own_scale else keep, runs
            )
            if own_scale:  # one unmeasured run per format at --open-scale, its trace kept
                record_for_open(py, name, script, keep, ctx, opts)
            if keep:
                measure_opens(session, py, name, keep, opts)
        finally:
            shutil.rmtree(kept, ignore_errors=True)  # traces can be GBs
        for t in tracers:
            if t.family in env.missing:
                for member, _ in group:
                    session.cells.append(Cell(py, member, t.name, opts.scale, missing=env.missing[t.family]))

    if not opts.no_startup:
        ours = "ours" in families and "ours" not in env.missing
        try:
            st = measure_startup(env.python, ours=ours, runs=opts.startup_runs)
        except subprocess.CalledProcessError as exc:
            log(f"CPython {py}: start-up with our recorder failed ({exc.stderr.strip()[-200:]}); measuring plain only")
            st = measure_startup(env.python, ours=False, runs=opts.startup_runs)
        session.startup[py] = {
            **asdict(st),
            "version_added_ms": st.version_added_ms,
            "record_added_ms": st.record_added_ms,
        }

    if not opts.no_code_size and "ours" in families and "ours" not in env.missing:
        log(f"CPython {py}: recording time against code object length ({', '.join(map(str, CODE_SIZES))} lines)")
        measured = measure_code_size(env.python, opts.json.parent / "work" / "code_size", max(opts.runs, 1))
        if measured is not None:
            session.options.setdefault("code_size", {})[py] = measured


def record_for_open(
    py: str, name: str, script: Path, keep: dict[str, Path], ctx: Context, opts: argparse.Namespace
) -> None:
    """Record `script` at --open-scale with each tracer of `keep`, keeping
    its trace folder there (a failure is said, and its open then fails)."""
    for tracer, dest in keep.items():
        try:
            run_once(TRACERS[tracer], ctx, script, opts.open_scale, opts.json.parent / "work" / tracer, dest)
        except (RuntimeError, AnchorError, OSError) as exc:
            log(f"FAILED: CPython {py} {tracer} on {name} at --open-scale {opts.open_scale:g}: {exc}")


def measure_opens(session: Session, py: str, workload: str, keep: dict[str, Path], opts: argparse.Namespace) -> None:
    """Open the kept trace folders in the replay-server, --runs times each
    (the trace.json's opens, then the trace.ct's), into session.opens; then
    delete them."""
    for fmt, (tracer, _) in FORMATS.items():
        if tracer not in keep:
            continue
        trace_dir = keep[tracer] if keep[tracer].is_dir() else None
        log(f"CPython {py} {workload}: opening the {fmt} trace in the replay-server ({opts.runs} run(s))")
        cell = measure_open(
            opts.replay_server,
            py,
            workload,
            fmt,
            trace_dir,
            runs=opts.runs,
            scratch=opts.json.parent / "work" / "open",
            json_max_mb=opts.open_json_max_mb,
            timeout=opts.open_timeout,
            max_gb=opts.open_max_gb,
        )
        if cell.failed:
            log(f"FAILED: CPython {py} replay-server open of {workload} ({fmt}): {cell.failed}")
        elif cell.not_opened:
            log(
                f"CPython {py} {workload}: {FORMATS[fmt][1]} {cell.not_opened} (--open-json-max-mb "
                f"{opts.open_json_max_mb:g}, --open-max-gb {opts.open_max_gb:g})"
            )
        session.opens.append(cell)
        shutil.rmtree(keep[tracer], ignore_errors=True)


#: Lines of the dict literal in the one function of the code-size program.
CODE_SIZES = (14880, 29760, 59520)


def code_size_program(lines: int) -> str:
    """A function whose dict literal spans `lines` lines (one LINE event per
    line; a line's distance from `co_firstlineno` grows with the size)."""
    body = "".join(f"        'k{i}': {i},\n" for i in range(lines))
    return f"def f():\n    d = {{\n{body}    }}\n    return len(d)\n\n\nprint(f())\n"


def measure_code_size(python: Path, scratch: Path, runs: int) -> dict[str, Any] | None:
    """Median wall seconds of plain python and of recording (`--values none`)
    the code-size program at each size: recording time must grow linearly
    with a code object's length (it once grew with its square). None
    when a run fails (said on stderr)."""
    scratch.mkdir(parents=True, exist_ok=True)
    rows = []
    for lines in (1, *CODE_SIZES):  # 1: the recorder's fixed cost
        prog = scratch / f"code_size_{lines}.py"
        prog.write_text(code_size_program(lines))
        cmds = {
            "plain": [str(python), str(prog)],
            "recorded": [
                str(python),
                "-m",
                "codetracer_python_recorder",
                "--values",
                "none",
                "-o",
                str(scratch / "code_size_trace"),
                str(prog),
            ],
        }
        row: dict[str, Any] = {"lines": lines}
        for name, cmd in cmds.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                times.append(time.perf_counter() - t0)
                if done.returncode != 0:
                    log(
                        f"code size {lines}: {name} run failed (exit status {done.returncode}): "
                        f"{done.stderr.strip()[-200:]}; not measured"
                    )
                    return None
            row[name] = statistics.median(times)
        shutil.rmtree(scratch / "code_size_trace", ignore_errors=True)
        rows.append(row)
    return {"baseline": rows[0], "rows": rows[1:]}


def render_code_size(results: dict[str, Any]) -> str:
    """The code-size table: the time recording adds, and its growth when the
    code object doubles (2.0 is linear, 4.0 quadratic)."""
    if not results:
        return ""
    out = [
        "",
        "## Recording time against a code object's length",
        "",
        "One function whose dict literal spans N lines, recorded with `--values none`; "
        "median wall seconds (start-up included). `added` is recorded minus plain, less the "
        "recorder's fixed cost (the same for a one-line dict); `growth` is `added` over the "
        "previous row's: 2.0 when the recorder's work is linear in the code's length, 4.0 "
        "when quadratic (3.9 was measured before the quadratic cost was fixed).",
        "",
    ]
    for py, res in results.items():
        base = res["baseline"]["recorded"] - res["baseline"]["plain"]
        out += [
            f"CPython {py}:",
            "",
            "| lines | plain s | recorded s | added s | growth |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        prev = None
        for row in res["rows"]:
            added = row["recorded"] - row["plain"] - base
            growth = f"{added / prev:.2f}" if prev else "—"
            out.append(f"| {row['lines']:,} | {row['plain']:.3f} | {row['recorded']:.3f} | {added:.3f} | {growth} |")
            prev = added if added > 0 else None
        out.append("")
    return "\n".join(out)


def testsuite_options(opts: argparse.Namespace, *, warn: bool) -> dict[str, Any]:
    """The test suite's settings as the report states them (session.options["testsuite"]);
    `warn`: say on stderr when the replay-server is absent."""
    skipped = "--no-open" if opts.no_open else server_missing(opts.replay_server)
    if skipped and warn and not opts.no_open:
        log(f"WARNING: {skipped}")
    return {
        "runs": opts.runs,
        "warmup": opts.warmup,
        "opens": opts.testsuite_opens,
        "single_max_gb": opts.testsuite_single_max_gb,
        "max_gb": opts.open_max_gb,
        "skipped": skipped,
    }


def run_testsuite(session: Session, py: str, opts: argparse.Namespace) -> None:
    """The test suite of bench/programs/suite on one interpreter (testsuite.py)."""
    log(f"CPython {py}: the test suite (setting up {opts.venvs}/bench-{py.replace('.', '')} with pytest)")
    wheel = newest_wheel(opts.dist)
    env = (
        None
        if wheel is None
        else setup_bench_env(py, opts.venvs, wheel=wheel, viztracer=False, ours=True, floor=False, pytest=True)
    )
    if env is None or env.missing:
        res = SuiteResult(
            py,
            missing="; ".join(env.missing.values())
            if env
            else "no dist/codetracer_python_recorder-*.whl (run `make wheel`)",
        )
        log(f"CPython {py}: test suite n/a: {res.missing}")
    else:
        skipped = session.options["testsuite"]["skipped"]
        o = SuiteOptions(
            runs=opts.runs,
            warmup=opts.warmup,
            opens=opts.testsuite_opens,
            single_max_gb=opts.testsuite_single_max_gb,
            server=None if skipped else opts.replay_server,
            json_max_mb=opts.open_json_max_mb,
            timeout=opts.open_timeout,
            max_gb=opts.open_max_gb,
        )
        res = run_suite(env.python, py, opts.json.parent / "work" / "testsuite", run_env(1.0), o, log)
        versions = session.versions.setdefault(py, {})
        versions.setdefault("python", platform_version(env.python))
        versions.setdefault("ours", distribution_version(env.python, "codetracer_python_recorder") or "?")
        versions["pytest"] = distribution_version(env.python, "pytest") or "?"
    if res.failed:
        log(f"FAILED: CPython {py} test suite: {res.failed}")
    session.testsuite.append(res)


def platform_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    out = opts.out if opts.out.is_absolute() else REPO / opts.out
    if opts.render:
        session = Session.from_json(json.loads(opts.render.read_text()))
        if session.options.get("only_testsuite"):
            text = render_testsuite(session, session.options["command"])
        else:
            text = render(session, session.options.get("command", reproduce_command([])))
            text += render_code_size(session.options.get("code_size", {}))
    elif opts.only_testsuite:
        pythons = [p.strip() for p in opts.pythons.split(",") if p.strip()]
        command = reproduce_command(argv)
        session = Session(
            {
                "pythons": pythons,
                "command": command,
                "only_testsuite": True,
                "testsuite": testsuite_options(opts, warn=True),
            },
            machine_info(),
        )
        for py in pythons:
            run_testsuite(session, py, opts)
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(session.to_json(), indent=1))
        text = render_testsuite(session, command)
    else:
        tracers = [TRACERS["plain"]] + [TRACERS[t] for t in opts.tracers.split(",") if t and t != "plain"]
        pythons = [p.strip() for p in opts.pythons.split(",") if p.strip()]
        reference, ref_options = reference_folder(opts)
        workloads = select_workloads(opts.workloads, opts.only, reference)
        if reference is not None:
            log(f"reference workloads of {reference} run beside ours; the goal rows judge them")
        else:
            log(
                "WARNING: "
                + ("--no-reference" if opts.no_reference else f"no reference workloads in {ref_options['folder']}")
                + ": the goal rows judge the project's own workloads instead"
            )
        log(
            f"scale {opts.scale:g}"
            + (" (default; --scale 1 for full size)" if opts.scale == DEFAULTS["scale"] else "")
            + f", upstream scale {opts.upstream_scale:g}, {opts.runs} runs (medians) + {opts.warmup} warm-up, "
            f"CPython {', '.join(pythons)}, workloads {', '.join(n for n, _ in workloads)}, "
            f"tracers {', '.join(t.name for t in tracers)}"
        )
        command = reproduce_command(argv)
        session = Session(
            {
                "scale": opts.scale,
                "upstream_scale": opts.upstream_scale,
                "runs": opts.runs,
                "warmup": opts.warmup,
                "pythons": pythons,
                "command": command,
                "reference": ref_options,
                "workloads": workloads_label(opts.workloads),
            },
            machine_info(),
        )
        if not opts.no_open and any(t.name == FORMATS["ct"][0] for t in tracers):  # trace.ct (beside trace.json)
            skipped = server_missing(opts.replay_server)
            if skipped:
                log(f"WARNING: {skipped}")
            session.options["open"] = {
                "server": str(opts.replay_server),
                "runs": opts.runs,
                "scale": opts.scale if opts.open_scale is None else opts.open_scale,
                "json_max_mb": opts.open_json_max_mb,
                "max_gb": opts.open_max_gb,
                "skipped": skipped,
            }
        suite = not opts.no_testsuite and any(t.family == "ours" for t in tracers)
        if suite:  # the workloads' opens warned already when they are on
            session.options["testsuite"] = testsuite_options(opts, warn="open" not in session.options)
        try:
            for py in pythons:
                run_python(session, py, tracers, workloads, opts)
                if suite:
                    run_testsuite(session, py, opts)
        except CheckMismatch as exc:
            log(f"FAILED: {exc}")
            return 1
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(session.to_json(), indent=1))
        text = render(session, command) + render_code_size(session.options.get("code_size", {}))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {out}")
    failed = [f"{c.python} {c.tracer} {c.workload}" for c in session.cells if c.failed]
    failed += [f"{o.python} replay-server open {o.workload} ({o.format})" for o in session.opens if o.failed]
    failed += [f"{t.python} test suite" for t in session.testsuite if t.failed]
    failed += [
        f"{t.python} replay-server open {o.workload} (test suite)"
        for t in session.testsuite
        for o in [*t.opens, *([t.single_open] if t.single_open else [])]
        if o.failed
    ]
    if failed:
        log(f"{len(failed)} cell(s) FAILED: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
