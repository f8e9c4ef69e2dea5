"""Tests of the benchmark harness (bench/): fast, no timing assertions."""
