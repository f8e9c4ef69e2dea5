"""Runs `ct` from the source tree, pipx-style: ct runs under the test
runner's Python while the recording uses whatever python the user's PATH /
$PYTHON gives (nothing here touches the user's PYTHONPATH)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))

from codetracer_ct.cli import main

raise SystemExit(main())
