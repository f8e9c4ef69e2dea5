"""``ctbundle dmg``: ``CodeTracer.app`` and a disk image holding it.

The ``.app``::

    CodeTracer.app/Contents/Info.plist          plistlib, keys from macos/info_plist.toml
    CodeTracer.app/Contents/PkgInfo
    CodeTracer.app/Contents/MacOS/CodeTracer    launcher (macos/launcher.sh.j2)
    CodeTracer.app/Contents/MacOS/ct, ct-python-recorder   the macOS shims
    CodeTracer.app/Contents/Resources/python/   staged recorder + ct runtime
    CodeTracer.app/Contents/Resources/codetracer.icns

Before archiving, the compiled extension (and then the app) is signed with
``codesign`` on macOS; elsewhere that step says it is skipped. The disk image
is made by ``hdiutil`` on macOS (``CodeTracer-<version>.dmg``); on Linux, for
CI smoke tests only, an ISO 9660 + HFS+ hybrid by ``xorriso``, named
``CodeTracer-<version>-linux-hfs-iso-hybrid.dmg`` so it is never mistaken for
the real thing.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import shutil
import struct
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import _bundle, _repro
from ._shims import Platform
from ._tools import Tool

__all__ = [
    "DmgOptions",
    "add_arguments",
    "build",
    "build_app",
    "icns_from_png",
    "info_plist",
    "make_dmg",
    "options",
    "sign_extensions",
    "summary",
]

# The Bundle protocol (ctbundle._bundle.Bundle).
NAME = "dmg"
PLATFORM: Platform = "macos"
HELP = "build the macOS .app and DMG"
DESCRIPTION = (
    "Build CodeTracer.app and a disk image of it: a real DMG with hdiutil on "
    "macOS; on Linux an ISO/HFS+ hybrid made by xorriso, for CI smoke tests, "
    "named *-linux-hfs-iso-hybrid.dmg. Honours SOURCE_DATE_EPOCH."
)

HDIUTIL = Tool(
    "hdiutil",
    "it ships with macOS (run `ctbundle dmg` on macOS, or on Linux for the xorriso hybrid)",
    executable="hdiutil",
)
CODESIGN = Tool("codesign", "xcode-select --install", executable="codesign")
XORRISO = Tool("xorriso", "apt-get install xorriso", executable="xorriso")


@dataclass(frozen=True)
class DmgOptions:
    common: _bundle.Common
    use_hdiutil: bool  # True on macOS: a real UDZO .dmg; False: the xorriso hybrid
    codesign_identity: str  # "-" = ad-hoc
    sign: bool  # run the signing hook (only does anything on macOS)


def summary(opts: DmgOptions) -> str:
    how = "hdiutil (UDZO)" if opts.use_hdiutil else "xorriso ISO/HFS+ hybrid (CI smoke test image)"
    signing = (
        f"codesign identity {opts.codesign_identity!r}"
        if opts.sign and sys.platform == "darwin"
        else "codesign skipped (not on macOS)"
        if opts.sign
        else "codesign disabled"
    )
    return f"DMG: {opts.common.summary()}; {how}; {signing}"


def _say(step: int, message: str) -> None:
    _repro.progress("dmg", step, 5, message)


def info_plist(version: str) -> bytes:
    """Info.plist as XML, keys sorted: the data of macos/info_plist.toml plus
    the version keys."""
    keys = tomllib.loads((_bundle.assets("macos") / "info_plist.toml").read_text(encoding="utf-8"))
    keys.update(CFBundleVersion=version, CFBundleShortVersionString=version)
    return plistlib.dumps(keys, fmt=plistlib.FMT_XML, sort_keys=True)


def icns_from_png(png: bytes) -> bytes:
    """An .icns holding one 256x256 PNG (type ``ic08``); macOS reads PNG
    payloads in icns files since 10.7."""
    entry = b"ic08" + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def build_app(opts: DmgOptions, app: Path) -> tuple[Path, str]:
    """Assemble the .app; return it and the bundle version."""
    if app.exists():
        shutil.rmtree(app)
    contents = app / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    (contents / "Resources").mkdir()
    _, recorder = _bundle.stage_resources(opts.common, contents / "Resources" / "python", PLATFORM, "the macOS .app")
    version = opts.common.version or recorder
    keys = tomllib.loads((_bundle.assets("macos") / "info_plist.toml").read_text(encoding="utf-8"))
    (contents / "Info.plist").write_bytes(info_plist(version))
    (contents / "PkgInfo").write_text(keys["CFBundlePackageType"] + keys["CFBundleSignature"])
    _bundle.render_shims("macos", contents / "MacOS")
    launcher = contents / "MacOS" / keys["CFBundleExecutable"]
    launcher.write_text(
        _bundle.render_template(
            _bundle.assets("macos") / "launcher.sh.j2",
            product=keys["CFBundleName"],
            version=version,
            executable=keys["CFBundleExecutable"],
        )
    )
    launcher.chmod(0o755)
    png = (_bundle.assets("appimage") / "codetracer.png").read_bytes()
    (contents / "Resources" / keys["CFBundleIconFile"]).write_bytes(icns_from_png(png))
    _repro.normalize_tree(app, opts.common.epoch)
    return app, version


def sign_extensions(opts: DmgOptions, app: Path) -> list[Path]:
    """The signing hook, run before the app is archived: on macOS
    ``codesign`` every compiled extension under Contents/Resources/python,
    then the app; elsewhere say it is skipped. Returns what was signed."""
    if not opts.sign:
        return []
    if sys.platform != "darwin":
        print(
            "ctbundle dmg: codesign skipped: not on macOS (this image is for smoke tests only)",
            file=sys.stderr,
            flush=True,
        )
        return []
    signed: list[Path] = []
    python = app / "Contents" / "Resources" / "python"
    for ext in sorted([*python.rglob("*.so"), *python.rglob("*.dylib")]):
        CODESIGN.run("--force", "--options", "runtime", "--timestamp=none", "--sign", opts.codesign_identity, ext)
        signed.append(ext)
    CODESIGN.run("--force", "--options", "runtime", "--timestamp=none", "--sign", opts.codesign_identity, app)
    signed.append(app)
    return signed


def make_dmg(opts: DmgOptions, app: Path, version: str) -> Path:
    """Put the .app (and an /Applications link) into a disk image."""
    d = _bundle.bundle_defaults()
    product, volume = d["common"]["product"], d["macos"]["volume_name"]
    root = opts.common.work_dir / "dmg-root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(app, root / app.name, symlinks=True)
    (root / "Applications").symlink_to("/Applications")
    _repro.normalize_tree(root, opts.common.epoch)
    opts.common.out_dir.mkdir(parents=True, exist_ok=True)
    env = _repro.build_env(opts.common.epoch)
    if opts.use_hdiutil:
        out = opts.common.out_dir / f"{product}-{version}.dmg"
        HDIUTIL.run(
            "create", "-volname", volume, "-srcfolder", root, "-fs", "HFS+", "-format", "UDZO", "-ov", out, env=env
        )
    else:
        out = opts.common.out_dir / f"{product}-{version}{d['macos']['hybrid_suffix']}"
        if out.exists():
            out.unlink()
        # xorriso >= 1.5.2 takes every date and the volume UUIDs from
        # SOURCE_DATE_EPOCH; -hfsplus adds the HFS+ tree macOS mounts.
        XORRISO.run("-as", "mkisofs", "-quiet", "-V", volume, "-hfsplus", "-r", "-no-pad", "-o", out, root, env=env)
        os.utime(out, (opts.common.epoch, opts.common.epoch))
    return out


def build(opts: DmgOptions) -> Path:
    _say(1, "assembling the .app")
    app, version = build_app(opts, opts.common.work_dir / "CodeTracer.app")
    _say(2, "signing hook")
    sign_extensions(opts, app)
    _say(3, "making the disk image")
    out = make_dmg(opts, app, version)
    _say(4, "writing the manifest and SHA256SUMS")
    recorder = _repro.recorder_version(app / "Contents" / "Resources" / "python")
    _repro.record_artefact(
        out, kind="dmg" if opts.use_hdiutil else "dmg-linux-hybrid-iso", recorder=recorder, epoch=opts.common.epoch
    )
    _say(5, f"done: {out}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    default_id = _bundle.bundle_defaults()["macos"]["codesign_identity"]
    p.add_argument(
        "--codesign-identity",
        default=os.environ.get("CODESIGN_IDENTITY", default_id),
        help=f"identity for codesign on macOS (default: $CODESIGN_IDENTITY or {default_id!r}, ad hoc)",
    )
    p.add_argument("--no-sign", dest="sign", action="store_false", help="skip the signing hook")
    p.add_argument(
        "--hybrid", action="store_true", help="make the xorriso hybrid even on macOS (default there: hdiutil)"
    )


def options(args: argparse.Namespace, common: _bundle.Common) -> DmgOptions:
    return DmgOptions(
        common=common,
        use_hdiutil=sys.platform == "darwin" and not args.hybrid,
        codesign_identity=args.codesign_identity,
        sign=args.sign,
    )
