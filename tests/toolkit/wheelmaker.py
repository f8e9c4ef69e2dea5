"""Small stand-in wheels for the staging tests (the real wheel is used by
test_staged_e2e.py)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

DIST = "codetracer_python_recorder-0.4.0"


def make_wheel(folder: Path, tag: str, files: dict[str, bytes], entry_points: str | None = None) -> Path:
    files = dict(files)
    info = f"{DIST}.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: codetracer-python-recorder\nVersion: 0.4.0\n"
    files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{info}/RECORD,,")
    wheel = folder / f"{DIST}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/RECORD", "\n".join(lines) + "\n")
    return wheel
