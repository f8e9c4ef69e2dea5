"""The Windows and macOS recorder wheels, cross-built on this Linux machine
by `ctbundle wheel --platform windows|macos` (cached by source hash: the
first run builds them, minutes; later runs reuse them), checked the way the
target platforms will load them:

- win_amd64: a PE32+ DLL `_native.pyd` that exports PyInit__native and
  imports python3.dll (the stable ABI, any CPython >= 3.12) and Windows'
  own DLLs only: no python3XY.dll, no mingw runtime DLL;
- universal2: a fat Mach-O `_native.abi3.so` with an arm64 and an x86_64
  slice, each exporting PyInit__native, linking system libraries only (no
  libpython: symbols resolve from the loading interpreter) and stating its
  minimum macOS no later than the wheel's tag claims;

and carried by `ctbundle windows` / `ctbundle dmg` when no --wheel is
given (what `make windows` / `make dmg` run).
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Windows' own DLLs a Rust (x86_64-pc-windows-gnu) extension may import.
SYSTEM_DLLS = {
    "kernel32.dll",
    "ntdll.dll",
    "msvcrt.dll",
    "bcryptprimitives.dll",
    "advapi32.dll",
    "ws2_32.dll",
    "userenv.dll",
    "ucrtbase.dll",
    "shell32.dll",
    "ole32.dll",
}
DEPLOYMENT_TARGET = (10, 12)  # maturin's default for x86_64-apple-darwin, Rust's own minimum


def _built_wheel(run_toolkit, platform: str, out_dir: Path) -> Path:
    result = run_toolkit("wheel", "--platform", platform, "--out-dir", out_dir)
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def windows_wheel(run_toolkit, tmp_path_factory) -> Path:
    return _built_wheel(run_toolkit, "windows", tmp_path_factory.mktemp("win"))


@pytest.fixture(scope="module")
def macos_wheel(run_toolkit, tmp_path_factory) -> Path:
    return _built_wheel(run_toolkit, "macos", tmp_path_factory.mktemp("mac"))


def _wheel_tags(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/WHEEL")]
        return [line.split(": ", 1)[1] for line in zf.read(meta).decode().splitlines() if line.startswith("Tag: ")]


def _native(wheel: Path, name: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        # The extension itself (its type stub `_native.pyi` ships beside it).
        natives = [
            n for n in zf.namelist() if n.startswith("codetracer_python_recorder/_native") and not n.endswith(".pyi")
        ]
        assert natives == [f"codetracer_python_recorder/{name}"], natives
        out = dest / name
        out.write_bytes(zf.read(natives[0]))
    return out


# --- Windows -------------------------------------------------------------------


def _pe(path: Path):
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(
        directories=[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"],
        ]
    )
    return pe


def test_windows_wheel_is_abi3_win_amd64(windows_wheel):
    assert windows_wheel.name == "codetracer_python_recorder-0.4.0-cp312-abi3-win_amd64.whl"
    assert windows_wheel.parent.name.startswith("win")
    assert _wheel_tags(windows_wheel) == ["cp312-abi3-win_amd64"]


def test_windows_extension_is_a_dll_for_any_python3(windows_wheel, tmp_path):
    import pefile

    pe = _pe(_native(windows_wheel, "_native.pyd", tmp_path))
    assert pe.FILE_HEADER.Machine == pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_AMD64"]
    assert pe.is_dll() and pe.OPTIONAL_HEADER.Magic == 0x20B  # PE32+
    exports = {s.name.decode() for s in pe.DIRECTORY_ENTRY_EXPORT.symbols if s.name}
    assert "PyInit__native" in exports
    imports = {entry.dll.decode().lower(): [i.name for i in entry.imports] for entry in pe.DIRECTORY_ENTRY_IMPORT}
    assert "python3.dll" in imports, sorted(imports)
    assert b"PyModuleDef_Init" in imports["python3.dll"]  # the C API, from whichever python loads it
    others = {d for d in imports if d != "python3.dll"}
    assert not {d for d in others if re.fullmatch(r"python3\d+\.dll", d)}, "a version-specific python DLL"
    unexpected = {d for d in others if d not in SYSTEM_DLLS and not d.startswith(("api-ms-win-", "ext-ms-win-"))}
    assert not unexpected, f"imports DLLs Windows does not ship: {sorted(unexpected)}"


# --- macOS ---------------------------------------------------------------------


def _slices(path: Path) -> dict[str, dict[str, object]]:
    from macholib import mach_o
    from macholib.MachO import MachO
    from macholib.SymbolTable import SymbolTable

    macho = MachO(str(path))
    assert macho.fat is not None, "not a universal (fat) binary"
    out: dict[str, dict[str, object]] = {}
    for header in macho.headers:
        arch = mach_o.CPU_TYPE_NAMES.get(header.header.cputype, str(header.header.cputype)).lower()
        dylibs, minos = [], None
        for load, cmd, data in header.commands:
            if load.cmd in (mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB, mach_o.LC_REEXPORT_DYLIB):
                dylibs.append(data.rstrip(b"\0").decode())
            elif load.cmd == mach_o.LC_VERSION_MIN_MACOSX:
                minos = cmd.version
            elif load.cmd == mach_o.LC_BUILD_VERSION and cmd.platform == 1:  # PLATFORM_MACOS
                minos = cmd.minos
        symbols = SymbolTable(macho, header)
        out[arch] = {
            "filetype": header.filetype,
            "dylibs": dylibs,
            "minos": None if minos is None else (minos >> 16, (minos >> 8) & 0xFF),
            "exports": {name.decode() for _, name in symbols.extdefsyms},
            "undefined": {name.decode() for _, name in symbols.undefsyms},
        }
    return out


def test_macos_wheel_is_abi3_universal2(macos_wheel):
    assert macos_wheel.parent.name.startswith("mac")
    platform_tags = macos_wheel.name.removesuffix(".whl").split("-")[-1].split(".")
    assert "macosx_10_12_universal2" in platform_tags
    assert set(_wheel_tags(macos_wheel)) == {f"cp312-abi3-{t}" for t in platform_tags}


def test_macos_extension_has_both_architectures_and_no_libpython(macos_wheel, tmp_path):
    slices = _slices(_native(macos_wheel, "_native.abi3.so", tmp_path))
    assert sorted(slices) == ["arm64", "x86_64"]
    for arch, s in slices.items():
        assert s["filetype"] in ("dylib", "bundle"), arch
        assert "_PyInit__native" in s["exports"], arch
        assert "_PyModuleDef_Init" in s["undefined"], f"{arch}: the C API comes from the loading interpreter"
        assert not [d for d in s["dylibs"] if "python" in d.lower()], f"{arch} links libpython: {s['dylibs']}"
        foreign = [d for d in s["dylibs"] if not d.startswith(("/usr/lib/", "/System/Library/"))]
        assert not foreign, f"{arch} links libraries macOS does not ship: {foreign}"


def test_macos_extension_states_its_minimum_macos(macos_wheel, tmp_path):
    slices = _slices(_native(macos_wheel, "_native.abi3.so", tmp_path))
    tags = {
        m.group(2): (int(m.group(1).split("_")[0]), int(m.group(1).split("_")[1]))
        for m in (
            re.fullmatch(r"macosx_(\d+_\d+)_(\w+)", t)
            for t in macos_wheel.name.removesuffix(".whl").split("-")[-1].split(".")
        )
    }
    assert slices["x86_64"]["minos"] == DEPLOYMENT_TARGET
    assert slices["arm64"]["minos"] == (11, 0)  # the first macOS on Apple silicon
    for arch in ("x86_64", "arm64"):
        assert slices[arch]["minos"] <= tags[arch], f"{arch}: the binary needs a newer macOS than its tag says"
    assert tags["universal2"] == DEPLOYMENT_TARGET


# --- the bundles carry them ------------------------------------------------------


def test_windows_installer_carries_the_windows_wheel(run_toolkit, windows_wheel, sevenzip, tmp_path):
    """`ctbundle windows` without --wheel builds (here: reuses) the win_amd64 wheel."""
    result = run_toolkit("windows", "--out-dir", tmp_path / "dist", "--work-dir", tmp_path / "work")
    installer = Path(result.stdout.strip().splitlines()[-1])
    out = tmp_path / "x"
    subprocess.run([sevenzip, "x", "-y", f"-o{out}", str(installer)], check=True, capture_output=True)
    python = out / "resources" / "python"
    assert (python / "wheels" / windows_wheel.name).read_bytes() == windows_wheel.read_bytes()
    pyd = python / "codetracer_python_recorder" / "_native.pyd"
    assert pyd.read_bytes()[:2] == b"MZ"
    assert not list(python.rglob("*.so")), "a Linux or macOS extension in the Windows installer"


def test_dmg_carries_the_macos_wheel(run_toolkit, macos_wheel, tmp_path):
    """`ctbundle dmg` without --wheel builds (here: reuses) the universal2 wheel."""
    result = run_toolkit("dmg", "--out-dir", tmp_path / "dist", "--work-dir", tmp_path / "work")
    image = Path(result.stdout.strip().splitlines()[-1])
    out = tmp_path / "python"
    subprocess.run(
        [
            "xorriso",
            "-osirrox",
            "on",
            "-indev",
            str(image),
            "-extract",
            "/CodeTracer.app/Contents/Resources/python",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert (out / "wheels" / macos_wheel.name).read_bytes() == macos_wheel.read_bytes()
    native = out / "codetracer_python_recorder" / "_native.abi3.so"
    assert native.read_bytes()[:4] == bytes.fromhex("cafebabe")  # FAT_MAGIC
    assert sorted(_slices(native)) == ["arm64", "x86_64"]
    assert not list(out.rglob("*.pyd"))
