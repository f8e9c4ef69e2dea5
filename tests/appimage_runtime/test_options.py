"""The `--appimage-*` options, compared with squashfs-tools' view of the
same file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from .conftest import TREE_FILES
from .helpers import base_env, run

pytestmark = pytest.mark.build  # the session builds the AppImage runtime (minutes when cold)


def _offset(appimage, tmp_path) -> int:
    done = run(appimage.path, "--appimage-offset", env=base_env(tmp_path))
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_offset_is_where_the_squashfs_starts(appimage, tmp_path):
    offset = _offset(appimage, tmp_path)
    # the runtime is the whole ELF: the image follows it directly
    assert offset == appimage.runtime.stat().st_size
    with appimage.path.open("rb") as f:
        f.seek(offset)
        assert f.read(4) == b"hsqs"


def test_unsquashfs_at_the_offset_lists_the_expected_files(appimage, tmp_path):
    offset = _offset(appimage, tmp_path)
    listing = subprocess.run(
        ["unsquashfs", "-o", str(offset), "-l", "-d", "", str(appimage.path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    paths = {line.lstrip("/") for line in listing if line.startswith("/")}
    expected = set(TREE_FILES) | {"AppRun", "emptydir", "link-to-readme", "usr/bin/dangling"}
    assert expected <= paths


def _tree(root: Path) -> dict[str, tuple]:
    """Everything a user sees of a tree: kind, mode bits, bytes or link target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes(), int(st.st_mtime))
    return out


def _chmod_back(root: Path) -> None:
    subprocess.run(["chmod", "-R", "u+rwX", str(root)], check=False)


def test_extract_gives_the_same_tree_as_unsquashfs(appimage, tmp_path):
    offset = _offset(appimage, tmp_path)
    ours = tmp_path / "ours"
    ours.mkdir()
    done = run(appimage.path, "--appimage-extract", env=base_env(tmp_path), cwd=ours)
    assert done.returncode == 0, done.stderr
    ref = tmp_path / "ref"
    subprocess.run(
        ["unsquashfs", "-q", "-o", str(offset), "-d", str(ref), str(appimage.path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        mine, theirs = _tree(ours / "squashfs-root"), _tree(ref)
        assert mine == theirs
        assert mine["usr/lib/data.bin"][2] == TREE_FILES["usr/lib/data.bin"]
        assert mine["ro"][1] == 0o555
        # each extracted entry is listed, like the official runtime does
        listed = set(done.stdout.splitlines())
        assert {f"squashfs-root/{rel}" for rel in theirs} == listed
    finally:
        _chmod_back(tmp_path)


def test_extract_twice_replaces_files(appimage, tmp_path):
    for _ in range(2):
        done = run(appimage.path, "--appimage-extract", "usr/share/*", env=base_env(tmp_path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "squashfs-root/usr/share/doc/readme.txt").read_bytes() == TREE_FILES["usr/share/doc/readme.txt"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.txt", {"usr/share/doc/readme.txt", "with space/file name.txt", "ro/locked.txt"}),
        ("usr/bin/*", {"usr/bin/tool", "usr/bin/dangling"}),
        ("AppRun", {"AppRun"}),
        ("no-such-*", set()),
    ],
)
def test_extract_by_pattern(appimage, tmp_path, pattern, expected):
    done = run(appimage.path, "--appimage-extract", pattern, env=base_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "squashfs-root"
    try:
        files = {rel for rel, entry in _tree(root).items() if entry[0] != "dir"}
        assert files == expected
        assert set(done.stdout.splitlines()) == {f"squashfs-root/{rel}" for rel in expected}
        for rel in expected:
            if rel in TREE_FILES:
                assert (root / rel).read_bytes() == TREE_FILES[rel]
    finally:
        _chmod_back(tmp_path)


def test_version_and_help(appimage, tmp_path):
    version = run(appimage.path, "--appimage-version", env=base_env(tmp_path))
    assert version.returncode == 0
    assert version.stdout.startswith("appimage-runtime ")
    helptext = run(appimage.path, "--appimage-help", env=base_env(tmp_path))
    assert helptext.returncode == 0
    for option in (
        "--appimage-extract",
        "--appimage-offset",
        "--appimage-version",
        "--appimage-mount",
        "--appimage-extract-and-run",
        "APPIMAGE_EXTRACT_AND_RUN",
    ):
        assert option in helptext.stdout
    # nothing ran: no cache was made
    assert not (tmp_path / "cache").exists()


def test_update_information_and_signature_are_empty(appimage, tmp_path):
    for option in ("--appimage-updateinformation", "--appimage-signature"):
        done = run(appimage.path, option, env=base_env(tmp_path))
        assert (done.returncode, done.stdout) == (0, "\n")


def test_unknown_runtime_option_is_a_usage_error(appimage, tmp_path):
    done = run(appimage.path, "--appimage-frobnicate", env=base_env(tmp_path))
    assert done.returncode == 2
    assert "--appimage-frobnicate" in done.stderr
    assert done.stdout == ""


def test_runtime_without_an_image_says_so(runtime, tmp_path):
    bare = tmp_path / "bare"
    bare.write_bytes(runtime.read_bytes())
    bare.chmod(0o755)
    done = run(bare, "x", env=base_env(tmp_path, APPIMAGE_EXTRACT_AND_RUN="1"))
    assert done.returncode == 127
    assert "no squashfs image" in done.stderr
