"""What the three desktop bundles (``appimage``, ``dmg``, ``windows``) share:
their defaults (``resources/bundles.toml``), the common command-line options,
the staged ``resources/python`` folder and the shims they carry, and the
Jinja2 environment of their templates.

Each platform module (``appimage.py``, ``macos.py``, ``windows.py``) is plain
functions over a frozen options dataclass holding a :class:`Common`.
"""
from __future__ import annotations

import argparse
import functools
import shutil
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from . import _repro
from ._config import repo_root

__all__ = [
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
        source = (f"staged folder {self.staged}" if self.staged
                  else f"wheels {', '.join(p.name for p in self.wheels)}" if self.wheels
                  else "the recorder wheel (built when its sources changed)")
        return (f"from {source}; out_dir={self.out_dir} work_dir={self.work_dir} "
                f"SOURCE_DATE_EPOCH={self.epoch} version={self.version or '(the recorder version)'}")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    d = bundle_defaults()["common"]
    parser.add_argument("--out-dir", type=Path, default=None,
                        help=f"where the artefact, its manifest and SHA256SUMS go (default: {d['out_dir']})")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help=f"scratch folder, recreated each build (default: {d['work_dir']}/<bundle>)")
    parser.add_argument("--wheel", dest="wheels", type=Path, action="append", default=[], metavar="WHL",
                        help="recorder wheel to stage (repeatable); default: build it with `ctbundle wheel`")
    parser.add_argument("--staged", type=Path, default=None, metavar="DIR",
                        help="use this already staged resources/python folder as is")
    parser.add_argument("--bundle-version", dest="version", default=None,
                        help="version in the artefact's name and metadata (default: the recorder's version)")


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


def stage_resources(common: Common, dest: Path) -> tuple[Path, str]:
    """Fill ``dest`` (a bundle's ``resources/python``) and return it with the
    recorder's version."""
    if dest.exists():
        shutil.rmtree(dest)
    if common.staged is not None:
        shutil.copytree(common.staged, dest, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        from ._stage import stage
        from ._wheel import build_wheel

        wheels = list(common.wheels) or [build_wheel(common.out_dir)]
        stage(dest, wheels)
    return dest, _repro.recorder_version(dest)


def render_shims(platform: str, dest: Path) -> list[Path]:
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
    return repo_root() / bundle_defaults()[bundle]["assets"]
