"""The `ANCHOR_RESULT <seconds of main()> <check value>` line every workload
writes to stderr (bench/README.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Anchor", "AnchorError", "parse_anchor"]

_LINE = re.compile(r"^ANCHOR_RESULT (?P<seconds>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?) (?P<check>.*?)\s*$", re.M)


class AnchorError(ValueError):
    """The workload's stderr holds no (or more than one) ANCHOR_RESULT line."""


@dataclass(frozen=True)
class Anchor:
    seconds: float
    check: str


def parse_anchor(stderr: str) -> Anchor:
    """The single ANCHOR_RESULT line of `stderr` (other lines are ignored)."""
    found = list(_LINE.finditer(stderr))
    if not found:
        tail = stderr.strip().splitlines()[-5:]
        raise AnchorError("no ANCHOR_RESULT line on stderr" + (": " + " | ".join(tail) if tail else ""))
    if len(found) > 1:
        raise AnchorError(f"{len(found)} ANCHOR_RESULT lines on stderr (expected one)")
    m = found[0]
    return Anchor(float(m["seconds"]), m["check"])
