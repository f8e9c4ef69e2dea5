"""Build the recorder wheel through the PEP 517 front end ``build`` with
maturin as backend, and skip the build when the recorder's sources are
unchanged (cache keyed by a hash of those sources and of the build settings).

One wheel per bundle platform: ``linux`` (manylinux2014 through zig),
``windows`` (win_amd64, cross-compiled to x86_64-pc-windows-gnu with
mingw-w64) and ``macos`` (universal2, both slices linked by zig); the
settings of each are data (``[wheel.platforms.*]`` of defaults.toml). Which
platform a wheel is for is decided here too (:func:`check_wheel_platform`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import metadata
from pathlib import Path
from typing import Any

from . import _tools
from ._config import defaults, repo_root
from ._errors import FatalError, InputRefused, MissingInput, ToolMissing
from ._log import info
from ._shims import PLATFORMS, Platform

__all__ = [
    "WheelOptions",
    "WrongPlatform",
    "build_wheel",
    "check_wheel_platform",
    "default_out_dir",
    "platform_of",
    "platform_tags",
    "rust_targets",
    "source_files",
    "source_hash",
]


def _platform_defaults(platform: Platform) -> dict[str, Any]:
    if platform not in PLATFORMS:
        raise InputRefused(f"unknown platform {platform!r} (expected one of {', '.join(PLATFORMS)})")
    table: dict[str, Any] = defaults()["wheel"]["platforms"][platform]
    return table


def rust_targets() -> list[str]:
    """Every rustup target the cross-built wheels need (``make lint`` runs
    clippy for each; ``tools/bootstrap.sh`` installs them)."""
    found = {t for p in defaults()["wheel"]["platforms"].values() for t in p.get("rust_targets", [])}
    return sorted(found)


def default_out_dir(platform: Platform, base: Path | None = None) -> Path:
    """Where ``platform``'s wheel goes: ``base`` (default: the toolkit's
    out_dir, ``dist``) plus the platform's ``out_subdir``."""
    root = repo_root() / defaults()["wheel"]["out_dir"] if base is None else base
    sub = _platform_defaults(platform)["out_subdir"]
    return root / sub if sub else root


@dataclass(frozen=True)
class WheelOptions:
    """Effective settings of one wheel build."""

    project: Path
    out_dir: Path
    cache_dir: Path
    zig: bool
    maturin_pep517_args: str
    platform: Platform = "linux"
    rust_targets: tuple[str, ...] = ()  # rustup targets the build needs
    linker: str = ""  # an executable the build links with (mingw-w64 gcc)
    expect_tags: tuple[str, ...] = ()  # the built wheel must carry one (cross builds)

    @classmethod
    def from_defaults(
        cls, out_dir: Path | None = None, *, zig: bool | None = None, platform: Platform = "linux"
    ) -> WheelOptions:
        """The settings of defaults.toml for ``platform``'s wheel built on
        this host; ``out_dir`` default: :func:`default_out_dir`."""
        d = defaults()["wheel"]
        p = _platform_defaults(platform)
        root = repo_root()
        zig = d["zig"] if zig is None else zig
        common = {
            "project": root / d["project"],
            "cache_dir": root / d["cache_dir"],
            "out_dir": default_out_dir(platform) if out_dir is None else out_dir,
            "platform": platform,
        }
        if platform == "linux":
            return cls(**common, zig=zig, maturin_pep517_args=d["maturin_pep517_args"] if zig else "")
        native = sys.platform == p["native_host"]
        args = str(p["native_maturin_pep517_args" if native else "maturin_pep517_args"])
        return cls(
            **common,
            zig="--zig" in args.split(),
            maturin_pep517_args=args,
            rust_targets=() if native else tuple(p["rust_targets"]),
            linker="" if native else str(p["linker"]),
            expect_tags=tuple(p["tags"]),
        )

    def summary(self) -> str:
        return (
            f"wheel for {self.platform}: project={self.project} out_dir={self.out_dir} cache={self.cache_dir} "
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
    settings = [
        f"maturin={metadata.version('maturin')}",
        f"MATURIN_PEP517_ARGS={opts.maturin_pep517_args}",
        f"machine={platform.machine()}",
        f"python={sys.version_info[0]}.{sys.version_info[1]}",
    ]
    if opts.platform != "linux":  # the Linux key stays what it was
        settings += [f"platform={opts.platform}", f"host={sys.platform}"]
    return settings


def _check_rust_targets(targets: Sequence[str]) -> None:
    """Each of ``targets`` is installed, else a :class:`ToolMissing` with the
    rustup command (skipped without rustup: cargo then says it itself)."""
    if not targets or not _tools.RUSTUP.available():
        return
    listed = subprocess.run(
        [*_tools.RUSTUP.argv(), "target", "list", "--installed"], capture_output=True, text=True, check=False
    ).stdout.split()
    missing = [t for t in targets if t not in listed]
    if missing:
        raise ToolMissing(
            f"the Rust standard library for {', '.join(missing)} is not installed; "
            f"install it with: rustup target add {' '.join(missing)}"
        )


def _check_tools(opts: WheelOptions) -> None:
    """Fail early, with the install hint, when a tool of this build is missing."""
    _tools.CARGO.argv()
    _tools.MATURIN.argv()
    if opts.zig:
        _tools.ZIG.argv()
    if opts.linker:
        _tools.linker(opts.linker).argv()
    _check_rust_targets(opts.rust_targets)


# --- which platform a wheel is for ---------------------------------------------


class WrongPlatform(InputRefused):
    """A wheel (or staged folder) for another platform than its bundle's."""


def platform_tags(wheel: Path) -> list[str]:
    """The platform tags in a wheel's file name
    (``name-version[-build]-python-abi-platform.whl``, PEP 427), a
    compressed tag set split into its parts."""
    parts = wheel.name.removesuffix(".whl").split("-")
    if len(parts) not in (5, 6):
        raise InputRefused(f"{wheel.name}: not a wheel file name (name-version-python-abi-platform.whl)")
    return parts[-1].split(".")


def staged_platform_tags(staged: Path) -> list[str]:
    """The platform tags of the recorder's ``*.dist-info/WHEEL`` in a staged folder."""
    tags: list[str] = []
    for wheel_file in sorted(staged.glob("codetracer_python_recorder-*.dist-info/WHEEL")):
        for line in wheel_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("Tag:"):
                tags += line.split(":", 1)[1].strip().rsplit("-", 1)[-1].split(".")
    return tags


def platform_of(tag: str) -> Platform | None:
    """The platform whose wheels carry ``tag`` (None: ``any`` or unknown)."""
    for name in PLATFORMS:
        if any(fnmatchcase(tag, glob) for glob in _platform_defaults(name)["family"]):
            return name
    return None


def _fits(tags: Sequence[str], platform: Platform) -> bool:
    wanted = _platform_defaults(platform)["tags"]
    return any(tag == "any" or any(fnmatchcase(tag, glob) for glob in wanted) for tag in tags)


def check_wheel_platform(source: Path, platform: Platform, needed_by: str) -> None:
    """Raise :class:`WrongPlatform` unless ``source`` (a ``.whl`` or a staged
    folder) is for ``platform``: one of its platform tags matches the
    platform's ``tags`` (or is ``any``)."""
    tags = staged_platform_tags(source) if source.is_dir() else platform_tags(source)
    if _fits(tags, platform) or (source.is_dir() and not tags):  # not staged: said when it is read
        return
    wanted = " or ".join(_platform_defaults(platform)["tags"])
    found: list[str] = sorted({p for p in map(platform_of, tags) if p}) or ["unknown-platform"]
    what = f"the staged folder {source} holds a" if source.is_dir() else f"{source.name} is a"
    raise WrongPlatform(
        f"{what} {'/'.join(found)} wheel (platform tag {'.'.join(tags)}); "
        f"{needed_by} needs a {platform} wheel tagged {wanted}: build it with "
        f"`ctbundle wheel --platform {platform}` (make wheel-{platform}) and pass it with --wheel"
    )


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
        opts = dataclasses.replace(opts, out_dir=Path.cwd() / opts.out_dir)
    if not (opts.project / "pyproject.toml").is_file():
        raise MissingInput(f"no recorder project at {opts.project} (pyproject.toml missing)")
    key = source_hash(opts.project, _settings(opts))
    slot = opts.cache_dir / "wheels" / key
    cached = sorted(slot.glob("*.whl"))
    if cached and not force:
        info(f"recorder sources unchanged (hash {key[:12]}): reusing {cached[0].name}, no rebuild")
        return _place(cached[0], opts.out_dir)

    info(opts.summary())
    info(f"building the recorder wheel (hash {key[:12]}); cargo release build, this takes minutes")
    _check_tools(opts)
    env = dict(os.environ)
    if opts.maturin_pep517_args:
        env["MATURIN_PEP517_ARGS"] = opts.maturin_pep517_args
    else:
        env.pop("MATURIN_PEP517_ARGS", None)
    env.setdefault("CARGO_TARGET_DIR", str(opts.cache_dir / "target"))
    # maturin finds zig as `python3 -m ziglang`: the toolkit's own venv first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    opts.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=opts.cache_dir, prefix="build-") as tmp:
        _tools.BUILD.run("--wheel", "--no-isolation", "--outdir", tmp, opts.project, env=env)
        built = sorted(Path(tmp).glob("*.whl"))
        if len(built) != 1:
            raise FatalError(f"expected one wheel from the build, got {[p.name for p in built]}")
        if opts.expect_tags and not any(fnmatchcase(t, g) for t in platform_tags(built[0]) for g in opts.expect_tags):
            raise FatalError(
                f"the {opts.platform} build made {built[0].name}, not a wheel tagged {' or '.join(opts.expect_tags)}"
            )
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
