"""What the three desktop bundles (``appimage``, ``dmg``, ``windows``) share:
their defaults (``resources/bundles.toml``), the common command-line options,
the staged ``resources/python`` folder and the shims they carry, and the
Jinja2 environment of their templates.

Each platform module (``appimage.py``, ``dmg.py``, ``windows.py``) is plain
functions over a frozen options dataclass holding a :class:`Common`, and
satisfies the :class:`Bundle` protocol; ``ctbundle._registry.ALL_BUNDLES``
lists them, and ``ctbundle``'s one ``main`` runs them (a new bundle kind is
one module and one registry line).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import jinja2

from . import _repro
from ._config import repo_root
from ._shims import Platform

__all__ = [
    "Bundle",
    "Common",
    "add_common_arguments",
    "bundle_defaults",
    "common_from_args",
    "render_shims",
    "render_template",
    "stage_resources",
]


@functools.cache
def bundle_defaults() -> dict[str, Any]:
    """The parsed ``resources/bundles.toml``."""
    text = resources.files("ctbundle").joinpath("resources/bundles.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class Common:
    """Options every bundle has."""

    out_dir: Path
    work_dir: Path
    wheels: tuple[Path, ...]  # prebuilt recorder wheels; empty: build (or reuse) it
    staged: Path | None  # an already staged resources/python to copy instead
    epoch: int  # SOURCE_DATE_EPOCH of every timestamp in the artefact
    version: str | None  # the bundle's version; None: the recorder's

    def summary(self) -> str:
        source = (
            f"staged folder {self.staged}"
            if self.staged
            else f"wheels {', '.join(p.name for p in self.wheels)}"
            if self.wheels
            else "the recorder wheel (built when its sources changed)"
        )
        return (
            f"from {source}; out_dir={self.out_dir} work_dir={self.work_dir} "
            f"SOURCE_DATE_EPOCH={self.epoch} version={self.version or '(the recorder version)'}"
        )


class Bundle(Protocol):
    """One kind of desktop bundle, satisfied by a module of plain functions
    (cibuildwheel's ``PlatformModule``). ``main`` adds the common arguments
    and the bundle's own, makes the options, prints :func:`summary`, then
    :func:`build`, and prints the artefact's path."""

    NAME: str  # the ctbundle command: appimage, dmg, windows
    PLATFORM: Platform  # whose recorder wheel the bundle carries
    HELP: str  # one line for `ctbundle --help`
    DESCRIPTION: str  # the paragraph of `ctbundle NAME --help`

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The bundle's own options (the common ones are already there)."""

    def options(self, args: argparse.Namespace, common: Common) -> Any:
        """The frozen options dataclass of one build."""

    def summary(self, opts: Any) -> str:
        """The effective options, one line, printed before the build."""

    def build(self, opts: Any) -> Path:
        """Build the artefact (manifest and SHA256SUMS beside it); return its path."""


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    d = bundle_defaults()["common"]
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help=f"where the artefact, its manifest and SHA256SUMS go (default: {d['out_dir']})",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"scratch folder, recreated each build (default: {d['work_dir']}/<bundle>)",
    )
    parser.add_argument(
        "--wheel",
        dest="wheels",
        type=Path,
        action="append",
        default=[],
        metavar="WHL",
        help="recorder wheel to stage (repeatable); default: build it with `ctbundle wheel`",
    )
    parser.add_argument(
        "--staged", type=Path, default=None, metavar="DIR", help="use this already staged resources/python folder as is"
    )
    parser.add_argument(
        "--bundle-version",
        dest="version",
        default=None,
        help="version in the artefact's name and metadata (default: the recorder's version)",
    )


def common_from_args(args: argparse.Namespace, bundle: str) -> Common:
    d = bundle_defaults()["common"]
    root = repo_root()
    return Common(
        out_dir=(args.out_dir or root / d["out_dir"]).absolute(),
        work_dir=(args.work_dir or root / d["work_dir"] / bundle).absolute(),
        wheels=tuple(p.absolute() for p in args.wheels),
        staged=args.staged.absolute() if args.staged else None,
        epoch=_repro.source_date_epoch(root),
        version=args.version,
    )


def stage_resources(
    common: Common, dest: Path, platform: Platform = "linux", needed_by: str = "this bundle"
) -> tuple[Path, str]:
    """Fill ``dest`` (a bundle's ``resources/python``) with the recorder for
    ``platform`` and return it with the recorder's version. Without
    ``--wheel`` or ``--staged``, ``platform``'s wheel is built (or reused);
    a wheel or staged folder for another platform is refused
    (:class:`ctbundle._wheel.WrongPlatform`, naming ``needed_by``)."""
    from ._wheel import WheelOptions, build_wheel, check_wheel_platform, default_out_dir

    sources = [common.staged] if common.staged is not None else list(common.wheels)
    for source in sources:
        check_wheel_platform(source, platform, needed_by)
    if dest.exists():
        shutil.rmtree(dest)
    if common.staged is not None:
        shutil.copytree(common.staged, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        from ._stage import stage

        wheels = list(common.wheels) or [
            build_wheel(
                options=WheelOptions.from_defaults(default_out_dir(platform, common.out_dir), platform=platform)
            )
        ]
        stage(dest, wheels)
    return dest, _repro.recorder_version(dest)


def render_shims(platform: Platform, dest: Path) -> list[Path]:
    """The toolkit's launcher shims for ``platform`` (linux, macos, windows)."""
    from ._shims import render

    return list(render(platform, dest))


@functools.cache
def _jinja(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


def render_template(template: Path, **context: object) -> str:
    """Render one of the platform assets (``appimage/AppRun.j2``...) with
    ``StrictUndefined``: a missing variable is an error, not an empty string."""
    return _jinja(template.parent.resolve()).get_template(template.name).render(**context)


def assets(bundle: str) -> Path:
    """The platform asset folder (``appimage/``, ``macos/``, ``windows/``)."""
    return repo_root() / str(bundle_defaults()[bundle]["assets"])
