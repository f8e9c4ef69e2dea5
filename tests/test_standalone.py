"""The project stands alone: a clone with nothing beside it (no
../shared) collects its whole test suite and passes its benchmark-harness
tests, which run the project's own workloads (bench/workloads).

The clone is of the committed HEAD: what CI checks out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bare_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clone = tmp_path_factory.mktemp("alone") / "codetracer-bundle"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    assert not (clone.parent / "shared").exists()
    return clone


def pytest_in(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_bare_clone_collects_every_test(bare_clone: Path) -> None:
    done = pytest_in(bare_clone, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert "tests collected" in last and "error" not in last, last


@pytest.mark.slow
def test_a_bare_clone_passes_its_benchmark_harness_tests(bare_clone: Path) -> None:
    assert sorted(p.name for p in (bare_clone / "bench" / "workloads").glob("w_*.py")) == [
        "w_mixed.py",
        "w_numeric.py",
        "w_objects.py",
        "w_procpool.py",
        "w_procpool_twin.py",
        "w_recursion.py",
        "w_threads.py",
        "w_threads_twin.py",
    ]
    done = pytest_in(bare_clone, "tests/bench", "-q", "-rs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout, done.stdout[-3000:]
    # The one test allowed to skip is the optional replay backend, which a
    # bare clone cannot have (../shared/tools/replay-server): it must say so.
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("replay-server" in line for line in skips), "\n".join(skips)
