"""Render the launcher shims (``ct``, ``ct-python-recorder``) and the
install-on-PATH snippets from the Jinja2 templates in ``shims/``.

Templates render with ``StrictUndefined`` (a missing variable is an error,
never an empty string) and without autoescaping (these are shell files).
Values are quoted for their shell by the filters below, nowhere else.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Literal

import jinja2

from ._config import defaults, repo_root

__all__ = ["Platform", "PLATFORMS", "render", "render_text", "template_dir"]

Platform = Literal["linux", "macos", "windows"]
PLATFORMS: tuple[Platform, ...] = ("linux", "macos", "windows")


def template_dir() -> Path:
    return repo_root() / "shims"


def _ps_quote_inner(value: str) -> str:
    """Text for inside a PowerShell single-quoted string."""
    return value.replace("'", "''")


def _fish_quote(value: str) -> str:
    """A fish single-quoted word (only backslash and quote are special)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@functools.cache
def _environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["sh_quote"] = shlex.quote
    env.filters["ps_quote_inner"] = _ps_quote_inner
    env.filters["fish_quote"] = _fish_quote
    return env


def render_text(template: str, **values: object) -> str:
    """One template of ``shims/`` rendered with ``values``; ``.cmd`` output
    gets CRLF line ends (cmd.exe misreads labels in LF-only files)."""
    text = _environment(template_dir()).get_template(template).render(**values)
    if template.endswith(".cmd.j2"):
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text


def render(platform: Platform, dest: Path) -> list[Path]:
    """Write every launcher of ``platform`` into ``dest``; return their paths
    (POSIX shims are executable)."""
    conf = defaults()["shims"]
    if platform not in conf["platforms"]:
        raise ValueError(f"unknown platform {platform!r} (expected one of {', '.join(PLATFORMS)})")
    plat = conf["platforms"][platform]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for command, module in conf["commands"].items():
        for flavour in plat["flavours"]:
            text = render_text(
                f"launcher.{flavour}.j2",
                command=command,
                module=module,
                platform=platform,
                staged_rel=plat["staged_rel"],
                default_format=conf["default_format"].get(command, ""),
            )
            path = dest / (command if flavour == "sh" else f"{command}.{flavour}")
            path.write_bytes(text.encode("utf-8"))
            if flavour == "sh":
                path.chmod(0o755)
            written.append(path)
    for script in plat.get("installer_scripts", []):
        path = dest / script
        path.write_bytes(render_text(f"{script}.j2", platform=platform, variable="Path").encode("utf-8"))
        written.append(path)
    return written
