"""Running a test AppImage and reading what its AppRun printed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A small, explicit environment: PATH of the caller, a private HOME and
    cache, nothing else from the test runner."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LC_ALL": "C",
    }
    env.update(extra)
    return env


def run(
    exe: Path | str,
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        user=user,
        group="nogroup" if user else None,
        extra_groups=[] if user else None,
    )


def report(out: str) -> tuple[list[str], dict[str, str]]:
    """(arguments, other key=value lines) printed by the test AppRun."""
    args: list[str] = []
    keys: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("arg=[") and line.endswith("]"):
            args.append(line[5:-1])
        elif "=" in line:
            k, v = line.split("=", 1)
            keys[k] = v
    return args, keys


def cache_entries(cache_root: Path) -> list[str]:
    """Names of the extracted trees in the runtime's cache."""
    if not cache_root.is_dir():
        return []
    return sorted(p.name for p in cache_root.iterdir() if p.is_dir() and len(p.name) == 16)
