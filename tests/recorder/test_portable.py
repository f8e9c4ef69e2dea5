"""The portable path (docs/recorder.md "Reading locals"): locals and values through the public C API,
what the recorder uses on a CPython whose layout it does not know. Forced on
3.12 and 3.13 (`CODETRACER_PORTABLE=1`), or taken after a failed start-up
self-check (`CODETRACER_TEST_FAIL_SELF_CHECK=<check>`), it must write the
very trace.json the in-place path writes, say so once on stderr, and
record it in trace_metadata.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import PROGRAMS, REPO, Result, run

REPLAY_PROGRAMS = REPO / "tests" / "replay" / "programs"
WORKLOADS = REPO / "bench" / "workloads"
WARNING = b"codetracer-python-recorder: warning: recording through the portable path"

# Every program the parity and differential tests record (deterministic
# across processes: not threads.py, whose threads interleave) and the two real
# programs the scope and replay tests share, the replay tests' own programs,
# and the bench workloads.
RECORDER = [
    "functions.py",
    "generators.py",
    "async_prog.py",
    "exceptions.py",
    "classes.py",
    "containers.py",
    "unicode_io.py",
    "exit_none.py",
    "exit_code.py",
    "exit_msg.py",
    "module_state.py",
    "finalizers.py",
    "mutations.py",
    "in_place.py",
    "try_blocks.py",
    "std_values.py",
    "std_enums.py",
    "line_events.py",
    "gen_close.py",
    "callbacks.py",
    "cli_tool.py",
    "imports_only.py",
    "builtin_methods.py",
    "frame_locals.py",
]
REPLAY = sorted(p.name for p in REPLAY_PROGRAMS.glob("*.py"))
# `make test-fast` records these through the portable path (on both
# interpreters); the other programs and the benchmark workloads are marked
# slow, which `make test` (CI) runs.
FAST = {
    "functions.py",
    "containers.py",
    "classes.py",
    "std_values.py",
    "mutations.py",
    "frame_locals.py",  # recorder suite
    "objects.py",
    "exceptions.py",
}  # replay suite
SELF_CHECKS = [
    "frame",
    "frame_object",
    "namespace",
    "cell",
    "int",
    "float",
    "sequence",
    "dict",
    "instance_dict",
    "slots",
    "enumerate",
    "cfunction",
    "refcount",
]


def _cases(programs: list[str]) -> list:
    unknown = FAST - set(RECORDER) - set(REPLAY)
    assert not unknown, f"no such program: {unknown}"
    return [pytest.param(p, marks=() if p in FAST else pytest.mark.slow) for p in programs]


def _record(python: Path, out: Path, argv: list[str], cwd: Path, env: dict[str, str], values: str = "locals") -> Result:
    env = {"PYTHONHASHSEED": "0", **env}
    if argv[0] == "std_values.py":
        env["PYTHONPATH"] = "preimport:."
    return run([str(python), "-m", "codetracer_python_recorder", "-o", str(out), f"--values={values}", *argv], cwd, env)


def _meta(out: Path) -> dict:
    return json.loads((out / "trace_metadata.json").read_text(encoding="utf-8"))


def _without_warning(stderr: bytes) -> bytes:
    return b"".join(line for line in stderr.splitlines(keepends=True) if not line.startswith(WARNING))


def _compare(
    python: Path, tmp_path: Path, argv: list[str], cwd: Path, env: dict[str, str], values: str = "locals"
) -> bytes:
    """Records `argv` in place and through `env`'s portable path; checks
    they agree byte for byte and returns the portable run's stderr."""
    fast = _record(python, tmp_path / "fast", argv, cwd, {}, values)
    portable = _record(python, tmp_path / "portable", argv, cwd, env, values)
    assert fast.returncode == portable.returncode, portable.stderr
    assert fast.stdout == portable.stdout
    assert fast.stderr.count(WARNING) == 0, fast.stderr
    assert portable.stderr.count(WARNING) == 1, portable.stderr
    assert _without_warning(portable.stderr) == fast.stderr
    fast_meta, portable_meta = _meta(tmp_path / "fast"), _meta(tmp_path / "portable")
    assert fast_meta["cpython_layout"] in ("3.12", "3.13") and "cpython_layout_reason" not in fast_meta
    assert portable_meta["cpython_layout"] == "portable"
    assert fast_meta["metrics"]["unreadable_frames"] == portable_meta["metrics"]["unreadable_frames"] == 0
    assert (tmp_path / "portable" / "trace.json").read_bytes() == (tmp_path / "fast" / "trace.json").read_bytes()
    return portable.stderr


@pytest.mark.parametrize("program", _cases(RECORDER))
def test_forced_portable_path_writes_the_same_trace(recorder_python: Path, tmp_path: Path, program: str) -> None:
    stderr = _compare(recorder_python, tmp_path, [program, "arg one"], PROGRAMS, {"CODETRACER_PORTABLE": "1"})
    assert b"CODETRACER_PORTABLE=1" in stderr
    assert _meta(tmp_path / "portable")["cpython_layout_reason"] == "CODETRACER_PORTABLE=1"


@pytest.mark.parametrize("program", _cases(REPLAY))
def test_forced_portable_path_on_the_replay_programs(recorder_python: Path, tmp_path: Path, program: str) -> None:
    _compare(recorder_python, tmp_path, [program], REPLAY_PROGRAMS, {"CODETRACER_PORTABLE": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("values", ["locals", "args"])
@pytest.mark.parametrize("workload", ["w_numeric", "w_objects", "w_recursion"])
def test_forced_portable_path_on_the_benchmark_workloads(
    recorder_python: Path, tmp_path: Path, workload: str, values: str
) -> None:
    _compare(
        recorder_python,
        tmp_path,
        ["run_workload.py", str(WORKLOADS / f"{workload}.py"), "0.002"],
        PROGRAMS,
        {"CODETRACER_PORTABLE": "1"},
        values,
    )


@pytest.mark.parametrize("check", SELF_CHECKS)
def test_a_failed_self_check_falls_back_to_the_portable_path(recorder_python: Path, tmp_path: Path, check: str) -> None:
    """A layout whose self-check fails is never trusted: the recording goes
    on through the portable path, says why, and still records every value."""
    stderr = _compare(recorder_python, tmp_path, ["mutations.py"], PROGRAMS, {"CODETRACER_TEST_FAIL_SELF_CHECK": check})
    reason = _meta(tmp_path / "portable")["cpython_layout_reason"]
    assert reason.endswith(f"layout failed on {check}"), reason
    assert f"failed on {check}".encode() in stderr
    events = json.loads((tmp_path / "portable" / "trace.json").read_text(encoding="utf-8"))
    assert sum("Value" in e for e in events) > 10


# A CPython this recorder does not know (3.14, 3.15, ...), simulated on 3.12
# and 3.13: the portable path, and none of the shortcuts resting on facts of
# a known version beyond its layout (the pure-line analysis of the bytecode,
# the INSTRUCTION stand-in for LINE events of long code) — the same trace.
UNKNOWN = {"CODETRACER_TEST_UNKNOWN_VERSION": "1"}


@pytest.mark.parametrize(
    "program",
    [
        "functions.py",
        "generators.py",
        "mutations.py",
        "in_place.py",
        "line_events.py",
        "try_blocks.py",
        "frame_locals.py",
    ],
)
def test_an_unknown_cpython_version_writes_the_same_trace(recorder_python: Path, tmp_path: Path, program: str) -> None:
    stderr = _compare(recorder_python, tmp_path, [program], PROGRAMS, UNKNOWN)
    reason = _meta(tmp_path / "portable")["cpython_layout_reason"]
    assert reason.startswith("no known layout for CPython 3.1") and "CODETRACER_TEST_UNKNOWN_VERSION=1" in reason
    assert reason.encode() in stderr


def test_an_unknown_cpython_version_steps_through_long_code_and_loops(recorder_python: Path, tmp_path: Path) -> None:
    from .test_real_programs import LONG_PROGRAM

    program = tmp_path / "long.py"
    program.write_text(
        LONG_PROGRAM.format(
            pad="".join(f"        {i},\n" for i in range(300)),
            loop="".join(f"        t += {i}\n" for i in range(100)),
            tail="".join(f"x{i} = {i}\n" for i in range(300)),
        )
    )
    _compare(recorder_python, tmp_path, [str(program)], tmp_path, UNKNOWN)
    _compare(
        recorder_python,
        tmp_path / "w",
        ["run_workload.py", str(WORKLOADS / "w_numeric.py"), "0.002"],
        PROGRAMS,
        UNKNOWN,
    )
