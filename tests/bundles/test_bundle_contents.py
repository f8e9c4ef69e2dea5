"""The three bundles built from a small stand-in wheel: what is inside each,
file by file, and that two builds with one SOURCE_DATE_EPOCH are identical."""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import re
import subprocess
from pathlib import Path

import pytest

from .bundles_consts import EPOCH, FAKE_VERSION

APPIMAGE_FILES = {
    "AppRun",
    "codetracer.desktop",
    "codetracer.png",
    ".DirIcon",
    "usr",
    "usr/bin",
    "usr/bin/ct",
    "usr/bin/ct-python-recorder",
    "usr/resources",
    "resources",
    "resources/python",
    "resources/python/codetracer_python_recorder",
    "resources/python/codetracer_python_recorder/__init__.py",
    "resources/python/codetracer_python_recorder/__main__.py",
    f"resources/python/codetracer_python_recorder-{FAKE_VERSION}.dist-info",
    "resources/python/codetracer_ct",
    "resources/python/codetracer_ct/__init__.py",
    "resources/python/codetracer_ct/__main__.py",
    "resources/python/wheels",
    f"resources/python/wheels/codetracer_python_recorder-{FAKE_VERSION}-py3-none-any.whl",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("bundle", ["appimage", "dmg", "windows"])
def test_two_builds_with_one_source_date_epoch_are_byte_identical(bundles, bundle):
    first, second = bundles[bundle]
    assert first.parent != second.parent
    assert sha256(first) == sha256(second)
    manifests = [json.loads(p.with_name(p.name + ".manifest.json").read_text()) for p in (first, second)]
    for m in manifests:  # HEAD may move between the two builds while others commit
        m.pop("git_commit")
    assert manifests[0] == manifests[1]


@pytest.mark.parametrize("bundle", ["appimage", "dmg", "windows"])
def test_manifest_and_sha256sums_describe_the_artefact(bundles, bundle):
    artefact = bundles[bundle][0]
    manifest = json.loads(artefact.with_name(artefact.name + ".manifest.json").read_text())
    assert manifest["artefact"] == artefact.name
    assert manifest["size"] == artefact.stat().st_size
    assert manifest["sha256"] == sha256(artefact)
    assert manifest["recorder_version"] == FAKE_VERSION
    assert manifest["source_date_epoch"] == int(EPOCH)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", manifest["git_commit"])
    sums = (artefact.parent / "SHA256SUMS").read_text().splitlines()
    assert f"{sha256(artefact)}  {artefact.name}" in sums
    checked = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=artefact.parent, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_artefact_names(bundles):
    assert bundles["appimage"][0].name == f"CodeTracer-{FAKE_VERSION}-x86_64.AppImage"
    assert bundles["dmg"][0].name == f"CodeTracer-{FAKE_VERSION}-linux-hfs-iso-hybrid.dmg"
    assert bundles["windows"][0].name == f"CodeTracer-{FAKE_VERSION}-windows-x86_64-setup.exe"


# --- AppImage -----------------------------------------------------------------


def _offset(appimage: Path) -> int:
    return json.loads(appimage.with_name(appimage.name + ".manifest.json").read_text())["squashfs_offset"]


def test_appimage_squashfs_lists_the_expected_files(bundles):
    appimage = bundles["appimage"][0]
    listing = subprocess.run(
        ["unsquashfs", "-o", str(_offset(appimage)), "-lls", "-d", "", str(appimage)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries = {}
    for line in listing.splitlines():
        m = re.match(r"^([dl-][rwxst-]{9}) (\S+)\s+\d+ (\d{4}-\d\d-\d\d \d\d:\d\d) /?(\S*)(?: -> (\S+))?$", line)
        if m and m.group(4):
            entries[m.group(4)] = (m.group(1), m.group(2), m.group(5))
    ct_internals = {
        n
        for n in entries
        if n.startswith("resources/python/codetracer_ct/") and n.rsplit("/", 1)[1] not in ("__init__.py", "__main__.py")
    }
    names = {
        n
        for n in entries
        if n not in ct_internals
        and not n.endswith(
            (".dist-info/METADATA", ".dist-info/WHEEL", ".dist-info/RECORD", ".dist-info/INSTALLER", "py.typed")
        )
    }
    assert names == APPIMAGE_FILES
    assert entries["AppRun"][0] == "-rwxr-xr-x"
    assert entries["usr/bin/ct-python-recorder"][0] == "-rwxr-xr-x"
    assert entries["usr/resources"][2] == "../resources"
    assert entries[".DirIcon"][2] == "codetracer.png"
    assert {owner for _, owner, _ in entries.values()} == {"root/root"}


@pytest.fixture(scope="module")
def appdir(bundles, tmp_path_factory) -> Path:
    appimage = bundles["appimage"][0]
    dest = tmp_path_factory.mktemp("appdir") / "squashfs-root"
    subprocess.run(
        ["unsquashfs", "-q", "-o", str(_offset(appimage)), "-d", str(dest), str(appimage)],
        check=True,
        capture_output=True,
    )
    return dest


def test_appimage_desktop_file_is_valid_and_icon_is_a_png(appdir):
    result = subprocess.run(
        ["desktop-file-validate", str(appdir / "codetracer.desktop")], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout
    desktop = (appdir / "codetracer.desktop").read_text()
    assert "Icon=codetracer\n" in desktop and "Exec=ct" in desktop
    assert (appdir / "codetracer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv0", "runs"),
    [
        ("/home/u/.local/bin/ct-python-recorder", "recorder"),
        ("ct-python-recorder", "recorder"),
        ("/home/u/.local/bin/ct", "ct"),
        (f"/home/u/Downloads/CodeTracer-{FAKE_VERSION}-x86_64.AppImage", "ct"),
    ],
)
def test_apprun_dispatches_on_the_invoked_name(appdir, python312, argv0, runs):
    env = dict(os.environ, ARGV0=argv0, APPDIR=str(appdir), PYTHON=str(python312))
    env.pop("PYTHONPATH", None)
    env.pop("CODETRACER_ORIG_PYTHONPATH", None)
    result = subprocess.run(
        [str(appdir / "AppRun"), "--help" if runs == "ct" else "a b", "x"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    if runs == "recorder":
        assert json.loads(result.stdout) == {"fake_recorder": ["a b", "x"], "orig": "unset"}
    else:
        assert result.stdout.startswith("usage:") and "record" in result.stdout


def test_apprun_without_argv0_uses_its_own_name(appdir, python312, tmp_path):
    link = tmp_path / "ct-python-recorder"
    link.symlink_to(appdir / "AppRun")
    env = dict(os.environ, PYTHON=str(python312))
    for var in ("ARGV0", "APPDIR", "PYTHONPATH", "CODETRACER_ORIG_PYTHONPATH"):
        env.pop(var, None)
    result = subprocess.run([str(link), "--flag"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fake_recorder"] == ["--flag"]


def test_unpinned_runtime_file_is_refused(run_toolkit, fake_wheel, fake_runtime, tmp_path):
    runtime, digest = fake_runtime
    result = run_toolkit(
        "appimage",
        "--wheel",
        fake_wheel,
        "--out-dir",
        tmp_path / "dist",
        "--work-dir",
        tmp_path / "work",
        "--runtime-file",
        runtime,
        check=False,
    )
    assert result.returncode == 2  # an input refused (ctbundle._errors)
    assert f"sha256 {digest} is not a pinned official type-2 runtime" in result.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").glob("*.AppImage"))


# --- macOS ----------------------------------------------------------------------


def _iso_tree(image: Path) -> dict[str, str]:
    out = subprocess.run(
        ["xorriso", "-indev", str(image), "-find", "/", "-exec", "lsdl"], capture_output=True, text=True, check=True
    ).stdout
    tree = {}
    for line in out.splitlines():
        m = re.match(r"^([dl-][rwx-]{9})\s.*?'(/[^']*)'", line)
        if m and m.group(2) != "/":
            tree[m.group(2).lstrip("/")] = m.group(1)
    return tree


def test_dmg_hybrid_holds_the_app_file_by_file(bundles):
    tree = _iso_tree(bundles["dmg"][0])  # read-only medium: xorriso -r drops the w bits
    app = "CodeTracer.app/Contents"
    expected = {
        "Applications": "l",
        "CodeTracer.app": "d",
        app: "d",
        f"{app}/Info.plist": "-r--r--r--",
        f"{app}/PkgInfo": "-r--r--r--",
        f"{app}/MacOS": "d",
        f"{app}/MacOS/CodeTracer": "-r-xr-xr-x",
        f"{app}/MacOS/ct": "-r-xr-xr-x",
        f"{app}/MacOS/ct-python-recorder": "-r-xr-xr-x",
        f"{app}/Resources": "d",
        f"{app}/Resources/codetracer.icns": "-r--r--r--",
        f"{app}/Resources/python": "d",
        f"{app}/Resources/python/codetracer_python_recorder/__main__.py": "-r--r--r--",
        f"{app}/Resources/python/codetracer_ct/__main__.py": "-r--r--r--",
        f"{app}/Resources/python/wheels/codetracer_python_recorder-{FAKE_VERSION}-py3-none-any.whl": "-r--r--r--",
    }
    for name, mode in expected.items():
        assert name in tree, f"{name} missing from the image: {sorted(tree)}"
        assert tree[name].startswith(mode), (name, tree[name])
    top = {n.split("/")[0] for n in tree}
    assert top == {"Applications", "CodeTracer.app"}
    assert {n.split("/")[2] for n in tree if n.count("/") >= 2} == {"Info.plist", "PkgInfo", "MacOS", "Resources"}


def test_dmg_info_plist_parses_with_plistlib(bundles, tmp_path):
    out = tmp_path / "Info.plist"
    subprocess.run(
        [
            "xorriso",
            "-osirrox",
            "on",
            "-indev",
            str(bundles["dmg"][0]),
            "-extract",
            "/CodeTracer.app/Contents/Info.plist",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    info = plistlib.loads(out.read_bytes())
    assert info["CFBundleExecutable"] == "CodeTracer"
    assert info["CFBundlePackageType"] == "APPL"
    assert info["CFBundleIdentifier"] == "dev.codetracer.CodeTracer"
    assert info["CFBundleVersion"] == info["CFBundleShortVersionString"] == FAKE_VERSION
    assert info["CFBundleIconFile"] == "codetracer.icns"


def test_dmg_has_an_hfsplus_volume(bundles):
    data = bundles["dmg"][0].read_bytes()
    # Apple Partition Map entry for the HFS+ partition, then an HFS+ volume
    # header ("H+", version 4) 1024 bytes into that partition.
    assert data[512:514] == b"PM"
    assert b"Apple_HFS" in data[: 64 * 1024]
    assert any(data[i : i + 4] == b"H+\x00\x04" for i in range(1024, len(data), 512))


def test_macos_launcher_dispatches_on_its_name(tmp_path, bundles, python312):
    root = tmp_path / "dmg"
    subprocess.run(
        [
            "xorriso",
            "-osirrox",
            "on",
            "-indev",
            str(bundles["dmg"][0]),
            "-extract",
            "/CodeTracer.app",
            str(root / "CodeTracer.app"),
        ],
        check=True,
        capture_output=True,
    )
    macos_dir = root / "CodeTracer.app" / "Contents" / "MacOS"
    link = tmp_path / "ct-python-recorder"
    link.symlink_to(macos_dir / "CodeTracer")
    env = dict(os.environ, PYTHON=str(python312))
    env.pop("PYTHONPATH", None)
    env.pop("CODETRACER_ORIG_PYTHONPATH", None)
    rec = subprocess.run([str(link), "it's"], env=env, capture_output=True, text=True)
    assert rec.returncode == 0, rec.stderr
    assert json.loads(rec.stdout)["fake_recorder"] == ["it's"]
    ct = subprocess.run([str(macos_dir / "CodeTracer"), "--help"], env=env, capture_output=True, text=True)
    assert ct.returncode == 0 and ct.stdout.startswith("usage:")


# --- Windows -----------------------------------------------------------------------


def test_nsis_installer_contents_file_by_file(bundles, sevenzip, tmp_path):
    installer = bundles["windows"][0]
    out = tmp_path / "x"
    subprocess.run([sevenzip, "x", "-y", f"-o{out}", str(installer)], check=True, capture_output=True)
    got = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    source = installer.parent.parent / "work" / "windows" / "root"
    want = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    assert {
        "bin/ct.cmd",
        "bin/ct.ps1",
        "bin/ct-python-recorder.cmd",
        "bin/ct-python-recorder.ps1",
        "bin/ct-python-recorder.exe",
        "resources/python/codetracer_python_recorder/__main__.py",
    } <= want
    assert got - {"uninstall.exe"} == want
    for name in sorted(want):
        assert (out / name).read_bytes() == (source / name).read_bytes(), name
    assert (out / "bin/ct-python-recorder.exe").read_bytes()[:2] == b"MZ"


@pytest.mark.parametrize("bundle", ["appimage", "dmg", "windows"])
def test_help_everywhere(run_toolkit, bundle):
    result = run_toolkit(bundle, "--help")
    assert result.stdout.startswith(f"usage: ctbundle {bundle}")
    assert "SOURCE_DATE_EPOCH" in result.stdout
