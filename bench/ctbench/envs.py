"""The benchmark venvs, one decision each:

- `.venvs/bench-312`, `.venvs/bench-313`: the interpreter under test, with
  viztracer (bench/pins.toml), our recorder (the newest
  dist/codetracer_python_recorder-*.whl from `make wheel`), the _ctfloor
  extension (in `<venv>/ctfloor/`) and pytest (bench/pins.toml, for the
  test suite of bench/programs/suite);
- `.venvs/bench-upstream-312`: upstream codetracer-python-recorder 0.3.0,
  apart because it has the same import name as ours.

Each venv keeps a stamp of what was installed, so a second run only checks.
A tracer that cannot be installed is reported with the reason, not raised.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .floor import build_floor
from .pythons import pyenv_python

__all__ = ["BenchEnv", "UpstreamEnv", "PINS", "load_pins", "newest_wheel", "setup_bench_env", "setup_upstream_env"]

PINS = Path(__file__).resolve().parent.parent / "pins.toml"
_STAMP = ".ctbench-stamp.json"


def load_pins() -> dict[str, Any]:
    with PINS.open("rb") as f:
        return tomllib.load(f)


def newest_wheel(dist: Path) -> Path | None:
    wheels = sorted(dist.glob("codetracer_python_recorder-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1] if wheels else None


@dataclass
class BenchEnv:
    version: str
    python: Path
    floor_dir: Path | None = None
    # tracer family ("floor", "ours", "viztracer") -> why it is unavailable
    missing: dict[str, str] = field(default_factory=dict)


@dataclass
class UpstreamEnv:
    python: Path | None
    missing: str | None = None


def _venv(base: Path, venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([str(base), "-m", "venv", "--clear", str(venv)], check=True)
    return python


def _stamp(venv: Path) -> dict[str, Any]:
    try:
        stamp: dict[str, Any] = json.loads((venv / _STAMP).read_text())
        return stamp
    except (OSError, ValueError):
        return {}


def _install(python: Path, venv: Path, key: str, want: str, pip_args: list[str]) -> str | None:
    """pip install unless the stamp says `want` is there; returns an error or None."""
    stamp = _stamp(venv)
    if stamp.get(key) == want:
        return None
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pip_args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"pip install {' '.join(pip_args)} failed: {done.stderr.strip().splitlines()[-1:]}"
    stamp[key] = want
    (venv / _STAMP).write_text(json.dumps(stamp, indent=1))
    return None


def setup_bench_env(
    version: str, venvs: Path, *, wheel: Path | None, viztracer: bool, ours: bool, floor: bool, pytest: bool = False
) -> BenchEnv:
    venv = venvs / f"bench-{version.replace('.', '')}"
    env = BenchEnv(version, _venv(pyenv_python(version), venv))
    if floor:
        try:
            build_floor(env.python, venv / "ctfloor")
            env.floor_dir = venv / "ctfloor"
        except Exception as exc:  # noqa: BLE001 - reported in the table, not raised
            env.missing["floor"] = str(exc)
    if viztracer:
        req = load_pins()["viztracer"]["requirement"]
        err = _install(env.python, venv, "viztracer", req, [req])
        if err:
            env.missing["viztracer"] = err
    if ours:
        if wheel is None:
            env.missing["ours"] = "no dist/codetracer_python_recorder-*.whl (run `make wheel`)"
        else:
            ident = f"{wheel.name} {wheel.stat().st_mtime_ns} {wheel.stat().st_size}"
            err = _install(env.python, venv, "ours", ident, ["--no-index", "--force-reinstall", str(wheel)])
            if err:
                env.missing["ours"] = err
    if pytest:
        req = load_pins()["pytest"]["requirement"]
        err = _install(env.python, venv, "pytest", req, [req])
        if err:
            env.missing["pytest"] = err
    return env


def setup_upstream_env(version: str, venvs: Path) -> UpstreamEnv:
    pins = load_pins()["upstream"]
    if version not in pins["pythons"]:
        return UpstreamEnv(None, f"{pins['requirement']} has no wheel for CPython {version}")
    venv = venvs / f"bench-upstream-{version.replace('.', '')}"
    python = _venv(pyenv_python(version), venv)
    err = _install(python, venv, "upstream", pins["requirement"], [pins["requirement"]])
    return UpstreamEnv(None, err) if err else UpstreamEnv(python)
