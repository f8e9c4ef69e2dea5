"""Where ct keeps its index and traces: `$CODETRACER_DATA_DIR`, else
`$XDG_DATA_HOME/codetracer`, else the platform's user data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

from . import _env


def data_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    explicit = _env.get(_env.DATA_DIR, environ)
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):  # XDG spec: relative values are ignored
        return Path(xdg) / "codetracer"
    home = Path(environ.get("HOME") or Path.home())
    if platform.startswith("win"):
        local = environ.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "codetracer"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "codetracer"
    return home / ".local" / "share" / "codetracer"


def index_path(data: Path) -> Path:
    return data / "index.sqlite3"


def traces_dir(data: Path) -> Path:
    return data / "traces"
