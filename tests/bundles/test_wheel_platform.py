"""A bundle carries its own platform's recorder wheel and refuses any other:
`ctbundle appimage|dmg|windows --wheel W` with a wheel tagged for another
platform (or a staged folder of one) stops before building, exits 2 and
says which wheel it needs and how to build it. Stand-in wheels (tagged like
the real ones) keep these tests fast; test_cross_wheels.py uses real ones."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.toolkit.wheelmaker import make_wheel

from .bundles_consts import EPOCH

TAGS = {
    "linux": "cp312-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64",
    "windows": "cp312-abi3-win_amd64",
    "macos": "cp312-abi3-macosx_10_12_universal2.macosx_10_12_x86_64.macosx_11_0_arm64",
    "macos-arm64-only": "cp312-abi3-macosx_11_0_arm64",
    "linux-aarch64": "cp312-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64",
}
BUNDLE_PLATFORM = {"appimage": "linux", "dmg": "macos", "windows": "windows"}
NEEDED_BY = {"appimage": "the AppImage", "dmg": "the macOS .app", "windows": "the Windows installer"}
WANTED_TAG = {"appimage": "manylinux*_x86_64 or linux_x86_64", "dmg": "macosx_*_universal2", "windows": "win_amd64"}


def stand_in(folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return make_wheel(folder, TAGS[kind], {"codetracer_python_recorder/__init__.py": b'__version__ = "0.4.0"\n'})


def build(run_toolkit, bundle: str, tmp_path: Path, *source: str | Path):
    return run_toolkit(
        bundle,
        *source,
        "--out-dir",
        tmp_path / "dist",
        "--work-dir",
        tmp_path / "work",
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        check=False,
    )


CASES = [(bundle, kind) for bundle in BUNDLE_PLATFORM for kind in TAGS if kind != BUNDLE_PLATFORM[bundle]]


@pytest.mark.parametrize(("bundle", "kind"), CASES)
def test_a_wheel_of_another_platform_is_refused(run_toolkit, tmp_path, bundle, kind):
    wheel = stand_in(tmp_path / "wheels", kind)
    result = build(run_toolkit, bundle, tmp_path, "--wheel", wheel)
    assert result.returncode == 2, result.stderr
    platform = BUNDLE_PLATFORM[bundle]
    family = kind.split("-")[0]
    assert result.stderr.splitlines()[-1] == (
        f"ctbundle {bundle}: error: {wheel.name} is a {family} wheel (platform tag {TAGS[kind].split('-')[-1]}); "
        f"{NEEDED_BY[bundle]} needs a {platform} wheel tagged {WANTED_TAG[bundle]}: build it with "
        f"`ctbundle wheel --platform {platform}` (make wheel-{platform}) and pass it with --wheel"
    )
    assert result.stdout == ""
    assert not (tmp_path / "dist").exists(), "nothing is built from a refused wheel"


def test_a_staged_folder_of_another_platform_is_refused(run_toolkit, tmp_path):
    staged = run_toolkit(
        "stage", "--wheel", stand_in(tmp_path / "wheels", "linux"), "--dest", tmp_path / "staged"
    ).stdout.strip()
    result = build(run_toolkit, "windows", tmp_path, "--staged", staged)
    assert result.returncode == 2, result.stderr
    assert (
        f"ctbundle windows: error: the staged folder {staged} holds a linux wheel (platform tag {TAGS['linux'].split('-')[-1]}); "
        f"the Windows installer needs a windows wheel tagged win_amd64" in result.stderr
    )


def test_the_own_platform_wheel_is_staged(run_toolkit, tmp_path):
    """The check lets the right wheel through: the disk image holds it."""
    wheel = stand_in(tmp_path / "wheels", "macos")
    result = build(run_toolkit, "dmg", tmp_path, "--wheel", wheel)
    assert result.returncode == 0, result.stderr
    image = Path(result.stdout.strip().splitlines()[-1])
    listing = subprocess.run(
        ["xorriso", "-indev", str(image), "-find", "/CodeTracer.app/Contents/Resources/python/wheels"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"/CodeTracer.app/Contents/Resources/python/wheels/{wheel.name}" in listing
