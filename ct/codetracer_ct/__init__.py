"""ct: record Python programs with the CodeTracer recorder and keep a local
index of the traces (standard library only)."""
from __future__ import annotations

__version__ = "0.4.0"

from ._interpreter import NotFound, find_python

__all__ = ["NotFound", "__version__", "find_python"]
