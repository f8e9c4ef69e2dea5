"""`--format ctfs`: the recorder writes `trace.ct` (CodeTracer's CTFS
container) holding exactly the events the JSON of the same program holds.

Every program of the parity and replay suites is recorded on CPython 3.12
and 3.13 in both formats; `ct-trace-check` must accept the `.ct`, and its
events (`ct-trace-check --events`, the official schema types of either
format) must equal the JSON's. The replay-server walks the replay suite's
programs in both formats and must show the same stops, stacks, locals and
terminal (skipped, loudly, where it is absent)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

from tests.ctfs.dap_client import REPLAY_SERVER
from tests.ctfs.test_ctfs_replay import assert_same_replay

REPO = Path(__file__).resolve().parents[2]
SUITES = {"recorder": REPO / "tests" / "recorder" / "programs", "replay": REPO / "tests" / "replay" / "programs"}
# Programs that are not run to their end here: sleeper.py runs until it is
# killed (the killed-run test below uses it).
NOT_RUN = {"sleeper.py"}
PROGRAMS = [
    (suite, p.name) for suite, folder in SUITES.items() for p in sorted(folder.glob("*.py")) if p.name not in NOT_RUN
]
# `make test-fast` compares these programs' events and walks fewer of them in
# the replay-server (on both interpreters); every other program is marked
# slow, which `make test` (CI) runs.
FAST_EVENTS = {
    "recorder": {"functions.py", "containers.py", "exceptions.py", "generators.py", "std_values.py"},
    "replay": {"objects.py", "uncaught.py", "output.py"},
}
FAST_WALKS = {"recorder": {"functions.py", "containers.py"}, "replay": {"objects.py", "uncaught.py"}}
CT_FILES = ["trace.ct", "trace_metadata.json", "trace_paths.json"]
# Longer traces are compared event for event but not walked in the replay-server.
WALKED_STEPS = 2000


def env_of(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    e["PYTHONHASHSEED"] = "0"
    e.update(extra or {})
    return e


def rec(python: Path, cwd: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "codetracer_python_recorder", *args],
        cwd=cwd,
        env=env_of(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
    )


def record_both(
    python: Path, suite: str, program: str, tmp_path: Path
) -> Tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """`program` of `suite` recorded into tmp_path/json (trace.json) and
    tmp_path/ct (trace.ct); it must run the same both times (the format is
    the recorder's business only)."""
    j = rec(python, SUITES[suite], "--trace-dir", str(tmp_path / "json"), program)
    c = rec(python, SUITES[suite], "--format", "ctfs", "--trace-dir", str(tmp_path / "ct"), program)
    assert (c.returncode, c.stdout) == (j.returncode, j.stdout), c.stderr
    return j, c


def events(trace_check: Path, folder: Path) -> List[str]:
    done = subprocess.run([str(trace_check), "--events", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def meta(folder: Path) -> dict:
    return json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))


def program_cases(fast: Dict[str, Set[str]]) -> list:
    """Every (suite, program) of PROGRAMS; those not in `fast` marked slow."""
    unknown = {(suite, program) for suite, names in fast.items() for program in names} - set(PROGRAMS)
    assert not unknown, f"no such program: {unknown}"
    return [
        pytest.param(suite, program, id=f"{suite}-{program}", marks=() if program in fast[suite] else pytest.mark.slow)
        for suite, program in PROGRAMS
    ]


@pytest.mark.parametrize("suite,program", program_cases(FAST_EVENTS))
def test_every_program_writes_the_same_events_as_ctfs(
    suite: str, program: str, recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    j, _ = record_both(recorder_python, suite, program, tmp_path)
    if not (tmp_path / "json" / "trace_metadata.json").exists():
        assert not (tmp_path / "ct" / "trace_metadata.json").exists()
        return
    ct = tmp_path / "ct"
    # Besides the main trace: other threads' and forked children's traces
    # and their index and manifest (docs/recorder.md, "Threads").
    extra = {"session.toml", "threads.json", "threads", "processes"}
    assert sorted(p.name for p in ct.iterdir() if p.name not in extra) == CT_FILES
    m = meta(ct)
    assert m["format"] == "ctfs" and m["stats"]["trace_ct_bytes"] == (ct / "trace.ct").stat().st_size
    assert meta(tmp_path / "json")["format"] == "json"
    assert m["partial"] == meta(tmp_path / "json")["partial"]
    assert json.loads((ct / "trace_paths.json").read_text()) == json.loads(
        (tmp_path / "json" / "trace_paths.json").read_text()
    )
    chk = subprocess.run([str(trace_check), str(ct)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stderr
    want, got = events(trace_check, tmp_path / "json"), events(trace_check, ct)
    if got != want:
        # Only a program whose JSON itself differs from run to run (threads,
        # timing) may differ, and then it is only checked, not compared.
        again = rec(recorder_python, SUITES[suite], "--trace-dir", str(tmp_path / "json2"), program)
        assert again.returncode == j.returncode
        assert events(trace_check, tmp_path / "json2") != want, (
            f"{program}: trace.ct holds other events than trace.json (first difference at event "
            f"{next(i for i, (a, b) in enumerate(zip(want + [''], got + [''])) if a != b)})"
        )
        pytest.skip(f"{program}: its trace differs from run to run in JSON too: the .ct was checked, not compared")


def test_output_and_error_end_are_in_the_ct(recorder_python: Path, trace_check: Path, tmp_path: Path) -> None:
    cwd = SUITES["replay"]
    done = rec(recorder_python, cwd, "--format", "ctfs", "-o", str(tmp_path / "t"), "uncaught.py")
    assert done.returncode == 1
    evs = [json.loads(e) for e in events(trace_check, tmp_path / "t")]
    kinds = [e["Event"]["kind"] for e in evs if "Event" in e]
    # The Error event of the uncaught exception goes first among its step's events, then the traceback.
    assert kinds[-2:] == [11, 2], kinds
    done = rec(recorder_python, cwd, "--format", "ctfs", "-o", str(tmp_path / "o"), "output.py")
    assert done.returncode == 0
    evs = [json.loads(x) for x in events(trace_check, tmp_path / "o")]
    stream = lambda kind: "".join(e["Event"]["content"] for e in evs if e.get("Event", {}).get("kind") == kind)
    # Each stream's output, byte for byte (0: stdout, 2: stderr).
    assert (stream(0), stream(2)) == (done.stdout.decode(), done.stderr.decode())


def test_bad_format_is_a_usage_error_before_anything_runs(recorder_python: Path, tmp_path: Path) -> None:
    cwd = SUITES["recorder"]
    for args, env, source in (
        (["--format", "binary"], None, "--format"),
        ([], {"CODETRACER_FORMAT": "xml"}, "CODETRACER_FORMAT"),
    ):
        done = rec(recorder_python, cwd, *args, "-o", str(tmp_path / "t"), "functions.py", env=env)
        assert done.returncode == 2
        assert done.stdout == b""  # the program did not run
        first = done.stderr.decode().splitlines()[0]
        assert source in first and "expected json or ctfs" in first and "ERR_FORMAT_UNSUPPORTED" in first, first
        assert not (tmp_path / "t").exists()
    # The flag wins over the environment; the API takes format= too.
    done = rec(
        recorder_python,
        cwd,
        "--format",
        "ctfs",
        "-o",
        str(tmp_path / "f"),
        "functions.py",
        env={"CODETRACER_FORMAT": "json"},
    )
    assert done.returncode == 0 and (tmp_path / "f" / "trace.ct").exists()
    done = rec(recorder_python, cwd, "-o", str(tmp_path / "e"), "functions.py", env={"CODETRACER_FORMAT": "ctfs"})
    assert done.returncode == 0 and (tmp_path / "e" / "trace.ct").exists()
    api = subprocess.run(
        [
            str(recorder_python),
            "-c",
            "import codetracer_python_recorder as r, sys\n"
            f"with r.trace({str(tmp_path / 'api')!r}, format='ctfs'):\n    x = 1\n"
            "from codetracer_python_recorder.errors import RecorderError\n"
            "try:\n    r.start('x', format='zip')\nexcept RecorderError as e:\n"
            "    print(e.code, e.message)\n",
        ],
        env=env_of(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert api.returncode == 0, api.stderr
    assert api.stdout.startswith("ERR_FORMAT_UNSUPPORTED invalid value 'zip' for format="), api.stdout
    assert (tmp_path / "api" / "trace.ct").exists() and meta(tmp_path / "api")["format"] == "ctfs"


def test_keep_partial_trace_writes_a_ct_marked_partial(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    cwd = SUITES["recorder"]
    done = rec(
        recorder_python, cwd, "--format", "ctfs", "--keep-partial-trace", "-o", str(tmp_path / "k"), "frees_tool.py"
    )
    assert done.returncode == 20
    m = meta(tmp_path / "k")
    assert (m["partial"], m["reason"], m["format"]) == (True, "ERR_TARGET_MONITORING_CHANGED", "ctfs")
    chk = subprocess.run([str(trace_check), str(tmp_path / "k")], capture_output=True, text=True)
    assert (
        chk.returncode == 1
        and "partial: the recorder marked this trace partial: ERR_TARGET_MONITORING_CHANGED" in chk.stderr
    ), chk.stderr
    evs = events(trace_check, tmp_path / "k")  # readable to its end, and balanced
    assert sum('"Call"' in e[:8] for e in evs) == sum('"Return"' in e[:10] for e in evs) > 0
    # Without --keep-partial-trace: nothing.
    done = rec(recorder_python, cwd, "--format", "ctfs", "-o", str(tmp_path / "n"), "frees_tool.py")
    assert done.returncode == 20 and not (tmp_path / "n").exists()


def test_killed_run_recovers_into_a_partial_ct(recorder_python: Path, trace_check: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    p = subprocess.Popen(
        [str(recorder_python), "-m", "codetracer_python_recorder", "--format", "ctfs", "-o", str(out), "sleeper.py"],
        cwd=SUITES["recorder"],
        env=env_of(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert not (out / "trace.ct").exists() and (out / ".codetracer-partial" / "events.bin").exists()
    # `recover` writes the format the run was started with.
    r = rec(recorder_python, SUITES["recorder"], "recover", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(x.name for x in out.iterdir()) == CT_FILES
    m = meta(out)
    assert (m["partial"], m["recovered"], m["format"]) == (True, True, "ctfs")
    chk = subprocess.run([str(trace_check), str(out)], capture_output=True, text=True)
    assert chk.returncode == 1 and "partial:" in chk.stderr
    evs = [json.loads(e) for e in events(trace_check, out)]
    assert any("Step" in e for e in evs) and any("Call" in e for e in evs)
    assert sum("Call" in e for e in evs) == sum("Return" in e for e in evs)


@pytest.mark.skipif(
    not REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is not at {REPLAY_SERVER} (see ../shared/tools/REPLAY.md): "
    "--format ctfs replay parity NOT checked",
)
@pytest.mark.parametrize("suite,program", program_cases(FAST_WALKS))
def test_replay_server_shows_the_recorded_ct_as_the_json(
    suite: str, program: str, recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    record_both(recorder_python, suite, program, tmp_path)
    if not (tmp_path / "json" / "trace_metadata.json").exists():
        pytest.skip(f"{program} leaves no trace (a recorder error)")
    want = events(trace_check, tmp_path / "json")
    if want != events(trace_check, tmp_path / "ct"):
        pytest.skip(f"{program}: its trace differs from run to run (see the event comparison above)")
    steps = sum(e.startswith('{"Step"') for e in want)
    if steps > WALKED_STEPS:
        pytest.skip(f"{program}: {steps} steps, too many to walk one DAP request at a time (events compared above)")
    assert_same_replay(tmp_path / "json", tmp_path / "ct", tmp_path)


def _fsize_limit(limit: int):
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def test_a_ct_that_does_not_fit_is_kept_shorter_and_partial_or_not_at_all(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    def run(program: str, out: Path, limit: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(recorder_python),
                "-m",
                "codetracer_python_recorder",
                "--format",
                "ctfs",
                "--keep-partial-trace",
                "--json-errors",
                "-o",
                str(out),
                program,
            ],
            cwd=SUITES["recorder"],
            env=env_of(),
            capture_output=True,
            timeout=300,
            preexec_fn=_fsize_limit(limit),
        )

    # The in-run stream outgrows the limit: the .ct of what was recorded fits, marked partial.
    out = tmp_path / "big"
    done = run("writes_a_lot.py", out, 64 * 1024)
    assert done.returncode == 10
    err = json.loads(done.stderr.decode().splitlines()[-1])
    assert (err["error_code"], err["context"]["partial_trace_kept"]) == ("ERR_DISK_FULL", "true")
    m = meta(out)
    assert (m["partial"], m["reason"], m["format"]) == (True, "ERR_DISK_FULL", "ctfs")
    assert (out / "trace.ct").stat().st_size <= 64 * 1024
    evs = [json.loads(e) for e in events(trace_check, out)]
    assert sum("Step" in e for e in evs) > 100 and sum("Call" in e for e in evs) == sum("Return" in e for e in evs)
    # Not even the smallest container fits: nothing is kept, and stderr says so.
    out = tmp_path / "tiny"
    done = run("containers.py", out, 8 * 1024)
    assert done.returncode == 10
    err = json.loads(done.stderr.decode().splitlines()[-1])
    assert (err["error_code"], err["context"]["partial_trace_kept"]) == ("ERR_DISK_FULL", "false"), err
    assert not (out / "trace.ct").exists() and not (out / "trace_metadata.json").exists()
