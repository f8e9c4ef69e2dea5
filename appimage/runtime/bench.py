#!/usr/bin/env python3
"""Start-up cost of the AppImage runtime (a benchmark, never run by CI).

Times one command run four ways and prints medians and ratios against
running the AppDir's AppRun directly:

  direct  AppDir/AppRun, from a tree extracted beforehand (the baseline)
  cold    the AppImage, extract-and-run with an empty cache (first start)
  warm    the AppImage, extract-and-run with the cache filled (later starts)
  mount   the AppImage, FUSE mount through squashfuse (when usable here)

Usage:
  .venv/bin/python appimage/runtime/bench.py [--appimage FILE] [--runs N]
        [--argv0 NAME] [-- ARGS...]

Default FILE: the newest dist/*.AppImage (`make appimage`); default command:
`ct-python-recorder --version` (ARGV0 picks the launcher inside). Any python
the launcher finds on PATH runs the recorder.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _time(argv: list[str], env: dict[str, str], before=None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: {argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def _fuse_usable() -> bool:
    """The runtime's own test (squashfuse, /dev/fuse, fusermount), restated."""
    return (shutil.which("squashfuse") is not None and os.access("/dev/fuse", os.R_OK | os.W_OK)
            and (shutil.which("fusermount3") or shutil.which("fusermount")) is not None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--appimage", type=Path, default=None)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--argv0", default="ct-python-recorder")
    p.add_argument("args", nargs="*", default=["--version"])
    opts = p.parse_args(argv)
    appimage = opts.appimage
    if appimage is None:
        found = sorted((REPO / "dist").glob("*.AppImage"), key=lambda f: f.stat().st_mtime)
        if not found:
            p.error("no dist/*.AppImage: run `make appimage` or pass --appimage")
        appimage = found[-1]
    appimage = appimage.resolve()

    with tempfile.TemporaryDirectory(prefix="apprt-bench-") as tmp:
        work = Path(tmp)
        base = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
        subprocess.run([str(appimage), "--appimage-extract"], cwd=work, env=base, check=True,
                       stdout=subprocess.DEVNULL)
        appdir = work / "squashfs-root"
        link = work / "bin" / opts.argv0
        link.parent.mkdir()
        link.symlink_to(appimage)
        cache = work / "cache" / "appimage-runtime"

        def clear_cache() -> None:
            subprocess.run(["chmod", "-R", "u+rwX", str(cache)], check=False, stderr=subprocess.DEVNULL)
            shutil.rmtree(cache, ignore_errors=True)

        direct_env = dict(base, APPDIR=str(appdir), APPIMAGE=str(appimage), ARGV0=str(link), OWD=os.getcwd())
        extract_env = dict(base, APPIMAGE_EXTRACT_AND_RUN="1")
        cases = {
            "direct": ([str(appdir / "AppRun"), *opts.args], direct_env, None),
            "cold": ([str(link), *opts.args], extract_env, clear_cache),
            "warm": ([str(link), *opts.args], extract_env, None),
        }
        if _fuse_usable():
            cases["mount"] = ([str(link), *opts.args], dict(base), None)
        results: dict[str, float] = {}
        for name, (cmd, env, before) in cases.items():
            _time(cmd, env, before)  # warm the page cache (and the extraction cache for "warm")
            results[name] = statistics.median(_time(cmd, env, before) for _ in range(opts.runs))
        clear_cache()

    size = appimage.stat().st_size / 2**20
    print(f"{appimage.name} ({size:.1f} MiB), command: {opts.argv0} {' '.join(opts.args)}, "
          f"median of {opts.runs} runs")
    print(f"{'mode':8} {'seconds':>9} {'x direct':>9}")
    for name, seconds in results.items():
        print(f"{name:8} {seconds:9.4f} {seconds / results['direct']:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
