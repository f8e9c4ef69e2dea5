"""Running one measured process: whole-process wall time, CPU time and peak
RSS (the child's own rusage from wait4), and its stderr and stdout."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measured", "run_measured"]


@dataclass(frozen=True)
class Measured:
    returncode: int
    wall_s: float
    maxrss_kb: int
    stderr: str
    cpu_s: float = 0.0  # user + system
    stdout: str = ""


def run_measured(argv: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path) -> Measured:
    """Spawn `argv` (stdout/stderr to files in `log_dir`), wait for it with
    wait4 and return what it cost. Wall time runs from spawn to exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out, err = log_dir / "stdout", log_dir / "stderr"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(out), flags, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(err), flags, 0o644),
    ]
    old_cwd = os.getcwd()
    os.chdir(cwd)  # os.posix_spawn has no cwd parameter; the driver is single-threaded
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.chdir(old_cwd)
    return Measured(
        os.waitstatus_to_exitcode(status),
        wall,
        int(usage.ru_maxrss),
        err.read_text(encoding="utf-8", errors="replace"),
        usage.ru_utime + usage.ru_stime,
        out.read_text(encoding="utf-8", errors="replace"),
    )
