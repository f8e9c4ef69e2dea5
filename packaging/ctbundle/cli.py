"""``ctbundle`` command line: one subcommand per step of a release.

Run it as ``python -m ctbundle <command> --help`` (the Makefile does:
``PYTHONPATH=packaging .venv/bin/python -m ctbundle <command>``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from ._bundle import Bundle, add_common_arguments, common_from_args
from ._config import defaults, repo_root
from ._errors import FatalError
from ._log import info
from ._registry import ALL_BUNDLES

__all__ = ["main"]


def _cmd_wheel(args: argparse.Namespace) -> int:
    from ._wheel import WheelOptions, build_wheel

    opts = WheelOptions.from_defaults(args.out_dir, zig=args.zig, platform=args.platform)
    wheel = build_wheel(opts.out_dir, force=args.force, options=opts)
    print(wheel)
    return 0


def _cmd_bundle(bundle: Bundle, args: argparse.Namespace) -> int:
    opts = bundle.options(args, common_from_args(args, bundle.NAME))
    info(bundle.summary(opts))
    print(bundle.build(opts))
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    from ._stage import stage
    from ._wheel import build_wheel

    wheels = args.wheel or [build_wheel(repo_root() / defaults()["wheel"]["out_dir"])]
    dest = stage(args.dest, wheels, ct_package=args.ct_package)
    print(dest)
    return 0


def _cmd_shims(args: argparse.Namespace) -> int:
    from ._shims import PLATFORMS, render

    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    for platform in platforms:
        dest = args.dest / platform if len(platforms) > 1 or args.per_platform else args.dest
        for path in render(platform, dest):
            print(path)
    return 0


def _default_platform() -> str:
    return {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")


def _cmd_install(args: argparse.Namespace) -> int:
    from ._install_on_path import install_on_path

    folder = install_on_path(args.platform, args.target, folder=args.folder, shells=args.shell)
    info(f"ct and ct-python-recorder are in {folder}")
    return 0


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from ._install_on_path import uninstall_from_path

    for path in uninstall_from_path():
        info(f"cleaned {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    root = repo_root()
    d = defaults()
    parser = argparse.ArgumentParser(
        prog="ctbundle",
        description="Release toolkit of codetracer-bundle: recorder wheel, staging, launcher shims, "
        "install-on-PATH, desktop bundles.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "wheel",
        help="build the recorder wheel (skipped when its sources are unchanged)",
        description="Build recorder/ through the PEP 517 front end `build` with maturin; "
        "reuse the cached wheel when the source hash is unchanged.",
    )
    p.add_argument(
        "--platform",
        choices=["linux", "windows", "macos"],
        default="linux",
        help="linux: manylinux2014 x86_64; windows: win_amd64 (cross-compiled with mingw-w64 "
        "off Windows); macos: universal2 (cross-linked by zig off macOS) (%(default)s)",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help=f"where the wheel goes (default: {d['wheel']['out_dir']}, "
        f"{d['wheel']['out_dir']}/windows, {d['wheel']['out_dir']}/macos)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when the sources are unchanged")
    p.add_argument(
        "--no-zig",
        dest="zig",
        action="store_false",
        default=None,
        help="linux: build for this machine's glibc instead of manylinux2014 through zig",
    )
    p.set_defaults(func=_cmd_wheel)

    p = sub.add_parser(
        "stage",
        help="stage resources/python/ (unpacked wheel(s), the .whl, the ct runtime)",
        description="Unpack the wheel(s) into an importable folder with `installer`, keep the "
        ".whl files under wheels/, copy the ct runtime package beside them.",
    )
    p.add_argument("--dest", type=Path, default=root / d["stage"]["dest"], help="staged folder (%(default)s)")
    p.add_argument(
        "--wheel",
        type=Path,
        action="append",
        help="a wheel to stage (repeatable; default: the one `ctbundle wheel` builds)",
    )
    p.add_argument(
        "--ct-package", type=Path, default=None, help=f"the ct runtime package (default: {d['stage']['ct_package']})"
    )
    p.set_defaults(func=_cmd_stage)

    p = sub.add_parser(
        "shims",
        help="render the launcher shims from shims/*.j2",
        description="Render ct and ct-python-recorder (sh for linux/macos, .cmd and .ps1 for windows).",
    )
    p.add_argument("--platform", choices=["linux", "macos", "windows", "all"], default="all")
    p.add_argument(
        "--dest",
        type=Path,
        default=root / d["shims"]["out_dir"],
        help="output folder; with --platform all, one subfolder per platform (%(default)s)",
    )
    p.add_argument("--per-platform", action="store_true", help="use DEST/<platform>/ even for one platform")
    p.set_defaults(func=_cmd_shims)

    p = sub.add_parser(
        "install-on-path",
        help="put ct and ct-python-recorder on the user's PATH",
        description="Linux: links in ~/.local/bin to the .AppImage. macOS: a launchers folder "
        "and marked PATH blocks for bash, zsh and fish. Running it twice changes nothing.",
    )
    p.add_argument("target", type=Path, help="the .AppImage file (linux) or the folder holding the shims (macos)")
    p.add_argument("--platform", choices=["linux", "macos"], default=_default_platform())
    p.add_argument("--folder", type=Path, default=None, help="where the links go (default per platform)")
    p.add_argument(
        "--shell",
        action="append",
        choices=["bash", "zsh", "fish"],
        help="shells that get a PATH block on macos (repeatable; default: all three)",
    )
    p.set_defaults(func=_cmd_install)

    p = sub.add_parser(
        "uninstall-from-path",
        help="remove exactly what install-on-path added",
        description="Remove the links, PATH blocks, files and folders install-on-path created.",
    )
    p.set_defaults(func=_cmd_uninstall)

    for bundle in ALL_BUNDLES.values():
        p = sub.add_parser(
            bundle.NAME, help=f"{bundle.HELP} (see `ctbundle {bundle.NAME} --help`)", description=bundle.DESCRIPTION
        )
        add_common_arguments(p)
        bundle.add_arguments(p)
        p.set_defaults(func=functools.partial(_cmd_bundle, bundle))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a :class:`~ctbundle._errors.FatalError` ends it with
    ``ctbundle <command>: error: <message>`` and its exit status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "shims" or args.command == "install-on-path":
        args.shell = getattr(args, "shell", None) or ["bash", "zsh", "fish"]
    try:
        return int(args.func(args))
    except FatalError as exc:
        print(f"ctbundle {args.command}: error: {exc}", file=sys.stderr)
        return exc.return_code
