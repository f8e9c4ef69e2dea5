"""The real AppImage (what `make appimage` builds: `ctbundle appimage` with the
project's own runtime and the recorder wheel of dist/), run the way a user
without FUSE runs it: through a symlink named ct-python-recorder, twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pyenv_python, recorder_wheel  # the suite-wide helpers (tests/conftest.py)

from .conftest import REPO
from .helpers import cache_entries

pytestmark = pytest.mark.slow

SCRIPT = "import sys\nprint('script args', sys.argv[1:])\nsys.exit(3)\n"


@pytest.fixture(scope="module")
def real_appimage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("real")
    env = dict(os.environ, PYTHONPATH=str(REPO / "packaging"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctbundle",
            "appimage",
            "--wheel",
            str(recorder_wheel()),
            "--out-dir",
            str(base / "dist"),
            "--work-dir",
            str(base / "work"),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    out = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["runtime"] == "codetracer-bundle"
    return out


def _path_without_fuse(where: Path) -> str:
    """A PATH holding every program of /usr/bin but squashfuse and fusermount."""
    where.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if not tool.name.startswith(("squashfuse", "fusermount")):
            (where / tool.name).symlink_to(tool)
    return str(where)


def test_real_appimage_runs_without_fuse_twice_through_a_symlink(real_appimage, tmp_path):
    link = tmp_path / "bin" / "ct-python-recorder"
    link.parent.mkdir()
    link.symlink_to(real_appimage)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {
        "PATH": f"{link.parent}:{_path_without_fuse(tmp_path / 'usrbin')}",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "LC_ALL": "C.UTF-8",
        "CODETRACER_PYTHON": str(pyenv_python("3.12")),
        "APPIMAGE_RUNTIME_DEBUG": "1",
    }
    cache = tmp_path / "cache" / "appimage-runtime"
    seen = []
    for run in ("first", "second"):
        trace = tmp_path / f"trace {run}"
        done = subprocess.run(
            ["ct-python-recorder", "--trace-dir", str(trace), "script.py", "a b", "  c ", ""],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 3, done.stderr
        assert done.stdout == "script args ['a b', '  c ', '']\n"
        assert (trace / "trace_metadata.json").is_file(), done.stderr
        assert json.loads((trace / "trace_metadata.json").read_text())["args"] == ["a b", "  c ", ""]
        [entry] = cache_entries(cache)
        seen.append((entry, (cache / entry / "AppRun").stat().st_ino))
        assert ("extracted into" if run == "first" else "reusing") in done.stderr
        assert "not mounting (squashfuse is not on PATH)" in done.stderr
    assert seen[0] == seen[1]
