"""Building the _ctfloor C extension (bench/floor/_ctfloor.c) for one
interpreter with plain `cc` against that interpreter's headers."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .tools import require

__all__ = ["FLOOR_DIR", "RUNNER", "SOURCE", "build_floor"]

FLOOR_DIR = Path(__file__).resolve().parent.parent / "floor"
SOURCE = FLOOR_DIR / "_ctfloor.c"
RUNNER = FLOOR_DIR / "run_floor.py"

_QUERY = (
    "import json, sysconfig; print(json.dumps({'include': sysconfig.get_paths()['include'], "
    "'suffix': sysconfig.get_config_var('EXT_SUFFIX'), 'version': __import__('sys').version}))"
)


def build_floor(python: Path | str, out_dir: Path) -> Path:
    """Compile _ctfloor for `python` into `out_dir` (skipped when the source
    and the interpreter are unchanged); returns the module's path."""
    cc = require("cc")
    info = json.loads(subprocess.run([str(python), "-c", _QUERY], check=True, capture_output=True, text=True).stdout)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"_ctfloor{info['suffix']}"
    stamp = out_dir / ".ctfloor-stamp"
    want = hashlib.sha256(SOURCE.read_bytes() + info["version"].encode()).hexdigest()
    if target.exists() and stamp.exists() and stamp.read_text() == want:
        return target
    cmd = [
        cc,
        "-O2",
        "-shared",
        "-fPIC",
        "-Wall",
        "-Werror",
        "-Wno-unused-parameter",
        f"-I{info['include']}",
        str(SOURCE),
        "-o",
        str(target),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building _ctfloor failed ({' '.join(cmd)}):\n{done.stderr}")
    stamp.write_text(want)
    return target
