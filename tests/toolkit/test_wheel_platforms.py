"""`ctbundle wheel --platform windows|macos`: the settings chosen for this
host, one cache slot and one output folder per platform, and the early
failures (a missing Rust target, a build that makes the wrong tag). The
real cross builds are checked in tests/bundles/test_cross_wheels.py."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from ctbundle import FatalError, ToolMissing
from ctbundle._wheel import WheelOptions, build_wheel

from .test_wheel_cache import builds, options, project  # noqa: F401 - the stub project fixture

REPO = Path(__file__).resolve().parents[2]


def test_cross_settings_off_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    win = WheelOptions.from_defaults(platform="windows")
    assert win.maturin_pep517_args == "--target x86_64-pc-windows-gnu"
    assert (win.linker, win.rust_targets, win.zig) == ("x86_64-w64-mingw32-gcc", ("x86_64-pc-windows-gnu",), False)
    assert win.out_dir == REPO / "dist" / "windows"
    mac = WheelOptions.from_defaults(platform="macos")
    assert mac.maturin_pep517_args == "--zig --target universal2-apple-darwin" and mac.zig
    assert mac.rust_targets == ("aarch64-apple-darwin", "x86_64-apple-darwin")
    assert mac.out_dir == REPO / "dist" / "macos"
    assert WheelOptions.from_defaults(platform="linux").out_dir == REPO / "dist"


def test_native_settings_on_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    mac = WheelOptions.from_defaults(platform="macos")
    assert (mac.maturin_pep517_args, mac.zig, mac.rust_targets) == ("--target universal2-apple-darwin", False, ())
    monkeypatch.setattr(sys, "platform", "win32")
    win = WheelOptions.from_defaults(platform="windows")
    assert (win.maturin_pep517_args, win.linker, win.rust_targets) == ("", "", ())


def test_each_platform_has_its_own_cache_slot(project: Path, tmp_path: Path) -> None:
    linux = options(project, tmp_path)
    windows = dataclasses.replace(linux, platform="windows", out_dir=tmp_path / "dist" / "windows")
    build_wheel(options=linux)
    build_wheel(options=windows)
    assert builds(project) == 2
    assert build_wheel(options=windows).parent == tmp_path / "dist" / "windows"
    assert build_wheel(options=linux).parent == tmp_path / "dist"
    assert builds(project) == 2, "unchanged sources: both wheels come from the cache"
    (project / "src" / "lib.rs").write_text("// changed\n")
    build_wheel(options=windows)
    assert builds(project) == 3


def test_a_build_that_makes_the_wrong_tag_fails(project: Path, tmp_path: Path) -> None:
    opts = dataclasses.replace(options(project, tmp_path), platform="windows", expect_tags=("win_amd64",))
    with pytest.raises(FatalError, match="the windows build made .*linux_x86_64.whl, not a wheel tagged win_amd64"):
        build_wheel(options=opts)
    assert not (tmp_path / "dist").exists()


def test_a_missing_rust_target_says_how_to_install_it(project: Path, tmp_path: Path) -> None:
    opts = dataclasses.replace(options(project, tmp_path), rust_targets=("x86_64-unknown-no-such-os",))
    with pytest.raises(ToolMissing, match="install it with: rustup target add x86_64-unknown-no-such-os"):
        build_wheel(options=opts)
    assert builds(project) == 0
