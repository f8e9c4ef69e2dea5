"""Every desktop bundle ``ctbundle`` builds, by command name: the one list
``main`` reads (cibuildwheel's ``ALL_PLATFORM_MODULES``). A new bundle kind
is one module satisfying :class:`ctbundle._bundle.Bundle` and one line here."""

from __future__ import annotations

from . import appimage, dmg, windows
from ._bundle import Bundle

__all__ = ["ALL_BUNDLES"]

ALL_BUNDLES: dict[str, Bundle] = {module.NAME: module for module in (appimage, dmg, windows)}
