"""stage(): wheels unpacked with `installer` into one importable folder,
several wheels side by side, the .whl files kept, the ct runtime beside."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ctbundle import StagingConflict, stage

from .wheelmaker import DIST, make_wheel

INIT = b"from ._native import where\n"


@pytest.fixture
def ct_package(tmp_path: Path) -> Path:
    pkg = tmp_path / "ct" / "codetracer_ct"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text("print('ct')\n")
    (pkg / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    return pkg


def per_version_wheels(folder: Path) -> list[Path]:
    return [
        make_wheel(
            folder,
            f"cp{v}-cp{v}-linux_x86_64",
            {
                "codetracer_python_recorder/__init__.py": INIT,
                f"codetracer_python_recorder/_native.cpython-{v}-x86_64-linux-gnu.so": f"so {v}".encode(),
            },
            entry_points="[console_scripts]\ncodetracer-python-recorder = codetracer_python_recorder.cli:main\n",
        )
        for v in ("312", "313")
    ]


def test_layout(tmp_path: Path, ct_package: Path) -> None:
    wheels = per_version_wheels(tmp_path)
    dest = stage(tmp_path / "build" / "resources" / "python", wheels, ct_package=ct_package)
    names = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert names == sorted(
        [
            "codetracer_ct/__init__.py",
            "codetracer_ct/__main__.py",
            "codetracer_python_recorder/__init__.py",
            "codetracer_python_recorder/_native.cpython-312-x86_64-linux-gnu.so",
            "codetracer_python_recorder/_native.cpython-313-x86_64-linux-gnu.so",
            f"{DIST}.dist-info/INSTALLER",
            f"{DIST}.dist-info/METADATA",
            f"{DIST}.dist-info/RECORD",
            f"{DIST}.dist-info/WHEEL",
            f"{DIST}.dist-info/entry_points.txt",
            f"wheels/{wheels[0].name}",
            f"wheels/{wheels[1].name}",
        ]
    )
    assert (dest / "wheels" / wheels[0].name).read_bytes() == wheels[0].read_bytes()
    assert "cp313" in (dest / f"{DIST}.dist-info" / "WHEEL").read_text()  # the last wheel's metadata


def test_restaging_starts_afresh(tmp_path: Path, ct_package: Path) -> None:
    dest = tmp_path / "staged"
    wheels = per_version_wheels(tmp_path)
    stage(dest, wheels, ct_package=ct_package)
    (dest / "stale.txt").write_text("left over")
    stage(dest, wheels[:1], ct_package=ct_package)
    assert not (dest / "stale.txt").exists()
    assert not (dest / "codetracer_python_recorder" / "_native.cpython-313-x86_64-linux-gnu.so").exists()


def test_wheels_that_disagree_are_an_error(tmp_path: Path, ct_package: Path) -> None:
    a = make_wheel(tmp_path, "cp312-abi3-linux_x86_64", {"codetracer_python_recorder/__init__.py": b"A = 1\n"})
    (tmp_path / "b").mkdir()
    b = make_wheel(tmp_path / "b", "cp313-cp313-linux_x86_64", {"codetracer_python_recorder/__init__.py": b"B = 2\n"})
    with pytest.raises(StagingConflict, match="__init__.py"):
        stage(tmp_path / "staged", [a, b], ct_package=ct_package)


def test_staged_folder_is_importable(tmp_path: Path, ct_package: Path, python312: Path) -> None:
    wheel = make_wheel(tmp_path, "py3-none-any", {"codetracer_python_recorder/__init__.py": b"HELLO = 'staged'\n"})
    dest = stage(tmp_path / "staged", [wheel], ct_package=ct_package)
    proc = subprocess.run(
        [
            str(python312),
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(dest)!r}); import codetracer_python_recorder as m; print(m.HELLO)",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.stdout == "staged\n", proc.stderr


def test_missing_inputs_are_clear_errors(tmp_path: Path, ct_package: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such wheel"):
        stage(tmp_path / "s", [tmp_path / "nope.whl"], ct_package=ct_package)
    wheel = make_wheel(tmp_path, "py3-none-any", {"codetracer_python_recorder/__init__.py": b""})
    with pytest.raises(FileNotFoundError, match="ct runtime"):
        stage(tmp_path / "s", [wheel], ct_package=tmp_path / "missing")
