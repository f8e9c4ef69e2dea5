"""The project's own AppImage type-2 runtime (``appimage/runtime/``, Rust).

Public functions:

``build_runtime(*, force=False) -> Path``
    Builds the runtime with ``cargo zigbuild`` against glibc 2.17 symbols,
    post-processes it into a type-2 runtime (the ``AI\\x02`` magic at offset
    8 of the ELF header, which no linker writes) and checks the AppImage
    sections (``.upd_info``, ``.sha256_sig``). The result is cached under
    ``.cache/ctbundle/appimage-runtime/<key>/`` where the key hashes the
    runtime's sources and build settings: an unchanged runtime is not rebuilt
    (``force=True`` rebuilds). Works offline once the crates are in cargo's
    cache.

``assemble(runtime, squashfs, out) -> Path``
    ``out`` = runtime bytes followed by the squashfs image, mode 0755,
    written atomically. The squashfs starts right after the runtime's ELF
    sections, which is where the runtime looks for it
    (``out --appimage-offset`` prints that offset).

``check_runtime(path)``
    Raises :class:`RuntimeInvalid` unless ``path`` is an x86_64 ELF carrying
    the type-2 magic and sections.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

from ._config import defaults, repo_root
from ._errors import FatalError
from ._log import info
from ._tools import CARGO, ToolMissing
from ._wheel import source_files

__all__ = ["RuntimeInvalid", "TARGET", "assemble", "build_runtime", "check_runtime", "runtime_project"]

#: glibc 2.17 (CentOS 7, manylinux2014) is the oldest C library the runtime
#: links against; cargo-zigbuild reads the version from the target's suffix.
TARGET = "x86_64-unknown-linux-gnu.2.17"
BINARY = "appimage-runtime"
OUTPUT_NAME = "runtime-x86_64"
MAGIC = b"AI\x02"
MAGIC_OFFSET = 8
SECTIONS = (".upd_info", ".sha256_sig")
SOURCES = ["Cargo.toml", "Cargo.lock", "src/**/*.rs", "build.rs"]
IGNORE = ["target/**"]
_PIP = f"{Path(sys.executable).name} -m pip install"


class RuntimeInvalid(FatalError):
    """The built file is not a usable type-2 runtime."""


def runtime_project() -> Path:
    return repo_root() / "appimage" / "runtime"


def _cache_dir() -> Path:
    return repo_root() / str(defaults()["wheel"]["cache_dir"]) / "appimage-runtime"


def _scripts_dirs() -> list[str]:
    """Where this interpreter's console scripts (cargo-zigbuild) live."""
    return [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]


def _build_env() -> dict[str, str]:
    """PATH with this interpreter's scripts first: ``cargo zigbuild`` is found
    there, and ``python3 -m ziglang`` (how cargo-zigbuild runs zig when no
    ``zig`` is on PATH) is this interpreter, which has ziglang."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*_scripts_dirs(), env.get("PATH", "")])
    return env


def _cargo_zigbuild(env: dict[str, str]) -> None:
    if shutil.which("cargo-zigbuild", path=env["PATH"]) is None:
        raise ToolMissing(f"cargo-zigbuild is not installed; install it with: {_PIP} cargo-zigbuild ziglang")
    try:
        metadata.version("ziglang")
    except metadata.PackageNotFoundError:
        raise ToolMissing(f"zig is not installed; install it with: {_PIP} ziglang") from None
    CARGO.argv()


def _settings() -> list[str]:
    versions = []
    for dist in ("cargo-zigbuild", "ziglang"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=missing")
    return [f"target={TARGET}", *versions]


def _source_key(project: Path) -> str:
    h = hashlib.sha256()
    for item in _settings():
        h.update(b"setting\0" + item.encode() + b"\0")
    for path in source_files(project, SOURCES, IGNORE):
        h.update(b"file\0" + path.relative_to(project).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _section_names(path: Path) -> set[str]:
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise ToolMissing(f"pyelftools is not installed; install it with: {_PIP} pyelftools") from None
    with path.open("rb") as f:
        try:
            elf = ELFFile(f)
            if elf.elfclass != 64 or elf["e_machine"] != "EM_X86_64":
                raise RuntimeInvalid(f"{path}: not an x86_64 ELF64 executable")
            return {s.name for s in elf.iter_sections()}
        except ELFError as exc:
            raise RuntimeInvalid(f"{path}: not an ELF file ({exc})") from exc


def check_runtime(path: Path) -> None:
    """Raise :class:`RuntimeInvalid` unless ``path`` is a type-2 runtime."""
    missing = [s for s in SECTIONS if s not in _section_names(path)]
    if missing:
        raise RuntimeInvalid(f"{path}: missing AppImage section(s) {', '.join(missing)}")
    with path.open("rb") as f:
        f.seek(MAGIC_OFFSET)
        if f.read(len(MAGIC)) != MAGIC:
            raise RuntimeInvalid(f"{path}: no AppImage type-2 magic AI\\x02 at offset {MAGIC_OFFSET}")


def _write_magic(path: Path) -> None:
    """Put ``AI\\x02`` into the ELF identification padding (bytes 8-10, which
    the ELF loader ignores): the mark of an AppImage type 2."""
    with path.open("r+b") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF":
            raise RuntimeInvalid(f"{path}: not an ELF file")
        pad = ident[MAGIC_OFFSET : MAGIC_OFFSET + len(MAGIC)]
        if pad not in (MAGIC, b"\0" * len(MAGIC)):
            raise RuntimeInvalid(f"{path}: ELF identification padding is in use ({pad!r})")
        f.seek(MAGIC_OFFSET)
        f.write(MAGIC)


def build_runtime(*, force: bool = False) -> Path:
    """Build (or reuse) the runtime; return the path of the finished
    ``runtime-x86_64`` (magic written, sections checked)."""
    project = runtime_project()
    if not (project / "Cargo.toml").is_file():
        raise FileNotFoundError(f"no runtime project at {project} (Cargo.toml missing)")
    key = _source_key(project)
    slot = _cache_dir() / key
    out = slot / OUTPUT_NAME
    if out.is_file() and not force:
        check_runtime(out)
        info(f"AppImage runtime sources unchanged (hash {key[:12]}): reusing {out}")
        return out
    env = _build_env()
    _cargo_zigbuild(env)
    info(f"building the AppImage runtime (hash {key[:12]}): cargo zigbuild --release --target {TARGET}")
    manifest = project / "Cargo.toml"
    CARGO.run("zigbuild", "--release", "--locked", "--target", TARGET, "--manifest-path", manifest, env=env)
    built = project / "target" / TARGET.rsplit(".", 2)[0] / "release" / BINARY
    if not built.is_file():
        raise RuntimeInvalid(f"the build did not produce {built}")
    slot.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=slot, prefix=".part-", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        shutil.copyfile(built, tmp_path)
        _write_magic(tmp_path)
        check_runtime(tmp_path)
        tmp_path.chmod(0o755)
        tmp_path.replace(out)
    finally:
        tmp_path.unlink(missing_ok=True)
    info(f"built {out} ({out.stat().st_size} bytes)")
    return out


def assemble(runtime: Path, squashfs: Path, out: Path) -> Path:
    """Write the AppImage ``out``: the runtime, then the squashfs image."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as f:
        with runtime.open("rb") as src:
            shutil.copyfileobj(src, f)
        with squashfs.open("rb") as src:
            shutil.copyfileobj(src, f)
    tmp.chmod(0o755)
    tmp.replace(out)
    return out
