"""installCodetracerOnPath: put ``ct`` and ``ct-python-recorder`` on the
user's PATH, and take them off again.

- Linux: ``~/.local/bin/ct`` and ``~/.local/bin/ct-python-recorder`` are
  symlinks to the ``.AppImage`` file itself (the AppImage's AppRun dispatches
  on the name it was called by).
- macOS: a shell-launchers folder of symlinks to the bundle's shims, and a
  marked block in the bash, zsh and fish start-up files that puts that folder
  on PATH.
- Windows: the installer edits the user PATH with ``shims/user-path.ps1.j2``;
  :func:`path_with_entry` / :func:`path_without_entry` are its rules.

Install records what it added in a state file; uninstall removes exactly
that (links, blocks, the separator newline it put before a block, files and
folders it created) and nothing else. Installing twice changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config import defaults, expand_home
from ._errors import InputRefused, MissingInput
from ._log import info
from ._shims import render_text

__all__ = [
    "InstallConflict",
    "install_on_path",
    "uninstall_from_path",
    "path_with_entry",
    "path_without_entry",
    "rc_files",
]

SHELLS = ("bash", "zsh", "fish")


class InstallConflict(InputRefused):
    """A file the install would create already exists and is not ours."""


def _home(home: Path | None) -> Path:
    return home if home is not None else Path(os.environ.get("HOME") or Path.home())


def _names() -> list[str]:
    return list(defaults()["shims"]["commands"])


def rc_files(home: Path, shells: Sequence[str] = SHELLS) -> dict[str, Path]:
    """The start-up file that gets the PATH block, per shell: bash's login
    file (the first of .bash_profile, .bash_login, .profile that exists, so
    an existing .profile is never shadowed; else .bash_profile), zsh's
    .zshrc (in $ZDOTDIR when set), fish's config.fish."""
    out: dict[str, Path] = {}
    for shell in shells:
        if shell == "bash":
            candidates = [home / n for n in (".bash_profile", ".bash_login", ".profile")]
            out[shell] = next((p for p in candidates if p.exists()), candidates[0])
        elif shell == "zsh":
            out[shell] = Path(os.environ.get("ZDOTDIR") or home) / ".zshrc"
        elif shell == "fish":
            config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
            out[shell] = config / "fish" / "config.fish"
        else:
            raise ValueError(f"unsupported shell {shell!r} (expected one of {', '.join(SHELLS)})")
    return out


def _block(shell: str, launchers_dir: Path) -> str:
    marker = defaults()["install"]["marker"]
    if shell == "fish":
        return render_text("path-block.fish.j2", marker=marker, launchers_dir=str(launchers_dir))
    return render_text("path-block.sh.j2", marker=marker, launchers_dir=str(launchers_dir))


@dataclass
class _State:
    path: Path
    platform: str = ""
    links: list[dict[str, str]] = field(default_factory=list)
    rc: list[dict[str, Any]] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> _State:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, data["platform"], data["links"], data["rc"], data["created_dirs"])

    def to_json(self) -> str:
        data = {"platform": self.platform, "links": self.links, "rc": self.rc, "created_dirs": self.created_dirs}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def mkdir(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, remembering each."""
        missing = []
        for p in [folder, *folder.parents]:
            if p.exists():
                break
            missing.append(p)
        for p in reversed(missing):
            p.mkdir()
            if str(p) not in self.created_dirs:
                self.created_dirs.append(str(p))

    def save(self) -> None:
        self.mkdir(self.path.parent)
        text = self.to_json()
        if not self.path.exists() or self.path.read_text(encoding="utf-8") != text:
            self.path.write_text(text, encoding="utf-8")


def _state_path(home: Path) -> Path:
    return expand_home(defaults()["install"]["state_file"], home)


def _link(state: _State, link: Path, target: Path) -> None:
    if link.is_symlink() and os.readlink(link) == str(target):
        pass
    elif link.is_symlink() and any(e["path"] == str(link) for e in state.links):
        link.unlink()  # ours, from an earlier install of a moved bundle
        link.symlink_to(target)
    elif link.exists() or link.is_symlink():
        raise InstallConflict(f"{link} exists and was not made by CodeTracer; remove it or pick another folder")
    else:
        state.mkdir(link.parent)
        link.symlink_to(target)
        info(f"linked {link} -> {target}")
    entry = {"path": str(link), "target": str(target)}
    state.links = [e for e in state.links if e["path"] != str(link)] + [entry]


def _add_block(state: _State, rc: Path, block: str) -> None:
    marker = defaults()["install"]["marker"]
    start, end = f"# >>> {marker} >>>\n", f"# <<< {marker} <<<\n"
    known = next((e for e in state.rc if e["path"] == str(rc)), None)
    old = rc.read_text(encoding="utf-8") if rc.exists() else None
    if old is not None and start in old and end in old:
        i, j = old.index(start), old.index(end) + len(end)
        new = old[:i] + block + old[j:]
        record = known or {"path": str(rc), "created": False, "separator": False}
    else:
        created = old is None
        base = old or ""
        separator = bool(base) and not base.endswith("\n")
        new = base + ("\n" if separator else "") + block
        record = {"path": str(rc), "created": created, "separator": separator}
        if created:
            state.mkdir(rc.parent)
    if new != old:
        rc.write_text(new, encoding="utf-8")
        info(f"PATH block written to {rc}")
    state.rc = [e for e in state.rc if e["path"] != str(rc)] + [record]


def _remove_block(rc: Path, record: dict[str, Any] | None) -> None:
    marker = defaults()["install"]["marker"]
    start, end = f"# >>> {marker} >>>\n", f"# <<< {marker} <<<\n"
    if not rc.exists():
        return
    old = rc.read_text(encoding="utf-8")
    if start not in old or end not in old:
        return
    i, j = old.index(start), old.index(end) + len(end)
    if record and record.get("separator") and i > 0 and old[i - 1] == "\n":
        i -= 1
    new = old[:i] + old[j:]
    if record and record.get("created") and new == "":
        rc.unlink()
        info(f"removed {rc}")
    else:
        rc.write_text(new, encoding="utf-8")
        info(f"PATH block removed from {rc}")


def install_on_path(
    platform: str,
    target: Path,
    *,
    home: Path | None = None,
    folder: Path | None = None,
    shells: Sequence[str] = SHELLS,
) -> Path:
    """Put the launchers on PATH; return the folder that holds them.

    ``target`` is the ``.AppImage`` file (linux) or the bundle folder holding
    the rendered shims ``ct`` and ``ct-python-recorder`` (macos). ``folder``
    overrides the links' folder (defaults in resources/defaults.toml).
    """
    home = _home(home)
    conf = defaults()["install"]
    target = Path(os.path.abspath(target))
    state = _State.load(_state_path(home))
    if state.platform and state.platform != platform:
        raise InstallConflict(f"already installed for {state.platform}; uninstall first")
    state.platform = platform
    if platform == "linux":
        if not target.is_file():
            raise MissingInput(f"no AppImage at {target}")
        links_dir = folder or expand_home(conf["linux_bin_dir"], home)
        for name in _names():
            _link(state, links_dir / name, target)
        if str(links_dir) not in os.environ.get("PATH", "").split(os.pathsep):
            info(f"note: {links_dir} is not on your PATH yet (most login shells add it when it exists)")
    elif platform == "macos":
        for name in _names():
            if not (target / name).is_file():
                raise MissingInput(f"no launcher {name} in {target}")
        links_dir = folder or expand_home(conf["macos_launchers_dir"], home)
        for name in _names():
            _link(state, links_dir / name, target / name)
        for shell, rc in rc_files(home, shells).items():
            _add_block(state, rc, _block(shell, links_dir))
    elif platform == "windows":
        raise InputRefused(
            "on Windows the installer adds the user PATH entry (shims/user-path.ps1.j2); "
            "see path_with_entry() for the rules"
        )
    else:
        raise ValueError(f"unknown platform {platform!r}")
    state.save()
    return links_dir


def uninstall_from_path(*, home: Path | None = None) -> list[str]:
    """Remove exactly what :func:`install_on_path` added; return what was
    removed. Without a state file only marked blocks are removed."""
    home = _home(home)
    state = _State.load(_state_path(home))
    removed: list[str] = []
    for entry in state.links:
        link = Path(entry["path"])
        if link.is_symlink() and os.readlink(link) == entry["target"]:
            link.unlink()
            removed.append(str(link))
    records = {e["path"]: e for e in state.rc}
    for rc in sorted(set(records) | {str(p) for p in rc_files(home).values()}):
        before = Path(rc).exists()
        _remove_block(Path(rc), records.get(rc))
        if before:
            removed.append(rc)
    if state.path.exists():
        state.path.unlink()
    for d in sorted(state.created_dirs, key=lambda p: -len(Path(p).parts)):
        p = Path(d)
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    return removed


def _norm(entry: str) -> str:
    return entry.rstrip("\\").casefold()


def path_with_entry(value: str, entry: str) -> str:
    """A Windows PATH value with ``entry`` appended once (rules of
    shims/user-path.ps1.j2: case-insensitive, trailing backslash ignored;
    always ``;entry`` after a non-empty value, so removing it gives back
    the value byte for byte)."""
    if any(_norm(e) == _norm(entry) for e in value.split(";")) and value:
        return value
    return value + ";" + entry if value else entry


def path_without_entry(value: str, entry: str) -> str:
    """A Windows PATH value without any entry equal to ``entry``; everything
    else, empty entries included, stays as it was."""
    entries = value.split(";") if value else []
    kept = [e for e in entries if _norm(e) != _norm(entry)]
    return value if len(kept) == len(entries) else ";".join(kept)
