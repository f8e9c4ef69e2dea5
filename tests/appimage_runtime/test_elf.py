"""The runtime file itself: an ELF that AppImage tools recognise as type 2,
linked against glibc 2.17 symbols at most, written without panicking
shortcuts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from .conftest import REPO

pytestmark = pytest.mark.build  # the session builds the AppImage runtime (minutes when cold)


def _glibc_versions(path: Path) -> set[tuple[int, ...]]:
    found: set[tuple[int, ...]] = set()
    with path.open("rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _, auxes in section.iter_versions():
                    for aux in auxes:
                        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", aux.name)
                        if m:
                            found.add(tuple(int(x) for x in m.group(1).split(".")))
                        else:
                            assert not aux.name.startswith("GLIBC"), aux.name  # e.g. GLIBC_PRIVATE
    return found


def test_type2_magic_at_offset_8(runtime):
    with runtime.open("rb") as f:
        head = f.read(16)
    assert head[:4] == b"\x7fELF"
    assert head[8:11] == b"AI\x02"


def test_appimage_sections_exist_with_official_sizes(runtime):
    with runtime.open("rb") as f:
        sections = {s.name: s for s in ELFFile(f).iter_sections()}
        assert sections[".upd_info"]["sh_size"] == 1024
        assert sections[".sha256_sig"]["sh_size"] == 1024
        assert sections[".upd_info"]["sh_type"] == "SHT_PROGBITS"
        assert set(sections[".upd_info"].data()) == {0}


def test_linked_against_glibc_2_17_at_most(runtime):
    versions = _glibc_versions(runtime)
    assert versions, "no GLIBC symbol versions found: is it dynamically linked against glibc?"
    assert max(versions) <= (2, 17), f"needs GLIBC_{'.'.join(map(str, max(versions)))}"
    with runtime.open("rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_X86_64"
        interp = next(s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP").get_interp_name()
    assert interp == "/lib64/ld-linux-x86-64.so.2"


def test_check_runtime_refuses_a_file_without_magic(runtime, tmp_path):
    from ctbundle._appimage_runtime import RuntimeInvalid, check_runtime

    plain = tmp_path / "plain"
    data = bytearray(runtime.read_bytes())
    data[8:11] = b"\0\0\0"
    plain.write_bytes(bytes(data))
    try:
        check_runtime(plain)
    except RuntimeInvalid as exc:
        assert "AI\\x02" in str(exc)
    else:
        raise AssertionError("a runtime without the magic was accepted")


def test_no_unwrap_expect_or_panic_outside_tests():
    offenders = []
    for path in sorted((REPO / "appimage" / "runtime" / "src").rglob("*.rs")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#[cfg(test)]"):
                break
            if line.lstrip().startswith("//"):
                continue
            if re.search(r"\.unwrap\(\)|\.expect\(|\b(panic|unreachable|todo|unimplemented)!\(", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_build_runtime_is_cached_by_source_hash(runtime):
    from ctbundle._appimage_runtime import build_runtime

    before = runtime.stat().st_mtime_ns
    again = build_runtime()
    assert again == runtime
    assert again.stat().st_mtime_ns == before  # reused, not rebuilt
    assert runtime.parent.name == _source_key_now()


def _source_key_now() -> str:
    from ctbundle._appimage_runtime import _source_key, runtime_project

    return _source_key(runtime_project())
