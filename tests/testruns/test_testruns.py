"""The recorder's test runs (docs/test-runs.md): `--pytest` / `--unittest`
driven as CodeTracer's `ct record` drives the console script
(src/ct/trace/recorder_dispatch.nim: `--out-dir DIR [--activation-path PATH]
(--pytest ARGS... | --unittest ARGS... | PROGRAM)`), one trace per test, and
what CodeTracer's replay-server shows of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.recorder.conftest import Trace

from .conftest import PSUITE, SUITE, TSUITE, USUITE, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "replay"))
import replay
from dap import DapClient

REPLAY_SERVER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "replay-server"
needs_server = pytest.mark.skipif(
    not REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is absent ({REPLAY_SERVER}): the trace is not opened",
)

CTFS = ["--format", "ctfs"]


def script(python: Path) -> str:
    return str(python.parent / "codetracer-python-recorder")


def pytest_cmd(python: Path, out: Path, options: list[str], *pytest_args: str) -> list[str]:
    """The recorder's command line for a pytest run, quiet and without pytest's cache."""
    return [script(python), "--out-dir", str(out), *options, "--pytest", "-q", "-p", "no:cacheprovider", *pytest_args]


def plain_pytest(python: Path, cwd: Path, *args: str):
    return run([str(python), "-m", "pytest", *args], cwd)


def normalise(text: bytes) -> bytes:
    """pytest's timings vary run to run."""
    return re.sub(rb"in \d+\.\d+s", b"in Xs", text)


def index(out: Path) -> dict:
    return json.loads((out / "tests.json").read_text(encoding="utf-8"))


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    dest = tmp_path / "suite"
    shutil.copytree(SUITE, dest)
    return dest


# --- the console script as recorder_dispatch.nim runs it ------------------------------
@pytest.mark.parametrize(
    "args, status",
    [
        (["-q", "-p", "no:cacheprovider", "test_calc.py::test_adds"], 0),
        (["-q", "-p", "no:cacheprovider", "test_calc.py"], 1),
        (["-q", "-p", "no:cacheprovider", "-n", "2", "test_calc.py"], 1),
        (["-q", "-p", "no:cacheprovider", "--no-such-option"], 4),
        (["-q", "-p", "no:cacheprovider", "-k", "nothing_matches_this"], 5),
    ],
    ids=["passing", "failing", "xdist", "usage-error", "no-tests"],
)
def test_pytest_mode_exit_status_and_output_are_pytests(
    tests_python: Path, suite: Path, tmp_path: Path, args: list[str], status: int
) -> None:
    plain = plain_pytest(tests_python, suite, *args)
    out = tmp_path / "out"
    recorded = run([script(tests_python), "--out-dir", str(out), "--pytest", *args], suite)
    assert plain.returncode == status, plain.stderr
    assert recorded.returncode == status, recorded.stderr.decode()
    if "-n" in args:  # workers finish in any order: the same lines, the same progress marks

        def unordered(out: bytes) -> list[bytes]:
            return sorted(
                bytes(sorted(line)) if re.fullmatch(rb"[.FEsxX]+ +\[100%\]", line) else line
                for line in normalise(out).splitlines()
            )

        assert unordered(recorded.stdout) == unordered(plain.stdout)
    else:
        assert normalise(recorded.stdout) == normalise(plain.stdout)
    assert (out / "trace_metadata.json").is_file()


@pytest.mark.parametrize(
    "args, status",
    [
        (["test_units.Words"], 0),
        (["test_units"], 1),
        (["-k", "nothing_matches_this", "test_units"], 5),
    ],
    ids=["passing", "failing", "no-tests"],
)
def test_unittest_mode_exit_status_and_output_are_unittests(
    tests_python: Path, tmp_path: Path, args: list[str], status: int
) -> None:
    plain = run([str(tests_python), "-m", "unittest", *args], USUITE)
    out = tmp_path / "out"
    recorded = run([script(tests_python), "--out-dir", str(out), "--unittest", *args], USUITE)
    assert plain.returncode == status
    assert recorded.returncode == status, recorded.stderr.decode()
    assert recorded.stdout == plain.stdout
    norm = re.compile(rb"Ran (\d+) tests? in \d+\.\d+s")
    assert norm.sub(rb"Ran \1", recorded.stderr.split(b"codetracer-python-recorder:")[0]) == norm.sub(
        rb"Ran \1", plain.stderr
    )


def test_script_and_module_with_activation_path(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    """The other two shapes of recorder_dispatch.nim's argv: a program, with
    and without --activation-path."""
    (suite / "main.py").write_text("from calc import add\nprint(add(2, 3))\n")
    plain = run([str(tests_python), "main.py"], suite)
    for extra in ([], ["--activation-path", str(suite / "calc.py")]):
        out = tmp_path / f"out{len(extra)}"
        recorded = run([script(tests_python), "--out-dir", str(out), *extra, "main.py"], suite)
        assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout) == (0, b"5\n")
        meta = json.loads((out / "trace_metadata.json").read_text())
        assert meta.get("activation_path") == (str(suite / "calc.py") if extra else None)
    out = tmp_path / "outm"
    recorded = run(
        pytest_cmd(tests_python, out, ["--activation-path", str(suite / "calc.py")], "test_calc.py::test_adds"),
        suite,
    )
    assert recorded.returncode == 0, recorded.stderr.decode()
    meta = json.loads((out / "tests" / "test_calc.py_test_adds" / "trace_metadata.json").read_text())
    assert meta["activation_path"] == str(suite / "calc.py")


# --- one trace per test -----------------------------------------------------------------
def test_one_trace_per_pytest_test(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, CTFS, "test_calc.py"),
        suite,
    )
    assert r.returncode == 1, r.stderr.decode()
    run_index = index(out)
    tests = {t["id"]: t for t in run_index["traces"] if t["kind"] == "test"}
    assert {i: t["outcome"] for i, t in tests.items()} == {
        "test_calc.py::test_adds": "passed",
        "test_calc.py::test_fails": "failed",
        "test_calc.py::test_errors": "error",
        "test_calc.py::test_skipped": "skipped",
        "test_calc.py::test_known_bug": "xfailed",
        "test_calc.py::test_session_fixture": "passed",
        "test_calc.py::test_words[a/b]": "passed",
        "test_calc.py::test_words[c::d]": "passed",
        "test_calc.py::test_words[[x]]": "passed",
        "test_calc.py::test_words[\\xfcn\\xef]": "passed",
        "test_calc.py::test_ledger": "passed",
    }
    assert run_index["counts"] == {
        "passed": 7,
        "failed": 1,
        "error": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 0,
        "rerun": 0,
    }
    assert run_index["exit_status"] == 1
    folders = [t["folder"] for t in tests.values()]
    assert len(set(folders)) == len(folders)
    for test_id, test in tests.items():
        folder = out / test["folder"]
        assert re.fullmatch(r"tests/[\w.\-]+", test["folder"]), test["folder"]
        assert (folder / "trace.ct").is_file() and (folder / "trace_paths.json").is_file()
        meta = json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))
        assert meta["test"]["id"] == test_id and meta["test"]["outcome"] == test["outcome"]
        assert meta["test"]["framework"] == "pytest" and meta["test"]["duration_seconds"] >= 0
        assert meta["steps"] >= 1 and meta["trace_bytes"] == (folder / "trace.ct").stat().st_size
        estimate = meta["replay_estimate"]  # _replaycost.PER_STEP["ctfs"]
        assert (estimate["memory_bytes_low"], estimate["memory_bytes"], estimate["memory_bytes_high"]) == (
            meta["steps"] * 4_500,
            meta["steps"] * 23_000,
            meta["steps"] * 46_000,
        )
    assert tests["test_calc.py::test_fails"]["message"].startswith("AssertionError: doubling went wrong")
    # The session-scoped fixtures' setup and teardown: traces of their own;
    # the tests' traces have only the tests.
    fixtures = {t["id"]: t for t in run_index["traces"] if t["kind"] == "fixture"}
    assert sorted(fixtures) == [
        "<session fixture base_total>",
        "<session fixture ledger teardown>",
        "<session fixture ledger>",
    ]
    assert fixtures["<session fixture base_total>"]["folder"] == "fixtures/0001-session-base_total"
    for fixture in fixtures.values():
        assert json.loads((out / fixture["folder"] / "trace_paths.json").read_text()) == [str(suite / "conftest.py")]
    assert fixtures["<session fixture ledger teardown>"]["steps"] >= 2  # `closing = ...`, `path.write_text(...)`
    for test_id in ("test_calc.py::test_session_fixture", "test_calc.py::test_ledger"):
        paths = json.loads((out / tests[test_id]["folder"] / "trace_paths.json").read_text())
        assert paths == [str(suite / "test_calc.py")], test_id
    # The session trace (collection) is the folder's own trace.
    session_meta = json.loads((out / "trace_metadata.json").read_text())
    assert "test" not in session_meta and session_meta["steps"] >= 1
    # session.toml: CodeTracer's manifest, failing tests first, within the
    # replay-server's cap of 2 listed traces.
    manifest = tomllib.loads((out / "session.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == 1
    assert [t["path"] for t in manifest["trace"]] == [
        tests["test_calc.py::test_fails"]["folder"],
        tests["test_calc.py::test_errors"]["folder"],
    ]
    for entry in manifest["trace"]:
        assert set(entry) == {"recording_id", "path", "role", "default_thread_prefix"}
        meta = json.loads((out / entry["path"] / "trace_metadata.json").read_text())
        assert entry["recording_id"] == meta["recording_id"]


def test_failing_test_trace_steps_to_the_failed_assertion(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    """The failing test's own trace holds its lines and values, ending in an
    Error event (the trace-check tool's view; the replay-server's below)."""
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, ["--format", "json"], "test_calc.py::test_fails"),
        suite,
    )
    assert r.returncode == 1
    trace = json.loads((out / "tests" / "test_calc.py_test_fails" / "trace.json").read_text())
    steps = [e["Step"]["line"] for e in trace if "Step" in e]
    assert steps[-1] == 14  # the assert
    assert {2, 3, 8, 9, 12, 13, 14} <= set(steps)  # add, scale, the test body
    last_step = max(i for i, e in enumerate(trace) if "Step" in e)
    errors = [e["Event"] for e in trace[last_step:] if "Event" in e and e["Event"]["kind"] == 11]  # Error
    assert [e["content"] for e in errors] == ["AssertionError: doubling went wrong"]


def test_single_trace(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(
        [script(tests_python), "--out-dir", str(out), "--single-trace", "--pytest", "-q", "-p", "no:cacheprovider"],
        suite,
    )
    assert r.returncode == 1
    assert not (out / "tests").exists() and not (out / "session.toml").exists()
    assert not (out / "tests.json").exists()
    meta = json.loads((out / "trace_metadata.json").read_text())
    assert meta["steps"] > 20
    paths = json.loads((out / "trace_paths.json").read_text())
    assert not any("_pytest" in p or "pluggy" in p for p in paths)  # the framework is out of scope
    out2 = tmp_path / "out2"
    run(
        pytest_cmd(tests_python, out2, ["--single-trace", "--record-framework"], "test_calc.py::test_adds"),
        suite,
    )
    assert any("_pytest" in p for p in json.loads((out2 / "trace_paths.json").read_text()))


def test_one_trace_per_unittest_test(tests_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run([script(tests_python), "--out-dir", str(out), *CTFS, "--unittest", "test_units"], USUITE)
    assert r.returncode == 1
    traces = index(out)["traces"]
    outcomes = {t["id"]: t["outcome"] for t in traces if t["kind"] == "test"}
    assert outcomes == {
        "test_units.Numbers.test_ok": "passed",
        "test_units.Numbers.test_bad": "failed",
        "test_units.Numbers.test_raises": "error",
        "test_units.Numbers.test_later": "skipped",
        "test_units.Words.test_count": "passed",
    }
    # Words.setUpClass ran between two tests: its own trace, kept.
    between = [t for t in traces if t["kind"] == "between"]
    assert len(between) == 1 and between[0]["steps"] >= 1


def test_replay_budget_note(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, ["--replay-budget", "0.00001GB"], "test_calc.py"),
        suite,
    )
    notes = [line for line in r.stderr.decode().splitlines() if "too big for CodeTracer to open" in line]
    assert len(notes) == 1
    biggest = max(index(out)["traces"], key=lambda t: t["steps"] or 0)
    assert f"{biggest['id']} ({biggest['steps']:,} steps" in notes[0]
    assert "pytest -k" in notes[0] and "--include" in notes[0]
    quiet = run(
        [
            script(tests_python),
            "--out-dir",
            str(tmp_path / "o2"),
            "--pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_calc.py",
        ],
        suite,
    )
    assert b"too big for CodeTracer to open" not in quiet.stderr
    bad = run([script(tests_python), "--out-dir", str(tmp_path / "o3"), "--replay-budget", "lots", "--pytest"], suite)
    assert bad.returncode == 2 and b"--replay-budget" in bad.stderr


def test_usage_errors(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    both = run(
        [script(tests_python), "--out-dir", str(tmp_path / "o"), "--single-trace", "--trace-per-test", "--pytest"],
        suite,
    )
    assert both.returncode == 2 and b"exclude each other" in both.stderr
    alone = run([script(tests_python), "--out-dir", str(tmp_path / "o"), "--single-trace", "x.py"], suite)
    assert alone.returncode == 2 and b"--pytest or --unittest" in alone.stderr


# --- what CodeTracer's replay-server shows ------------------------------------------------
def _open(folder: Path, runtime: Path) -> DapClient:
    client = DapClient(REPLAY_SERVER, runtime)
    client.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
    client.request("launch", {"traceFolder": str(folder), "program": "main", "pid": 1})
    client.request("configurationDone", {})
    client.wait_event("stopped", timeout=60)
    return client


@needs_server
def test_replay_server_opens_the_run_and_steps_the_failing_test(
    tests_python: Path, suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(
        pytest_cmd(tests_python, out, CTFS, "test_calc.py"),
        suite,
    )
    names = replay.session_threads(out, tmp_path / "rt1")  # the folder: the session of session.toml
    assert names == ["test_calc.py_test_fails:<thread 1>", "test_calc.py_test_errors:<thread 1>"]
    with _open(out / "tests" / "test_calc.py_test_fails", tmp_path / "rt2") as c:
        seen = []
        for _ in range(40):
            frame = c.request("stackTrace", {"threadId": 1})["body"]["stackFrames"][0]
            scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
            variables = c.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
            seen.append((frame["name"], frame["line"], {v["name"]: v["value"] for v in variables["body"]["variables"]}))
            if frame["name"] == "test_fails" and frame["line"] == 14:
                break
            c.request("stepIn", {"threadId": 1})
            if c.wait_event("stopped", "terminated", timeout=30)["event"] == "terminated":
                break
        assert ("add", 2, {"a": "2", "b": "2"}) in seen
        assert seen[-1][:2] == ("test_fails", 14)
        assert seen[-1][2]["first"] == "4" and "9" not in seen[-1][2]["doubled"]


def test_python_api_run_tests(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    """`run_tests` is the same test run from Python: status returned,
    sys.argv and sys.path[0] given back."""
    code = (
        "import sys, codetracer_python_recorder as ctr\n"
        "before = (list(sys.argv), sys.path[0])\n"
        f"status = ctr.run_tests('pytest', ['-q', '-p', 'no:cacheprovider', 'test_calc.py'], {str(tmp_path / 'out')!r})\n"
        "print('status', status, (list(sys.argv), sys.path[0]) == before, ctr.is_tracing())\n"
    )
    r = run([str(tests_python), "-c", code], suite)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines()[-1] == "status 1 True False"
    assert index(tmp_path / "out")["counts"]["failed"] == 1
    bad = run([str(tests_python), "-c", "import codetracer_python_recorder as ctr; ctr.run_tests('nose', [])"], suite)
    assert bad.returncode == 1 and b"invalid test framework 'nose'" in bad.stderr


def test_xdist_workers_record_one_trace_per_test(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    """With pytest-xdist the tests run in worker processes: each worker
    records its tests into the run's tests/ folder, the index lists them."""
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, CTFS, "-n", "2", "test_calc.py"),
        suite,
    )
    assert r.returncode == 1, r.stderr.decode()
    tests = {t["id"]: t for t in index(out)["traces"] if t["kind"] == "test"}
    assert len(tests) == 11
    assert tests["test_calc.py::test_fails"]["outcome"] == "failed"
    assert tests["test_calc.py::test_errors"]["outcome"] == "error"
    assert tests["test_calc.py::test_fails"]["steps"] >= 6  # add and scale were recorded, in the worker
    meta = json.loads((out / tests["test_calc.py::test_fails"]["folder"] / "trace_metadata.json").read_text())
    assert meta["test"]["outcome"] == "failed" and meta["trace_filter"]["record_all"] is False
    manifest = tomllib.loads((out / "session.toml").read_text())
    assert [t["path"] for t in manifest["trace"]][0] in (
        tests["test_calc.py::test_fails"]["folder"],
        tests["test_calc.py::test_errors"]["folder"],
    )


def test_reruns_give_each_attempt_a_trace(tests_python: Path, suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, ["--format", "json"], "--reruns", "1", "test_flaky.py"),
        suite,
        env={"FLAKY_MARK": str(tmp_path / "mark")},
    )
    assert r.returncode == 0, r.stderr.decode()
    attempts = [t for t in index(out)["traces"] if t["kind"] == "test"]
    assert [(t["id"], t["outcome"]) for t in attempts] == [
        ("test_flaky.py::test_flaky_once", "rerun"),
        ("test_flaky.py::test_flaky_once", "passed"),
    ]
    assert attempts[0]["folder"] != attempts[1]["folder"]
    assert attempts[0]["message"] == "AssertionError: fails on its first attempt"


# --- threads a test starts (docs/test-runs.md, "Threads and processes") -----------------
@pytest.fixture
def tsuite(tmp_path: Path) -> Path:
    dest = tmp_path / "tsuite"
    shutil.copytree(TSUITE, dest)
    return dest


def _pool_run(python: Path, tsuite: Path, out: Path, *options: str):
    return run(
        [script(python), "--out-dir", str(out), *options, "--pytest", "-q", "-p", "no:cacheprovider", "test_pool.py"],
        tsuite,
    )


def _ints(trace: Trace, name: str) -> list[int]:
    """The int values `name` took, in order (each once: a value is recorded at every step)."""
    seen = [v["i"] for v in trace.values_of(name)]
    return [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]


def _lines(trace: Trace, path: Path) -> set[int]:
    path_id = trace.paths.index(str(path))
    return {e["Step"]["line"] for e in trace.events if "Step" in e and e["Step"]["path_id"] == path_id}


def test_threads_a_test_starts_get_traces_in_its_folder(
    tests_python: Path, tsuite: Path, tmp_path: Path, trace_check: Path
) -> None:
    """A pytest test running a thread pool that calls the program's
    function: each worker's trace, in the test's folder, holds the
    function's lines with that worker's values; the test's own trace holds
    the test's thread only."""
    out = tmp_path / "out"
    r = _pool_run(tests_python, tsuite, out, "--format", "json")
    assert r.returncode == 0, r.stderr.decode()
    tests = {t["id"]: t for t in index(out)["traces"] if t["kind"] == "test"}
    pool = tests["test_pool.py::test_pool"]
    assert sorted(t["name"] for t in pool["threads"]) == ["pool_0", "pool_1"]
    by_rate = {}
    for row in pool["threads"]:
        assert row["folder"].startswith(pool["folder"] + "/threads/") and row["steps"] >= 5
        assert not row["partial"] and not row["running_at_stop"] and "incomplete" not in row
        folder = out / row["folder"]
        assert subprocess.run([str(trace_check), str(folder)], capture_output=True).returncode == 0
        trace = Trace(folder)
        assert trace.calls()[1:] == ["priced", "total"]
        assert _lines(trace, tsuite / "prices.py") == {1, 2, 3, 4, 5}  # (1: the call)
        by_rate[tuple(_ints(trace, "rate"))] = (
            _ints(trace, "p"),
            _ints(trace, "gross"),
            [v["i"] for v in trace.returns_of("total")],
        )
    assert by_rate == {(10,): ([1, 2], [0, 10, 30], [30]), (100,): ([5], [0, 500], [500])}
    main = Trace(out / pool["folder"])
    assert "total" not in main.calls() and "test_pool" in main.calls()
    # The test's folder opens as a session: its own trace, then its first thread's.
    manifest = tomllib.loads((out / pool["folder"] / "session.toml").read_text(encoding="utf-8"))
    assert [t["path"] for t in manifest["trace"]] == [".", pool["threads"][0]["folder"].split("/", 2)[2]]
    # A thread that outlives its test: its trace in that test's folder ends
    # there, marked; what it runs later is in the trace of the test running then.
    left = tests["test_pool.py::test_leaves_a_thread_running"]["threads"]
    ended = tests["test_pool.py::test_the_thread_ends_here"]["threads"]
    assert [(t["name"], t["running_at_stop"], t["started_before_recording"]) for t in left] == [
        ("lingerer", True, False)
    ]
    assert "outlived its test" in left[0]["incomplete"]
    assert [(t["name"], t["running_at_stop"], t["started_before_recording"]) for t in ended] == [
        ("lingerer", False, True)
    ]
    first, second = Trace(out / left[0]["folder"]), Trace(out / ended[0]["folder"])
    assert _ints(first, "rate") == [1] and _ints(first, "first") == [1] and _ints(first, "second") == []
    assert _ints(second, "rate") == [2] and _ints(second, "second") == [2]
    for row in [*left, *ended]:
        assert subprocess.run([str(trace_check), str(out / row["folder"])], capture_output=True).returncode == 0


def test_no_threads_in_a_test_run_records_the_test_thread_only(
    tests_python: Path, tsuite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    r = _pool_run(tests_python, tsuite, out, "--no-threads")
    assert r.returncode == 0, r.stderr.decode()
    tests = [t for t in index(out)["traces"] if t["kind"] == "test"]
    assert len(tests) == 3 and all("threads" not in t for t in tests)
    assert not list(out.glob("tests/*/threads")) and not list(out.glob("tests/*/threads.json"))


@needs_server
def test_replay_server_steps_a_pool_workers_trace_of_a_test(tests_python: Path, tsuite: Path, tmp_path: Path) -> None:
    """trace.ct, as CodeTracer opens it: the test's folder is a session of
    the test's trace and its first thread's; a worker's trace opened alone
    steps through the program's function with that worker's values."""
    out = tmp_path / "out"
    r = _pool_run(tests_python, tsuite, out, *CTFS)
    assert r.returncode == 0, r.stderr.decode()
    pool = next(t for t in index(out)["traces"] if t["id"] == "test_pool.py::test_pool")
    names = replay.session_threads(out / pool["folder"], tmp_path / "rt1")
    assert names == ["main:<thread 1>", f"{pool['threads'][0]['folder'].rsplit('/', 1)[1]}:<thread 1>"]
    for row in pool["threads"]:
        steps = replay.replay(
            out / row["folder"],
            tmp_path / f"rt-{row['name']}",
            only={str(tsuite / "prices.py"), str(tsuite / "test_pool.py")},
        ).steps
        seen = [(s.func, s.line, s.vars.get("rate"), s.vars.get("gross")) for s in steps if s.func == "total"]
        rate = seen[0][2]
        assert rate in ("10", "100")
        gross = ["0", "10", "30"] if rate == "10" else ["0", "500"]
        assert [s[:3] for s in seen][:4] == [("total", n, rate) for n in (1, 2, 3, 4)]  # (1: the call)
        assert [g for _, line, _, g in seen if line == 3] == gross  # each turn of the loop
        assert seen[-1][1:] == (5, rate, gross[-1])


def test_a_tests_thread_that_raises_and_a_daemon_left_running_after_the_run(
    tests_python: Path, tsuite: Path, tmp_path: Path, trace_check: Path
) -> None:
    """The edges of docs/recorder.md "Threads" inside a test run: a thread
    ended by an exception (threading.excepthook) has a trace ending in that
    error; a daemon thread still running after the last test is cut at each
    switch, marked, and what it ran after the tests is in the between-tests
    trace, kept for it although the main thread recorded nothing there."""
    out = tmp_path / "out"
    r = run(
        pytest_cmd(tests_python, out, ["--format", "json"], "test_edges.py"),
        tsuite,
    )
    assert r.returncode == 0, r.stderr.decode()
    traces = {t["id"]: t for t in index(out)["traces"]}
    [boomer] = traces["test_edges.py::test_thread_raises"]["threads"]
    assert boomer["name"] == "boomer" and not boomer["running_at_stop"] and "incomplete" not in boomer
    raised = Trace(out / boomer["folder"])
    assert [v.get("msg") for v in raised.returns_of("boom")] == ["ValueError: bad 6"]
    [ticker] = traces["test_edges.py::test_daemon_left_running"]["threads"]
    assert (ticker["name"], ticker["running_at_stop"], ticker["started_before_recording"]) == ("ticker", True, False)
    [after] = traces["<after test_edges.py::test_daemon_left_running>"]["threads"]
    assert (after["name"], after["running_at_stop"], after["started_before_recording"]) == ("ticker", True, True)
    assert after["folder"].startswith("between/0001/threads/")
    for row in (boomer, ticker, after):
        assert subprocess.run([str(trace_check), str(out / row["folder"])], capture_output=True).returncode == 0


# --- child processes a test starts (docs/test-runs.md, "Threads and processes") ---------
@pytest.fixture
def psuite(tmp_path: Path) -> Path:
    dest = tmp_path / "psuite"
    shutil.copytree(PSUITE, dest)
    return dest


def _children_run(python: Path, psuite: Path, out: Path, *options: str):
    return run(
        [script(python), "--out-dir", str(out), *options, "--pytest", "-q", "-p", "no:cacheprovider"],
        psuite,
    )


def _square_sums(trace: Trace) -> list[tuple[int, list[int]]]:
    """Each call of square_sum in a trace: its n, and the values acc took."""
    n = [v["i"] for v in trace.values_of("n")]
    return [(n[0] if n else -1, _ints(trace, "acc"))] if "square_sum" in trace.calls() else []


def test_children_a_test_starts_get_traces_in_its_folder(
    tests_python: Path, psuite: Path, tmp_path: Path, trace_check: Path
) -> None:
    """A forked child, a subprocess of the program's python, a spawn
    ProcessPoolExecutor's and a fork Pool's worker: each child's trace is in
    the folder of the test that started it (processes/<pid>/), listed in
    that folder's threads.json and the test's row of tests.json, and holds
    the program's function with the child's values. A child that outlives
    its test goes on recording into that test's folder; the run's end lists
    it there. Output and exit status stay plain pytest's."""
    out = tmp_path / "out"
    r = _children_run(tests_python, psuite, out, "--format", "json")
    plain = plain_pytest(tests_python, psuite, "-q", "-p", "no:cacheprovider")
    pids = re.compile(rb"pid=\d+")
    assert r.returncode == plain.returncode == 0, r.stderr.decode()
    assert pids.sub(b"pid=N", normalise(r.stdout)) == pids.sub(b"pid=N", normalise(plain.stdout))
    tests = {t["id"].split("::")[1]: t for t in index(out)["traces"] if t["kind"] == "test"}
    expect = {
        "test_fork": ("fork", 5, [(3, [0, 1, 5])]),
        "test_subprocess": ("interpreter", 14, [(4, [0, 1, 5, 14])]),
        "test_spawn_pool": ("spawn", 0, [(2, [0, 1]), (5, [0, 1, 5, 14, 30])]),
        "test_fork_pool": ("fork", 0, [(6, [0, 1, 5, 14, 30, 55])]),
        # The forkserver starts in the first of these tests and outlives it:
        # each worker it forks lands in the folder of the test that asked for it.
        "test_forkserver_pool_first": ("forkserver", 0, [(7, [0, 1, 5, 14, 30, 55, 91])]),
        "test_forkserver_pool_again": ("forkserver", 0, [(8, [0, 1, 5, 14, 30, 55, 91, 140])]),
    }
    for name, (started, status, sums) in expect.items():
        test = tests[name]
        [child] = test["processes"]
        assert (child["started"], child["exit_status"], child["partial"]) == (started, status, False), name
        assert child["folder"] == f"{test['folder']}/processes/{child['pid']}" and child["steps"] > 3
        folder = out / child["folder"]
        assert subprocess.run([str(trace_check), str(folder)], capture_output=True).returncode == 0
        trace = Trace(folder)
        if name == "test_spawn_pool":  # one worker, two calls: split at each call
            assert [v["i"] for v in trace.values_of("n")][:1] == [2] and trace.calls().count("square_sum") == 2
            assert _ints(trace, "acc") == [0, 1, 0, 1, 5, 14, 30]
        else:
            assert _square_sums(trace) == sums, name
        listed = json.loads((out / test["folder"] / "threads.json").read_text(encoding="utf-8"))["processes"]
        assert [p["folder"] for p in listed] == [f"processes/{child['pid']}"]
        assert "square_sum" not in Trace(out / test["folder"]).calls()  # (the test's own trace: the parent only)
    # A child still running when its test ended: it records into that test's
    # folder until it ends (here, in the next test); the run's end lists it.
    [late] = tests["test_leaves_a_child_running"]["processes"]
    assert (late["started"], late["exit_status"], late["ended_after_test"]) == ("interpreter", 1, True)
    assert late["folder"].startswith(tests["test_leaves_a_child_running"]["folder"] + "/processes/")
    assert _square_sums(Trace(out / late["folder"])) == [(2, [0, 1])]
    index_of_first = json.loads((out / tests["test_leaves_a_child_running"]["folder"] / "threads.json").read_text())
    assert [(p["pid"], p["ended_after_test"]) for p in index_of_first["processes"]] == [(late["pid"], True)]
    assert "processes" not in tests["test_the_child_ends_here"]
    assert not list(out.glob("processes")) and not list(out.glob("between/*/processes"))


def test_no_follow_processes_in_a_test_run(tests_python: Path, psuite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = _children_run(tests_python, psuite, out, "--no-follow-processes")
    assert r.returncode == 0, r.stderr.decode()
    tests = [t for t in index(out)["traces"] if t["kind"] == "test"]
    assert len(tests) == 8 and all("processes" not in t for t in tests)
    assert not list(out.glob("**/processes"))


@needs_server
def test_replay_server_steps_a_test_childs_trace(tests_python: Path, psuite: Path, tmp_path: Path) -> None:
    """trace.ct, as CodeTracer opens it: the trace of a spawn pool worker a
    test started, opened alone, steps through the program's function with
    the worker's values (one worker, both tasks); the test's folder opens
    as a session of the test's trace and the child's; a fork Pool worker's
    trace.ct, written beside its run, steps the same way."""
    out = tmp_path / "out"
    r = _children_run(tests_python, psuite, out, *CTFS)
    assert r.returncode == 0, r.stderr.decode()
    test = next(t for t in index(out)["traces"] if t["id"] == "test_children.py::test_spawn_pool")
    [child] = test["processes"]
    names = replay.session_threads(out / test["folder"], tmp_path / "rt1")
    assert names == ["main:<thread 1>", f"process-{child['pid']}:<thread 1>"]
    steps = replay.replay(out / child["folder"], tmp_path / "rt2", only={str(psuite / "squares.py")}).steps
    seen = [(s.line, s.vars.get("n"), s.vars.get("acc")) for s in steps if s.func == "square_sum"]
    by_n = {n: [(line, acc) for line, m, acc in seen if m == n] for n in ("2", "5")}
    assert [line for line, _ in by_n["2"]][:4] == [1, 2, 3, 4]  # (1: the call)
    assert [acc for line, acc in by_n["2"] if line == 3] == ["0", "0", "1"]  # each turn of the loop, and its end
    assert [acc for line, acc in by_n["5"] if line == 3] == ["0", "0", "1", "5", "14", "30"]
    assert by_n["5"][-1] == (5, "30") and len(seen) == len(by_n["2"]) + len(by_n["5"])
    # A fork Pool's worker: its trace.ct is written beside its run, or, on a machine of at most two
    # cores, by the parent's stop from the stream the worker handed over (session/fork.rs).
    forked = next(t for t in index(out)["traces"] if t["id"] == "test_children.py::test_fork_pool")
    [child] = forked["processes"]
    meta = json.loads((out / child["folder"] / "trace_metadata.json").read_text(encoding="utf-8"))
    assert meta["timings"].get("convert_streamed") is True or meta["timings"].get("handed_to_parent") is True
    steps = replay.replay(out / child["folder"], tmp_path / "rt3", only={str(psuite / "squares.py")}).steps
    seen = [(s.line, s.vars.get("n"), s.vars.get("acc")) for s in steps if s.func == "square_sum"]
    assert [acc for line, _, acc in seen if line == 3] == ["0", "0", "1", "5", "14", "30", "55"]
    assert {n for _, n, _ in seen} == {"6"} and seen[-1] == (5, "6", "55")
