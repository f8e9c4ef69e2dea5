"""The test-suite row of the bench (docs/test-runs.md, docs/performance.md): reading pytest's summary and
the recorder's tests.json, choosing the traces to open, the figures and goal
rows, the rendered section, and run_suite end to end against a stand-in
interpreter and the stand-in replay-server (no timing assertions)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from ctbench.analysis import suite_figures, suite_goals
from ctbench.report import render, render_testsuite
from ctbench.results import OpenCell, OpenRun, Session, SuiteResult, SuiteRun, TraceFacts
from ctbench.testsuite import (
    SUITE,
    SuiteOptions,
    facts_from_meta,
    parse_index,
    parse_summary,
    run_suite,
    suite_argv,
    to_open,
)

FAKE_SERVER = Path(__file__).resolve().parent / "fake_replay_server.py"


def test_the_suite_is_the_one_in_bench_programs() -> None:
    assert (SUITE / "test_ledger.py").is_file() and (SUITE / "ledger.py").is_file()


def test_commands_of_each_mode() -> None:
    py, out = Path("/py"), Path("/out")
    assert suite_argv(py, "plain", out) == ["/py", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    assert suite_argv(py, "per-test", out) == [
        "/py",
        "-m",
        "codetracer_python_recorder",
        "--out-dir",
        "/out",
        "--format",
        "ctfs",
        "--pytest",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    assert suite_argv(py, "single", out)[5:8] == ["--format", "ctfs", "--single-trace"]


@pytest.mark.parametrize(
    "stdout, summary",
    [
        ("....F.\nFAILED t.py::x - assert 1\n4 failed, 1196 passed in 2.49s\n", "4 failed, 1196 passed"),
        ("==== 4 failed, 1196 passed in 62.10s (0:01:02) ====\n\n", "4 failed, 1196 passed"),
        ("no tests ran in 0.01s\n", "no tests ran"),
        ("", None),
    ],
)
def test_summary_is_pytests_last_line_without_its_time(stdout: str, summary: str | None) -> None:
    assert parse_summary(stdout) == summary


def trace(tid: str, kind: str, steps: int | None, folder: str | None = "x") -> dict:
    return {
        "id": tid,
        "kind": kind,
        "folder": folder if folder != "x" else f"tests/{tid}",
        "steps": steps,
        "trace_bytes": None if steps is None else 1000 + steps,
        "replay_estimate": None
        if steps is None
        else {"memory_bytes": steps * 4300, "open_seconds": round(steps * 24e-6, 3)},
    }


INDEX = {
    "framework": "pytest",
    "exit_status": 1,
    "counts": {"passed": 3, "failed": 1, "error": 0, "skipped": 1},
    "traces": [
        trace("<session>", "session", 44, "."),
        trace("t::a", "test", 1000),
        trace("t::b", "test", 5000),
        trace("t::c", "test", 12),
        trace("t::d", "test", 2600),
        trace("t::skip", "test", None, None),
        trace("<after t::d>", "between", 7, "between/0001"),
    ],
}


def test_tests_json_gives_counts_the_tests_traces_and_every_trace() -> None:
    counts, tests, every = parse_index(INDEX)
    assert counts == {"passed": 3, "failed": 1, "error": 0, "skipped": 1}
    assert [t.id for t in tests] == ["t::a", "t::b", "t::c", "t::d"]  # a test without a folder has no trace
    assert [t.id for t in every] == ["<session>", "t::a", "t::b", "t::c", "t::d", "<after t::d>"]
    assert tests[1] == TraceFacts("t::b", "tests/t::b", 5000, 6000, 21_500_000, 0.12)


def test_the_largest_are_opened_then_the_smallest() -> None:
    _, tests, _ = parse_index(INDEX)
    assert [t.id for t in to_open(tests, 2)] == ["t::b", "t::d", "t::c"]
    assert [t.id for t in to_open(tests, 9)] == ["t::b", "t::d", "t::a", "t::c"]  # the smallest once
    assert to_open([], 3) == []


def test_single_trace_facts_come_from_its_metadata() -> None:
    meta = {
        "format": "ctfs",
        "steps": 1_484_287,
        "trace_bytes": 16_142_336,
        "replay_estimate": {"memory_bytes": 6_382_434_100, "open_seconds": 35.623, "basis": "..."},
    }
    assert facts_from_meta(meta) == TraceFacts("single trace", ".", 1_484_287, 16_142_336, 6_382_434_100, 35.623)
    assert facts_from_meta({}) == TraceFacts("single trace", ".", None, None, None, None)


def kb(mb: float) -> int:
    return int(mb * 1024)


def result(*opens: OpenCell, python: str = "3.12", **kw) -> SuiteResult:
    opened = [
        TraceFacts("t::big", "tests/big", 10_000, 140_000, 43_000_000, 0.24),
        TraceFacts("t::mid", "tests/mid", 5_000, 70_000, 21_500_000, 0.12),
        TraceFacts("t::tiny", "tests/tiny", 6, 28_672, 25_800, 0.0),
    ][: len(opens)]
    runs = {
        "plain": [SuiteRun(2.0, 1.9, kb(40)), SuiteRun(3.0, 2.0, kb(41)), SuiteRun(2.5, 2.0, kb(40))],
        "per-test": [SuiteRun(50.0, 14.0, kb(60))],
        "single": [SuiteRun(10.0, 4.0, kb(55))],
    }
    args = dict(
        runs=runs,
        summary="4 failed, 1196 passed",
        exit_status=1,
        counts={"passed": 1196, "failed": 4, "error": 0},
        traces=1201,
        steps=1_484_287,
        trace_bytes=74_000_000,
        largest=opened[0] if opened else None,
        opened=opened,
        opens=list(opens),
        single=TraceFacts("single trace", ".", 1_484_287, 16_142_336, 6_382_434_100, 35.623),
        single_open=OpenCell(
            python, "single trace", "ct", 16_142_336, not_opened="not opened (estimated 5.9 GB, over 1 GB)"
        ),
    )
    return SuiteResult(python, **{**args, **kw})


OPENS = (
    OpenCell("3.12", "t::big", "ct", 140_000, [OpenRun(4.0, kb(290), 9.0), OpenRun(4.4, kb(300), 9.5)]),
    OpenCell("3.12", "t::mid", "ct", 70_000, [OpenRun(2.0, kb(150), 4.0)]),
    OpenCell("3.12", "t::tiny", "ct", 28_672, [OpenRun(0.04, kb(10), 0.02)]),
)


def test_figures_medians_ratios_and_per_step_costs() -> None:
    f = suite_figures(result(*OPENS))
    assert f.wall_s == {"plain": 2.5, "per-test": 50.0, "single": 10.0}
    assert f.ratio == {"plain": 1.0, "per-test": 20.0, "single": 4.0} and f.cpu_s["plain"] == 2.0
    assert f.cpu_ratio == {"plain": 1.0, "per-test": 7.0, "single": 2.0}
    big, mid, tiny = f.opened
    assert (big.seconds, big.mb, big.cpu_s) == (pytest.approx(4.2), 295.0, 9.25)
    assert big.b_step == pytest.approx(295 * 2**20 / 10_000) and big.s_step == pytest.approx(4.2e-4)
    assert big.above_b_step == pytest.approx((295 - 10) * 2**20 / 9_994)
    assert big.above_s_step == pytest.approx((4.2 - 0.04) / 9_994)
    assert (big.estimate_b_step, big.estimate_s_step) == (4300.0, pytest.approx(24e-6))
    assert tiny.above_b_step is None and tiny.b_step is not None  # the baseline itself
    assert (f.worst_s, f.worst_mb, f.all_opened) == (pytest.approx(4.2), 295.0, True)


def goal_rows(res: SuiteResult) -> list[tuple[str, float | None, str]]:
    return [(g.limit, g.measured, g.verdict) for g in suite_goals(suite_figures(res))]


def test_goals_judge_the_worst_opened_trace() -> None:
    assert goal_rows(result(*OPENS)) == [
        ("<= 2 s", pytest.approx(4.2), "NOT met"),
        ("<= 1 GB", pytest.approx(295 / 1024), "met"),
    ]
    assert [v for *_, v in goal_rows(result(*OPENS[1:]))] == ["met", "met"]  # 2.0 s: at the limit


def test_a_trace_over_the_memory_limit_misses_both_goals_and_a_failed_open_makes_them_na() -> None:
    over = OpenCell("3.12", "t::big", "ct", 140_000, not_opened="not opened (over 14 GB of memory)")
    assert [(m, v) for _, m, v in goal_rows(result(over, *OPENS[1:]))] == [(2.0, "NOT met"), (150 / 1024, "NOT met")]
    failed = OpenCell("3.12", "t::big", "ct", 140_000, failed="replay-server exited (3): boom")
    assert [v for *_, v in goal_rows(result(failed, *OPENS[1:]))] == ["n/a", "n/a"]
    assert [v for *_, v in goal_rows(result())] == ["n/a", "n/a"]  # nothing opened


def suite_session(*results: SuiteResult, **options) -> Session:
    return Session(
        {
            "pythons": [r.python for r in results],
            "command": "x",
            "only_testsuite": True,
            "testsuite": {
                "runs": 3,
                "warmup": 1,
                "opens": 2,
                "single_max_gb": 1.0,
                "max_gb": 14.0,
                "skipped": None,
                **options,
            },
        },
        {"cpu": "Test CPU", "cores": "2", "date": "2026-12-07 13:00 UTC"},
        testsuite=list(results),
    )


def test_the_section_says_which_suite_how_big_and_what_was_measured() -> None:
    text = render_testsuite(suite_session(result(*OPENS)), ".venv/bin/python bench/run.py --only-testsuite")
    assert text.startswith("Generated by `.venv/bin/python bench/run.py --only-testsuite`.")
    assert "## A test suite recorded" in text
    assert (
        "The suite `bench/programs/suite` (`test_ledger.py` on `ledger.py`, a few tests failing on purpose): "
        "1,200 tests (1,196 passed, 4 failed), 1,484,287 steps recorded in all"
    ) in text
    assert "medians of 3 run(s) after 1 warm-up run(s)" in text
    assert "| test suite: per-test trace open time, replay-server (worst opened) | <= 2 s | 4.2 (NOT met) |" in text
    assert "| test suite: per-test trace open peak memory, GB (worst opened) | <= 1 GB | 0.288 (met) |" in text
    assert "| plain pytest | 2.500 | 1.00× | 2.000 | 1.00× | 40.0 | n/a | n/a | n/a |" in text
    assert "| one trace per test | 50.000 | 20.00× | 14.000 | 7.00× | 60.0 | 1,201 | 1,484,287 | 74.0 |" in text
    assert "| one trace (`--single-trace`) | 10.000 | 4.00× | 4.000 | 2.00× | 55.0 | 1 | 1,484,287 | 16.1 |" in text
    assert "- largest per-test trace: `t::big`, 10,000 steps, 140,000 bytes of trace.ct" in text
    assert (
        "- the single trace: 1,484,287 steps, 16,142,336 bytes of trace.ct, replay estimate 5.9 GB and 35.6 s; "
        "not opened (estimated 5.9 GB, over 1 GB)"
    ) in text
    assert "| `t::big` | 10,000 | 137 | 4.200 / 295 | 9.250 | 30,933 | 420.0 | 29,902 | 416.2 | 4,300 | 24.0 |" in text
    assert "| `t::tiny` | 6 | 28 | 0.040 / 10 | 0.020 | 1,747,627 | 6,666.7 | n/a | n/a | 4,300 | 0.0 |" in text


def test_the_section_round_trips_and_joins_the_full_report() -> None:
    s = suite_session(result(*OPENS), result(python="3.13", missing="pip install pytest==9.2.0 failed"))
    again = Session.from_json(json.loads(json.dumps(s.to_json())))
    assert again.testsuite == s.testsuite
    text = render_testsuite(again, "x")
    assert text == render_testsuite(s, "x")
    assert "CPython 3.13:\n\nn/a: pip install pytest==9.2.0 failed" in text
    assert "- CPython 3.13, test suite: n/a — pip install pytest==9.2.0 failed" in text
    s.options.update(scale=0.1, upstream_scale=0.003, runs=3, warmup=1)
    full = render(s, "make bench")
    assert "## A test suite recorded" in full and full.index("## A test suite") < full.index("## Method")


def test_failed_suite_and_skipped_opens_are_said() -> None:
    s = suite_session(result(failed="per-test: pytest ended with status 3"), skipped="--no-open")
    text = render_testsuite(s, "x")
    assert "FAILED: per-test: pytest ended with status 3" in text and "Opens not measured: --no-open." in text
    assert "| <= 2 s | n/a |" in text


FAKE_PYTHON = """#!{python}
# A stand-in interpreter: `-m pytest` prints a summary; `-m codetracer_python_recorder`
# also writes the trace folder the recorder would (tests.json, or one trace).
import json, os, sys
args = sys.argv[1:]
recording = args[1] == "codetracer_python_recorder"
summary = os.environ.get("FAKE_RECORDED_SUMMARY", "") if recording else ""
print("...F\\n" + (summary or "1 failed, 3 passed") + " in 0.01s")
if recording:
    out = args[args.index("--out-dir") + 1]
    os.makedirs(out)
    def write(folder, steps):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "trace.ct"), "wb") as f:
            f.write(b"c" * steps)
        facts = {{"steps": steps, "trace_bytes": steps,
                 "replay_estimate": {{"memory_bytes": steps * 4300, "open_seconds": steps * 24e-6}}}}
        with open(os.path.join(folder, "trace_metadata.json"), "w") as f:
            json.dump({{"format": "ctfs", **facts}}, f)
        return facts
    if "--single-trace" in args:
        write(out, 400_000)
    else:
        traces = [{{"id": "<session>", "kind": "session", "folder": ".", **write(out, 40)}}]
        for i, steps in enumerate([1000, 3000, 20, 2000]):
            folder = f"tests/t{{i}}"
            traces.append({{"id": f"t.py::t{{i}}", "kind": "test", "folder": folder,
                            "outcome": "failed" if i == 2 else "passed", **write(os.path.join(out, folder), steps)}})
        with open(os.path.join(out, "tests.json"), "w") as f:
            json.dump({{"counts": {{"passed": 3, "failed": 1}}, "traces": traces}}, f)
sys.exit(1)
"""


def fake_python(tmp: Path) -> Path:
    exe = tmp / "python"
    exe.write_text(FAKE_PYTHON.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def options(**kw) -> SuiteOptions:
    args = dict(
        runs=2, warmup=1, opens=2, single_max_gb=1.0, server=FAKE_SERVER, json_max_mb=120.0, timeout=30.0, max_gb=4.0
    )
    return SuiteOptions(**{**args, **kw})


def test_run_suite_measures_reads_opens_and_cleans_up(tmp_path: Path) -> None:
    said: list[str] = []
    res = run_suite(
        fake_python(tmp_path), "3.12", tmp_path / "scratch", {"PATH": "/usr/bin:/bin"}, options(), said.append
    )
    assert res.failed is None, res.failed
    assert {m: len(r) for m, r in res.runs.items()} == {"plain": 2, "per-test": 2, "single": 2}
    assert (res.exit_status, res.summary, res.counts) == (1, "1 failed, 3 passed", {"passed": 3, "failed": 1})
    assert (res.traces, res.steps, res.trace_bytes) == (5, 6060, 6060)
    assert [t.id for t in res.opened] == ["t.py::t1", "t.py::t3", "t.py::t2"] and res.largest == res.opened[0]
    assert [(o.workload, len(o.runs), o.failed) for o in res.opens] == [
        ("t.py::t1", 2, None),
        ("t.py::t3", 2, None),
        ("t.py::t2", 2, None),
    ]
    assert res.single is not None and res.single.steps == 400_000
    assert res.single_open is not None and res.single_open.not_opened == "not opened (estimated 1.6 GB, over 1 GB)"
    assert "CPython 3.12 test suite: round 1/3 (warm-up)" in said
    assert not (tmp_path / "scratch").exists()  # traces and the suite's copy are gone


def test_run_suite_opens_the_single_trace_when_its_estimate_is_small(tmp_path: Path) -> None:
    res = run_suite(
        fake_python(tmp_path),
        "3.12",
        tmp_path / "s",
        {"PATH": "/usr/bin:/bin"},
        options(runs=1, warmup=0, opens=1, single_max_gb=2.0),
        lambda _: None,
    )
    assert res.single_open is not None and res.single_open.not_opened is None and len(res.single_open.runs) == 1
    none = run_suite(
        fake_python(tmp_path),
        "3.12",
        tmp_path / "s",
        {"PATH": "/usr/bin:/bin"},
        options(runs=1, warmup=0, server=None),
        lambda _: None,
    )
    assert none.opens == [] and none.single_open is None and none.failed is None


def test_a_recorded_run_that_ends_otherwise_than_plain_fails_the_suite(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FAKE_RECORDED_SUMMARY": "2 failed, 2 passed"}
    res = run_suite(fake_python(tmp_path), "3.12", tmp_path / "s", env, options(runs=1, warmup=0), lambda _: None)
    assert res.failed is not None and res.failed.startswith(
        "per-test: pytest ended with status 1 and '2 failed, 2 passed', plain pytest with 1 and '1 failed, 3 passed'"
    )
    assert not (tmp_path / "s").exists()
