"""bench/run.py end to end on a tiny scale with the tracers that need no
download (plain and the C floors): what it prints, writes and returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"


@pytest.fixture(scope="module")
def venvs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("venvs")


def bench(args: list[str], tmp: Path, venvs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--pythons",
            "3.12",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--no-startup",
            "--venvs",
            str(venvs),
            "--out",
            str(tmp / "perf.md"),
            "--json",
            str(tmp / "out" / "results.json"),
            "--no-reference",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def rendered_again(results: Path, out: Path) -> str:
    """The report `--render` makes again from a run's results.json."""
    again = subprocess.run(
        [sys.executable, str(RUN), "--render", str(results), "--out", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    return out.read_text()


def test_help_names_the_defaults() -> None:
    done = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--scale" in done.stdout and "(default: 0.1)" in done.stdout and "(default: 5)" in done.stdout


def test_unknown_tracer_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, str(RUN), "--tracers", "plain,nosuch"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown tracer(s) nosuch" in done.stderr


def test_floor_run_writes_the_report(tmp_path: Path, venvs: Path) -> None:
    done = bench(
        [
            "--only",
            "recursion",
            "--tracers",
            "plain,floor-noop,floor-record8,ours-none",
            "--scale",
            "0.01",
            "--dist",
            str(tmp_path / "no-dist"),
        ],
        tmp_path,
        venvs,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert done.stdout.strip() == report.strip()
    assert "Scale 0.01;" in report
    assert "| floor-noop | w_recursion | 0.01 |" in report
    assert "| floor-record8 | w_recursion | 0.01 |" in report and "| kept 8.0 |" in report
    # our recorder without a wheel: n/a with the reason, not a crash
    assert "| ours-none | all | n/a |" in report
    assert "- CPython 3.12, ours-none: n/a — no dist/codetracer_python_recorder-*.whl (run `make wheel`)" in report
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {c["tracer"] for c in results["cells"]} >= {"plain", "floor-noop", "floor-record8", "ours-none"}
    assert (tmp_path / "out" / "events.json").exists()
    assert not any((tmp_path / "out" / "work").rglob("records.bin"))  # traces deleted after measuring
    assert rendered_again(tmp_path / "out" / "results.json", tmp_path / "again.md") == report


FAKE_MONITORED = """\
import os, sys, time
t0 = time.perf_counter()
check = "watched" if sys.monitoring.get_tool(3) else "alone"
{extra}
sys.stderr.write("ANCHOR_RESULT %.6f %s\\n" % (time.perf_counter() - t0, check))
"""


def test_check_mismatch_fails_loudly(tmp_path: Path, venvs: Path) -> None:
    work = tmp_path / "workloads"
    work.mkdir()
    (work / "w_fake.py").write_text(FAKE_MONITORED.format(extra=""))
    done = bench(["--workloads", str(work), "--tracers", "plain,floor-noop"], tmp_path, venvs)
    assert done.returncode == 1
    assert "check value 'watched' != plain python's 'alone'" in done.stderr
    assert not (tmp_path / "perf.md").exists()


def test_a_failing_tracer_is_reported_and_the_exit_status_says_so(tmp_path: Path, venvs: Path) -> None:
    work = tmp_path / "workloads"
    work.mkdir()
    (work / "w_fake.py").write_text(FAKE_MONITORED.format(extra='if check == "watched": sys.exit("crash!")'))
    done = bench(["--workloads", str(work), "--tracers", "plain,floor-noop"], tmp_path, venvs)
    assert done.returncode == 1
    assert "FAILED: CPython 3.12 floor-noop on w_fake: exit status 1: crash!" in done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert "| floor-noop | w_fake | 0.1 | FAILED |" in report


FAKE_RECORDER = '''\
"""A stand-in for our recorder that keeps its CLI and trace-folder contract
(docs/interfaces.md) and writes fixed figures."""
import json, os, runpy, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("codetracer-python-recorder 0.0.1")
    sys.exit(0)
opts = {}
while args[0].startswith("--"):
    opts[args[0]] = args[1]
    args = args[2:]
script = args[0]
sys.argv = args
runpy.run_path(script, run_name="__main__")
out = opts["--trace-dir"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "trace.ct" if opts.get("--format") == "ctfs" else "trace.json"), "w") as f:
    f.write("[" + "0," * 1000 + "0]")
meta = {"stats": {"events": 1000, "stream_bytes": 500, "values": opts.get("--values", "locals")},
        "timings": {"drain_seconds": 0.001, "convert_seconds": 0.002, "total_seconds": 0.01}}
with open(os.path.join(out, "trace_metadata.json"), "w") as f:
    json.dump(meta, f)
'''


def fake_wheel(dist: Path) -> Path:
    """A pure-Python wheel named like ours, built by hand (zip + RECORD)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "codetracer_python_recorder/__init__.py": "",
        "codetracer_python_recorder/__main__.py": FAKE_RECORDER,
        "codetracer_python_recorder-0.0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: codetracer-python-recorder\nVersion: 0.0.1\n",
        "codetracer_python_recorder-0.0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("codetracer_python_recorder-0.0.1.dist-info/RECORD,,")
    files["codetracer_python_recorder-0.0.1.dist-info/RECORD"] = "\n".join(record) + "\n"
    dist.mkdir(parents=True, exist_ok=True)
    wheel = dist / "codetracer_python_recorder-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return wheel


def test_our_recorder_figures_come_from_its_trace_folder(tmp_path: Path, venvs: Path) -> None:
    fake_wheel(tmp_path / "dist")
    done = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--pythons",
            "3.12",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--venvs",
            str(venvs),
            "--dist",
            str(tmp_path / "dist"),
            "--only",
            "w_numeric",
            "--scale",
            "0.01",
            "--startup-runs",
            "2",
            "--tracers",
            "plain,floor-record8,ours-none,ours-locals",
            "--no-testsuite",
            "--out",
            str(tmp_path / "perf.md"),
            "--json",
            str(tmp_path / "out" / "results.json"),
            "--no-reference",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "perf.md").read_text()
    # MB/s = 2003 bytes of trace.json / 0.002 s; bytes per monitoring event of the whole program
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    total = results["events"]["3.12|w_numeric|0.01"]["total"]
    assert f"| 1.0 | kept {500 / total:.3f}, trace.json {2003 / total:.3f} |" in report
    assert "| kept in-run bytes / trace.json bytes (worst workload) | <= 0.25 | 0.25 (met) |" in report
    assert "- CPython 3.12: python 3.12" in report and "ours 0.0.1" in report
    # start-up measured with hyperfine, including our --version and recording an empty script
    startup = results["startup"]["3.12"]
    assert startup["version_s"] > 0 and startup["record_empty_s"] > 0
    assert "| start-up added, ms (--version / empty script, worst) | <= 30 | n/a |" not in report


FAKE_SERVER = REPO / "tests" / "bench" / "fake_replay_server.py"


def bench_ours(tmp: Path, venvs: Path, *args: str) -> subprocess.CompletedProcess:
    fake_wheel(tmp / "dist")
    return subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--pythons",
            "3.12",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--venvs",
            str(venvs),
            "--dist",
            str(tmp / "dist"),
            "--only",
            "w_recursion",
            "--scale",
            "0.001",
            "--no-startup",
            "--no-code-size",
            "--tracers",
            "plain,ours-locals,ours-ctfs",
            "--no-testsuite",
            "--out",
            str(tmp / "perf.md"),
            "--json",
            str(tmp / "out" / "results.json"),
            "--no-reference",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_the_traces_of_ours_locals_and_ours_ctfs_are_opened_in_the_replay_server(tmp_path: Path, venvs: Path) -> None:
    done = bench_ours(tmp_path, venvs, "--replay-server", str(FAKE_SERVER))
    assert done.returncode == 0, done.stderr
    assert "bench: CPython 3.12 w_recursion: opening the json trace in the replay-server (2 run(s))" in done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert "## Opening the trace in CodeTracer's replay-server" in report
    row = next(line for line in report.splitlines() if line.startswith("| w_recursion | 0.0 | "))
    assert row.count(" / ") == 2 and "n/a" not in row  # both opened: seconds / peak MB, and the ratios
    assert "| replay-server open time ct/json (worst workload) | <= 0.1 |" in report
    assert "| replay-server open peak memory ct/json (worst workload) | <= 0.1 |" in report
    opens = json.loads((tmp_path / "out" / "results.json").read_text())["opens"]
    assert [(o["workload"], o["format"], o["trace_bytes"], len(o["runs"])) for o in opens] == [
        ("w_recursion", "json", 2003, 2),
        ("w_recursion", "ct", 2003, 2),
    ]
    assert not (tmp_path / "out" / "work" / "kept").exists()  # kept traces are deleted after opening
    assert "at scale 0.001." in report


def test_open_scale_records_one_more_trace_of_each_format_at_that_scale(tmp_path: Path, venvs: Path) -> None:
    done = bench_ours(tmp_path, venvs, "--replay-server", str(FAKE_SERVER), "--open-scale", "0.002")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["options"]["open"]["scale"] == 0.002
    assert [(o["format"], len(o["runs"])) for o in results["opens"]] == [("json", 2), ("ct", 2)]
    assert "at scale 0.002." in (tmp_path / "perf.md").read_text()


def test_absent_server_is_said_loudly_and_no_open_skips_it(tmp_path: Path, venvs: Path) -> None:
    done = bench_ours(tmp_path, venvs, "--replay-server", str(tmp_path / "nowhere"))
    assert done.returncode == 0, done.stderr
    assert f"bench: WARNING: CodeTracer's replay-server is not at {tmp_path / 'nowhere'}" in done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert "Not measured: CodeTracer's replay-server is not at" in report
    assert "| replay-server open time ct/json (worst workload) | <= 0.1 | n/a |" in report
    skipped = bench_ours(tmp_path, venvs, "--no-open")
    assert skipped.returncode == 0 and "replay-server" not in skipped.stderr
    assert "## Opening the trace" not in (tmp_path / "perf.md").read_text()


def test_only_testsuite_without_a_wheel_says_na_and_re_renders(tmp_path: Path, venvs: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--only-testsuite",
            "--pythons",
            "3.12",
            "--runs",
            "1",
            "--venvs",
            str(venvs),
            "--dist",
            str(tmp_path / "no-dist"),
            "--out",
            str(tmp_path / "s.md"),
            "--json",
            str(tmp_path / "s.json"),
            "--no-open",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    section = (tmp_path / "s.md").read_text()
    assert section.startswith("Generated by `.venv/bin/python bench/run.py --only-testsuite --pythons 3.12")
    assert "## A test suite recorded" in section and "## Goals" not in section
    assert "n/a: no dist/codetracer_python_recorder-*.whl (run `make wheel`)" in section
    assert rendered_again(tmp_path / "s.json", tmp_path / "again.md") == section


def test_only_and_no_testsuite_exclude_each_other() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--only-testsuite", "--no-testsuite"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--only-testsuite and --no-testsuite exclude each other" in done.stderr


SECONDS_BY_RECORDING = """\
import sys
recorded = "codetracer_python_recorder" in sys.modules
sys.stderr.write("ANCHOR_RESULT %.6f same\\n" % ({recorded} if recorded else 0.1))
"""


def two_sets(tmp: Path) -> tuple[Path, Path]:
    """A reference folder and ours, each with a w_fake.py of its own: in main()
    the reference one takes 3x plain's seconds recorded, ours 9x."""
    ref, ours = tmp / "shared" / "workloads", tmp / "ours"
    for folder, recorded in ((ref, 0.3), (ours, 0.9)):
        folder.mkdir(parents=True)
        (folder / "w_fake.py").write_text(SECONDS_BY_RECORDING.format(recorded=recorded))
    return ref, ours


def bench_sets(tmp: Path, venvs: Path, ours: Path, *args: str) -> subprocess.CompletedProcess:
    fake_wheel(tmp / "dist")
    return subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--pythons",
            "3.12",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--venvs",
            str(venvs),
            "--dist",
            str(tmp / "dist"),
            "--workloads",
            str(ours),
            "--no-startup",
            "--no-code-size",
            "--no-open",
            "--tracers",
            "plain,ours-ctfs",
            "--no-testsuite",
            "--out",
            str(tmp / "perf.md"),
            "--json",
            str(tmp / "out" / "results.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_reference_workloads_run_beside_ours_and_the_goal_rows_judge_them(tmp_path: Path, venvs: Path) -> None:
    ref, ours = two_sets(tmp_path)
    done = bench_sets(tmp_path, venvs, ours, "--reference", str(ref))
    assert done.returncode == 0, done.stderr
    assert f"bench: reference workloads of {ref} run beside ours; the goal rows judge them" in done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert done.stdout.strip() == report.strip()
    # both tables, each with its own w_fake (3x and 9x plain: never mixed)
    ref_at = report.index(f"## CPython 3.12, reference workloads ({ref})")
    ours_at = report.index(f"## CPython 3.12, the project's workloads ({ours})")
    ref_row = next(line for line in report[ref_at:ours_at].splitlines() if line.startswith("| ours-ctfs | w_fake |"))
    ours_row = next(line for line in report[ours_at:].splitlines() if line.startswith("| ours-ctfs | w_fake |"))
    assert "| 3.01× |" in ref_row and "| 9.01× |" in ours_row
    # the goal rows judge the reference set
    assert f"The goal rows judge the reference workloads ({ref})" in report
    assert "| in-run geo-mean, ours-ctfs / plain | <= 5x | 3.01 (met) |" in report
    assert "| in-run, ours-ctfs / plain (worst workload) | <= 8x | 3.01 (met) |" in report
    # every *_seconds of the recorder's timings, as a column of the stage table of each set
    stage_rows = [line for line in report.splitlines() if line.startswith("| ours-ctfs | w_fake | 0.001 | 0.002 |")]
    assert len(stage_rows) == 2 and "| tracer | workload | drain s | convert s | total s |" in report
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {(c["workload"], c["tracer"]) for c in results["cells"]} == {
        (w, t) for w in ("ref/w_fake", "w_fake") for t in ("plain", "ours-ctfs")
    }
    assert results["options"]["reference"] == {"folder": str(ref), "present": True}
    assert rendered_again(tmp_path / "out" / "results.json", tmp_path / "again.md") == report


def test_without_the_reference_folder_the_goal_rows_judge_ours_and_say_so(tmp_path: Path, venvs: Path) -> None:
    _, ours = two_sets(tmp_path)
    nowhere = tmp_path / "no-shared" / "workloads"
    done = bench_sets(tmp_path, venvs, ours, "--reference", str(nowhere))
    assert done.returncode == 0, done.stderr
    assert f"bench: WARNING: no reference workloads in {nowhere}: the goal rows judge the project's own" in done.stderr
    report = (tmp_path / "perf.md").read_text()
    assert f"**WARNING: the reference workloads folder {nowhere} is absent: the goal rows" in report
    assert "| in-run geo-mean, ours-ctfs / plain | <= 5x | 9.01 (NOT met) |" in report
    assert "## CPython 3.12, reference workloads" not in report and "## CPython 3.12\n" in report
    assert f"- reference workloads: {nowhere} is absent; goals judged on ours" in report


def test_only_picks_a_stem_in_both_sets_and_a_ref_name_in_the_reference_set_alone(tmp_path: Path) -> None:
    import run

    ref, ours = two_sets(tmp_path)
    (ours / "w_other.py").write_text("")
    assert [n for n, _ in run.select_workloads(ours, None, ref)] == ["ref/w_fake", "w_fake", "w_other"]
    assert [n for n, _ in run.select_workloads(ours, ["fake"], ref)] == ["ref/w_fake", "w_fake"]
    assert [n for n, _ in run.select_workloads(ours, ["ref/fake,other"], ref)] == ["ref/w_fake", "w_other"]
    assert [n for n, _ in run.select_workloads(ours, ["w_fake.py"], None)] == ["w_fake"]
