"""Reproducible and accountable artefacts.

One place for: the build timestamp (``SOURCE_DATE_EPOCH``), normalising a
tree before it is archived (timestamps, permissions), and the records written
beside every artefact (``SHA256SUMS`` and ``<artefact>.manifest.json``, which
names the commit and the versions of the build tools).

Two builds of one commit with the same ``SOURCE_DATE_EPOCH`` must give
byte-identical artefacts; the tests compare their sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
from importlib import metadata
from importlib.metadata import Distribution
from pathlib import Path

from ._config import defaults
from ._errors import InvalidValue, MissingInput

__all__ = [
    "ZIP_EPOCH",
    "build_env",
    "build_tools",
    "git_commit",
    "normalize_tree",
    "progress",
    "record_artefact",
    "recorder_version",
    "sha256_file",
    "source_date_epoch",
]

#: 1980-01-01T00:00:00Z: the earliest time a zip (and so a wheel) can hold.
ZIP_EPOCH = 315532800

REPO = Path(__file__).resolve().parents[2]


def source_date_epoch(repo: Path = REPO) -> int:
    """``$SOURCE_DATE_EPOCH`` when set, else the time of the last commit,
    else :data:`ZIP_EPOCH`; never "now", so an unset variable still gives
    reproducible output for one commit."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        if not value.isdigit():
            raise InvalidValue(f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {value!r}")
        return int(value)
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%ct"], check=True, capture_output=True, text=True
        ).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return ZIP_EPOCH


def build_env(epoch: int) -> dict[str, str]:
    """The environment for external build tools: ours plus the timestamp,
    a fixed time zone and locale (some tools print dates or sort by locale)."""
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=str(epoch), TZ="UTC", LC_ALL="C")
    return env


def git_commit(repo: Path = REPO) -> str:
    """``<sha>`` of HEAD, ``<sha>-dirty`` with uncommitted changes, ``unknown``
    outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def normalize_tree(root: Path, epoch: int) -> None:
    """Give every file, folder and symlink under ``root`` (and ``root``
    itself) the mtime ``epoch`` and canonical permissions: folders and
    executables 0755, other files 0644. Children first, so setting a file's
    time does not change its folder's afterwards."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            _normalize(Path(dirpath) / name, epoch)
    _normalize(root, epoch)


def _normalize(path: Path, epoch: int) -> None:
    st = path.lstat()
    if not stat.S_ISLNK(st.st_mode):
        executable = stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111
        path.chmod(0o755 if executable else 0o644)
    os.utime(path, (epoch, epoch), follow_symlinks=False)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorder_version(staged: Path) -> str:
    """Version of the recorder unpacked in a staged ``resources/python``
    (docs/interfaces.md section 4), read from its ``.dist-info``."""
    found = sorted(staged.glob("codetracer_python_recorder-*.dist-info"))
    if not found:
        raise MissingInput(f"no codetracer_python_recorder-*.dist-info in {staged}: is it a staged folder?")
    version = Distribution.at(found[-1]).version
    if not version:
        raise ValueError(f"{found[-1]}: METADATA has no Version")
    return version


def build_tools() -> dict[str, str | None]:
    """The versions this build runs with: the interpreter's (``python``) and
    each Python build tool's of ``defaults.toml`` ``[repro]`` (None: not
    installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in defaults()["repro"]["build_tools"]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def record_artefact(
    artefact: Path, *, kind: str, recorder: str, epoch: int, repo: Path = REPO, extra: dict[str, object] | None = None
) -> Path:
    """Write ``<artefact>.manifest.json`` and add (or replace) the artefact's
    line in ``SHA256SUMS`` beside it. Returns the manifest's path."""
    digest = sha256_file(artefact)
    manifest = {
        "artefact": artefact.name,
        "kind": kind,
        "size": artefact.stat().st_size,
        "sha256": digest,
        "recorder_version": recorder,
        "git_commit": git_commit(repo),
        "source_date_epoch": epoch,
        "build_tools": build_tools(),
        **(extra or {}),
    }
    path = artefact.with_name(artefact.name + ".manifest.json")
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _update_sums(artefact.parent / "SHA256SUMS", {artefact.name: digest})
    return path


def _update_sums(sums: Path, new: dict[str, str]) -> None:
    """``sha256sum -c`` format (two spaces, binary-agnostic), sorted by name."""
    entries: dict[str, str] = {}
    if sums.exists():
        for line in sums.read_text(encoding="utf-8").splitlines():
            digest, sep, name = line.partition("  ")
            if sep and name:
                entries[name.lstrip("*")] = digest
    entries.update(new)
    sums.write_text("".join(f"{entries[n]}  {n}\n" for n in sorted(entries)), encoding="utf-8")


def progress(tool: str, step: int, total: int, message: str) -> None:
    """One line per long step, on stderr (stdout stays for results)."""
    print(f"ctbundle {tool} [{step}/{total}] {message}", file=sys.stderr, flush=True)
