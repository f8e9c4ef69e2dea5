"""The one wrapper around `git` (for `ct record --with-diff`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Optional

from ._errors import GitUnavailable


def repository_diff(folder: Path) -> bytes:
    """`git diff HEAD` of the work tree holding `folder` (tracked files,
    staged and unstaged), as bytes."""
    git = shutil.which("git")
    if git is None:
        raise GitUnavailable("git is not installed (install it, e.g. `apt-get install git`, or drop --with-diff)")
    top = _run(git, folder, "rev-parse", "--show-toplevel")
    if top is None:
        raise GitUnavailable(f"{folder} is not inside a git work tree")
    root = Path(top.decode("utf-8", "surrogateescape").strip())
    diff = _run(git, root, "diff", "--no-color", "--no-ext-diff", "HEAD", "--")
    if diff is None:  # a repository without commits yet: everything is new
        diff = _run(git, root, "diff", "--no-color", "--no-ext-diff", "--cached", "--") or b""
    return diff


def _run(git: str, cwd: Path, *args: str) -> Optional[bytes]:
    done = subprocess.run(
        [git, "-C", str(cwd), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return done.stdout if done.returncode == 0 else None
