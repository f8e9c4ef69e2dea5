"""ctbundle - the release toolkit of codetracer-bundle.

Builds the recorder wheel (PEP 517 ``build`` + maturin, cached by a source
hash), stages ``resources/python/``, renders the launcher shims from the
Jinja2 templates in ``shims/``, and installs the launchers on the user's PATH.
The bundles (AppImage, .app/DMG, Windows installer) live in
``ctbundle.appimage``, ``ctbundle.dmg`` and ``ctbundle.windows``, each a
:class:`Bundle` listed in :data:`ALL_BUNDLES`. Every error that ends a
command is a :class:`FatalError` carrying its exit status.
"""

from __future__ import annotations

from ._bundle import Bundle
from ._errors import FatalError, InputRefused, ToolFailed, ToolMissing
from ._install_on_path import install_on_path, uninstall_from_path
from ._registry import ALL_BUNDLES
from ._shims import PLATFORMS, Platform, render
from ._stage import StagingConflict, stage
from ._tools import Tool
from ._wheel import WrongPlatform, build_wheel, check_wheel_platform, source_hash

__all__ = [
    "ALL_BUNDLES",
    "Bundle",
    "FatalError",
    "InputRefused",
    "PLATFORMS",
    "Platform",
    "StagingConflict",
    "Tool",
    "ToolFailed",
    "ToolMissing",
    "WrongPlatform",
    "build_wheel",
    "check_wheel_platform",
    "install_on_path",
    "render",
    "source_hash",
    "stage",
    "uninstall_from_path",
]
__version__ = "0.4.0"
