"""Defaults of the toolkit, read once from ``resources/defaults.toml``."""

from __future__ import annotations

import functools
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["defaults", "repo_root", "expand_home"]


@functools.cache
def defaults() -> dict[str, Any]:
    """The parsed ``resources/defaults.toml``."""
    text = resources.files("ctbundle").joinpath("resources/defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def repo_root() -> Path:
    """The codetracer-bundle checkout the toolkit works on: ``$CTBUNDLE_ROOT``,
    else the checkout holding this package, else the current directory."""
    env = os.environ.get("CTBUNDLE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "recorder").is_dir() and (here / "packaging" / "ctbundle").is_dir():
        return here
    return Path.cwd()


def expand_home(text: str, home: Path | None = None) -> Path:
    """``~/x`` -> ``<home>/x`` where home defaults to ``$HOME``."""
    base = home if home is not None else Path(os.environ.get("HOME") or Path.home())
    if text == "~":
        return base
    if text.startswith("~/"):
        return base / text[2:]
    return Path(text)
