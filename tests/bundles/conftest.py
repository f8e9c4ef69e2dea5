"""Fixtures of the bundle tests: a small recorder wheel made here (so the
structure and reproducibility tests need no Rust build), the toolkit run as
a user runs it (``python -m ctbundle ...``), and a wine prefix."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
from .bundles_consts import EPOCH, FAKE_VERSION


def toolkit(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m ctbundle ARGS`` with the toolkit on PYTHONPATH."""
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = str(PACKAGING)
    result = subprocess.run(
        [sys.executable, "-m", "ctbundle", *map(os.fspath, args)], env=full, capture_output=True, text=True, cwd=REPO
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"ctbundle {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_fake_wheel(dest: Path, version: str = FAKE_VERSION) -> Path:
    """A pure-Python ``codetracer_python_recorder`` wheel whose ``-m`` entry
    prints its argv and the PYTHONPATH note as one line and exits 0."""
    dist = f"codetracer_python_recorder-{version}"
    files = {
        "codetracer_python_recorder/__init__.py": f'__version__ = "{version}"\n',
        "codetracer_python_recorder/__main__.py": "import json, os, sys\n"
        "print(json.dumps({'fake_recorder': sys.argv[1:], "
        "'orig': os.environ.get('CODETRACER_ORIG_PYTHONPATH')}))\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: codetracer_python_recorder\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(n, d.encode()) for n, d in files.items()] + [f"{dist}.dist-info/RECORD,,"]
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = dest / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return wheel


@pytest.fixture(scope="session")
def fake_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def fake_runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A stand-in runtime for tests that only look inside the AppImage."""
    path = tmp_path_factory.mktemp("runtime") / "runtime-stand-in"
    path.write_bytes(b"\x7fELF stand-in runtime, not executable\n" * 64)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def build_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SOURCE_DATE_EPOCH"] = EPOCH
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def bundles(
    tmp_path_factory: pytest.TempPathFactory, fake_wheel: Path, fake_runtime: tuple[Path, str]
) -> dict[str, list[Path]]:
    """Every bundle built twice from the fake wheel with one
    SOURCE_DATE_EPOCH, into separate work and out folders:
    ``{"appimage": [first, second], "dmg": [...], "windows": [...]}``."""
    runtime, digest = fake_runtime
    built: dict[str, list[Path]] = {"appimage": [], "dmg": [], "windows": []}
    for round_ in ("a", "b"):
        base = tmp_path_factory.mktemp(f"build-{round_}")
        common = ["--wheel", fake_wheel, "--out-dir", base / "dist"]
        extra = {"appimage": ["--runtime-file", runtime, "--runtime-sha256", digest], "dmg": [], "windows": []}
        for bundle in built:
            out = toolkit(bundle, *common, "--work-dir", base / "work" / bundle, *extra[bundle], env=build_env())
            built[bundle].append(Path(out.stdout.strip().splitlines()[-1]))
    return built


def which_7z() -> str:
    found = shutil.which("7z") or shutil.which("7zz")
    if not found:
        pytest.fail("7-Zip is required: apt-get install 7zip", pytrace=False)
    return found


@pytest.fixture(scope="session")
def wine_env() -> dict[str, str]:
    """The environment for running Windows programs under wine: a prefix of
    our own under .cache/, no debug chatter, no Mono/Gecko install prompts."""
    if not shutil.which("wine"):
        pytest.fail("wine is required: apt-get install wine wine64", pytrace=False)
    prefix = REPO / ".cache" / "wineprefix"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=", WINEARCH="win64")
    for var in (
        "CODETRACER_PYTHON",
        "PYTHON",
        "PYTHONPATH",
        "CODETRACER_ORIG_PYTHONPATH",
        "CODETRACER_RECORDER_PATH",
        "CODERTRACER_RECORDER_PATH",
        "CODETRACER_FORMAT",
    ):
        env.pop(var, None)
    subprocess.run(["wineboot", "-i"], env=env, capture_output=True, check=False)
    return env


@pytest.fixture(scope="session")
def run_toolkit():
    return toolkit


@pytest.fixture(scope="session")
def sevenzip() -> str:
    return which_7z()
