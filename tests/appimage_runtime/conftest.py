"""Fixtures of the AppImage runtime tests: the runtime built once per session
(``ctbundle._appimage_runtime.build_runtime``, cached by a source hash), and
small AppImages assembled from an AppDir whose ``AppRun`` is a sh script that
prints its arguments and environment and exits with ``$TEST_EXIT``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))

from ctbundle import _appimage_runtime

# Only shell built-ins and absolute paths: the AppRun must work with a PATH
# that has no squashfuse (nor anything else) on it.
APPRUN = r"""#!/bin/sh
# test AppRun: prints what it was given, exits with $TEST_EXIT
printf 'argc=%s\n' "$#"
for a in "$@"; do printf 'arg=[%s]\n' "$a"; done
printf 'APPIMAGE=%s\nAPPDIR=%s\nARGV0=%s\nOWD=%s\nzero=%s\n' "$APPIMAGE" "$APPDIR" "$ARGV0" "$OWD" "$0"
if [ -e "$APPDIR/sentinel" ]; then echo sentinel=yes; else echo sentinel=no; fi
echo "payload=$(/bin/cat "$APPDIR/usr/share/doc/readme.txt")"
case "$TEST_MODE" in
  trap) trap 'echo got-TERM > "$TEST_MARK"; exit 42' TERM
        : > "$TEST_READY"
        while :; do /bin/sleep 0.05; done ;;
  wait) : > "$TEST_READY"
        while :; do /bin/sleep 0.05; done ;;
esac
exit "${TEST_EXIT:-0}"
"""

# Every kind of entry the runtime must reproduce: nested folders, an empty
# one, a read-only one, modes, symlinks (relative, dangling), a name with a
# space, a file larger than one squashfs block, an empty file.
TREE_FILES = {
    "usr/share/doc/readme.txt": b"hello from the image\n",
    "usr/bin/tool": b"#!/bin/sh\necho tool\n",
    "usr/lib/data.bin": bytes(range(256)) * 2048,  # 512 KiB, several blocks
    "with space/file name.txt": b"spaced\n",
    "empty": b"",
    "app.desktop": b"[Desktop Entry]\nName=T\n",
    "ro/locked.txt": b"read-only folder\n",
}


@dataclass(frozen=True)
class AppImage:
    path: Path
    offset: int
    runtime: Path


@pytest.fixture(scope="session")
def runtime() -> Path:
    return _appimage_runtime.build_runtime()


@pytest.fixture(scope="session")
def shared_dir() -> Iterator[Path]:
    """A folder every user can enter (tests run the AppImage as nobody too)."""
    path = Path(tempfile.mkdtemp(prefix="ct-apprt-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["chmod", "-R", "u+rwX", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def make_appdir(root: Path, *, payload: bytes = TREE_FILES["usr/share/doc/readme.txt"]) -> Path:
    appdir = root / "AppDir"
    appdir.mkdir(parents=True)
    for rel, data in TREE_FILES.items():
        f = appdir / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(payload if rel == "usr/share/doc/readme.txt" else data)
    (appdir / "usr/bin/tool").chmod(0o755)
    (appdir / "app.desktop").chmod(0o600)
    (appdir / "emptydir").mkdir()
    (appdir / "link-to-readme").symlink_to("usr/share/doc/readme.txt")
    (appdir / "usr/bin/dangling").symlink_to("../nowhere")
    apprun = appdir / "AppRun"
    apprun.write_text(APPRUN)
    apprun.chmod(0o755)
    (appdir / "ro").chmod(0o555)
    return appdir


def mksquashfs(appdir: Path, image: Path) -> Path:
    if shutil.which("mksquashfs") is None:
        pytest.fail("mksquashfs is missing (apt-get install squashfs-tools)", pytrace=False)
    # zstd like the real bundle (packaging/ctbundle/resources/bundles.toml)
    subprocess.run(
        ["mksquashfs", str(appdir), str(image), "-noappend", "-comp", "zstd", "-all-root", "-no-progress", "-quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return image


def build_appimage(runtime: Path, where: Path, name: str = "Test.AppImage", **kw: bytes) -> AppImage:
    where.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=where, prefix="build-"))
    appdir = make_appdir(work, **kw)
    image = mksquashfs(appdir, work / "image.sqfs")
    out = _appimage_runtime.assemble(runtime, image, where / name)
    return AppImage(out, runtime.stat().st_size, runtime)


@pytest.fixture(scope="session")
def appimage(runtime: Path, shared_dir: Path) -> AppImage:
    """One test AppImage, world-readable, shared by the tests that only run it."""
    return build_appimage(runtime, shared_dir / "one")


def fuse_mount_works() -> str | None:
    """None when squashfuse can mount here, else why not."""
    for tool in ("squashfuse", "fusermount3"):
        if shutil.which(tool) is None and not (tool == "fusermount3" and shutil.which("fusermount")):
            return f"{tool} not installed"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as exc:
        return f"/dev/fuse: {exc}"
    with tempfile.TemporaryDirectory() as tmp:
        src, mnt = Path(tmp, "src"), Path(tmp, "mnt")
        src.mkdir()
        mnt.mkdir()
        (src / "f").write_text("x")
        img = mksquashfs(src, Path(tmp, "img"))
        done = subprocess.run(["squashfuse", str(img), str(mnt)], capture_output=True, text=True)
        if done.returncode != 0:
            return f"squashfuse failed: {done.stderr.strip()}"
        ok = (mnt / "f").exists()
        unmount = "fusermount3" if shutil.which("fusermount3") else "fusermount"
        subprocess.run([unmount, "-u", str(mnt)], check=False)
        return None if ok else "mounted tree not visible"


@pytest.fixture(scope="session")
def fuse() -> None:
    why = fuse_mount_works()
    if why is not None:
        pytest.skip(f"FUSE mounting is not possible on this machine: {why}")
