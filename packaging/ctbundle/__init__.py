"""ctbundle - the release toolkit of codetracer-bundle.

Builds the recorder wheel (PEP 517 ``build`` + maturin, cached by a source
hash), stages ``resources/python/``, renders the launcher shims from the
Jinja2 templates in ``shims/``, and installs the launchers on the user's PATH.
The bundles (AppImage, .app/DMG, Windows installer) live in
``ctbundle.appimage``, ``ctbundle.macos`` and ``ctbundle.windows``.
"""
from __future__ import annotations

from ._install import install_on_path, uninstall_from_path
from ._shims import PLATFORMS, Platform, render
from ._stage import StagingConflict, stage
from ._tools import Tool, ToolMissing
from ._wheel import build_wheel, source_hash

__all__ = [
    "PLATFORMS",
    "Platform",
    "StagingConflict",
    "Tool",
    "ToolMissing",
    "build_wheel",
    "install_on_path",
    "render",
    "source_hash",
    "stage",
    "uninstall_from_path",
]
__version__ = "0.4.0"
