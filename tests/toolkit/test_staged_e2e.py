"""End to end with the real wheel from `make wheel`: stage it, render the
Linux shims into a bundle laid out like the AppImage's, and record a script
with a venv's python that does NOT have the recorder installed: it is found
only through the shim's PYTHONPATH. `ct` then lists the imported trace."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ctbundle import render, stage

REPO = Path(__file__).resolve().parents[2]


def recorder_wheel() -> Path:
    """The newest wheel of `make wheel` (the same rule as tests/conftest.py)."""
    wheels = sorted((REPO / "dist").glob("codetracer_python_recorder-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        pytest.fail("no recorder wheel in dist/: run `make wheel` first", pytrace=False)
    return wheels[-1]


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "Code Tracer $b ü"
    stage(root / "resources" / "python", [recorder_wheel()], ct_package=REPO / "ct" / "codetracer_ct")
    render("linux", root / "bin")
    return root


def test_record_with_a_venv_that_lacks_the_recorder(bundle: Path, tmp_path: Path, python312: Path) -> None:
    venv = tmp_path / "user venv"
    subprocess.run([str(python312), "-m", "venv", "--without-pip", str(venv)], check=True)
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import codetracer_python_recorder"], capture_output=True, text=True
    )
    assert probe.returncode != 0  # not installed in the venv
    script = tmp_path / "app dir" / "app.py"
    script.parent.mkdir()
    script.write_text("import sys\ndef f(x):\n    return x * 2\nprint(f(21), sys.argv[1:])\nsys.exit(3)\n")
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"]),
        "CODETRACER_DATA_DIR": str(tmp_path / "data"),
        "LC_ALL": "C.UTF-8",
    }
    proc = subprocess.run(
        [str(bundle / "bin" / "ct"), "record", str(script), "a b", "$x"],
        env=env,
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines()[0] == "42 ['a b', '$x']"

    listing = subprocess.run(
        [str(bundle / "bin" / "ct"), "list", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    traces = json.loads(listing.stdout)
    assert len(traces) == 1
    folder = Path(next(v for k, v in traces[0].items() if k in ("path", "folder", "trace_dir", "dir")))
    metadata = json.loads((folder / "trace_metadata.json").read_text())
    assert Path(metadata["python"]["executable"]).parent == venv / "bin"
    assert (folder / "trace.ct").is_file() and metadata["format"] == "ctfs"  # ct record's default format


def test_recorder_shim_runs_the_recorder_cli(bundle: Path, tmp_path: Path, python312: Path) -> None:
    env = {"PATH": os.pathsep.join([str(python312.parent), "/usr/bin", "/bin"]), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        [str(bundle / "bin" / "ct-python-recorder"), "--version"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "codetracer-python-recorder 0.4.0"
