"""Start-up cost (the start-up goal of docs/performance.md) measured with hyperfine: plain python
against `-m codetracer_python_recorder --version` and against recording an
empty script. Reports medians and the milliseconds added."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .tools import require

__all__ = ["Startup", "measure_startup"]


@dataclass(frozen=True)
class Startup:
    python_s: float  # python -c pass
    python_empty_s: float  # python empty.py
    version_s: float | None  # python -m codetracer_python_recorder --version
    record_empty_s: float | None

    @property
    def version_added_ms(self) -> float | None:
        return None if self.version_s is None else (self.version_s - self.python_s) * 1e3

    @property
    def record_added_ms(self) -> float | None:
        return None if self.record_empty_s is None else (self.record_empty_s - self.python_empty_s) * 1e3


def measure_startup(python: Path, *, ours: bool, runs: int = 20) -> Startup:
    hyperfine = require("hyperfine")
    with tempfile.TemporaryDirectory(prefix="ctbench-startup-") as tmp:
        empty = Path(tmp, "empty.py")
        empty.write_text("")
        q = shlex.quote
        cmds = [f"{q(str(python))} -c pass", f"{q(str(python))} {q(str(empty))}"]
        if ours:
            cmds += [
                f"{q(str(python))} -m codetracer_python_recorder --version",
                f"{q(str(python))} -m codetracer_python_recorder --trace-dir {q(tmp + '/trace')} "
                f"--format json {q(str(empty))}",
            ]
        out = Path(tmp, "hyperfine.json")
        subprocess.run(
            [
                hyperfine,
                "-N",
                "--warmup",
                "3",
                "--runs",
                str(runs),
                "--style",
                "none",
                "--export-json",
                str(out),
                *cmds,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=tmp,
        )
        medians = [r["median"] for r in json.loads(out.read_text())["results"]]
    return Startup(medians[0], medians[1], medians[2] if ours else None, medians[3] if ours else None)
