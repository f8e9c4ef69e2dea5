"""Every template x platform renders to the reviewed bytes in golden/.

Regenerate after an intended template change, then review the diff:
    CTBUNDLE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/shims/test_golden.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from ctbundle import PLATFORMS, render
from ctbundle._shims import render_text

from .shimtest_support import GOLDEN

UPDATE = os.environ.get("CTBUNDLE_UPDATE_GOLDEN") == "1"
SAMPLE_DIR = "/Users/Jane O'Neil/.local/share/codetracer/shell-launchers"
# shellcheck rightly notes the quote of SAMPLE_DIR lands in the value (SC2089);
# that is the point there, so the lint runs on the default layout.
LINT_DIR = "/Users/jane/.local/share/codetracer/shell-launchers"


def _compare(produced: dict[str, bytes], folder: Path) -> None:
    if UPDATE:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, data in produced.items():
            (folder / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(produced) == sorted(expected)
    for name, data in produced.items():
        assert data == expected[name], f"{folder.name}/{name} differs from its golden file"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_launchers_match_golden(platform: str, tmp_path: Path) -> None:
    written = render(platform, tmp_path)
    _compare({p.name: p.read_bytes() for p in written}, GOLDEN / platform)


def test_path_blocks_match_golden() -> None:
    produced = {
        "path-block.sh": render_text("path-block.sh.j2", marker="codetracer", launchers_dir=SAMPLE_DIR),
        "path-block.fish": render_text("path-block.fish.j2", marker="codetracer", launchers_dir=SAMPLE_DIR),
    }
    _compare({k: v.encode() for k, v in produced.items()}, GOLDEN / "install")


def test_posix_shims_are_executable_and_cmd_has_crlf(tmp_path: Path) -> None:
    for path in render("linux", tmp_path / "l"):
        assert os.access(path, os.X_OK)
    for path in render("windows", tmp_path / "w"):
        data = path.read_bytes()
        if path.suffix == ".cmd":
            assert data.count(b"\r\n") == data.count(b"\n") > 10
        else:
            assert b"\r\n" not in data


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_text("launcher.sh.j2", command="ct", module="codetracer_ct", platform="linux")


@pytest.mark.parametrize("platform", ["linux", "macos"])
@pytest.mark.parametrize("dialect", ["sh", "bash", "dash"])
def test_shellcheck_clean(platform: str, dialect: str, tmp_path: Path) -> None:
    from ctbundle._tools import SHELLCHECK

    targets = [str(p) for p in render(platform, tmp_path)]
    blocks = tmp_path / "block.sh"
    blocks.write_text(render_text("path-block.sh.j2", marker="codetracer", launchers_dir=LINT_DIR))
    proc = subprocess.run([*SHELLCHECK.argv(), "-s", dialect, *targets, str(blocks)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_fish_block_parses(tmp_path: Path) -> None:
    block = tmp_path / "block.fish"
    block.write_text(render_text("path-block.fish.j2", marker="codetracer", launchers_dir=SAMPLE_DIR))
    proc = subprocess.run(["fish", "--no-execute", str(block)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
