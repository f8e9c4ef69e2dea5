"""Progress messages of the toolkit: one line each, on stderr, prefixed."""

from __future__ import annotations

import sys

__all__ = ["info"]


def info(message: str) -> None:
    print(f"ctbundle: {message}", file=sys.stderr, flush=True)
