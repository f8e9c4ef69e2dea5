"""ct: record Python programs with the CodeTracer recorder and keep a local
index of the traces (standard library only).

This file and __main__.py stay importable by any Python a user may have
first on PATH (even 2.7), so an old interpreter gets ct's own diagnostic."""

import sys

__version__ = "0.4.0"

if sys.version_info >= (3, 8):
    from ._errors import NotFound
    from ._interpreter import find_python

__all__ = ["NotFound", "__version__", "find_python"]
