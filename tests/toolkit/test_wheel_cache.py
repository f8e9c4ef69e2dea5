"""The wheel cache: a rebuild exactly when the recorder's sources (or the
build settings) change. Unit tests drive build_wheel() over a small project
whose in-tree PEP 517 backend counts its builds; the last test runs the real
`make wheel` twice."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from ctbundle._wheel import WheelOptions, build_wheel, source_files, source_hash

REPO = Path(__file__).resolve().parents[2]

BACKEND = """
import base64, hashlib, os, zipfile
from pathlib import Path

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    counter = Path(__file__).with_name("builds.txt")
    counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
    name = "codetracer_python_recorder-0.4.0-cp312-abi3-linux_x86_64.whl"
    files = {
        "codetracer_python_recorder/__init__.py": Path("python/codetracer_python_recorder/__init__.py").read_bytes(),
        "codetracer_python_recorder-0.4.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: codetracer-python-recorder\\nVersion: 0.4.0\\n",
        "codetracer_python_recorder-0.4.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: stub\\nRoot-Is-Purelib: false\\nTag: cp312-abi3-linux_x86_64\\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append("codetracer_python_recorder-0.4.0.dist-info/RECORD,,")
        zf.writestr("codetracer_python_recorder-0.4.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "recorder"
    (proj / "python" / "codetracer_python_recorder").mkdir(parents=True)
    (proj / "python" / "codetracer_python_recorder" / "__init__.py").write_text("VERSION = 1\n")
    (proj / "src").mkdir()
    (proj / "src" / "lib.rs").write_text("// rust\n")
    (proj / "Cargo.toml").write_text("[package]\nname = 'x'\n")
    (proj / "backend").mkdir()
    (proj / "backend" / "stub_backend.py").write_text(BACKEND)
    (proj / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "stub_backend"
        backend-path = ["backend"]
        [project]
        name = "codetracer-python-recorder"
        version = "0.4.0"
        """)
    )
    return proj


def options(project: Path, tmp_path: Path) -> WheelOptions:
    return WheelOptions(
        project=project, out_dir=tmp_path / "dist", cache_dir=tmp_path / "cache", zig=False, maturin_pep517_args=""
    )


def builds(project: Path) -> int:
    counter = project / "backend" / "builds.txt"
    return int(counter.read_text()) if counter.exists() else 0


def test_unchanged_sources_are_not_rebuilt(project: Path, tmp_path: Path) -> None:
    opts = options(project, tmp_path)
    first = build_wheel(opts.out_dir, options=opts)
    assert builds(project) == 1 and first.is_file()
    stamp = first.stat().st_mtime_ns
    second = build_wheel(opts.out_dir, options=opts)
    assert builds(project) == 1
    assert second == first and second.stat().st_mtime_ns == stamp


def test_changed_sources_rebuild_and_noise_does_not(project: Path, tmp_path: Path) -> None:
    opts = options(project, tmp_path)
    build_wheel(opts.out_dir, options=opts)
    (project / "target" / "release").mkdir(parents=True)
    (project / "target" / "release" / "junk.rs").write_text("generated")
    (project / "python" / "codetracer_python_recorder" / "__pycache__").mkdir()
    (project / "python" / "codetracer_python_recorder" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    build_wheel(opts.out_dir, options=opts)
    assert builds(project) == 1
    (project / "src" / "lib.rs").write_text("// rust, changed\n")
    build_wheel(opts.out_dir, options=opts)
    assert builds(project) == 2
    (project / "python" / "codetracer_python_recorder" / "__init__.py").write_text("VERSION = 2\n")
    build_wheel(opts.out_dir, options=opts)
    assert builds(project) == 3


def test_force_and_deleted_dist(project: Path, tmp_path: Path) -> None:
    opts = options(project, tmp_path)
    wheel = build_wheel(opts.out_dir, options=opts)
    wheel.unlink()
    assert build_wheel(opts.out_dir, options=opts).is_file()  # restored from the cache
    assert builds(project) == 1
    build_wheel(opts.out_dir, force=True, options=opts)
    assert builds(project) == 2


def test_hash_covers_the_documented_sources(project: Path) -> None:
    names = [
        p.relative_to(project).as_posix()
        for p in source_files(
            project,
            ["pyproject.toml", "Cargo.toml", "Cargo.lock", "**/*.rs", "python/**/*"],
            ["target/**", "**/__pycache__/**"],
        )
    ]
    assert names == ["Cargo.toml", "pyproject.toml", "python/codetracer_python_recorder/__init__.py", "src/lib.rs"]
    assert source_hash(project, ["a"]) != source_hash(project, ["b"])


@pytest.mark.build
def test_make_wheel_twice_does_not_rebuild() -> None:
    first = subprocess.run(["make", "-s", "wheel"], cwd=REPO, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    wheel = Path(first.stdout.strip().splitlines()[-1])
    assert wheel.name.startswith("codetracer_python_recorder-0.4.0-cp312-abi3-")
    stamp = wheel.stat().st_mtime_ns
    second = subprocess.run(["make", "-s", "wheel"], cwd=REPO, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "no rebuild" in second.stderr
    assert "building the recorder wheel" not in second.stderr
    assert Path(second.stdout.strip().splitlines()[-1]) == wheel
    assert wheel.stat().st_mtime_ns == stamp
