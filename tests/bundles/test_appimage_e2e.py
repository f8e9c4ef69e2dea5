"""`make appimage`, then the AppImage used as a user would: through
~/.local/bin symlinks named ct-python-recorder and ct, with their own venv's
python (which does not have the recorder installed), recording a script and
importing the trace with `ct`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EPOCH = "1700000000"

SCRIPT = """\
import sys

def double(x):
    return x * 2

print(double(21), sys.argv[1:])
sys.exit(3)
"""


@pytest.fixture(scope="module")
def appimage() -> Path:
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    result = subprocess.run(
        ["make", "--no-print-directory", "appimage"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"CodeTracer-\d+\.\d+\.\d+.*-x86_64\.AppImage", path.name), path
    return path


@pytest.fixture(scope="module")
def user(tmp_path_factory, appimage, python312) -> dict[str, Path]:
    """A user: HOME with ~/.local/bin/{ct,ct-python-recorder} -> the AppImage,
    a venv of their own, a project folder with app.py."""
    root = tmp_path_factory.mktemp("user")
    home, venv, project = root / "home", root / "venv", root / "project"
    (home / ".local" / "bin").mkdir(parents=True)
    for name in ("ct", "ct-python-recorder"):
        (home / ".local" / "bin" / name).symlink_to(appimage)
    subprocess.run([str(python312), "-m", "venv", str(venv)], check=True)
    project.mkdir()
    (project / "app.py").write_text(SCRIPT)
    return {"home": home, "venv": venv, "project": project}


def user_env(user: dict[str, Path]) -> dict[str, str]:
    """What an activated venv in a login shell looks like: nothing of ours."""
    return {
        "HOME": str(user["home"]),
        "PATH": f"{user['venv'] / 'bin'}:{user['home'] / '.local' / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(user["venv"]),
        "LANG": "C.UTF-8",
    }


def test_the_users_venv_has_no_recorder(user):
    probe = subprocess.run(
        [str(user["venv"] / "bin" / "python"), "-c", "import codetracer_python_recorder"], capture_output=True
    )
    assert probe.returncode == 1


def test_ct_python_recorder_symlink_records_with_the_venv_python(user):
    trace = user["project"] / "trace-1"
    result = subprocess.run(
        ["ct-python-recorder", "--trace-dir", str(trace), "app.py", "a b"],
        cwd=user["project"],
        env=user_env(user),
        capture_output=True,
        text=True,
    )
    assert result.stdout == "42 ['a b']\n"
    assert result.returncode == 3, result.stderr
    meta = json.loads((trace / "trace_metadata.json").read_text())
    assert meta["python"]["executable"].startswith(str(user["venv"]))
    assert meta["args"] == ["a b"]
    # the launcher's default format is the .ct container (shims/README.md R7)
    assert meta["format"] == "ctfs" and (trace / "trace.ct").is_file() and not (trace / "trace.json").exists()

    trace = user["project"] / "trace-2"
    result = subprocess.run(
        ["ct-python-recorder", "--format", "json", "--trace-dir", str(trace), "app.py"],
        cwd=user["project"],
        env=user_env(user),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3, result.stderr
    events = json.loads((trace / "trace.json").read_text())
    assert any("double" in json.dumps(e) for e in events)


def test_ct_symlink_records_and_imports_the_trace(user):
    env = user_env(user)
    result = subprocess.run(
        ["ct", "record", "app.py", "x"], cwd=user["project"], env=env, capture_output=True, text=True
    )
    assert result.stdout == "42 ['x']\n"
    assert result.returncode == 3, result.stderr
    listing = subprocess.run(
        ["ct", "list", "--json"], cwd=user["project"], env=env, capture_output=True, text=True, check=True
    )
    traces = json.loads(listing.stdout)
    assert [(t["program"], t["args"], t["exit_status"], t["status"]) for t in traces] == [
        ("app.py", ["x"], 3, "complete")
    ]
    assert traces[0]["python_executable"].startswith(str(user["venv"]))
    assert (Path(traces[0]["folder"]) / "trace_metadata.json").is_file()


def test_running_the_appimage_by_its_own_name_is_ct(appimage, user):
    result = subprocess.run([str(appimage), "--help"], env=user_env(user), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "record" in result.stdout


def test_squashfs_lists_the_real_recorder(appimage):
    manifest = json.loads(appimage.with_name(appimage.name + ".manifest.json").read_text())
    listing = subprocess.run(
        ["unsquashfs", "-o", str(manifest["squashfs_offset"]), "-l", "-d", "", str(appimage)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "/AppRun" in listing and "/usr/bin/ct-python-recorder" in listing
    assert any(re.fullmatch(r"/resources/python/codetracer_python_recorder/.*\.so", n) for n in listing)
    assert f"/resources/python/codetracer_python_recorder-{manifest['recorder_version']}.dist-info/METADATA" in listing
    assert "/resources/python/codetracer_ct/__main__.py" in listing


def test_rebuild_with_the_same_source_date_epoch_is_identical(appimage, tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, PYTHONPATH=str(REPO / "packaging"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctbundle",
            "appimage",
            "--out-dir",
            str(tmp_path / "dist"),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    again = Path(result.stdout.strip().splitlines()[-1])
    assert again.name == appimage.name
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(appimage.read_bytes()).hexdigest()
