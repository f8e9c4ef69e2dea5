"""The ctbundle command line: --help everywhere, bundles delegated lazily."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        "linux/ct", "linux/ct-python-recorder", "macos/ct", "macos/ct-python-recorder",
        "windows/ct-python-recorder.cmd", "windows/ct-python-recorder.ps1", "windows/ct.cmd", "windows/ct.ps1",
        "windows/user-path.ps1",
    ]


def test_missing_bundle_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ctbundle import cli

    monkeypatch.setitem(cli._BUNDLES, "dmg", ("ctbundle.no_such_module", "x"))
    assert cli.main(["dmg"]) == 2
    assert "ctbundle.no_such_module" in capsys.readouterr().err


def test_missing_tool_says_how_to_install() -> None:
    from ctbundle import Tool, ToolMissing

    tool = Tool("frobnicate", "apt-get install frobnicate", executable="frobnicate-does-not-exist")
    with pytest.raises(ToolMissing, match="apt-get install frobnicate"):
        tool.argv()
