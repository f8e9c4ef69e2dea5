"""Fixtures of the threads suite (docs/recorder.md, "Threads"): the
programs, and the DAP helpers of the replay suite."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
ORACLE = HERE / "thread_oracle.py"

sys.path.insert(0, str(HERE.parent / "replay"))
