"""Monitoring events per workload run: LINE + PY_START + PY_RESUME +
PY_RETURN + PY_YIELD, counted by _ctfloor in mode `count`, once per
interpreter/workload/scale, cached in bench/out/events.json.

`total` is every event of the process after monitoring starts; `main` is
what running the script as __main__ adds over importing it under another
name, i.e. the events of its `main()` (the module's top level, e.g. the
regex compilation of w_mixed, is subtracted out).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .floor import RUNNER

__all__ = ["Events", "count_events", "EventCache"]

IMPORT_ONLY = "ctbench_import_only"


@dataclass(frozen=True)
class Events:
    total: int
    main: int
    by_kind: dict[str, int]  # main-only, per kind


def _count(python: Path, floor_dir: Path, script: Path, scale: float, run_name: str) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="ctbench-count-") as tmp:
        out = Path(tmp, "counts.json")
        env = {**os.environ, "ANCHOR_SCALE": repr(scale)}
        subprocess.run(
            [
                str(python),
                str(RUNNER),
                "--mode",
                "count",
                "--ext-dir",
                str(floor_dir),
                "--counts",
                str(out),
                "--run-name",
                run_name,
                str(script),
            ],
            check=True,
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        counts: dict[str, int] = json.loads(out.read_text())
        return counts


def count_events(python: Path, floor_dir: Path, script: Path, scale: float) -> Events:
    whole = _count(python, floor_dir, script, scale, "__main__")
    base = _count(python, floor_dir, script, scale, IMPORT_ONLY)
    by_kind = {k: whole[k] - base.get(k, 0) for k in whole}
    return Events(sum(whole.values()), sum(by_kind.values()), by_kind)


class EventCache:
    """events.json: {key: Events} where key names interpreter, script content and scale."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    @staticmethod
    def key(python_version: str, script: Path, scale: float) -> str:
        digest = hashlib.sha256(script.read_bytes()).hexdigest()[:16]
        return f"{python_version}|{script.name}|{digest}|{scale!r}"

    def get(self, python: Path, python_version: str, floor_dir: Path, script: Path, scale: float) -> Events:
        key = self.key(python_version, script, scale)
        if key not in self.data:
            ev = count_events(python, floor_dir, script, scale)
            self.data[key] = {"total": ev.total, "main": ev.main, "by_kind": ev.by_kind}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        d = self.data[key]
        return Events(d["total"], d["main"], d["by_kind"])
