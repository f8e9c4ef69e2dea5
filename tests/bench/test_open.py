"""Opening the traces in CodeTracer's replay-server (the trace.ct goal rows of docs/performance.md "Goals"):
parsing /usr/bin/time's report, the opens against a stand-in server, the
figures, goal rows and table, and one real open of a tiny trace in each
format when ../shared/tools/replay-server is present."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ctbench.analysis import figures, goals, open_figures
from ctbench.dap import REPLAY_SERVER
from ctbench.replay_open import OpenError, measure_open, open_once, parse_peak_kb, server_missing
from ctbench.report import render
from ctbench.results import Cell, OpenCell, OpenRun, Run, Session

FAKE_SERVER = Path(__file__).resolve().parent / "fake_replay_server.py"
REPO = Path(__file__).resolve().parents[2]

TIME_V = """\
\tCommand being timed: "replay-server dap-server --stdio"
\tUser time (seconds): 0.61
\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:01.29
\tMaximum resident set size (kbytes): 414720
\tAverage resident set size (kbytes): 0
\tExit status: 0
"""


def trace_folder(root: Path, name: str, size: int = 100) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(b"x" * size)
    return root


def opened(tmp: Path, fmt: str, folder: Path | None, **kw) -> OpenCell:
    args = {"runs": 1, "scratch": tmp / "open", "json_max_mb": 120.0, "timeout": 30.0, "max_gb": 4.0, **kw}
    return measure_open(FAKE_SERVER, "3.12", "w_a", fmt, folder, **args)


def test_peak_rss_comes_from_time_v() -> None:
    assert parse_peak_kb(TIME_V) == 414720


def test_a_report_without_the_peak_is_an_error_quoting_its_tail() -> None:
    with pytest.raises(OpenError, match=r"no 'Maximum resident set size'.*Command terminated by signal 9"):
        parse_peak_kb("\tUser time (seconds): 0.61\nCommand terminated by signal 9\n")
    with pytest.raises(OpenError, match=r"\(empty\)"):
        parse_peak_kb("")


def test_server_absent_says_so_and_where(tmp_path: Path) -> None:
    why = server_missing(tmp_path / "replay-server")
    assert why is not None and str(tmp_path / "replay-server") in why and "NOT measured" in why
    assert server_missing(FAKE_SERVER) is None


def test_open_times_the_first_stop_and_reads_the_peak(tmp_path: Path) -> None:
    run = open_once(FAKE_SERVER, trace_folder(tmp_path / "t", "trace.ct"), tmp_path / "open", 30.0, 4.0)
    assert run.seconds > 0 and run.peak_kb > 1000  # a Python process: megabytes
    cell = opened(tmp_path, "ct", tmp_path / "t", runs=3)
    assert (cell.format, cell.trace_bytes, cell.not_opened, cell.failed) == ("ct", 100, None, None)
    assert len(cell.runs) == 3
    assert not list((tmp_path / "open").glob("rt-*"))  # each open's runtime folder is removed


def test_a_trace_json_above_the_cap_is_not_opened(tmp_path: Path) -> None:
    folder = trace_folder(tmp_path / "t", "trace.json", 2_600_000)
    cell = opened(tmp_path, "json", folder, json_max_mb=2.0)
    assert cell.not_opened == "not opened (3 MB)" and cell.runs == [] and cell.failed is None
    assert opened(tmp_path, "json", folder, json_max_mb=3.0).runs  # under the cap: opened
    # the cap is for trace.json only
    assert opened(tmp_path, "ct", trace_folder(tmp_path / "c", "trace.ct", 2_600_000), json_max_mb=2.0).runs


def test_a_server_out_of_memory_is_not_opened_not_failed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_REPLAY", "oom")
    cell = opened(tmp_path, "ct", trace_folder(tmp_path / "t", "trace.ct"), runs=2, max_gb=1.5)
    assert cell.not_opened == "not opened (over 1.5 GB of memory)" and cell.failed is None and cell.runs == []


def test_a_server_that_cannot_open_the_trace_fails_with_its_words(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_REPLAY", "broken")
    cell = opened(tmp_path, "ct", trace_folder(tmp_path / "t", "trace.ct"))
    assert cell.failed is not None and "replay-server exited (3)" in cell.failed and "no trace in" in cell.failed
    missing = opened(tmp_path, "json", None)
    assert missing.failed == "no trace.json (ours-locals did not finish a run)" and missing.trace_bytes is None


def test_a_server_that_never_stops_fails_after_the_timeout_and_is_killed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_REPLAY", "hang")
    cell = opened(tmp_path, "ct", trace_folder(tmp_path / "t", "trace.ct"), timeout=1.0)
    assert cell.failed == "replay-server sent nothing for 1.0s"
    pid = int((tmp_path / "t" / "server.pid").read_text())
    status = Path(f"/proc/{pid}/status")  # the server under /usr/bin/time is gone too
    assert not status.exists() or "\tZ (zombie)" in status.read_text()


def run(wall_s: float) -> Run:
    return Run(wall_s / 2, wall_s, 10 * 1024, "42", {"trace_bytes": 1000})


def open_session(*opens: OpenCell, **options) -> Session:
    s = Session(
        {
            "scale": 0.1,
            "upstream_scale": 0.003,
            "runs": 3,
            "warmup": 1,
            "pythons": ["3.12"],
            "open": {"runs": 3, "scale": 0.1, "json_max_mb": 120.0, "max_gb": 14.0, "skipped": None, **options},
        },
        {"cpu": "Test CPU"},
    )
    for w in dict.fromkeys(o.workload for o in opens):
        s.cells += [Cell("3.12", w, t, 0.1, [run(1.0)]) for t in ("plain", "ours-locals", "ours-ctfs")]
    s.opens = list(opens)
    return s


def kb(mb: float) -> int:
    return int(mb * 1024)


OPENS = (
    OpenCell("3.12", "w_a", "json", 5_400_000, [OpenRun(1.0, kb(400)), OpenRun(1.4, kb(420)), OpenRun(9.0, kb(380))]),
    OpenCell("3.12", "w_a", "ct", 100_000, [OpenRun(0.2, kb(40)), OpenRun(0.3, kb(41)), OpenRun(0.1, kb(39))]),
    OpenCell("3.12", "w_b", "json", 44_900_000, [OpenRun(10.0, kb(4000))]),
    OpenCell("3.12", "w_b", "ct", 600_000, [OpenRun(6.0, kb(1000))]),
    OpenCell("3.12", "w_c", "json", 384_500_000, not_opened="not opened (384 MB)"),
    OpenCell("3.12", "w_c", "ct", 1_500_000, [OpenRun(28.0, kb(4100))]),
)


def goal_rows(s: Session) -> dict[str, str]:
    figs = {(c.tracer, c.workload): figures(s, c) for c in s.cells}
    return {g.name: (g.limit, g.measured, g.verdict) for g in goals(s, "3.12", figs) if "replay-server" in g.name}


def test_open_figures_are_medians_and_ct_over_json() -> None:
    a, b, c = open_figures(open_session(*OPENS), "3.12")
    assert (a.workload, a.json_s, a.json_mb, a.ct_s, a.ct_mb) == ("w_a", 1.4, 400.0, 0.2, 40.0)
    assert a.ratio_s == pytest.approx(0.2 / 1.4) and a.ratio_mb == pytest.approx(0.1)
    assert b.ratio_s == pytest.approx(0.6) and b.ratio_mb == pytest.approx(0.25)
    assert c.json_s is None and c.ct_s == 28.0 and c.ratio_s is None and c.ratio_mb is None


def test_open_goals_take_the_worst_workload_where_both_opened() -> None:
    rows = goal_rows(open_session(*OPENS))
    time_, mem = (
        rows["replay-server open time ct/json (worst workload)"],
        rows["replay-server open peak memory ct/json (worst workload)"],
    )
    assert time_[0] == "<= 0.1" and time_[1] == pytest.approx(0.6) and time_[2] == "NOT met"
    assert mem[1] == pytest.approx(0.25) and mem[2] == "NOT met"
    met = goal_rows(open_session(*OPENS[:2]))
    assert met["replay-server open peak memory ct/json (worst workload)"][2] == "met"  # 0.1
    assert met["replay-server open time ct/json (worst workload)"][2] == "NOT met"  # 0.143


def test_open_goals_are_na_when_no_json_opened() -> None:
    rows = goal_rows(open_session(*OPENS[4:]))
    assert {v[2] for v in rows.values()} == {"n/a"} and len(rows) == 2


def test_report_shows_the_open_table_and_goal_rows() -> None:
    text = render(open_session(*OPENS), "make bench")
    assert "## Opening the trace in CodeTracer's replay-server" in text
    assert (
        "medians of 3 open(s)" in text
        and "at scale 0.1." in text
        and "above 120 MB is not opened" in text
        and "than 14 GB" in text
    )
    assert (
        "| workload | trace.json MB | json open s / peak MB | trace.ct MB | ct open s / peak MB | time ct/json "
        "| peak memory ct/json |"
    ) in text
    assert "| w_a | 5.4 | 1.400 / 400 | 0.1 | 0.200 / 40 | 0.143 | 0.1 |" in text
    assert "| w_c | 384.5 | not opened (384 MB) | 1.5 | 28.000 / 4,100 | n/a | n/a |" in text
    assert "| replay-server open time ct/json (worst workload) | <= 0.1 | 0.6 (NOT met) |" in text
    assert "| replay-server open peak memory ct/json (worst workload) | <= 0.1 | 0.25 (NOT met) |" in text


def test_report_says_loudly_why_opens_were_not_measured() -> None:
    s = open_session(skipped="CodeTracer's replay-server is not at /x: trace open times NOT measured")
    s.cells = [Cell("3.12", "w_a", t, 0.1, [run(1.0)]) for t in ("plain", "ours-locals", "ours-ctfs")]
    text = render(s, "make bench")
    assert "Not measured: CodeTracer's replay-server is not at /x: trace open times NOT measured." in text
    assert "- replay-server open: CodeTracer's replay-server is not at /x" in text
    assert "| replay-server open time ct/json (worst workload) | <= 0.1 | n/a |" in text


def test_failed_open_is_a_note_and_session_round_trips() -> None:
    s = open_session(OpenCell("3.12", "w_a", "json", 10, failed="replay-server exited (3): boom"), OPENS[1])
    text = render(s, "x")
    assert "| w_a | 0.0 | FAILED | 0.1 | 0.200 / 40 | n/a | n/a |" in text
    assert "- CPython 3.12, replay-server open of w_a (json): FAILED — replay-server exited (3): boom" in text
    again = Session.from_json(json.loads(json.dumps(s.to_json())))
    assert again.opens == s.opens and render(again, "x") == text


@pytest.mark.replay
@pytest.mark.skipif(
    not REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is not at {REPLAY_SERVER} "
    "(see ../shared/tools/REPLAY.md): opening a trace in it NOT measured",
)
@pytest.mark.parametrize("recorder_python", ["3.12"], indirect=True)
def test_the_replay_server_opens_a_tiny_trace_in_each_format(tmp_path: Path, recorder_python: Path) -> None:
    python = recorder_python
    program = REPO / "tests" / "recorder" / "programs" / "functions.py"
    for fmt, name in (("json", "trace.json"), ("ctfs", "trace.ct")):
        done = subprocess.run(
            [
                str(python),
                "-m",
                "codetracer_python_recorder",
                "--trace-dir",
                str(tmp_path / fmt),
                "--format",
                fmt,
                str(program),
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        cell = measure_open(
            REPLAY_SERVER,
            "3.12",
            "functions",
            "json" if fmt == "json" else "ct",
            tmp_path / fmt,
            runs=1,
            scratch=tmp_path / "open",
            json_max_mb=120.0,
            timeout=60.0,
            max_gb=8.0,
        )
        assert cell.failed is None and cell.not_opened is None, cell
        assert cell.trace_bytes == (tmp_path / fmt / name).stat().st_size
        [opened_run] = cell.runs
        assert opened_run.seconds > 0 and opened_run.peak_kb > 1000
