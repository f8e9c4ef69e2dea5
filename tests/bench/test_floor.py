"""The _ctfloor extension: builds per interpreter, leaves the workload's
result unchanged, and counts the same events as pure-Python callbacks."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ctbench.anchor import parse_anchor
from ctbench.events import IMPORT_ONLY, count_events
from ctbench.floor import RUNNER, build_floor
from ctbench.pythons import pyenv_python

WORKLOADS = Path(__file__).resolve().parents[2] / "bench" / "workloads"
PYCOUNT = Path(__file__).resolve().parents[2] / "bench" / "ctbench" / "_pycount.py"
SCALE = "0.003"


@pytest.fixture(scope="module", params=["3.12", "3.13"], ids=lambda v: f"py{v}")
def floor(request, tmp_path_factory) -> tuple[Path, Path]:
    python = pyenv_python(request.param)
    out = tmp_path_factory.mktemp(f"floor{request.param}")
    build_floor(python, out)
    return python, out


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANCHOR_SCALE": SCALE}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=True)


def test_floor_modes_keep_the_check_value_and_write_8_bytes_per_event(floor, tmp_path: Path) -> None:
    python, ext = floor
    script = WORKLOADS / "w_recursion.py"
    plain = run([str(python), str(script)], tmp_path)
    assert plain.stdout == ""
    expected = parse_anchor(plain.stderr).check
    for mode in ("noop", "count", "record8"):
        done = run([str(python), str(RUNNER), "--mode", mode, "--ext-dir", str(ext), "--records",
                    str(tmp_path / "r.bin"), "--counts", str(tmp_path / "c.json"), str(script)], tmp_path)
        assert done.stdout == ""
        assert parse_anchor(done.stderr).check == expected, mode
    counts = json.loads((tmp_path / "c.json").read_text())
    assert counts["PY_START"] > 1000 and counts["LINE"] > counts["PY_START"]
    assert (tmp_path / "r.bin").stat().st_size == 8 * sum(counts.values())


def _pycount(python: Path, script: Path, run_name: str, tmp: Path) -> dict[str, int]:
    out = tmp / f"py-{run_name}.json"
    run([str(python), str(PYCOUNT), str(out), run_name, str(script)], tmp)
    return json.loads(out.read_text())


def test_main_event_counts_match_pure_python_callbacks(floor, tmp_path: Path) -> None:
    python, ext = floor
    script = WORKLOADS / "w_mixed.py"   # has generators: PY_YIELD / PY_RESUME too
    whole, base = (_pycount(python, script, n, tmp_path) for n in ("__main__", IMPORT_ONLY))
    reference = {k: whole[k] - base[k] for k in whole}
    events = count_events(python, ext, script, float(SCALE))
    assert events.by_kind == reference
    assert reference["PY_YIELD"] > 0 and events.main == sum(reference.values())
    assert events.total > events.main


def test_runner_help(floor) -> None:
    python, _ = floor
    done = subprocess.run([str(python), str(RUNNER), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--mode" in done.stdout
