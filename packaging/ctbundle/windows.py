"""``ctbundle windows``: ``CodeTracer-<version>-windows-x86_64-setup.exe``.

An NSIS installer (``makensis``, from ``windows/installer.nsi.j2``) that
installs per user::

    <install dir>\\bin\\ct.cmd, ct.ps1, ct-python-recorder.cmd, ct-python-recorder.ps1
    <install dir>\\bin\\ct-python-recorder.exe     the native launcher (windows/launcher)
    <install dir>\\resources\\python\\...          staged recorder + ct runtime
    <install dir>\\uninstall.exe

adds ``<install dir>\\bin`` to the user's PATH and a Start-menu folder. The
native launcher is C, built by CMake through scikit-build-core; on Linux it is
cross-compiled with Debian's mingw-w64 (``windows/launcher/mingw-w64-x86_64.cmake``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import _bundle, _repro
from ._config import repo_root
from ._shims import Platform
from ._tools import BUILD, Tool, linker

__all__ = ["WindowsOptions", "add_arguments", "build", "build_launcher", "options", "render_nsi", "summary"]

# The Bundle protocol (ctbundle._bundle.Bundle).
NAME = "windows"
PLATFORM: Platform = "windows"
HELP = "build the Windows installer"
DESCRIPTION = (
    "Build the per-user Windows installer (NSIS): the .cmd/.ps1 shims, the native "
    "ct-python-recorder.exe launcher, the staged recorder; PATH and Start-menu "
    "entries; an uninstaller. Honours SOURCE_DATE_EPOCH."
)

MAKENSIS = Tool("makensis", "apt-get install nsis", executable="makensis")
CMAKE = Tool("cmake", "apt-get install cmake  (or: pip install cmake)", executable="cmake")
MINGW_GCC = linker("x86_64-w64-mingw32-gcc")
SCIKIT_BUILD_CORE = Tool(
    "scikit-build-core", f"{Path(sys.executable).name} -m pip install scikit-build-core", module="scikit_build_core"
)

LAUNCHER = "ct-python-recorder.exe"


@dataclass(frozen=True)
class WindowsOptions:
    common: _bundle.Common
    cross: bool  # True: cross-compile the launcher with mingw-w64 (any non-Windows host)
    launcher: Path | None = None  # a prebuilt ct-python-recorder.exe to use instead


def summary(opts: WindowsOptions) -> str:
    how = (
        f"prebuilt launcher {opts.launcher}"
        if opts.launcher
        else "launcher cross-compiled with mingw-w64"
        if opts.cross
        else "launcher built natively"
    )
    return f"Windows installer: {opts.common.summary()}; {how}; NSIS makensis"


def _say(step: int, message: str) -> None:
    _repro.progress("windows", step, 5, message)


def build_launcher(opts: WindowsOptions, dest_dir: Path) -> Path:
    """Build ``ct-python-recorder.exe`` (a wheel through scikit-build-core,
    then the .exe taken out of it) into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / LAUNCHER
    if opts.launcher is not None:
        shutil.copyfile(opts.launcher, dest)
        return dest
    d = _bundle.bundle_defaults()["windows"]
    root = repo_root()
    CMAKE.argv()
    SCIKIT_BUILD_CORE.argv()
    settings = ["-C", "wheel.tags=py3-none-win_amd64", "-C", "build.verbose=false"]
    if opts.cross:
        MINGW_GCC.argv()
        settings += ["-C", f"cmake.args=--toolchain={root / d['toolchain_file']}"]
    with tempfile.TemporaryDirectory(prefix="ct-launcher-") as tmp:
        # --skip-dependency-check: ninja is optional (make is the fallback).
        BUILD.run(
            "--wheel",
            "--no-isolation",
            "--skip-dependency-check",
            "--outdir",
            tmp,
            *settings,
            root / d["launcher_project"],
            env=_repro.build_env(opts.common.epoch),
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            (member,) = [n for n in zf.namelist() if n.endswith(f"/scripts/{LAUNCHER}")]
            dest.write_bytes(zf.read(member))
    return dest


def _nsis(text: str) -> str:
    """A string for inside NSIS double quotes: `$` must be doubled, and a
    double quote cannot appear at all."""
    if '"' in text:
        raise ValueError(f"cannot put a double quote in an NSIS string: {text!r}")
    return text.replace("$", "$$")


def _vi_version(version: str) -> str:
    """VIProductVersion wants four numbers: 1.2.3rc1 -> 1.2.3.0."""
    nums = [int(n) for n in re.findall(r"\d+", version.split("+")[0])][:4]
    return ".".join(map(str, nums + [0] * (4 - len(nums))))


def render_nsi(root: Path, *, product: str, version: str, out_file: Path) -> str:
    """The .nsi for the tree ``root`` (which becomes ``$INSTDIR``): every
    file listed explicitly in sorted order (reproducible, and the uninstaller
    deletes exactly these)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    dirs: set[PurePosixPath] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        parent = rel.parent
        win_dir = "" if str(parent) == "." else "\\" + "\\".join(parent.parts)
        groups.setdefault(win_dir, []).append((_nsis(str(path)), _nsis(rel.name)))
        while str(parent) != ".":
            dirs.add(parent)
            parent = parent.parent
    deepest_first = sorted(dirs, key=lambda p: (-len(p.parts), str(p)))
    return _bundle.render_template(
        _bundle.assets("windows") / "installer.nsi.j2",
        product=_nsis(product),
        version=_nsis(version),
        vi_version=_vi_version(version),
        install_dir=_bundle.bundle_defaults()["windows"]["install_dir"],
        out_file=_nsis(str(out_file)),
        groups=sorted(groups.items()),
        dirs_deepest_first=["\\" + "\\".join(_nsis(x) for x in p.parts) for p in deepest_first],
    )


def build(opts: WindowsOptions) -> Path:
    work = opts.common.work_dir
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    (root / "bin").mkdir(parents=True)
    _say(1, "staging resources/python")
    _, recorder = _bundle.stage_resources(opts.common, root / "resources" / "python", PLATFORM, "the Windows installer")
    version = opts.common.version or recorder
    _say(2, "rendering the .cmd/.ps1 shims and building the native launcher")
    _bundle.render_shims("windows", root / "bin")
    build_launcher(opts, root / "bin")
    _repro.normalize_tree(root, opts.common.epoch)
    product = _bundle.bundle_defaults()["common"]["product"]
    out = opts.common.out_dir / f"{product}-{version}-windows-x86_64-setup.exe"
    out.parent.mkdir(parents=True, exist_ok=True)
    nsi = work / "installer.nsi"
    nsi.write_text(render_nsi(root, product=product, version=version, out_file=out), encoding="utf-8")
    _say(3, f"running makensis ({nsi})")
    MAKENSIS.run("-V2", "-NOCD", nsi, env=_repro.build_env(opts.common.epoch))
    os.utime(out, (opts.common.epoch, opts.common.epoch))
    _say(4, "writing the manifest and SHA256SUMS")
    _repro.record_artefact(out, kind="windows-installer", recorder=recorder, epoch=opts.common.epoch)
    _say(5, f"done: {out}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--launcher",
        type=Path,
        default=None,
        metavar="EXE",
        help=f"use this prebuilt {LAUNCHER} instead of building it",
    )
    p.add_argument(
        "--native",
        action="store_true",
        help="build the launcher with the host's compiler (default on Windows) instead "
        "of cross-compiling with mingw-w64",
    )


def options(args: argparse.Namespace, common: _bundle.Common) -> WindowsOptions:
    return WindowsOptions(
        common=common,
        cross=not (args.native or os.name == "nt"),
        launcher=args.launcher.absolute() if args.launcher else None,
    )
