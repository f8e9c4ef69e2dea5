"""``ctbundle appimage``: ``dist/CodeTracer-<version>-x86_64.AppImage``.

AppDir (``AppRun`` dispatching on the invoked name, a ``.desktop`` file
checked by ``desktop-file-validate``, an icon, ``usr/bin`` with the Linux
shims, ``resources/python`` staged) -> squashfs (``mksquashfs``, reproducible)
-> a type-2 runtime prepended: an official one given with ``--runtime-file``
(accepted only when its sha256 is pinned in ``resources/bundles.toml`` or
given with ``--runtime-sha256``), otherwise the project's own runtime
(``ctbundle._appimage_runtime.build_runtime()``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import _bundle, _repro
from ._errors import InputRefused
from ._shims import Platform
from ._tools import Tool, ToolMissing

__all__ = [
    "AppImageOptions",
    "RuntimeRefused",
    "add_arguments",
    "build",
    "build_appdir",
    "make_squashfs",
    "options",
    "runtime",
    "summary",
]

# The Bundle protocol (ctbundle._bundle.Bundle).
NAME = "appimage"
PLATFORM: Platform = "linux"
HELP = "build the Linux AppImage"
DESCRIPTION = (
    "Build dist/CodeTracer-<version>-x86_64.AppImage from the staged recorder, "
    "the ct runtime and the Linux shims. Honours SOURCE_DATE_EPOCH."
)

MKSQUASHFS = Tool("mksquashfs", "apt-get install squashfs-tools", executable="mksquashfs")
DESKTOP_FILE_VALIDATE = Tool(
    "desktop-file-validate", "apt-get install desktop-file-utils", executable="desktop-file-validate"
)

ICON_NAME = "codetracer"


@dataclass(frozen=True)
class AppImageOptions:
    common: _bundle.Common
    runtime_file: Path | None  # an official type-2 runtime; None: our own
    runtime_sha256: str | None  # accept this runtime file although it is not pinned
    validate_desktop: bool = True


def summary(opts: AppImageOptions) -> str:
    d = _bundle.bundle_defaults()["appimage"]
    runtime_desc = (
        f"official runtime {opts.runtime_file}" if opts.runtime_file else "the project's own runtime (appimage/runtime)"
    )
    return f"AppImage: {opts.common.summary()}; squashfs {d['compression']} block {d['block_size']}; {runtime_desc}"


def _say(step: int, message: str) -> None:
    _repro.progress("appimage", step, 5, message)


def build_appdir(opts: AppImageOptions, appdir: Path) -> tuple[Path, str]:
    """Assemble the AppDir; return it and the bundle version."""
    if appdir.exists():
        shutil.rmtree(appdir)
    appdir.mkdir(parents=True)
    _, recorder = _bundle.stage_resources(opts.common, appdir / "resources" / "python", PLATFORM, "the AppImage")
    version = opts.common.version or recorder
    product = _bundle.bundle_defaults()["common"]["product"]
    assets = _bundle.assets("appimage")

    bindir = appdir / "usr" / "bin"
    bindir.mkdir(parents=True)
    _bundle.render_shims("linux", bindir)
    # The Linux shims look for ../resources/python beside their folder.
    (appdir / "usr" / "resources").symlink_to(Path("..") / "resources")

    apprun = appdir / "AppRun"
    apprun.write_text(_bundle.render_template(assets / "AppRun.j2", product=product, version=version))
    apprun.chmod(0o755)
    desktop = appdir / f"{ICON_NAME}.desktop"
    desktop.write_text(
        _bundle.render_template(assets / "codetracer.desktop.j2", product=product, version=version, icon=ICON_NAME)
    )
    if opts.validate_desktop:
        DESKTOP_FILE_VALIDATE.run(desktop)
    shutil.copyfile(assets / f"{ICON_NAME}.png", appdir / f"{ICON_NAME}.png")
    (appdir / ".DirIcon").symlink_to(f"{ICON_NAME}.png")
    _repro.normalize_tree(appdir, opts.common.epoch)
    return appdir, version


def make_squashfs(appdir: Path, image: Path, epoch: int) -> Path:
    """A reproducible squashfs of ``appdir``: fixed times, root-owned, no
    xattrs, sorted entries (mksquashfs's own order)."""
    d = _bundle.bundle_defaults()["appimage"]
    if image.exists():
        image.unlink()
    # mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit times.
    env = _repro.build_env(epoch)
    del env["SOURCE_DATE_EPOCH"]
    MKSQUASHFS.run(
        appdir,
        image,
        "-noappend",
        "-comp",
        d["compression"],
        "-b",
        d["block_size"],
        "-all-root",
        "-no-xattrs",
        "-reproducible",
        "-mkfs-time",
        str(epoch),
        "-all-time",
        str(epoch),
        "-root-mode",
        "755",
        "-no-progress",
        "-quiet",
        env=env,
    )
    return image


class RuntimeRefused(InputRefused):
    """A --runtime-file whose sha256 is not pinned."""


def runtime(opts: AppImageOptions) -> bytes:
    """The runtime's bytes: the official file after its sha256 is checked, or
    the project's own runtime."""
    if opts.runtime_file is not None:
        digest = _repro.sha256_file(opts.runtime_file)
        pins = {r["sha256"]: r for r in _bundle.bundle_defaults()["appimage"]["official_runtimes"]}
        if digest not in pins and digest != (opts.runtime_sha256 or "").lower():
            raise RuntimeRefused(
                f"{opts.runtime_file}: sha256 {digest} is not a pinned official type-2 runtime "
                f"(pins: packaging/ctbundle/resources/bundles.toml); pass --runtime-sha256 {digest} "
                "to accept this file on purpose"
            )
        return opts.runtime_file.read_bytes()
    try:
        from ._appimage_runtime import build_runtime
    except ImportError as exc:
        raise ToolMissing(
            "the project's own AppImage runtime (ctbundle._appimage_runtime) is not "
            "available in this checkout; pass --runtime-file with an official "
            "type-2 runtime"
        ) from exc
    return Path(build_runtime()).read_bytes()


def build(opts: AppImageOptions) -> Path:
    """Build the AppImage; return its path (manifest and SHA256SUMS beside it)."""
    work = opts.common.work_dir
    work.mkdir(parents=True, exist_ok=True)
    _say(1, f"assembling the AppDir in {work / 'AppDir'}")
    appdir, version = build_appdir(opts, work / "AppDir")
    recorder = _repro.recorder_version(appdir / "resources" / "python")
    _say(2, "getting the type-2 runtime")
    head = runtime(opts)
    _say(3, "making the squashfs (mksquashfs)")
    image = make_squashfs(appdir, work / "AppDir.squashfs", opts.common.epoch)
    product = _bundle.bundle_defaults()["common"]["product"]
    arch = _bundle.bundle_defaults()["appimage"]["arch"]
    out = opts.common.out_dir / f"{product}-{version}-{arch}.AppImage"
    _say(4, f"writing {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as f:
        f.write(head)
        with image.open("rb") as src:
            shutil.copyfileobj(src, f)
    tmp.chmod(0o755)
    os.utime(tmp, (opts.common.epoch, opts.common.epoch))
    tmp.replace(out)
    _say(5, "writing the manifest and SHA256SUMS")
    _repro.record_artefact(
        out,
        kind="appimage",
        recorder=recorder,
        epoch=opts.common.epoch,
        extra={
            "squashfs_offset": len(head),
            "runtime": str(opts.runtime_file.name) if opts.runtime_file else "codetracer-bundle",
            "runtime_sha256": hashlib.sha256(head).hexdigest(),
        },
    )
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runtime-file",
        type=Path,
        default=None,
        help="an official AppImage type-2 runtime (e.g. runtime-x86_64), checked against "
        "the sha256 pins; default: the project's own runtime",
    )
    p.add_argument(
        "--runtime-sha256",
        default=None,
        metavar="HEX",
        help="accept a --runtime-file with this sha256 although it is not pinned",
    )


def options(args: argparse.Namespace, common: _bundle.Common) -> AppImageOptions:
    return AppImageOptions(
        common=common,
        runtime_file=args.runtime_file.absolute() if args.runtime_file else None,
        runtime_sha256=args.runtime_sha256,
    )
