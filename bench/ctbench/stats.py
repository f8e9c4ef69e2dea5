"""The arithmetic of the report. Every function takes None for a missing
figure and returns None then, so the table prints n/a instead of failing."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

__all__ = ["median", "geomean", "ratio", "ns_per_event", "per_event", "mb_per_s", "add"]

Num = float | int | None


def median(values: Iterable[Num]) -> float | None:
    """Median of the known values; None when none is known."""
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


def geomean(values: Iterable[Num]) -> float | None:
    """Geometric mean; None when any value is missing or not positive."""
    given = list(values)
    vals = [v for v in given if v is not None and v > 0]
    if not vals or len(vals) != len(given):
        return None
    return math.exp(sum(math.log(float(v)) for v in vals) / len(vals))


def ratio(traced: Num, plain: Num) -> float | None:
    if traced is None or plain is None or plain <= 0:
        return None
    return float(traced) / float(plain)


def ns_per_event(traced_s: Num, plain_s: Num, events: Num) -> float | None:
    """Added nanoseconds per monitoring event: (traced - plain) / events."""
    if traced_s is None or plain_s is None or not events:
        return None
    return (float(traced_s) - float(plain_s)) * 1e9 / float(events)


def per_event(amount: Num, events: Num) -> float | None:
    if amount is None or not events:
        return None
    return float(amount) / float(events)


def mb_per_s(nbytes: Num, seconds: Num) -> float | None:
    if nbytes is None or seconds is None or seconds <= 0:
        return None
    return float(nbytes) / 1e6 / float(seconds)


def add(a: Num, b: Num) -> float | None:
    if a is None or b is None:
        return None
    return float(a) + float(b)
