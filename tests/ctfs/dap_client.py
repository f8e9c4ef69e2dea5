"""The DAP client of CodeTracer's replay-server lives in the bench toolkit
(bench/ctbench/dap.py), which measures how long the server takes to open a
trace; the CTFS tests use that one copy through this name."""

from __future__ import annotations

import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(_BENCH) not in sys.path:
    sys.path.insert(0, str(_BENCH))

from ctbench.dap import REPLAY_SERVER, Dap, DapError

__all__ = ["REPLAY_SERVER", "Dap", "DapError"]
