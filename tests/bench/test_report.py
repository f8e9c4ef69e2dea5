"""The figures and the markdown written to docs/performance.md, from a
hand-made session (no process is run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctbench.analysis import figures, goals, twin_goals
from ctbench.report import markdown_table, render
from ctbench.results import Cell, Run, Session, events_key
from ctbench.tracers import read_ours

OURS_EXTRA = {
    "trace_bytes": 100_000_000,
    "stream_bytes": 20_000_000,
    "recorder_events": 1_000_000,
    "drain_s": 0.1,
    "convert_s": 0.5,
    "total_s": 1.2,
}


def run(main_s: float, wall_s: float, rss_mb: float, **extra) -> Run:
    return Run(main_s, wall_s, int(rss_mb * 1024), "42", dict(extra))


def session() -> Session:
    s = Session(
        {"scale": 0.1, "upstream_scale": 0.003, "runs": 3, "warmup": 1, "pythons": ["3.12"]},
        {"cpu": "Test CPU", "cores": "2"},
    )
    s.events[events_key("3.12", "w_a", 0.1)] = {"total": 1_100_000, "main": 1_000_000, "by_kind": {}}
    s.events[events_key("3.12", "w_a", 0.003)] = {"total": 40_000, "main": 30_000, "by_kind": {}}
    s.cells = [
        Cell("3.12", "w_a", "plain", 0.1, [run(0.1, 0.2, 10), run(0.12, 0.21, 10), run(0.08, 0.3, 10)]),
        Cell("3.12", "w_a", "floor-record8", 0.1, [run(0.15, 0.3, 18, output_bytes=8_800_000)]),
        Cell("3.12", "w_a", "ours-locals", 0.1, [run(0.5, 2.0, 50, **OURS_EXTRA)]),
        Cell(
            "3.12",
            "w_a",
            "ours-none",
            0.1,
            [run(0.3, 1.0, 30, trace_bytes=5, stream_bytes=None, recorder_events=None, drain_s=None, convert_s=None)],
        ),
        Cell("3.12", "w_a", "plain", 0.003, [run(0.01, 0.05, 10)]),
        Cell("3.12", "w_a", "upstream", 0.003, [run(1.51, 3.0, 90, trace_bytes=1000)]),
        Cell("3.12", "w_a", "viztracer", 0.1, failed="exit status 1: boom"),
        Cell("3.12", "w_a", "ours-args", 0.1, missing="no wheel"),
    ]
    return s


def test_figures_compare_with_plain_of_the_same_scale() -> None:
    s = session()
    ours = figures(s, s.cells[2])
    assert ours.inrun_s == pytest.approx(0.6)  # main() + drain_seconds
    assert ours.ratio_inrun == pytest.approx(6.0)  # plain main() median 0.1
    assert ours.ns_inrun == pytest.approx(500.0)  # (0.6 - 0.1) s / 1e6 main events
    assert ours.ratio_wall == pytest.approx(2.0 / 0.21)
    assert ours.mb_s == pytest.approx(200.0)  # 100 MB / 0.5 s
    # bytes per monitoring event of the whole program (1.1M), not per the recorder's own event count
    assert ours.kept_b_ev == pytest.approx(20e6 / 1.1e6) and ours.trace_b_ev == pytest.approx(1e8 / 1.1e6)
    assert ours.rss_delta_mb == pytest.approx(40.0)
    up = figures(s, s.cells[5])
    assert up.ns_inrun == pytest.approx(50_000.0)  # (1.51 - 0.01) s / 30k events
    assert figures(s, s.cells[1]).kept_b_ev == pytest.approx(8.0)


def test_missing_recorder_keys_give_none_not_errors() -> None:
    s = session()
    none = figures(s, s.cells[3])
    assert none.inrun_s is None and none.ratio_inrun is None and none.mb_s is None
    assert none.ratio_wall is not None


def test_goals_verdicts() -> None:
    s = session()
    figs = {(c.tracer, c.workload): figures(s, c) for c in s.cells if c.runs}
    by_name = {g.name.split(",")[0]: g for g in goals(s, "3.12", figs)}
    inrun = next(g for n, g in by_name.items() if n.startswith("in-run"))
    assert inrun.measured == pytest.approx(6.0) and inrun.verdict == "NOT met"  # geo-mean <= 5x
    upstream = next(g for n, g in by_name.items() if "upstream" in n)
    assert upstream.measured == pytest.approx(100.0) and upstream.verdict == "met"
    kept = next(g for n, g in by_name.items() if n.startswith("kept"))
    assert kept.measured == pytest.approx(0.2) and kept.verdict == "met"
    floor = next(g for n, g in by_name.items() if "floor" in n)
    assert floor.verdict == "n/a"  # ours-none has no drain_seconds yet
    startup = next(g for n, g in by_name.items() if n.startswith("start-up"))
    assert startup.verdict == "n/a"
    portable = next(g for n, g in by_name.items() if n.startswith("portable path"))
    assert portable.verdict == "n/a"  # no ours-portable cell in this session


def test_render_writes_rows_notes_and_the_command() -> None:
    text = render(session(), "make bench")
    assert text.startswith("# Performance\n")
    assert "```\nmake bench\n```" in text
    assert "| ours-locals | w_a | 0.1 | 1,000,000 / 1,100,000 | 6.00× | 500 |" in text
    assert "200.0 | kept 18.2, trace.json 90.9 | 50.0 (+40.0) |" in text
    assert "| viztracer | w_a | 0.1 | FAILED |" in text
    assert "- CPython 3.12, viztracer on w_a: FAILED — exit status 1: boom" in text
    assert "- CPython 3.12, ours-args: n/a — no wheel" in text
    assert "| in-run geo-mean, ours-locals / plain | <= 5x | 6 (NOT met) |" in text
    assert "| in-run, ours-locals / plain (worst workload) | <= 8x | 6 (met) |" in text
    # no reference workloads in this session: said loudly above the goal rows
    assert "**WARNING: the reference workloads folder (not recorded) is absent: the goal rows" in text


def test_session_round_trips_through_json() -> None:
    s = session()
    again = Session.from_json(json.loads(json.dumps(s.to_json())))
    assert render(again, "x") == render(s, "x")


def test_markdown_table_escapes_pipes() -> None:
    assert markdown_table(["a", "b"], [["x|y", "z"]]) == "| a | b |\n|---|---|\n| x\\|y | z |"


def test_read_ours_tolerates_an_unfinished_recorder(tmp_path: Path) -> None:
    (tmp_path / "trace.json").write_bytes(b"[]" * 10)
    (tmp_path / "trace_metadata.json").write_text(json.dumps({"stats": {"events": 7}}))
    got = read_ours(tmp_path)
    assert got["trace_bytes"] == 20 and got["recorder_events"] == 7
    assert got["stream_bytes"] is None and got["drain_s"] is None and got["convert_s"] is None
    assert read_ours(tmp_path / "absent")["trace_bytes"] is None


def test_read_ours_adds_up_the_thread_and_child_traces(tmp_path: Path) -> None:
    """A recording of threads and forked children (threads.json): bytes,
    events and convert time summed over its traces; timings of the run the
    main trace's."""

    def trace(folder: Path, size: int, events: int, stream: int | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trace.ct").write_bytes(b"x" * size)
        stats = {"events": events, **({"stream_bytes": stream} if stream is not None else {})}
        (folder / "trace_metadata.json").write_text(
            json.dumps(
                {"stats": stats, "timings": {"convert_seconds": 0.5, "total_seconds": 2.0, "drain_seconds": 0.1}}
            )
        )

    trace(tmp_path, 100, 10, 1000)
    trace(tmp_path / "threads" / "1-worker", 20, 3, 300)
    trace(tmp_path / "processes" / "77", 5, 2, None)
    (tmp_path / "threads.json").write_text(
        json.dumps(
            {
                "main": {"folder": "."},
                "threads": [{"folder": "threads/1-worker"}],
                "processes": [{"folder": "processes/77"}],
            }
        )
    )
    got = read_ours(tmp_path)
    assert (got["trace_bytes"], got["recorder_events"], got["convert_s"]) == (125, 15, 1.5)
    assert got["stream_bytes"] == 1300  # the child's is unknown: left out
    assert (got["total_s"], got["drain_s"]) == (2.0, 0.1)
    s = session()
    s.cells[2].runs = [run(0.5, 2.0, 50, **{**OURS_EXTRA, "drain_s": 0.1})]
    assert figures(s, s.cells[2]).inrun_s == pytest.approx(
        0.6
    )  # main() + drain (the thread traces are finished after it)


def test_threads_and_pool_are_judged_against_their_single_threaded_twins() -> None:
    """ns/event in main() of w_threads over w_threads_twin's (the same work in
    the main thread), and of w_procpool over w_procpool_twin's, and the same
    for the process tree's CPU seconds per event; a twin not measured makes
    its rows n/a."""
    s = Session({"scale": 0.1, "upstream_scale": 0.003, "runs": 1, "warmup": 0, "pythons": ["3.12"]}, {})
    for workload, main_s, cpu_s in (("w_threads", 0.3, 1.2), ("w_threads_twin", 0.25, 1.3), ("w_procpool", 0.5, 2.0)):
        s.events[events_key("3.12", workload, 0.1)] = {"total": 1_100_000, "main": 1_000_000, "by_kind": {}}
        plain, ours = run(0.05, 0.1, 10), run(main_s, 1.0, 20, drain_s=0.0)
        plain.cpu_s, ours.cpu_s = 0.2, cpu_s
        s.cells += [Cell("3.12", workload, "plain", 0.1, [plain]), Cell("3.12", workload, "ours-ctfs", 0.1, [ours])]
    figs = {(c.tracer, c.workload): figures(s, c) for c in s.cells}
    threads, threads_cpu, pool, pool_cpu = twin_goals("3.12", figs)
    assert threads.name == "in-run ns/event, w_threads / w_threads_twin (ours-ctfs)"
    assert threads.measured == pytest.approx(250 / 200) and threads.verdict == "NOT met"  # limit 1.2x
    assert threads_cpu.name == "CPU ns/event (process tree), w_threads / w_threads_twin (ours-ctfs)"
    assert threads_cpu.measured == pytest.approx(1.0 / 1.1) and threads_cpu.verdict == "met"
    assert pool.name.startswith("in-run ns/event, w_procpool / w_procpool_twin") and pool.verdict == "n/a"
    assert pool_cpu.name.startswith("CPU ns/event (process tree), w_procpool") and pool_cpu.verdict == "n/a"
    text = render(s, "x")
    assert "| in-run ns/event, w_threads / w_threads_twin (ours-ctfs) | <= 1.2x | 1.25 (NOT met) |" in text
    assert "| CPU ns/event (process tree), w_threads / w_threads_twin (ours-ctfs) | <= 1.2x | 0.909 (met) |" in text


def test_every_seconds_key_of_the_timings_is_a_stage_column(tmp_path: Path) -> None:
    (tmp_path / "trace_metadata.json").write_text(
        json.dumps(
            {
                "timings": {
                    "drain_seconds": 0.5,
                    "capture_seconds": 1.5,
                    "zstd_seconds": 0.25,
                    "started": "x",
                    "flag_seconds": True,
                }
            }
        )
    )
    assert read_ours(tmp_path)["stages"] == {"drain_seconds": 0.5, "capture_seconds": 1.5, "zstd_seconds": 0.25}
    s = session()
    s.cells[2].runs = [run(0.5, 2.0, 50, stages={"capture_seconds": c, "zstd_seconds": 0.1}) for c in (1.0, 3.0, 2.0)]
    text = render(s, "x")
    assert (
        "| tracer | workload | capture s | zstd s |\n|---|---|---|---|\n| ours-locals | w_a | 2.000 | 0.100 |" in text
    )
