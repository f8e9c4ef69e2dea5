"""Helpers of the shim suites: a bundle laid out like the real ones, at a
hostile path, with stand-in packages that report what they received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))

from ctbundle import render

GOLDEN = Path(__file__).resolve().parent / "golden"
HOSTILE = "we ird $HOME 'q\" ü€"

REPORTER = """\
import json, os, sys
json.dump({
    "module": __spec__.name.split(".")[0],
    "argv": sys.argv[1:],
    "executable": sys.executable,
    "prefix": sys.prefix,
    "PYTHONPATH": os.environ.get("PYTHONPATH"),
    "ORIG": os.environ.get("CODETRACER_ORIG_PYTHONPATH"),
    "FORMAT": os.environ.get("CODETRACER_FORMAT"),
    "leaked": sorted(k for k in os.environ if k.startswith("ctsh_")),
}, sys.stdout, ensure_ascii=True)
sys.exit(int(os.environ.get("SHIMTEST_RC", "0")))
"""


@dataclass
class Bundle:
    root: Path
    bin: Path
    staged: Path
    pybin: Path  # a folder holding only `python3`
    tools: Path  # a folder holding only the tools the sh shim uses

    def shim(self, name: str = "ct") -> Path:
        return self.bin / name

    def env(self, path: list[Path] | None = None, **extra: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TERM")}
        env["LC_ALL"] = "C.UTF-8"
        env["PATH"] = os.pathsep.join(map(str, path if path is not None else [self.pybin, self.tools]))
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env


def stand_in_packages(staged: Path) -> None:
    for module in ("codetracer_ct", "codetracer_python_recorder"):
        (staged / module).mkdir(parents=True)
        (staged / module / "__init__.py").write_text("")
        (staged / module / "__main__.py").write_text(REPORTER)


@pytest.fixture
def bundle(tmp_path: Path, python312: Path) -> Bundle:
    root = tmp_path / HOSTILE / "bundle"
    (root / "bin").mkdir(parents=True)
    render("linux", root / "bin")
    staged = root / "resources" / "python"
    stand_in_packages(staged)
    pybin = tmp_path / "py bin"
    pybin.mkdir()
    (pybin / "python3").symlink_to(python312)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "readlink").symlink_to(shutil.which("readlink"))
    return Bundle(root, root / "bin", staged, pybin, tools)


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def report(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout, f"no output; status {proc.returncode}; stderr: {proc.stderr}"
    return json.loads(proc.stdout)
