"""Fixtures of the shim suites (helpers in shimtest_support.py)."""

from .shimtest_support import bundle  # noqa: F401 - the fixture, for every shim suite
