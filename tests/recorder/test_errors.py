"""The error policy (docs/design/error-policy.md) end to end: failures that really happen (disk full, permission
denied, out dir is a file, a panic injected into a callback, signals, a
program that breaks the recording), each checked for exit code, structured
error and what is left on disk; the exception hierarchy; every switch."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PROGRAMS, REPO, Trace, run

EXIT = {"usage": 2, "environment": 10, "target": 20, "internal": 70}


def rec(
    python: Path, *args: str, cwd: Path = PROGRAMS, env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    e.update(env or {})
    return subprocess.run(
        [str(python), "-m", "codetracer_python_recorder", *args], cwd=cwd, env=e, capture_output=True, timeout=120, **kw
    )


def trailer(stderr: bytes) -> dict:
    last = stderr.decode().rstrip("\n").splitlines()[-1]
    doc = json.loads(last)
    assert list(doc) == ["error_code", "kind", "message", "context"]
    return doc


# --- exception hierarchy and constants ----------------------------------------


def test_exception_hierarchy_and_exit_codes(recorder_python: Path) -> None:
    code = r"""
import codetracer_python_recorder as c
from codetracer_python_recorder import errors
assert (c.EXIT_USAGE, c.EXIT_ENVIRONMENT, c.EXIT_TARGET, c.EXIT_INTERNAL) == (2, 10, 20, 70)
for cls, kind, status in [(c.UsageError, "usage", 2), (c.EnvironmentError, "environment", 10),
                          (c.TargetError, "target", 20), (c.InternalError, "internal", 70)]:
    assert issubclass(cls, c.RecorderError) and issubclass(cls, Exception)
    e = cls("msg", "ERR_X", {"k": 1})
    assert (e.kind, e.exit_code, e.code, e.context, e.message) == (kind, status, "ERR_X", {"k": 1}, "msg")
codes = c._native.error_codes()
assert len({x[0] for x in codes}) == len(codes) >= 20
assert all(status == {"usage": 2, "environment": 10, "target": 20, "internal": 70}[kind] for _, kind, status, _ in codes)
try:
    c.stop()
except c.UsageError as e:
    assert e.code == "ERR_NOT_TRACING" and type(e) is c.UsageError
else:
    raise AssertionError("stop() without start() must raise UsageError")
try:
    c.start("/tmp/x", values="everything")
except c.UsageError as e:
    assert e.code == "ERR_INVALID_OPTION"
    assert e.message == "invalid value 'everything' for values=: expected none, args or locals", e.message
try:
    c.start("/tmp/x", on_recorder_error="explode")
except c.UsageError as e:
    assert e.message == "invalid value 'explode' for on_recorder_error=: expected abort or disable", e.message
import os
os.environ["CODETRACER_VALUES"] = "all"  # the API falls back on the variables, as the command line does
try:
    c.start("/tmp/x")
except c.UsageError as e:
    assert e.message == "invalid value 'all' for CODETRACER_VALUES: expected none, args or locals", e.message
else:
    raise AssertionError("a bad CODETRACER_VALUES must stop start()")
print("ok")
"""
    p = subprocess.run([str(recorder_python), "-c", code], capture_output=True, text=True)
    assert p.stdout == "ok\n", p.stderr


def test_python_api_start_stop_trace_flush_and_tool_id(recorder_python: Path, tmp_path: Path) -> None:
    dirs = [tmp_path / n for n in ("a", "b", "c")]
    p = run([str(recorder_python), str(PROGRAMS / "api_use.py"), *map(str, dirs)], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == [
        "tracing before: False",
        "tracing inside: True",
        "tracing after: False 45",
        "metrics: ['detaches', 'dropped_events', 'other_thread_events', 'panics_caught', 'unreadable_frames'] 0",
        "stop twice: ERR_NOT_TRACING usage 2",
        "start twice: ERR_ALREADY_TRACING",
        "tool id: ERR_TOOL_ID_IN_USE 10 someone-else",
    ]
    t = Trace(dirs[0])
    assert t.balanced() and "work" in t.calls()
    assert t.returns_of("work") == [{"kind": "Int", "i": 45, "type_id": 1}]
    assert (dirs[1] / "trace_metadata.json").exists()
    assert not dirs[2].exists()


def test_autostart_from_environment(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto"
    p = run([str(recorder_python), str(PROGRAMS / "functions.py")], tmp_path, {"CODETRACER_TRACE": str(out)})
    assert p.returncode == 0 and p.stdout == b"add 12\nfact 120\n", p.stderr
    t = Trace(out)
    assert "fact" in t.calls() and t.balanced()


def test_autostart_of_python_dash_c_names_no_made_up_file(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    out = tmp_path / "auto"
    p = run(
        [str(recorder_python), "-c", "import helper_mod; print(helper_mod.VALUE)", "arg1"],
        PROGRAMS,
        {"CODETRACER_TRACE": str(out)},
    )
    assert p.returncode == 0 and p.stdout == b"sibling import works\n", p.stderr
    t = Trace(out)
    assert (t.meta["program"], t.meta["args"]) == ("-c", ["arg1"])
    # <toplevel> sits in "<string>", the name CPython gives -c code (whose lines are not recorded);
    # the imported module's lines are, and no path names a file "-c".
    assert t.paths[0] == "<string>"
    assert not [x for x in t.paths if x.endswith("-c")]
    stepped = {t.paths[e["Step"]["path_id"]] for e in t.events if "Step" in e}
    assert str(PROGRAMS / "helper_mod.py") in stepped and "<string>" not in stepped
    assert t.calls()[0] == "<toplevel>" and "<helper_mod>" in t.calls()
    assert subprocess.run([str(trace_check), str(out)]).returncode == 0


# --- usage errors: flags and environment variables -------------------------------

USAGE_LINE = b"usage: codetracer-python-recorder [options] script.py [args...]"


@pytest.mark.parametrize(
    "env,flag,name",
    [
        ({"CODETRACER_ON_RECORDER_ERROR": "explode"}, [], "CODETRACER_ON_RECORDER_ERROR"),
        ({"CODETRACER_REQUIRE_TRACE": "maybe"}, [], "CODETRACER_REQUIRE_TRACE"),
        ({"CODETRACER_KEEP_PARTIAL_TRACE": "2"}, [], "CODETRACER_KEEP_PARTIAL_TRACE"),
        ({"CODETRACER_LOG_LEVEL": "loud"}, [], "CODETRACER_LOG_LEVEL"),
        ({"CODETRACER_JSON_ERRORS": "y e s"}, [], "CODETRACER_JSON_ERRORS"),
        ({}, ["--on-recorder-error", "explode"], "--on-recorder-error"),
        ({}, ["--values", "all"], "values"),
        ({}, ["--max-depth", "-1"], "--max-depth"),
        ({}, ["--format", "binary"], "ERR_FORMAT_UNSUPPORTED"),
        ({}, ["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_invalid_switches_are_usage_errors_naming_the_source(
    recorder_python: Path, tmp_path: Path, env, flag, name
) -> None:
    # (--json-errors would win over a bad CODETRACER_JSON_ERRORS: a flag is read before its variable.)
    json_flag = [] if "CODETRACER_JSON_ERRORS" in env else ["--json-errors"]
    p = rec(recorder_python, *flag, *json_flag, "-o", str(tmp_path / "t"), "functions.py", env=env)
    assert p.returncode == 2, p.stderr
    assert p.stdout == b""
    assert name.encode() in p.stderr and USAGE_LINE in p.stderr
    if json_flag:
        doc = trailer(p.stderr)
        assert doc["kind"] == "usage" and doc["error_code"].startswith("ERR_")
    else:
        assert b"[ERR_INVALID_OPTION]" in p.stderr.splitlines()[0]
    assert not (tmp_path / "t" / "trace_metadata.json").exists()


@pytest.mark.parametrize(
    "args,env,says",
    [
        (["--bogus", "functions.py"], {}, [b"unknown option '--bogus'", b"options go before the script"]),
        ([], {}, [b"no script to record", b"-m module"]),
        (["--max-depth", "x", "functions.py"], {}, [b"invalid value 'x' for --max-depth", b"non-negative integer"]),
        (
            ["--on-recorder-error=explode", "functions.py"],
            {},
            [b"invalid value 'explode' for --on-recorder-error", b"abort or disable"],
        ),
        (
            ["functions.py"],
            {"CODETRACER_ON_RECORDER_ERROR": "explode"},
            [b"invalid value 'explode' for CODETRACER_ON_RECORDER_ERROR", b"abort or disable"],
        ),
        (["--values"], {}, [b"--values needs a value (one of: none, args, locals)"]),
        (["--values", "all", "functions.py"], {}, [b"invalid value 'all' for --values: expected none, args or locals"]),
        (["functions.py"], {"CODETRACER_VALUES": "all"}, [b"invalid value 'all' for CODETRACER_VALUES"]),
        (["--value", "args", "functions.py"], {}, [b"unknown option '--value'", b"did you mean --values?"]),
        (["--trace-filter"], {}, [b"--trace-filter needs a value"]),
        (["--io-capture=off", "functions.py"], {}, [b"unknown option '--io-capture'", b"recorded as trace events"]),
        (
            ["--propagate-script-exit", "functions.py"],
            {},
            [b"unknown option '--propagate-script-exit'", b"always exits with the script's own status"],
        ),
        (["recover"], {}, [b"recover TRACE_DIR"]),
    ],
    ids=[
        "unknown-flag",
        "no-script",
        "max-depth-x",
        "on-error-flag",
        "on-error-env",
        "missing-value",
        "values-flag",
        "values-env",
        "misspelt",
        "trace-filter-no-value",
        "upstream-io-capture",
        "upstream-propagate-exit",
        "recover-no-dir",
    ],
)
def test_usage_errors_say_what_is_wrong_before_anything_else(
    recorder_python: Path, tmp_path: Path, args, env, says
) -> None:
    """Each of these once exited 2 with an empty stderr (docs/errors.md: a usage
    error says what is wrong)."""
    out = tmp_path / "t"
    pre = [] if args[:1] == ["recover"] else ["-o", str(out)]
    p = rec(recorder_python, *pre, *args, env=env)
    assert p.returncode == 2 and p.stdout == b""
    lines = p.stderr.splitlines()
    assert lines[0].startswith(b"codetracer-python-recorder: error: ") and lines[0].endswith(b"[ERR_INVALID_OPTION]")
    for words in says:
        assert words in lines[0], p.stderr
    assert lines[1].startswith(USAGE_LINE) and len(lines) == 2
    assert not out.exists()
    # The same error as JSON: on stderr with --json-errors (flag or variable), and in CODETRACER_ERROR_FILE.
    err_file = tmp_path / "err.json"
    variants = [([], {"CODETRACER_JSON_ERRORS": "1"})] + ([(["--json-errors"], {})] if pre else [])
    for extra, more_env in variants:
        p = rec(recorder_python, *extra, *pre, *args, env={**env, **more_env, "CODETRACER_ERROR_FILE": str(err_file)})
        assert p.returncode == 2
        doc = trailer(p.stderr)
        assert (doc["error_code"], doc["kind"]) == ("ERR_INVALID_OPTION", "usage")
        assert doc["message"].encode() in p.stderr.splitlines()[0]
        assert json.loads(err_file.read_text()) == doc


def test_help_lists_every_option(recorder_python: Path) -> None:
    p = rec(recorder_python, "--help")
    assert p.returncode == 0 and p.stderr == b""
    text = p.stdout.decode()
    listed = {w.rstrip(",") for line in text.splitlines() for w in line.split() if w.startswith("-")}
    code = (
        "from codetracer_python_recorder import _config\n"
        "for flag, o in _config.BY_FLAG.items(): print(flag, o.var.name if o.var else '-')\n"
    )
    tables = subprocess.run([str(recorder_python), "-c", code], capture_output=True, text=True, check=True)
    options = dict(line.split() for line in tables.stdout.splitlines())
    assert len(options) > 10
    assert set(options) | {"-m", "-h", "--help", "--version"} <= listed, set(options) - listed
    # Each option's entry (rendered from the table) names its variable.
    entries = re.split(r"\n  (?=-)", text)
    for flag, var in options.items():
        entry = next(e for e in entries if re.match(rf"(\S+ \S+, )*{re.escape(flag)}\b", e))
        assert var == "-" or var in entry, (flag, entry)


def test_the_native_stub_names_what_the_native_module_has(recorder_python: Path) -> None:
    """_native.pyi (what mypy checks the Python side against) declares
    exactly the names src/lib.rs registers."""
    code = (
        "import ast, json, pathlib; from codetracer_python_recorder import _native\n"
        "stub = pathlib.Path(_native.__file__).with_name('_native.pyi')\n"
        "tree = ast.parse(stub.read_text())\n"
        "declared = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}\n"
        "declared |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}\n"
        "print(json.dumps([sorted(declared), sorted(n for n in dir(_native) if not n.startswith('__')"
        " or n == '__version__')]))\n"
    )
    done = subprocess.run([str(recorder_python), "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    declared, registered = json.loads(done.stdout)
    assert declared == registered


def test_the_option_table_and_the_variables_agree(recorder_python: Path) -> None:
    """Each variable that stands for a flag (_env.py's `flag`) is that
    flag's row's variable in the option table (_config.py), and back."""
    code = (
        "from codetracer_python_recorder import _config, _env\n"
        "for v in _env.ALL:\n"
        "    if v.flag and v.flag in _config.BY_FLAG:\n"
        "        assert _config.BY_FLAG[v.flag].var is v, v.name\n"
        "for o in _config.OPTIONS:\n"
        "    assert o.var is None or o.var.flag in (o.flags or (None,)), o.name\n"
        "print('ok')\n"
    )
    done = subprocess.run([str(recorder_python), "-c", code], capture_output=True, text=True)
    assert done.stdout == "ok\n", done.stderr


def test_switches_from_environment(recorder_python: Path, tmp_path: Path) -> None:
    log = tmp_path / "diag.log"
    out = "/proc/codetracer-test/trace"  # /proc takes no new folders, even from root
    p = rec(
        recorder_python, "-o", out, "functions.py", env={"CODETRACER_JSON_ERRORS": "1", "CODETRACER_LOG_FILE": str(log)}
    )
    assert p.returncode == 10
    assert trailer(p.stderr)["error_code"] == "ERR_TRACE_DIR_CREATE"
    assert b"codetracer-python-recorder: error" not in p.stderr  # diagnostics went to the log file
    assert "ERR_TRACE_DIR_CREATE" in log.read_text()
    assert "run_id=" in log.read_text() and "trace_id=" in log.read_text()


# --- a trace path that is a file: the caller's mistake (usage) -------------------


@pytest.mark.parametrize("below", ["", "sub/trace"])
def test_trace_path_that_is_a_file_is_a_usage_error(recorder_python: Path, tmp_path: Path, below: str) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    err_file = tmp_path / "err.json"
    out = target / below if below else target
    p = rec(
        recorder_python,
        "--json-errors",
        "-o",
        str(out),
        "functions.py",
        env={"CODETRACER_ERROR_FILE": str(err_file), "CODETRACER_LOG_FILE": str(tmp_path / "diag.log")},
    )
    assert p.returncode == 2 and p.stdout == b""
    # The shape of every other usage error (`--values bogus`): one line naming
    # the path, the usage line, then (asked for) the JSON line; on stderr even
    # when diagnostics go to a log file.
    says = (
        f"the trace path '{out}' exists and is not a directory"
        if not below
        else f"cannot write the trace to '{out}': '{target}' exists and is not a directory"
    )
    lines = p.stderr.decode().splitlines()
    assert lines[0] == f"codetracer-python-recorder: error: {says} [ERR_TRACE_PATH_NOT_DIR]", p.stderr
    assert lines[1].encode().startswith(USAGE_LINE) and len(lines) == 3
    doc = trailer(p.stderr)
    assert doc["message"] == says
    assert (doc["error_code"], doc["kind"]) == ("ERR_TRACE_PATH_NOT_DIR", "usage")
    assert doc["context"]["not_a_directory"] == str(target)
    assert json.loads(err_file.read_text()) == doc
    assert target.read_text() == "keep me"


def test_trace_path_that_is_a_file_stops_even_under_disable(recorder_python: Path, tmp_path: Path) -> None:
    # A usage error is never downgraded: the program does not run.
    target = tmp_path / "taken"
    target.write_text("x")
    p = rec(recorder_python, "--on-recorder-error", "disable", "-o", str(target), "exit_code.py")
    assert p.returncode == 2 and p.stdout == b""
    assert b"ERR_TRACE_PATH_NOT_DIR" in p.stderr


# --- environment failures -------------------------------------------------------


def test_trace_dir_that_cannot_be_created_under_disable_runs_the_program(recorder_python: Path, tmp_path: Path) -> None:
    out = "/proc/codetracer-test/trace"  # /proc takes no new folders, even from root
    p = rec(recorder_python, "--on-recorder-error", "disable", "-o", out, "exit_code.py")
    assert p.returncode == 3  # the script's own status
    assert b"ERR_TRACE_DIR_CREATE" in p.stderr and b"untraced" in p.stderr
    p = rec(
        recorder_python, "--on-recorder-error", "disable", "--require-trace", "--json-errors", "-o", out, "exit_code.py"
    )
    assert p.returncode == 10 and trailer(p.stderr)["error_code"] == "ERR_TRACE_DIR_CREATE"


def test_permission_denied(recorder_python: Path, tmp_path: Path) -> None:
    # An immutable folder refuses new entries even to root (EPERM).
    locked = tmp_path / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    try:
        p = rec(recorder_python, "--json-errors", "-o", str(locked / "trace"), "functions.py")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert p.returncode == 10, p.stderr
    doc = trailer(p.stderr)
    assert doc["error_code"] == "ERR_PERMISSION_DENIED" and doc["kind"] == "environment"
    assert p.stdout == b""
    assert not (locked / "trace").exists()


def _fsize_limit(limit: int):
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def test_disk_full_aborts_with_no_trace_left(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    p = rec(recorder_python, "--json-errors", "-o", str(out), "writes_a_lot.py", preexec_fn=_fsize_limit(256 * 1024))
    assert p.returncode == 10, p.stderr
    doc = trailer(p.stderr)
    assert (doc["error_code"], doc["kind"]) == ("ERR_DISK_FULL", "environment")
    assert b"done" not in p.stdout  # abort stops the program
    assert not out.exists() or not any(out.iterdir())


def test_disk_full_under_disable_lets_the_program_finish(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    p = rec(
        recorder_python,
        "--on-recorder-error=disable",
        "-o",
        str(out),
        "writes_a_lot.py",
        preexec_fn=_fsize_limit(256 * 1024),
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"done ")
    assert b"ERR_DISK_FULL" in p.stderr and b"warning" in p.stderr
    assert not (out / "trace_metadata.json").exists()


# --- --keep-partial-trace when the trace does not fit (docs/design/error-policy.md §6: complete, marked partial, or absent) ---


def _cut_trace(out: Path, trace_check: Path, reason: str = "ERR_DISK_FULL") -> Trace:
    """The partial trace left in `out`: valid, balanced, marked, checked."""
    assert not (out / ".codetracer-partial").exists()
    t = Trace(out)
    assert (t.meta["partial"], t.meta["reason"]) == (True, reason)
    assert t.balanced() and t.kinds()["Step"] > 0
    chk = subprocess.run([str(trace_check), str(out)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stderr
    return t


def test_keep_partial_under_a_file_size_limit_keeps_the_largest_cut_that_fits(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    steps = []
    for limit in (4 * 1024, 64 * 1024):
        out = tmp_path / f"t{limit}"
        p = rec(
            recorder_python,
            "--keep-partial-trace",
            "--json-errors",
            "-o",
            str(out),
            "writes_a_lot.py",
            preexec_fn=_fsize_limit(limit),
        )
        assert p.returncode == 10, p.stderr
        doc = trailer(p.stderr)
        assert (doc["error_code"], doc["context"]["partial_trace_kept"]) == ("ERR_DISK_FULL", "true")
        t = _cut_trace(out, trace_check)
        size = (out / "trace.json").stat().st_size
        assert t.meta["stats"]["cut_to_fit_bytes"] == limit and limit - 1024 < size <= limit
        assert t.calls()[:3] == ["<toplevel>", "<__main__>", "step"]
        steps.append(t.kinds()["Step"])
    assert steps[1] > 4 * steps[0]


def test_keep_partial_when_only_the_converted_trace_is_too_large(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    # The in-run stream of containers.py (<1 KB) fits in 8 KB, its trace.json (~17 KB) does not:
    # the program finishes, and the complete trace that cannot be written becomes a cut partial one.
    plain = run([str(recorder_python), "containers.py"], PROGRAMS)
    out = tmp_path / "t"
    p = rec(
        recorder_python,
        "--keep-partial-trace",
        "--json-errors",
        "-o",
        str(out),
        "containers.py",
        preexec_fn=_fsize_limit(8 * 1024),
    )
    assert p.stdout == plain.stdout and p.returncode == 10
    assert trailer(p.stderr)["error_code"] == "ERR_DISK_FULL"
    t = _cut_trace(out, trace_check)
    assert t.meta["stats"]["truncated_stream"] is False and t.meta["exit_status"] == 0
    # Without --keep-partial-trace: nothing is left.
    out = tmp_path / "u"
    p = rec(recorder_python, "-o", str(out), "containers.py", preexec_fn=_fsize_limit(8 * 1024))
    assert p.returncode == 10 and not out.exists()


def test_keep_partial_when_not_even_a_step_fits_leaves_nothing_and_says_so(
    recorder_python: Path, tmp_path: Path
) -> None:
    # 2 KB: the start info fits, trace_metadata.json (~2.6 KB) never does.
    out = tmp_path / "t"
    p = rec(
        recorder_python,
        "--keep-partial-trace",
        "--json-errors",
        "-o",
        str(out),
        "writes_a_lot.py",
        preexec_fn=_fsize_limit(2048),
    )
    assert p.returncode == 10
    assert b"no trace was kept" in p.stderr
    doc = trailer(p.stderr)
    assert (doc["error_code"], doc["context"]["partial_trace_kept"]) == ("ERR_DISK_FULL", "false")
    assert not out.exists()


def _on_a_small_disk(
    recorder_python: Path, tmp_path: Path, size: str, *args: str
) -> tuple[subprocess.CompletedProcess, Path]:
    """Runs the recorder with its trace folder on a tmpfs of `size` (a private
    mount namespace); returns the run and a copy of what was left there."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    disk, copy = tmp_path / "disk", tmp_path / "copy"
    disk.mkdir()
    copy.mkdir()
    script = 'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99; shift 3; "$@"; s=$?; cp -a "$D/." "$C/"; exit $s'
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_")}
    e.update(D=str(disk), C=str(copy))
    p = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            size,
            str(disk),
            "--",
            str(recorder_python),
            "-m",
            "codetracer_python_recorder",
            *args,
            "-o",
            str(disk / "t"),
            "writes_a_lot.py",
        ],
        cwd=PROGRAMS,
        env=e,
        capture_output=True,
        timeout=120,
    )
    if p.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode(errors='replace')}")
    return p, copy / "t"


def test_keep_partial_on_a_full_disk_keeps_a_cut_valid_trace(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    # The in-run stream fills the disk itself: part of it is given up to make room for trace.json.
    p, out = _on_a_small_disk(recorder_python, tmp_path, "256k", "--keep-partial-trace", "--json-errors")
    assert p.returncode == 10, p.stderr
    assert trailer(p.stderr)["context"]["partial_trace_kept"] == "true"
    t = _cut_trace(out, trace_check)
    assert t.meta["stats"]["cut_to_fit_bytes"] > 0


def test_keep_partial_on_a_disk_too_small_for_any_trace_leaves_nothing(recorder_python: Path, tmp_path: Path) -> None:
    p, out = _on_a_small_disk(recorder_python, tmp_path, "16k", "--keep-partial-trace", "--json-errors")
    assert p.returncode == 10
    assert b"no trace was kept" in p.stderr
    assert trailer(p.stderr)["context"]["partial_trace_kept"] == "false"
    assert not out.exists()


# --- target errors ----------------------------------------------------------------


def test_target_exception_is_the_programs_failure_not_the_recorders(recorder_python: Path, tmp_path: Path) -> None:
    p = rec(recorder_python, "--json-errors", "-o", str(tmp_path / "t"), "exceptions.py")
    assert p.returncode == 1
    assert p.stderr.rstrip().endswith(b"AppError: too big: 7")  # no JSON trailer: the recorder did not fail
    t = Trace(tmp_path / "t")
    assert t.meta["partial"] is False and t.meta["exit_status"] == 1


def test_program_freeing_the_tool_id_is_a_target_error(recorder_python: Path, tmp_path: Path) -> None:
    p = rec(recorder_python, "--json-errors", "-o", str(tmp_path / "t"), "frees_tool.py")
    assert p.stdout == b"4\n"
    assert p.returncode == 20
    assert trailer(p.stderr)["error_code"] == "ERR_TARGET_MONITORING_CHANGED"
    assert not (tmp_path / "t" / "trace_metadata.json").exists()
    p = rec(recorder_python, "--keep-partial-trace", "-o", str(tmp_path / "k"), "frees_tool.py")
    assert p.returncode == 20
    t = Trace(tmp_path / "k")
    assert (t.meta["partial"], t.meta["reason"]) == (True, "ERR_TARGET_MONITORING_CHANGED")
    assert t.balanced()


def test_require_trace_with_nothing_traced(recorder_python: Path, tmp_path: Path) -> None:
    never = PROGRAMS / "helper_mod.py"  # never imported by functions.py
    p = rec(
        recorder_python,
        "--require-trace",
        "--json-errors",
        "--activation-path",
        str(never),
        "-o",
        str(tmp_path / "t"),
        "functions.py",
    )
    assert p.stdout == b"add 12\nfact 120\n"
    assert p.returncode == 20
    assert trailer(p.stderr)["error_code"] == "ERR_NOTHING_TRACED"
    assert not (tmp_path / "t" / "trace_metadata.json").exists()
    # Without --require-trace the same run succeeds with the script's status.
    p = rec(recorder_python, "--activation-path", str(never), "-o", str(tmp_path / "u"), "functions.py")
    assert p.returncode == 0


def test_activation_path_records_only_that_file(recorder_python: Path, tmp_path: Path) -> None:
    p = rec(
        recorder_python, "--activation-path", str(PROGRAMS / "helper_mod.py"), "-o", str(tmp_path / "t"), "argv_path.py"
    )
    assert p.returncode == 0, p.stderr
    t = Trace(tmp_path / "t")
    assert t.calls() == ["<toplevel>", "<helper_mod>"]
    steps = [e["Step"] for e in t.events if "Step" in e]
    assert steps and {t.paths[s["path_id"]] for s in steps} == {str(PROGRAMS / "helper_mod.py")}


# --- signals ------------------------------------------------------------------------


def _start_sleeper(python: Path, out: Path) -> subprocess.Popen:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_")}
    p = subprocess.Popen(
        [str(python), "-m", "codetracer_python_recorder", "-o", str(out), "sleeper.py"],
        cwd=PROGRAMS,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    return p


def test_sigint_during_recording_finishes_the_trace(recorder_python: Path, tmp_path: Path) -> None:
    p = _start_sleeper(recorder_python, tmp_path / "t")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGINT
    assert b"KeyboardInterrupt" in err
    t = Trace(tmp_path / "t")
    assert t.meta["partial"] is False and t.balanced()
    assert t.calls().count("tick") >= 5


def test_sigterm_leaves_only_a_recognisably_partial_trace(
    recorder_python: Path, tmp_path: Path, trace_check: Path
) -> None:
    out = tmp_path / "t"
    p = _start_sleeper(recorder_python, out)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGTERM
    assert not (out / "trace_metadata.json").exists() and not (out / "trace.json").exists()
    assert (out / ".codetracer-partial" / "events.bin").exists()
    r = rec(recorder_python, "recover", str(out))
    assert r.returncode == 0, r.stderr
    t = Trace(out)
    assert t.meta["partial"] is True and t.meta["recovered"] is True
    assert subprocess.run([str(trace_check), str(out)]).returncode == 0


# --- a panic injected into a callback (test-only build) ----------------------------


@pytest.fixture(scope="session")
def fault_python(tmp_path_factory: pytest.TempPathFactory, python312: Path) -> Path:
    """CPython 3.12 with a recorder built with the `fault-injection` feature."""
    out = tmp_path_factory.mktemp("fault-wheel")
    env = dict(os.environ, CARGO_TARGET_DIR=str(REPO / ".cache" / "fault-target"))
    subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "maturin"),
            "build",
            "--release",
            "--quiet",
            "--features",
            "fault-injection",
            "-o",
            str(out),
        ],
        check=True,
        env=env,
        cwd=REPO / "recorder",
    )
    venv = tmp_path_factory.mktemp("fault-venv")
    subprocess.run([str(python312), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", *map(str, out.glob("*.whl"))], check=True)
    return python


def test_release_wheel_has_no_fault_injection(recorder_python: Path) -> None:
    p = subprocess.run(
        [str(recorder_python), "-c", "import codetracer_python_recorder as c; print(c._native.FAULT_INJECTION)"],
        capture_output=True,
        text=True,
    )
    assert p.stdout == "False\n"


#: The callback that panics: one of functions.py's own (the count starts at
#: `start` and includes the first callbacks of the recorder's own code before
#: the program runs, which it disables: 25-50 land in the program on 3.12).
PANIC_IN_PROGRAM = "panic-after:35"


@pytest.mark.build
def test_panic_in_callback_is_contained_abort(fault_python: Path, tmp_path: Path) -> None:
    p = rec(
        fault_python,
        "--json-errors",
        "-o",
        str(tmp_path / "t"),
        "functions.py",
        env={"CODETRACER_TEST_FAULT": PANIC_IN_PROGRAM},
    )
    assert p.returncode == 70, p.stderr
    doc = trailer(p.stderr)
    assert (doc["error_code"], doc["kind"]) == ("ERR_PANIC", "internal")
    assert b"injected fault" in p.stderr  # the payload is logged
    assert not (tmp_path / "t" / "trace_metadata.json").exists()


@pytest.mark.build
def test_panic_in_callback_under_disable_keeps_partial_trace(fault_python: Path, tmp_path: Path) -> None:
    p = rec(
        fault_python,
        "--on-recorder-error",
        "disable",
        "--keep-partial-trace",
        "-o",
        str(tmp_path / "t"),
        "functions.py",
        env={"CODETRACER_TEST_FAULT": PANIC_IN_PROGRAM},
    )
    assert p.returncode == 0
    assert p.stdout == b"add 12\nfact 120\n"
    assert b"recording disabled" in p.stderr
    t = Trace(tmp_path / "t")
    assert (t.meta["partial"], t.meta["reason"]) == (True, "ERR_PANIC")
    assert t.meta["metrics"]["panics_caught"] == 1 and t.meta["metrics"]["detaches"] == 1
    assert t.balanced()


def test_every_switch_also_works_from_its_environment_variable(recorder_python: Path, tmp_path: Path) -> None:
    p = rec(
        recorder_python,
        "-o",
        "/proc/codetracer-test/t",
        "exit_code.py",
        env={"CODETRACER_ON_RECORDER_ERROR": "disable"},
    )
    assert p.returncode == 3 and b"untraced" in p.stderr
    never = str(PROGRAMS / "helper_mod.py")
    p = rec(
        recorder_python,
        "--activation-path",
        never,
        "-o",
        str(tmp_path / "r"),
        "functions.py",
        env={"CODETRACER_REQUIRE_TRACE": "yes", "CODETRACER_JSON_ERRORS": "true"},
    )
    assert p.returncode == 20 and trailer(p.stderr)["error_code"] == "ERR_NOTHING_TRACED"
    p = rec(recorder_python, "-o", str(tmp_path / "k"), "frees_tool.py", env={"CODETRACER_KEEP_PARTIAL_TRACE": "on"})
    assert p.returncode == 20 and Trace(tmp_path / "k").meta["partial"] is True
    p = rec(recorder_python, "-o", str(tmp_path / "i"), "functions.py", env={"CODETRACER_LOG_LEVEL": "info"})
    assert p.returncode == 0 and b"codetracer-python-recorder: info: recording into" in p.stderr
    assert p.stdout == b"add 12\nfact 120\n"
    p = rec(
        recorder_python,
        "functions.py",
        cwd=PROGRAMS,
        env={"CODETRACER_TRACE_DIR": str(tmp_path / "e"), "CODETRACER_VALUES": "args"},
    )
    t = Trace(tmp_path / "e")
    assert t.meta["values"] == "args" and t.kinds()["Step"] > 0


def test_python_311_gets_a_clear_usage_error(recorder_python: Path, python311: Path, tmp_path: Path) -> None:
    site = next((recorder_python.parent.parent / "lib").glob("python3.*/site-packages"))
    env = {"PYTHONPATH": str(site)}
    p = run(
        [str(python311), "-m", "codetracer_python_recorder", "-o", str(tmp_path / "t"), "functions.py"], PROGRAMS, env
    )
    assert p.returncode == 2 and p.stdout == b""
    assert b"ERR_UNSUPPORTED_PYTHON" in p.stderr and b"3.11" in p.stderr and b"Traceback" not in p.stderr
    p = run([str(python311), "-c", "import codetracer_python_recorder"], PROGRAMS, env)
    assert p.returncode == 1 and b"UsageError" in p.stderr and b"needs CPython 3.12" in p.stderr


def test_string_frozen_and_recorder_code_are_never_recorded(recorder_python: Path, tmp_path: Path) -> None:
    p = rec(recorder_python, "-o", str(tmp_path / "t"), "string_code.py")
    assert p.stdout == b"20\n"
    t = Trace(tmp_path / "t")
    assert "made_by_exec" not in t.calls()
    assert not [x for x in t.paths if x.startswith("<") or "codetracer_python_recorder" in x]
    # shown at the two steps after its binding (lines 4 and 5)
    assert [v["i"] for v in t.values_of("result")] == [2, 2]
