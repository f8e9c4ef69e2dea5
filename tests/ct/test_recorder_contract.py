"""The contract between `ct record` and the real recorder (docs/ct.md "The
run", docs/design/bundling-and-ct-record.md §4): every
option ct passes through is accepted by the recorder's own parser
(`python -m codetracer_python_recorder` from the recorder venv, not the fake)
with the meaning ct's help gives it, and every recorder option a `ct record`
user may need is passed through by ct (or set by ct itself, for a reason
written here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct import cli as ct_cli

APP = """\
def work(word, items, nested, table):
    text = word * 3
    return text, len(items), nested, len(table)


print(work("abcdefgh", list(range(50)), [[[[1, 2]]]], {str(i): [i, i] for i in range(40)}))
"""

# ct's record options that ct turns into recorder options of its own making.
CT_OWN_TO_RECORDER = {"--trace-dir", "--activation-path", "--format"}
# Recorder options ct sets itself (never taken from the user), and why.
SET_BY_CT = {
    "--out-dir": "an alias of --trace-dir, which ct passes",
    "-o": "an alias of --trace-dir, which ct passes",
    "--json-errors": "ct reads the JSON error from CODETRACER_ERROR_FILE, keeping the user's stderr intact",
}

# One row per option ct passes through: a value ct's help allows (None for a
# switch), and a bad value (None: none can be bad).
PASSED = {
    "--values": ("args", "everything"),
    "--max-depth": ("1", "deep"),
    "--max-items": ("3", "-1"),
    "--max-str": ("4", "x"),
    "--max-nodes": ("2", "1.5"),
    "--on-recorder-error": ("disable", "explode"),
    "--require-trace": (None, None),
    "--keep-partial-trace": (None, None),
    "--log-level": ("info", "loud"),
    "--log-file": ("diag.log", None),
    "--record-all": (None, None),
    "--no-redact": (None, None),
    "--no-auto-filter": (None, None),
    "--no-threads": (None, None),
    "--no-follow-processes": (None, None),
    "--include": ("json", None),
    "--exclude": ("helper*", None),
    "--trace-filter": ("filter.toml", "missing.toml"),
    "--replay-budget": ("1GB", "lots"),
}
# Options that mean something only in a test run (`--pytest`/`--unittest`;
# with a script they are usage errors): checked with `--unittest`.
TEST_RUN_PASSED = ("--trace-per-test", "--single-trace", "--record-framework")
TEST_MODULE = (
    "import unittest\n\nclass T(unittest.TestCase):\n    def test_one(self):\n        self.assertEqual(1, 1)\n"
)
FILTER = '[scope]\n[[scope.rules]]\nselector = "pkg:literal:json"\nexec = "trace"\n'


def ct_record_options(*argv: str) -> List[str]:
    """The recorder options `ct record ARGV app.py` passes (ct's own parsing)."""
    options, target, _ = ct_cli.split_record_argv([*argv, "app.py"])
    assert target == ("script", "app.py")
    return list(ct_cli._recorder_options(ct_cli._record_parser("ct record").parse_args(options)))


def recorder_options(python: Path) -> Dict[str, bool]:
    """Every option of the real recorder's parser: flag -> takes a value."""
    code = (
        "import json; from codetracer_python_recorder import _config; "
        "print(json.dumps({k: o.takes_value for k, o in _config.BY_FLAG.items()}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def record(python: Path, cwd: Path, out: Path, options: List[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    # What ct runs: python -m codetracer_python_recorder --trace-dir DIR --format json [options] script
    return subprocess.run(
        [
            str(python),
            "-m",
            "codetracer_python_recorder",
            "--trace-dir",
            str(out),
            "--format",
            "json",
            *options,
            "app.py",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
    )


def values_json(folder: Path, name: str) -> str:
    events = json.loads((folder / "trace.json").read_text())
    names = [e["VariableName"] for e in events if "VariableName" in e]
    ids = {i for i, n in enumerate(names) if n == name}
    found = [e["Value"]["value"] for e in events if "Value" in e and e["Value"]["variable_id"] in ids]
    found += [a["value"] for e in events if "Call" in e for a in e["Call"]["args"] if a["variable_id"] in ids]
    assert found, name
    return json.dumps(found)


def test_every_recorder_option_is_passed_by_ct_or_set_by_it(recorder_python: Path) -> None:
    ours = recorder_options(recorder_python)
    passed = {flag for flag, _, _ in ct_cli.RECORDER_OPTIONS} | {flag for flag, _ in ct_cli.RECORDER_LIST_OPTIONS}
    missing = set(ours) - passed - CT_OWN_TO_RECORDER - set(SET_BY_CT)
    assert not missing, (
        f"recorder options `ct record` users cannot reach: {sorted(missing)} (add them to "
        "RECORDER_OPTIONS in ct/codetracer_ct/cli.py and docs/ct.md)"
    )
    # ...and ct passes nothing the recorder does not know, with the same arity.
    for flag, takes_value, _ in ct_cli.RECORDER_OPTIONS:
        assert ours.get(flag) == takes_value, flag
    for flag, _ in ct_cli.RECORDER_LIST_OPTIONS:
        assert ours.get(flag) is True, flag
    assert set(PASSED) | set(TEST_RUN_PASSED) == passed, "a passed option without a contract row below"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "filter.toml").write_text(FILTER)
    return tmp_path


def test_ct_passes_each_option_unchanged_and_the_recorder_accepts_it(recorder_python: Path, app: Path) -> None:
    baseline = app / "base"
    assert record(recorder_python, app, baseline, []).returncode == 0
    for flag, (good, bad) in PASSED.items():
        argv = [flag] if good is None else [flag, good]
        options = ct_record_options(*argv)
        assert options == argv, (flag, options)  # passed through unchanged
        out = app / ("t" + flag.strip("-"))
        done = record(recorder_python, app, out, options)
        assert done.returncode == 0, (flag, done.stderr)
        assert (out / "trace_metadata.json").exists(), flag
        if bad is not None:
            refused = record(recorder_python, app, app / "bad", ct_record_options(flag, bad))
            assert refused.returncode == 2 and flag.encode() in refused.stderr, (flag, refused.stderr)


def test_ct_passes_test_run_options_and_the_recorder_accepts_them(recorder_python: Path, app: Path) -> None:
    (app / "test_app.py").write_text(TEST_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
    for flag in TEST_RUN_PASSED:
        options, target, args = ct_cli.split_record_argv([flag, "--unittest", "test_app"])
        assert (target, args) == (("tests", "unittest"), ["test_app"])
        passed = list(ct_cli._recorder_options(ct_cli._record_parser("ct record").parse_args(options)))
        assert passed == [flag]
        out = app / ("t" + flag.strip("-"))
        done = subprocess.run(
            [
                str(recorder_python),
                "-m",
                "codetracer_python_recorder",
                "--trace-dir",
                str(out),
                *passed,
                "--unittest",
                "test_app",
            ],
            cwd=app,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, (flag, done.stderr)
        assert (out / "tests.json").exists() == (flag != "--single-trace"), flag
        refused = record(recorder_python, app, app / "bad", passed)  # with a script
        assert refused.returncode == 2 and b"--pytest or --unittest" in refused.stderr, refused.stderr


def test_each_passed_option_means_what_ct_says(recorder_python: Path, app: Path) -> None:
    def run(*options: str) -> tuple[Path, subprocess.CompletedProcess]:
        out = app / f"t{len(list(app.iterdir()))}"
        done = record(recorder_python, app, out, ct_record_options(*options))
        assert done.returncode == 0, (options, done.stderr)
        return out, done

    base, _ = run()
    meta = lambda folder: json.loads((folder / "trace_metadata.json").read_text())
    # --values: how many values to capture
    assert meta(run("--values", "args")[0])["values"] == "args" and meta(base)["values"] == "locals"
    # the bounds: each makes the values it bounds smaller
    for flag, value, variable in (
        ("--max-str", "4", "text"),
        ("--max-items", "3", "items"),
        ("--max-depth", "1", "nested"),
        ("--max-nodes", "2", "table"),
    ):
        bounded = values_json(run(flag, value)[0], variable)
        assert len(bounded) < len(values_json(base, variable)), flag
    # the policy switches land in the recorded policy
    assert meta(run("--on-recorder-error", "disable")[0])["policy"]["on_recorder_error"] == "disable"
    assert meta(run("--require-trace")[0])["policy"]["require_trace"] is True
    assert meta(run("--keep-partial-trace")[0])["policy"]["keep_partial_trace"] is True
    # the scope options land in the recorded scope, repeatable ones in order
    scope = lambda *options: meta(run(*options)[0])["trace_filter"]
    assert scope("--record-all")["record_all"] is True and scope()["record_all"] is False
    assert scope("--no-redact")["redact"] is False and scope()["redact"] is True
    assert scope("--include", "json", "--include", "csv")["include"] == ["json", "csv"]
    assert scope("--exclude", "helper*")["exclude"] == ["helper*"]
    assert str(app / "filter.toml") in [f["path"] for f in scope("--trace-filter", "filter.toml")["filters"]]
    # --no-threads: the main thread alone (docs/recorder.md, "Threads")
    assert meta(run("--no-threads")[0])["threads"].startswith("main-only:")
    assert meta(base)["threads"].startswith("per-thread:")
    # --no-follow-processes: a forked child is not followed (the policy lands in the metadata)
    assert meta(run("--no-follow-processes")[0])["processes"].startswith("not followed:")
    assert meta(base)["processes"].startswith("child processes:")
    # diagnostics: --log-level, and --log-file instead of stderr
    _, done = run("--log-level", "info")
    assert b"codetracer-python-recorder: info: recording into" in done.stderr
    _, done = run("--log-level", "info", "--log-file", "diag.log")
    assert b"info:" not in done.stderr and "info: recording into" in (app / "diag.log").read_text()
    # ct's own --activation-path becomes the recorder's (ct/codetracer_ct/_record.py adds it to the command)
    script = str(app / "app.py")
    options, _, _ = ct_cli.split_record_argv(["--activation-path", script, "app.py"])
    assert ct_cli._record_parser("ct record").parse_args(options).activation_path == script
    done = record(recorder_python, app, app / "activated", ["--activation-path", script])
    assert done.returncode == 0 and meta(app / "activated")["activation_path"] == script


def test_ct_format_choices_are_the_recorders_and_reach_it(recorder_python: Path, app: Path) -> None:
    """`ct record --format F` runs the recorder with `--format F` (_record.py);
    ct offers exactly the formats the recorder writes, and each writes its files."""
    code = "import json; from codetracer_python_recorder import _config; print(json.dumps(_config.BY_NAME['format'].choices))"
    theirs = json.loads(
        subprocess.run([str(recorder_python), "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert list(ct_cli.FORMATS) == theirs
    parser = ct_cli._record_parser("ct record")
    for fmt, trace in (("json", "trace.json"), ("ctfs", "trace.ct")):
        options, _, _ = ct_cli.split_record_argv(["--format", fmt, "app.py"])
        assert parser.parse_args(options).format == fmt
        out = app / fmt
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_") and k != "PYTHONPATH"}
        done = subprocess.run(
            [
                str(recorder_python),
                "-m",
                "codetracer_python_recorder",
                "--trace-dir",
                str(out),
                "--format",
                fmt,
                "app.py",
            ],
            cwd=app,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert (out / trace).exists() and json.loads((out / "trace_metadata.json").read_text())["format"] == fmt
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["--format", "binary"])
    assert refused.value.code == 2
