from __future__ import annotations

import pytest

from ctbench import stats


def test_median_ignores_missing_values() -> None:
    assert stats.median([3.0, None, 1.0, 2.0]) == 2.0
    assert stats.median([1, 2, 3, 4]) == 2.5
    assert stats.median([None, None]) is None


def test_geomean() -> None:
    assert stats.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert stats.geomean([1.0, 10.0, 100.0]) == pytest.approx(10.0)
    assert stats.geomean([2.0, None]) is None
    assert stats.geomean([]) is None
    assert stats.geomean([2.0, 0.0]) is None


def test_ratio_and_ns_per_event() -> None:
    assert stats.ratio(3.0, 1.5) == 2.0
    assert stats.ratio(None, 1.0) is None
    assert stats.ratio(1.0, 0.0) is None
    # (0.5 s - 0.1 s) over 4 million events = 100 ns/event
    assert stats.ns_per_event(0.5, 0.1, 4_000_000) == pytest.approx(100.0)
    assert stats.ns_per_event(0.5, None, 10) is None
    assert stats.ns_per_event(0.5, 0.1, 0) is None


def test_throughput_and_per_event() -> None:
    assert stats.mb_per_s(50_000_000, 0.5) == pytest.approx(100.0)
    assert stats.mb_per_s(1, None) is None
    assert stats.per_event(800, 100) == 8.0
    assert stats.add(1.0, None) is None
    assert stats.add(1.0, 0.25) == 1.25
