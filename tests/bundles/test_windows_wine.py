"""The native launcher ct-python-recorder.exe and the NSIS installer, run
under wine. A stand-in python (tests/bundles/standin/fake_python.c, built
with mingw-w64) prints the argv it received and the PYTHONPATH variables as
JSON and exits with %STANDIN_EXIT%."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.wine

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WINE = shutil.which("wine") or "wine"


def winpath(path: Path) -> str:
    """wine maps / to drive Z:."""
    return "Z:" + str(path).replace("/", "\\")


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict[str, Path]:
    """<tmp>/app/bin/ct-python-recorder.exe, <tmp>/app/resources/python/,
    <tmp>/py/python.exe (the stand-in)."""
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        from ctbundle import _bundle, _repro, windows
    finally:
        sys.path.pop(0)
    root = tmp_path_factory.mktemp("win")
    common = _bundle.Common(
        out_dir=root / "dist", work_dir=root / "work", wheels=(), staged=None, epoch=_repro.ZIP_EPOCH, version=None
    )
    exe = windows.build_launcher(windows.WindowsOptions(common=common, cross=True), root / "app" / "bin")
    (root / "app" / "resources" / "python").mkdir(parents=True)
    (root / "py").mkdir()
    subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-O2",
            "-s",
            "-o",
            str(root / "py" / "python.exe"),
            str(HERE / "standin" / "fake_python.c"),
            "-lshell32",
        ],
        check=True,
    )
    return {
        "root": root,
        "exe": exe,
        "python": root / "py" / "python.exe",
        "recorder": root / "app" / "resources" / "python",
    }


def run(wine_env, argv, **env):
    full = dict(wine_env)
    full.update(env)
    return subprocess.run([WINE, *map(str, argv)], env=full, capture_output=True)


def launch(wine_env, layout, args, **env):
    env.setdefault("CODETRACER_PYTHON", winpath(layout["python"]))
    result = run(wine_env, [layout["exe"], *args], **env)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


ARGS = [
    "plain",
    "with space",
    'double"quote',
    "trailing\\",
    'back\\\\slashes\\"q',
    "",
    "%PATH%",
    "!x!",
    "a^b&c|d<e>f",
    "tab\there",
    "ünïcødé €",
]


def test_arguments_reach_python_unchanged(wine_env, layout):
    result, seen = launch(wine_env, layout, ARGS)
    assert result.returncode == 0, result.stderr
    assert seen["argv"][1:] == ["-m", "codetracer_python_recorder", *ARGS]
    assert seen["exe"].lower() == winpath(layout["python"]).lower()


@pytest.mark.parametrize("status", [0, 1, 3, 42, 255])
def test_exit_status_is_the_childs(wine_env, layout, status):
    result, _ = launch(wine_env, layout, ["x"], STANDIN_EXIT=str(status))
    assert result.returncode == status


def test_large_exit_status_through_cmd(wine_env, layout):
    """Exit codes above 255 survive (seen through cmd's %ERRORLEVEL%)."""
    result = run(
        wine_env,
        ["cmd", "/c", f"{winpath(layout['exe'])} x >NUL & echo status=%ERRORLEVEL%"],
        CODETRACER_PYTHON=winpath(layout["python"]),
        STANDIN_EXIT="3000",
    )
    assert b"status=3000" in result.stdout


def test_pythonpath_gets_the_recorder_first_without_empty_entry(wine_env, layout):
    recorder = winpath(layout["recorder"])
    _, unset = launch(wine_env, layout, [])
    assert unset["PYTHONPATH"].lower() == recorder.lower()
    assert unset["CODETRACER_ORIG_PYTHONPATH"] == "unset"
    _, empty = launch(wine_env, layout, [], PYTHONPATH="")
    assert empty["PYTHONPATH"].lower() == recorder.lower()
    _, user = launch(wine_env, layout, [], PYTHONPATH="C:\\mine;D:\\also")
    assert user["PYTHONPATH"].lower() == f"{recorder};C:\\mine;D:\\also".lower()
    assert user["CODETRACER_ORIG_PYTHONPATH"] == "set:C:\\mine;D:\\also"
    _, nested = launch(wine_env, layout, [], PYTHONPATH="X", CODETRACER_ORIG_PYTHONPATH="set:first")
    assert nested["CODETRACER_ORIG_PYTHONPATH"] == "set:first"


@pytest.mark.parametrize(
    "preset,expected",
    [(None, "ctfs"), ("", "ctfs"), ("json", "json"), ("ctfs", "ctfs")],
    ids=["unset", "empty", "json", "ctfs"],
)
def test_trace_format_defaults_to_the_bundles(wine_env, layout, preset, expected):
    """R7 of shims/README.md: CODETRACER_FORMAT is the bundle's default format
    unless the user set one; a --format option is passed on (and wins in the
    recorder)."""
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        from ctbundle._config import defaults
    finally:
        sys.path.pop(0)
    assert defaults()["shims"]["default_format"]["ct-python-recorder"] == "ctfs"  # the .c file's DEFAULT_FORMAT
    env = {} if preset is None else {"CODETRACER_FORMAT": preset}
    result, seen = launch(wine_env, layout, ["--format", "json", "app.py"], **env)
    assert result.returncode == 0, result.stderr
    assert seen["argv"][1:] == ["-m", "codetracer_python_recorder", "--format", "json", "app.py"]
    assert seen["CODETRACER_FORMAT"] == expected


@pytest.mark.parametrize("var", ["CODETRACER_RECORDER_PATH", "CODERTRACER_RECORDER_PATH"])
def test_recorder_path_override(wine_env, layout, var):
    _, seen = launch(wine_env, layout, [], **{var: "C:\\elsewhere\\python"})
    assert seen["PYTHONPATH"] == "C:\\elsewhere\\python"


def test_python_found_on_path_python_variable_and_order(wine_env, layout, tmp_path):
    py3 = tmp_path / "py3"
    py3.mkdir()
    shutil.copyfile(layout["python"], py3 / "python3.exe")
    # python3.exe on PATH wins over python.exe earlier on PATH (name first,
    # like the shims). WINEPATH is what wine puts before the Windows PATH.
    path = f"{winpath(layout['python'].parent)};{winpath(py3)}"
    _, seen = launch(wine_env, layout, ["x"], CODETRACER_PYTHON="", WINEPATH=path)
    assert seen["exe"].lower() == winpath(py3 / "python3.exe").lower()
    # $PYTHON comes before PATH
    _, seen = launch(wine_env, layout, ["x"], CODETRACER_PYTHON="", PYTHON=winpath(layout["python"]), WINEPATH=path)
    assert seen["exe"].lower() == winpath(layout["python"]).lower()


def test_no_python_gives_cmds_message_and_9009(wine_env, layout):
    env = {"CODETRACER_PYTHON": "", "WINEPATH": ""}
    direct = run(wine_env, [layout["exe"], "script.py"], **env)
    assert direct.stdout == b""
    assert direct.stderr.endswith(
        b"'python' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
    )
    assert direct.returncode == 9009 % 256
    via_cmd = run(wine_env, ["cmd", "/c", f"{winpath(layout['exe'])} x & echo status=%ERRORLEVEL%"], **env)
    assert b"status=9009" in via_cmd.stdout


def test_installer_installs_per_user_with_path_and_uninstalls(wine_env, run_toolkit, fake_wheel, tmp_path):
    """Run the NSIS installer silently under wine: files land in the chosen
    folder, bin\\ is added to HKCU PATH, the Start-menu entry exists; the
    uninstaller takes all of it away again."""
    out = run_toolkit(
        "windows",
        "--wheel",
        fake_wheel,
        "--out-dir",
        tmp_path / "dist",
        "--work-dir",
        tmp_path / "work",
        env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"),
    )
    installer = Path(out.stdout.strip().splitlines()[-1])
    target = tmp_path / "InstalledCodeTracer"  # NSIS wants /D= last and unquoted: no spaces
    result = run(wine_env, [installer, "/S", f"/D={winpath(target)}"])
    assert result.returncode == 0, result.stderr
    for name in (
        "bin/ct.cmd",
        "bin/ct-python-recorder.exe",
        "bin/ct-python-recorder.ps1",
        "uninstall.exe",
        "resources/python/codetracer_python_recorder/__main__.py",
    ):
        assert (target / name).is_file(), name
    reg = run(wine_env, ["reg", "query", "HKCU\\Environment", "/v", "Path"])
    assert winpath(target / "bin").lower().encode() in reg.stdout.lower()
    menu = run(wine_env, ["cmd", "/c", "dir", "/b", "%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\CodeTracer"])
    assert b"CodeTracer command prompt.lnk" in menu.stdout

    # the installed launcher runs from the installed tree (a named python
    # that does not exist is reported like cmd reports a missing command)
    launched = run(
        wine_env,
        [target / "bin" / "ct-python-recorder.exe", "a b"],
        CODETRACER_PYTHON=winpath(tmp_path / "missing.exe"),
    )
    assert launched.returncode == 9009 % 256
    assert b"is not recognized as an internal or external command" in launched.stderr

    uninstall = run(wine_env, [target / "uninstall.exe", "/S", f"_?={winpath(target)}"])
    assert uninstall.returncode == 0, uninstall.stderr
    left = sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) if target.exists() else []
    assert left in ([], ["uninstall.exe"])  # _?= keeps the running uninstaller itself
    reg = run(wine_env, ["reg", "query", "HKCU\\Environment", "/v", "Path"])
    assert winpath(target / "bin").lower().encode() not in reg.stdout.lower()


if sys.platform == "win32":  # pragma: no cover - these tests drive wine on Linux
    pytest.skip("wine tests run on Linux", allow_module_level=True)
