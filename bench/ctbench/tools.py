"""One wrapper per external tool: check it is installed, say how to install
it when it is not."""

from __future__ import annotations

import shutil

__all__ = ["ToolMissing", "require"]

_HOW = {
    "cc": "apt-get install gcc (a C compiler builds the _ctfloor extension)",
    "hyperfine": "apt-get install hyperfine (tools/bootstrap.sh installs it)",
}


class ToolMissing(RuntimeError):
    pass


def require(tool: str) -> str:
    """Absolute path of `tool`, or ToolMissing saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"{tool} not found on PATH: {_HOW.get(tool, 'install it')}")
    return path
