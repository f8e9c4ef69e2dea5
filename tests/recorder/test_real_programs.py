"""What real programs do, recorded in every ``--values`` mode: forked
children that end every way, generators of unrecorded code closed early,
``os._exit``, Ctrl-C while the trace is written, long code objects, the
modules the program finds loaded, and the metadata's sizes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PROGRAMS, Trace, run

VALUES = ["none", "args", "locals"]


def steps(t: Trace, path_suffix: str) -> list[int]:
    """Lines of the steps in the file ending with `path_suffix`."""
    ids = {i for i, p in enumerate(t.paths) if p.endswith(path_suffix)}
    return [e["Step"]["line"] for e in t.events if "Step" in e and e["Step"]["path_id"] in ids]


@pytest.mark.parametrize("values", VALUES)
@pytest.mark.parametrize("how", ["return", "exit3", "raise", "os_exit"])
def test_a_forked_child_ends_as_under_plain_python(record, values: str, how: str) -> None:
    plain, recorded, trace_dir = record(["fork_endings.py", how], extra=["--values", values])
    # The child's own status, output and traceback; the parent's report of it.
    assert recorded.returncode == plain.returncode == 0
    assert sorted(recorded.stdout.splitlines()) == sorted(plain.stdout.splitlines())
    assert recorded.stderr == plain.stderr
    status = {"return": 0, "exit3": 3, "raise": 1, "os_exit": 4}[how]
    assert f"parent sees {status}".encode() in recorded.stdout.splitlines()
    if how == "raise":
        assert b"ValueError: boom in the child" in recorded.stderr
    # The parent's trace: whole, and the parent's only.
    t = Trace(trace_dir)
    assert t.balanced() and t.meta["partial"] is False and t.meta["exit_status"] == 0
    assert "child_work" not in t.calls()
    assert steps(t, "fork_endings.py")[-1] == 25  # the parent's last line


@pytest.mark.parametrize("values", VALUES)
def test_generators_of_unrecorded_code_close_and_throw_as_plain(record, values: str) -> None:
    plain, recorded, trace_dir = record(["gen_close.py"], extra=["--values", values])
    assert plain.stdout == b"caught\nraised v\nraised 'd'\nok\n"
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    t = Trace(trace_dir)
    assert t.balanced() and t.meta["partial"] is False
    assert steps(t, "gen_close.py")[-1] == 34  # print("ok")


@pytest.mark.parametrize("values", VALUES)
def test_the_program_starts_with_the_modules_of_plain_python(record, values: str) -> None:
    plain, recorded, _ = record(["show_modules.py"], extra=["--values", values])
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout
    assert b"\nopcode\n" not in recorded.stdout and b"codetracer" not in recorded.stdout


def test_modules_under_dash_m_and_autostart_as_plain(recorder_python: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "shows"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import json\n")
    (pkg / "__main__.py").write_text("import sys\nprint(sorted(sys.modules))\n")
    plain = run([str(recorder_python), "-m", "shows"], tmp_path)
    recorded = run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "-o", str(tmp_path / "t"), "-m", "shows"], tmp_path
    )
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout
    script = str(PROGRAMS / "show_modules.py")
    plain = run([str(recorder_python), script], tmp_path)
    auto = run([str(recorder_python), script], tmp_path, env={"CODETRACER_TRACE": str(tmp_path / "auto")})
    assert auto.stdout == plain.stdout and auto.returncode == 0, auto.stderr
    assert (tmp_path / "auto" / "trace_metadata.json").exists()


def test_a_program_importing_the_recorder_catches_its_errors(record, tmp_path: Path) -> None:
    program = tmp_path / "reimport.py"
    program.write_text(
        "import codetracer_python_recorder as ctr\n"
        "print(ctr.is_tracing())\n"
        "try:\n"
        f"    ctr.start({str(tmp_path / 'other')!r})\n"
        "except ctr.UsageError as exc:\n"
        "    print(exc.code)\n"
    )
    _, recorded, trace_dir = record([str(program)])
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == b"True\nERR_ALREADY_TRACING\n"
    assert Trace(trace_dir).meta["partial"] is False


@pytest.mark.parametrize("values", VALUES)
def test_trace_json_bytes_is_the_size_of_trace_json(record, values: str) -> None:
    for program in ["exit_none.py", "containers.py", "functions.py"]:
        _, recorded, trace_dir = record([program], extra=["--values", values])
        assert recorded.returncode == 0
        meta = json.loads((trace_dir / "trace_metadata.json").read_text())
        assert meta["stats"]["trace_json_bytes"] == (trace_dir / "trace.json").stat().st_size, program


@pytest.mark.parametrize("fmt", ["json", "ctfs"])
def test_metadata_is_written_as_pythons_json_with_the_estimate_last(record, fmt: str) -> None:
    """The recorder writes trace_metadata.json itself (not Python's json after
    the program: docs/recorder.md, "Fixed costs"): the bytes are what
    json.dumps(indent=2, ensure_ascii=False) makes of it, the replay estimate's
    keys after the others."""
    _, recorded, trace_dir = record(["functions.py"], extra=["--format", fmt])
    assert recorded.returncode == 0
    text = (trace_dir / "trace_metadata.json").read_text(encoding="utf-8")
    meta = json.loads(text)
    assert text == json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    keys = list(meta)
    assert keys[-3:] == ["steps", "trace_bytes", "replay_estimate"]
    assert keys[:-3] == sorted(keys[:-3])
    assert list(meta["replay_estimate"]) == [
        "memory_bytes",
        "memory_bytes_low",
        "memory_bytes_high",
        "open_seconds",
        "basis",
    ]
    assert meta["steps"] == meta["stats"]["steps"] > 0
    assert meta["trace_bytes"] == (trace_dir / ("trace.json" if fmt == "json" else "trace.ct")).stat().st_size


@pytest.mark.parametrize("values", VALUES)
def test_os_exit_keeps_every_step_before_it(record, values: str) -> None:
    plain, recorded, trace_dir = record(["os_exit_mid.py"], extra=["--values", values])
    assert recorded.returncode == plain.returncode == 7
    assert recorded.stdout == plain.stdout == b"total 30\n"
    assert recorded.stderr == plain.stderr
    t = Trace(trace_dir)
    assert t.meta["partial"] is False and t.meta["exit_status"] == 7
    assert t.balanced()
    assert t.calls().count("step") == 5 and t.calls()[-1] == "finish"
    lines = steps(t, "os_exit_mid.py")
    assert lines[-2:] == [11, 12]  # finish's print, then the os._exit line
    assert 13 not in lines


def test_os_exit_in_a_forked_child_and_then_in_the_parent(record, tmp_path: Path) -> None:
    program = tmp_path / "fork_then_exit.py"
    program.write_text(
        "import os\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    x = 'child'\n"
        "    os._exit(3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "code = os.waitstatus_to_exitcode(status)\n"
        "print('child ended', code, flush=True)\n"
        "os._exit(code + 1)\n"
    )
    plain, recorded, trace_dir = record([str(program)])
    assert recorded.returncode == plain.returncode == 4
    assert recorded.stdout == plain.stdout == b"child ended 3\n"
    t = Trace(trace_dir)
    assert t.meta["partial"] is False and t.meta["exit_status"] == 4
    assert steps(t, "fork_then_exit.py") == [1, 1, 2, 3, 6, 7, 8, 9]  # the call of <__main__>, its lines
    assert t.values_of("code")[-1]["i"] == 3


def test_os_exit_with_bad_arguments_fails_as_plain(record, tmp_path: Path) -> None:
    program = tmp_path / "bad_exit.py"
    program.write_text("import os\ntry:\n    os._exit('x')\nexcept TypeError as e:\n    print(e)\nos._exit(2**40)\n")
    plain, recorded, trace_dir = record([str(program)])
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert recorded.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]
    t = Trace(trace_dir)
    assert t.meta["partial"] is False and t.meta["exit_status"] == 1


def test_recover_refuses_a_stream_without_any_event(recorder_python: Path, tmp_path: Path) -> None:
    staging = tmp_path / "t" / ".codetracer-partial"
    staging.mkdir(parents=True)
    (staging / "events.bin").write_bytes(b"CTPYEV03")
    err = tmp_path / "error.json"
    r = run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "recover", str(tmp_path / "t")],
        tmp_path,
        env={"CODETRACER_ERROR_FILE": str(err)},
    )
    assert r.returncode == 20
    failure = json.loads(err.read_text())
    assert failure["error_code"] == "ERR_NOTHING_TRACED" and "no recorded event" in failure["message"]
    assert not (tmp_path / "t" / "trace.json").exists()
    assert not (tmp_path / "t" / "trace_metadata.json").exists()


def test_ctrl_c_while_the_trace_is_written_is_honoured(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    import pty

    out = tmp_path / "t"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    master, slave = pty.openpty()  # stderr is a terminal: the finish shows its progress
    p = subprocess.Popen(
        [
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            "-o",
            str(out),
            str(PROGRAMS / "big_finish.py"),
            "150000",
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip().isdigit()
        assert p.stdout.readline() == b"done\n"
        # The program ended; wait until the finish reports progress, then Ctrl-C.
        deadline = time.monotonic() + 60
        while b"writing the trace" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 4096)
        assert b"writing the trace" in seen
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=60) == -signal.SIGINT
        try:
            while chunk := os.read(master, 4096):
                seen += chunk
        except OSError:
            pass  # the terminal closed with the process
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if p.stdout is not None:
            p.stdout.close()
        os.close(master)
    assert b"interrupted" in seen
    # No trace claims to be complete; the recording stays to be recovered.
    assert not (out / "trace_metadata.json").exists() and not (out / "trace.json").exists()
    events = out / ".codetracer-partial" / "events.bin"
    assert events.stat().st_size > 1 << 20
    # Recoverable (its first 256 KB, to keep the test small: a cut stream, as a
    # recording that died leaves it, converts as well).
    with open(events, "r+b") as f:
        f.truncate(256 << 10)
    r = run([str(recorder_python), "-m", "codetracer_python_recorder", "recover", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert subprocess.run([str(trace_check), str(out)]).returncode == 0
    meta = json.loads((out / "trace_metadata.json").read_text())
    assert meta["partial"] is True


def line_steps(t: Trace, path_suffix: str) -> list[int]:
    """The steps of LINE events in the file ending with `path_suffix` (not the
    step at a function's first line that comes with each call)."""
    ids = {i for i, p in enumerate(t.paths) if p.endswith(path_suffix)}
    out = []
    for i, e in enumerate(t.events):
        if "Step" in e and e["Step"]["path_id"] in ids:
            following = next((x for x in t.events[i + 1 :] if "Value" not in x), {})
            if "Call" not in following:
                out.append(e["Step"]["line"])
    return out


LONG_PROGRAM = """\
def gen(n):
    for i in range(n):
        yield i
    return 5


def f(k):
    pad = [
{pad}    ]
    t = 0
    i = 0
    while i < 3: i += 1
    for i in range(k):
{loop}        if i > 1: break
    try:
        x = 1 / 0
    except ZeroDivisionError as e:
        t += 1
    finally:
        t += 2
    s = [a * 2 for a in range(3)]
    s2 = {{a: a for a in range(2)}}
    for v in gen(3):
        t += v
    g = gen(2); next(g); g.close()
    with open(__file__) as fh:
        fh.readline()
    try:
        raise KeyError(1)
    except KeyError:
        pass
    lam = lambda q: q + 1
    t += lam(1)
    t = t if t > 3 else -t
    return len(pad) + t + sum(s)


print(f(3))
print(f(1))
{tail}print(x299)
"""


@pytest.mark.parametrize("values", VALUES)
def test_long_code_objects_step_through_every_line(record, recorder_python: Path, tmp_path: Path, values: str) -> None:
    # Lines further than 255 from their code's first line (their LINE events
    # come from INSTRUCTION events): a long function called twice, with
    # loops, a one-line loop, handlers, a generator, a lambda on one line;
    # a long module body.
    program = tmp_path / "long.py"
    program.write_text(
        LONG_PROGRAM.format(
            pad="".join(f"        {i},\n" for i in range(300)),
            loop="".join(f"        t += {i}\n" for i in range(100)),
            tail="".join(f"x{i} = {i}\n" for i in range(300)),
        )
    )
    reference = tmp_path / "lines.json"
    ref = run([str(recorder_python), str(PROGRAMS / "line_events.py"), str(reference), str(program)], tmp_path)
    plain, recorded, trace_dir = record([str(program)], extra=["--values", values])
    assert recorded.stdout == plain.stdout == ref.stdout
    expected = json.loads(reference.read_text())
    assert max(expected) > 700
    assert line_steps(Trace(trace_dir), "long.py") == expected
