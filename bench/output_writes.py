"""What telling terminal output from redirected output costs (docs/recorder.md,
"Output"): CPU time per recorded `sys.stdout.write` at the original
descriptor and while it points at a file, medians of --runs recordings of
bench/programs/writes.py with `--values none`, and `os.fstat` for scale
(what checking the descriptor at every write would add).

    .venv/bin/python bench/output_writes.py PYTHON_WITH_THE_WHEEL [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = Path(__file__).resolve().parent / "programs" / "writes.py"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("python")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    rows = []
    for _ in range(a.runs):
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run(
                [
                    a.python,
                    "-m",
                    "codetracer_python_recorder",
                    "--values",
                    "none",
                    "--trace-dir",
                    f"{tmp}/trace",
                    str(PROGRAM),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                check=True,
            )
        rows.append(json.loads(p.stderr.strip().splitlines()[-1]))
    for key in ("original_ns", "redirected_ns", "fstat_ns"):
        print(f"{key}: {statistics.median(r[key] for r in rows):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
