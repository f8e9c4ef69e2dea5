"""The ctbundle command line: --help everywhere, bundles delegated lazily."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .wheelmaker import make_wheel

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ["wheel", "stage", "shims", "install-on-path", "uninstall-from-path"]


def ctbundle(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "packaging"))
    return subprocess.run([sys.executable, "-m", "ctbundle", *args], env=env, cwd=REPO, capture_output=True, text=True)


def test_top_level_help_lists_every_command() -> None:
    proc = ctbundle("--help")
    assert proc.returncode == 0
    for command in [*COMMANDS, "appimage", "dmg", "windows"]:
        assert command in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    proc = ctbundle(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: ctbundle {command}")


def test_shims_command_renders_every_platform(tmp_path: Path) -> None:
    proc = ctbundle("shims", "--dest", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "linux/ct",
        "linux/ct-python-recorder",
        "macos/ct",
        "macos/ct-python-recorder",
        "windows/ct-python-recorder.cmd",
        "windows/ct-python-recorder.ps1",
        "windows/ct.cmd",
        "windows/ct.ps1",
        "windows/user-path.ps1",
    ]


def test_every_bundle_is_one_registry_entry_with_the_bundle_interface() -> None:
    from ctbundle import ALL_BUNDLES, PLATFORMS

    assert sorted(ALL_BUNDLES) == ["appimage", "dmg", "windows"]
    assert {name: b.PLATFORM for name, b in ALL_BUNDLES.items()} == {
        "appimage": "linux",
        "dmg": "macos",
        "windows": "windows",
    }
    help_text = ctbundle("--help").stdout
    for name, bundle in ALL_BUNDLES.items():
        assert bundle.NAME == name and bundle.PLATFORM in PLATFORMS
        assert all(callable(getattr(bundle, f)) for f in ("add_arguments", "options", "summary", "build"))
        assert not hasattr(bundle, "main"), f"{name} has its own main(); the CLI's main runs every bundle"
        assert bundle.HELP in " ".join(help_text.split())


def test_a_bundle_failure_is_reported_once_by_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """main catches the error base and exits with the error's own status."""
    from ctbundle import FatalError, cli, dmg

    class Refused(FatalError):
        return_code = 42

    def build(opts: object) -> Path:
        raise Refused("no disk image today")

    monkeypatch.setattr(dmg, "build", build)
    assert cli.main(["dmg", "--out-dir", str(tmp_path), "--work-dir", str(tmp_path / "w")]) == 42
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("ctbundle: DMG: from the recorder wheel")  # the summary first
    assert err.splitlines()[-1] == "ctbundle dmg: error: no disk image today"


def _path_without(tmp_path: Path) -> str:
    """A PATH on which no external tool is found."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    return str(empty)


# Every command that runs an external tool, and the tool it needs first.
MISSING_TOOL_CASES = {
    "wheel": (["wheel", "--force"], "cargo is not installed; install it with: curl https://sh.rustup.rs"),
    "appimage": (
        ["appimage"],
        "desktop-file-validate is not installed; install it with: apt-get install desktop-file-utils",
    ),
    "dmg": (["dmg"], "xorriso is not installed; install it with: apt-get install xorriso"),
    "windows": (["windows"], "cmake is not installed; install it with: apt-get install cmake"),
}


@pytest.mark.parametrize("command", sorted(MISSING_TOOL_CASES))
def test_a_missing_tool_exits_the_same_way_from_every_command(command: str, tmp_path: Path) -> None:
    argv, message = MISSING_TOOL_CASES[command]
    if command != "wheel":
        wheel = make_wheel(tmp_path, "py3-none-any", {"codetracer_python_recorder/__init__.py": b""})
        argv = [*argv, "--wheel", str(wheel), "--out-dir", str(tmp_path / "dist"), "--work-dir", str(tmp_path / "w")]
    env = dict(os.environ, PYTHONPATH=str(REPO / "packaging"), PATH=_path_without(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "ctbundle", *argv], env=env, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"ctbundle {command}: error: {message}")
    assert proc.stdout == ""


def test_missing_tool_says_how_to_install() -> None:
    from ctbundle import Tool, ToolMissing

    tool = Tool("frobnicate", "apt-get install frobnicate", executable="frobnicate-does-not-exist")
    with pytest.raises(ToolMissing, match="apt-get install frobnicate"):
        tool.argv()
