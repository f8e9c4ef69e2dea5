"""trace.ct is written while the program runs (docs/recorder.md "Writing
trace.ct beside the run").

The recorder replays its in-run stream into trace.ct on a second thread as
the stream is flushed: the .ct grows alongside the program, a recording
killed outright leaves a staged .ct readable up to its last complete chunk,
and what a finished recording holds is exactly what converting after the run
(CODETRACER_LIVE_CONVERT=0) gives.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.ctfs.test_format_ctfs import SUITES, env_of, events, meta, rec

# Long enough for several 1 MiB flushes of the in-run stream, then a pause
# that lasts until the test kills the process.
LONG_THEN_WAIT = """\
import time
total = 0
for i in range(150000):
    total += i * 2
print("ready", flush=True)
time.sleep(120)
"""


def steps(lines: list) -> int:
    return sum('"Step"' in line for line in lines)


@pytest.mark.parametrize(
    "program", ["functions.py", "exceptions.py", "gen_close.py", "output_end.py", "writes_a_lot.py"]
)
def test_the_streamed_ct_is_the_ct_converted_after_the_run(
    program: str, recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    cwd = SUITES["recorder"]
    if not (cwd / program).exists():
        pytest.fail(f"{program} is not in the recorder suite any more: pick another program here")
    live = rec(recorder_python, cwd, "--format", "ctfs", "--trace-dir", str(tmp_path / "live"), program)
    after = rec(
        recorder_python,
        cwd,
        "--format",
        "ctfs",
        "--trace-dir",
        str(tmp_path / "after"),
        program,
        env={"CODETRACER_LIVE_CONVERT": "0"},
    )
    assert (live.returncode, live.stdout) == (after.returncode, after.stdout), live.stderr
    assert meta(tmp_path / "live")["timings"]["convert_streamed"] is True
    assert "convert_streamed" not in meta(tmp_path / "after")["timings"]
    assert events(trace_check, tmp_path / "live") == events(trace_check, tmp_path / "after")


def test_a_fork_shows_no_warning_of_the_recorder_s_thread(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    """CPython warns on os.fork() in a process with several threads; the
    thread writing the .ct ends before each fork and starts again after it,
    so the program prints what plain python prints."""
    cwd = SUITES["recorder"]
    plain = subprocess.run([str(recorder_python), "forks.py"], cwd=cwd, env=env_of(), capture_output=True, timeout=120)
    recorded = rec(recorder_python, cwd, "--format", "ctfs", "--trace-dir", str(tmp_path / "t"), "forks.py")
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert b"multi-threaded" not in recorded.stderr
    assert meta(tmp_path / "t")["timings"]["convert_streamed"] is True
    assert subprocess.run([str(trace_check), str(tmp_path / "t")], capture_output=True).returncode == 0


# Many chunks of trace.ct before the fork (their compression thread runs),
# more in the child and after it.
CHUNKS_THEN_FORK = """\
import os
total = 0
for i in range(150000):
    total += i * 2
pid = os.fork()
if pid == 0:
    for i in range(20000):
        total += i
    os._exit(0)
os.waitpid(pid, 0)
for i in range(150000):
    total -= i
print("done", total)
"""


def test_a_fork_after_many_chunks_shows_no_warning_of_the_compression_thread(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    """trace.ct's chunks are compressed on a thread of their own from the
    second chunk on (docs/ctfs.md, "Compression level"): it ends before a
    fork with the thread writing the .ct, and the trace is whole."""
    program = tmp_path / "chunks_then_fork.py"
    program.write_text(CHUNKS_THEN_FORK)
    plain = subprocess.run(
        [str(recorder_python), str(program)], cwd=tmp_path, env=env_of(), capture_output=True, timeout=120
    )
    recorded = rec(recorder_python, tmp_path, "--format", "ctfs", "--trace-dir", str(tmp_path / "t"), str(program))
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert b"multi-threaded" not in recorded.stderr
    m = meta(tmp_path / "t")
    assert m["timings"]["convert_streamed"] is True
    assert m["timings"]["zstd_seconds"] > 0 and m["timings"]["replay_cpu_seconds"] > 0
    assert m["stats"]["steps"] > 300000
    assert subprocess.run([str(trace_check), str(tmp_path / "t")], capture_output=True).returncode == 0


def test_the_ct_grows_while_the_program_runs_and_survives_a_kill(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    program = tmp_path / "long_then_wait.py"
    program.write_text(LONG_THEN_WAIT)
    out = tmp_path / "t"
    staged = out / ".codetracer-partial"
    p = subprocess.Popen(
        [str(recorder_python), "-m", "codetracer_python_recorder", "--format", "ctfs", "-o", str(out), str(program)],
        cwd=tmp_path,
        env=env_of(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        # The flushed part of the stream reaches the staged .ct while the
        # program still runs (it sleeps until killed).
        seen, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline:
            done = subprocess.run([str(trace_check), "--events", str(staged)], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            now = steps(done.stdout.splitlines())
            if now >= 100000 and now == seen:
                break
            seen = now
            time.sleep(0.5)
        assert p.poll() is None, "the program ended before the test looked at its trace"
        assert seen >= 100000, f"only {seen} steps reached the staged trace.ct while the program ran"
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    # Killed: no trace in place, a staged .ct readable up to its last complete
    # chunk (never finished: no metadata), and the stream to recover from.
    assert not (out / "trace.ct").exists() and (staged / "events.bin").exists()
    assert steps(events(trace_check, staged)) == seen
    chk = subprocess.run([str(trace_check), str(staged)], capture_output=True, text=True)
    assert chk.returncode == 1 and "not finished" in chk.stderr, chk.stderr
    r = rec(recorder_python, tmp_path, "recover", str(out))
    assert r.returncode == 0, r.stderr
    m = meta(out)
    assert (m["partial"], m["recovered"], m["format"]) == (True, True, "ctfs")
    recovered = [json.loads(e) for e in events(trace_check, out)]
    assert sum("Step" in e for e in recovered) >= seen
    assert sum("Call" in e for e in recovered) == sum("Return" in e for e in recovered)


def test_signals_reach_the_program_not_the_recorder_s_thread(
    recorder_python: Path, trace_check: Path, tmp_path: Path
) -> None:
    """A signal sent to the process is the program's: the thread writing the
    .ct blocks every signal (else the kernel may hand it Ctrl-C, and the
    program's time.sleep would not be interrupted), and Ctrl-C ends the
    recorded program as it ends plain python, with the trace written."""
    program = tmp_path / "long_then_wait.py"
    program.write_text(LONG_THEN_WAIT)
    out = tmp_path / "t"
    p = subprocess.Popen(
        [str(recorder_python), "-m", "codetracer_python_recorder", "--format", "ctfs", "-o", str(out), str(program)],
        cwd=tmp_path,
        env=env_of(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        tasks = Path(f"/proc/{p.pid}/task")
        ours = [t for t in tasks.iterdir() if (t / "comm").read_text().strip() == "codetracer-live"]
        assert len(ours) == 1, [(t / "comm").read_text() for t in tasks.iterdir()]
        status = dict(line.split(":\t", 1) for line in (ours[0] / "status").read_text().splitlines() if ":\t" in line)
        blocked = int(status["SigBlk"].strip(), 16)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM, signal.SIGUSR1):
            assert blocked & (1 << (sig - 1)), f"{sig.name} is not blocked in the recorder's thread"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode != 0 and b"KeyboardInterrupt" in err, err
    assert meta(out)["format"] == "ctfs" and (out / "trace.ct").exists()
    assert subprocess.run([str(trace_check), str(out)], capture_output=True).returncode == 0
