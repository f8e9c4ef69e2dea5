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
        done = run(
            [
                str(python),
                str(RUNNER),
                "--mode",
                mode,
                "--ext-dir",
                str(ext),
                "--records",
                str(tmp_path / "r.bin"),
                "--counts",
                str(tmp_path / "c.json"),
                str(script),
            ],
            tmp_path,
        )
        assert done.stdout == ""
        assert parse_anchor(done.stderr).check == expected, mode
    counts = json.loads((tmp_path / "c.json").read_text())
    assert counts["PY_START"] > 1000 and counts["LINE"] > counts["PY_START"]
    assert (tmp_path / "r.bin").stat().st_size == 8 * sum(counts.values())


def _pycount(python: Path, script: Path, run_name: str, tmp: Path) -> dict[str, int]:
    out = tmp / f"py-{run_name}.json"
    run([str(python), str(PYCOUNT), str(out), run_name, str(script)], tmp)
    return json.loads(out.read_text())


# w_mixed has generators: PY_YIELD / PY_RESUME too; w_threads runs its work in threads.
@pytest.mark.parametrize("name", ["w_mixed", "w_threads"])
def test_main_event_counts_match_pure_python_callbacks(floor, tmp_path: Path, name: str) -> None:
    python, ext = floor
    script = WORKLOADS / f"{name}.py"
    whole, base = (_pycount(python, script, n, tmp_path) for n in ("__main__", IMPORT_ONLY))
    reference = {k: whole[k] - base[k] for k in whole}
    events = count_events(python, ext, script, float(SCALE))
    assert events.by_kind == reference
    assert reference["PY_YIELD"] > 0 or name != "w_mixed"
    assert events.main == sum(reference.values()) and events.total > events.main


FORKS = """\
import os


def work(n):
    return sum(i * i for i in range(n))


def main():
    children = []
    for n in (50, 70, 90):
        pid = os.fork()
        if pid == 0:
            work(n)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return work(10)


if __name__ == "__main__":
    main()
"""


def test_the_forked_childrens_events_are_counted(floor, tmp_path: Path) -> None:
    """Each forked child counts its own events (run_floor.py `follow_forks`),
    added to the parent's: the C counts equal the pure-Python ones, and
    exceed what the parent alone ran."""
    python, ext = floor
    script = tmp_path / "forks.py"
    script.write_text(FORKS)
    whole, base = (_pycount(python, script, n, tmp_path) for n in ("__main__", IMPORT_ONLY))
    reference = {k: whole[k] - base[k] for k in whole}
    events = count_events(python, ext, script, float(SCALE))
    assert events.by_kind == reference
    # The generator's 50 + 70 + 90 + 10 yields and resumes: the children's included.
    assert reference["PY_YIELD"] == 220
    assert not list(tmp_path.glob("*.json.*"))  # the children's counts were added and removed


def test_the_pool_workers_events_are_counted(floor) -> None:
    """w_procpool's tasks (w_threads' `chunk`) run in forked workers: their
    events are counted (without them the parent's count is a few
    thousand). The pool's own threads in the parent make a timing-dependent
    number of events (thousands to tens of thousands under load), so the
    check is a range: 8 tasks of 55 rounds against w_threads' 4 threads of
    80 rounds (1.375x), plus the pool's noise."""
    python, ext = floor
    pool = count_events(python, ext, WORKLOADS / "w_procpool.py", 0.05)
    threads = count_events(python, ext, WORKLOADS / "w_threads.py", 0.05)
    assert 1.25 < pool.by_kind["PY_START"] / threads.by_kind["PY_START"] < 2.5
