"""Build the recorder wheel through the PEP 517 front end ``build`` with
maturin as backend, and skip the build when the recorder's sources are
unchanged (cache keyed by a hash of those sources and of the build settings).
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import _tools
from ._config import defaults, repo_root
from ._log import info

__all__ = ["WheelOptions", "build_wheel", "source_files", "source_hash"]


@dataclass(frozen=True)
class WheelOptions:
    """Effective settings of one wheel build."""

    project: Path
    out_dir: Path
    cache_dir: Path
    zig: bool
    maturin_pep517_args: str

    @classmethod
    def from_defaults(cls, out_dir: Path | None = None, *, zig: bool | None = None) -> WheelOptions:
        d = defaults()["wheel"]
        root = repo_root()
        return cls(
            project=root / d["project"],
            out_dir=(root / d["out_dir"]) if out_dir is None else out_dir,
            cache_dir=root / d["cache_dir"],
            zig=d["zig"] if zig is None else zig,
            maturin_pep517_args=d["maturin_pep517_args"] if (d["zig"] if zig is None else zig) else "",
        )

    def summary(self) -> str:
        return (
            f"wheel: project={self.project} out_dir={self.out_dir} cache={self.cache_dir} "
            f"MATURIN_PEP517_ARGS={self.maturin_pep517_args!r}"
        )


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over ``/``-separated relative paths: ``**/`` is any number of
    folders, ``**`` at the end anything, ``*`` and ``?`` stay in one name."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def source_files(project: Path, patterns: Sequence[str], ignore: Sequence[str]) -> list[Path]:
    """Files under ``project`` matching ``patterns`` and no ``ignore`` glob,
    sorted by their relative path."""
    want = [_glob_regex(p) for p in patterns]
    skip = [_glob_regex(p) for p in ignore]
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(project):
        rel_dir = Path(dirpath).relative_to(project).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not any(s.match(f"{prefix}{d}/") for s in skip))
        for name in filenames:
            rel = prefix + name
            if any(w.match(rel) for w in want) and not any(s.match(rel) for s in skip):
                found.append(rel)
    return [project / rel for rel in sorted(found)]


def source_hash(project: Path, extra: Iterable[str] = ()) -> str:
    """sha256 over the recorder's sources (names and contents) and ``extra``
    strings (build settings that change the wheel)."""
    d = defaults()["wheel"]
    h = hashlib.sha256()
    for item in extra:
        h.update(b"setting\0" + item.encode() + b"\0")
    for path in source_files(project, d["sources"], d["ignore"]):
        h.update(b"file\0" + path.relative_to(project).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _settings(opts: WheelOptions) -> list[str]:
    return [
        f"maturin={metadata.version('maturin')}",
        f"MATURIN_PEP517_ARGS={opts.maturin_pep517_args}",
        f"machine={platform.machine()}",
        f"python={sys.version_info[0]}.{sys.version_info[1]}",
    ]


def _place(wheel: Path, out_dir: Path) -> Path:
    """Copy a cached wheel into ``out_dir`` unless the same bytes are there;
    the result is the newest recorder wheel of ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel.name
    if not target.exists() or target.read_bytes() != wheel.read_bytes():
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(wheel, tmp)
        tmp.replace(target)
    newest = max(out_dir.glob("codetracer_python_recorder-*.whl"), key=lambda p: p.stat().st_mtime_ns)
    if newest != target and newest.stat().st_mtime_ns >= target.stat().st_mtime_ns:
        os.utime(target)
    return target


def build_wheel(out_dir: Path = Path("dist"), *, force: bool = False, options: WheelOptions | None = None) -> Path:
    """Build (or reuse) the recorder wheel; return its path in ``out_dir``.

    The wheel is rebuilt only when the hash of the recorder's sources and
    build settings has no cached wheel yet, or with ``force=True``.
    """
    opts = options or WheelOptions.from_defaults(out_dir)
    if not opts.out_dir.is_absolute():
        opts = WheelOptions(opts.project, Path.cwd() / opts.out_dir, opts.cache_dir, opts.zig, opts.maturin_pep517_args)
    if not (opts.project / "pyproject.toml").is_file():
        raise FileNotFoundError(f"no recorder project at {opts.project} (pyproject.toml missing)")
    key = source_hash(opts.project, _settings(opts))
    slot = opts.cache_dir / "wheels" / key
    cached = sorted(slot.glob("*.whl"))
    if cached and not force:
        info(f"recorder sources unchanged (hash {key[:12]}): reusing {cached[0].name}, no rebuild")
        return _place(cached[0], opts.out_dir)

    info(opts.summary())
    info(f"building the recorder wheel (hash {key[:12]}); cargo release build, this takes minutes")
    env = dict(os.environ)
    if opts.maturin_pep517_args:
        env["MATURIN_PEP517_ARGS"] = opts.maturin_pep517_args
        _tools.ZIG.argv()  # fail early, with the install hint, when zig is missing
    else:
        env.pop("MATURIN_PEP517_ARGS", None)
    env.setdefault("CARGO_TARGET_DIR", str(opts.cache_dir / "target"))
    # maturin finds zig as `python3 -m ziglang`: the toolkit's own venv first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    _tools.CARGO.argv()
    _tools.MATURIN.argv()
    opts.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=opts.cache_dir, prefix="build-") as tmp:
        _tools.BUILD.run("--wheel", "--no-isolation", "--outdir", tmp, opts.project, env=env)
        built = sorted(Path(tmp).glob("*.whl"))
        if len(built) != 1:
            raise RuntimeError(f"expected one wheel from the build, got {[p.name for p in built]}")
        if slot.exists():
            shutil.rmtree(slot)
        slot.mkdir(parents=True)
        cached_wheel = slot / built[0].name
        shutil.move(built[0], cached_wheel)
    info(f"built {cached_wheel.name}")
    _prune(slot.parent, keep=defaults()["wheel"]["cache_keep"])
    return _place(cached_wheel, opts.out_dir)


def _prune(wheels_dir: Path, keep: int) -> None:
    """Drop all but the ``keep`` most recently built cache slots."""
    slots = sorted((p for p in wheels_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in slots[keep:]:
        shutil.rmtree(old)
