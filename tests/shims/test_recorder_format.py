"""Rule R7 end to end: the rendered `ct-python-recorder` sh launcher, run by
dash and bash with the real recorder staged from `make wheel` and a CPython
that does not have it installed, writes `trace.ct` unless the user asks for
another format: `--format json` on the command line, or a CODETRACER_FORMAT
of their own (which a `--format` option still overrides)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ctbundle import render, stage

from .shimtest_support import REPO

FILES = {"ctfs": "trace.ct", "json": "trace.json"}
APP = "import sys\ndef f(x):\n    return x * 2\nprint(f(21), sys.argv[1:])\n"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    root = tmp_path_factory.mktemp("fmt") / "Code Tracer $b ü"
    stage(root / "resources" / "python", [built_wheel], ct_package=REPO / "ct" / "codetracer_ct")
    render("linux", root / "bin")
    return root / "bin" / "ct-python-recorder"


def record(shell: str, launcher: Path, options: list[str], tmp_path: Path, python: Path, **env: str):
    script = tmp_path / "app.py"
    script.write_text(APP)
    full = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8", **env}
    argv = [shell, str(launcher), *options, "--trace-dir", str(tmp_path / "trace"), str(script), "a b"]
    return subprocess.run(argv, env=full, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("shell", ["dash", "bash"])
@pytest.mark.parametrize(
    "preset,options,expected",
    [
        ({}, [], "ctfs"),
        ({}, ["--format", "json"], "json"),
        ({"CODETRACER_FORMAT": "json"}, [], "json"),
        ({"CODETRACER_FORMAT": "json"}, ["--format", "ctfs"], "ctfs"),
    ],
    ids=["default", "option-json", "env-json", "option-over-env"],
)
def test_recorder_launcher_writes_trace_ct_by_default(
    launcher: Path,
    tmp_path: Path,
    python312: Path,
    shell: str,
    preset: dict[str, str],
    options: list[str],
    expected: str,
) -> None:
    proc = record(shell, launcher, options, tmp_path, python312, **preset)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "42 ['a b']\n"
    trace = tmp_path / "trace"
    written = {p.name for p in trace.iterdir()}
    assert FILES[expected] in written and not (set(FILES.values()) - {FILES[expected]}) & written, written
    assert (trace / FILES[expected]).stat().st_size > 0
    assert json.loads((trace / "trace_metadata.json").read_text())["format"] == expected


def test_a_wrong_preset_format_is_the_recorders_usage_error(launcher: Path, tmp_path: Path, python312: Path) -> None:
    proc = record("dash", launcher, [], tmp_path, python312, CODETRACER_FORMAT="binary")
    assert proc.returncode == 2
    assert proc.stdout == ""  # the script never ran
    assert "CODETRACER_FORMAT" in proc.stderr and "'binary'" in proc.stderr
    assert not (tmp_path / "trace").exists()
