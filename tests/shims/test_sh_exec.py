"""The rendered sh shims, run for real: in bash, dash and zsh (as the
interpreter) and from fish (through the shebang), against the launch rules
of shims/README.md. The bundle lives at a hostile path (spaces, quotes, `$`,
unicode); python is the pyenv CPython 3.12 unless a case says otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .shimtest_support import REPO, Bundle, report, run

sys.path.insert(0, str(REPO / "ct"))
from codetracer_ct._interpreter import find_python  # the oracle of rule R4

SHELLS = ["bash", "dash", "zsh", "fish"]
HOSTILE_ARGS = [
    "a b",
    '"q"',
    "'s'",
    "$HOME",
    "`id`",
    "$(id)",
    "100%",
    "!x",
    "a&b",
    "a|b;c",
    "ü€",
    "",
    "*",
    "-m",
    "--",
    "a\\b",
    "tab\there",
    "new\nline",
    "  lead",
]


def invoke(shell: str, shim: Path, args: list[str], env: dict[str, str], cwd: Path | None = None):
    """Run `shim args` with `shell` as its interpreter (bash, dash, zsh) or
    from fish, which runs it through its `#!/bin/sh` line."""
    if shell == "fish":
        return run([which("fish"), "--no-config", "-c", "exec $argv", str(shim), *args], env, cwd)
    return run([which(shell), str(shim), *args], env, cwd)


def which(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (apt-get install {name})", pytrace=False)
    return found


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name,module", [("ct", "codetracer_ct"), ("ct-python-recorder", "codetracer_python_recorder")])
def test_arguments_reach_python_byte_for_byte(bundle: Bundle, shell: str, name: str, module: str) -> None:
    proc = invoke(shell, bundle.shim(name), HOSTILE_ARGS, bundle.env(SHIMTEST_RC="0"))
    assert proc.returncode == 0, proc.stderr
    got = report(proc)
    assert got["module"] == module
    assert got["argv"] == HOSTILE_ARGS
    assert got["leaked"] == []  # none of the shim's own variables reach the program


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("status", [0, 1, 3, 255])
def test_exit_status_passes_through(bundle: Bundle, shell: str, status: int) -> None:
    proc = invoke(shell, bundle.shim(), [], bundle.env(SHIMTEST_RC=str(status)))
    assert proc.returncode == status, proc.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_bundle_found_through_symlink_chain(bundle: Bundle, shell: str, tmp_path: Path) -> None:
    a = tmp_path / "links a $x"
    b = tmp_path / "links 'b' ü"
    a.mkdir()
    b.mkdir()
    (b / "second").symlink_to(bundle.shim())  # absolute
    (a / "first").symlink_to(Path("..") / b.name / "second")  # relative
    (a / "relative to cwd").symlink_to("first")
    proc = invoke(shell, Path("links a $x") / "relative to cwd", ["x"], bundle.env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["PYTHONPATH"] == str(bundle.staged.resolve())


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "pythonpath,expected_suffix,orig",
    [(None, "", "unset"), ("", "", "set:"), ("/a b:/c", ":/a b:/c", "set:/a b:/c"), (":/x:", "::/x:", "set::/x:")],
    ids=["unset", "empty", "set", "with-empty-entries"],
)
def test_pythonpath_composition(bundle: Bundle, shell: str, pythonpath, expected_suffix: str, orig: str) -> None:
    proc = invoke(shell, bundle.shim(), [], bundle.env(PYTHONPATH=pythonpath))
    got = report(proc)
    assert got["PYTHONPATH"] == str(bundle.staged.resolve()) + expected_suffix
    assert got["ORIG"] == orig


@pytest.mark.parametrize("shell", SHELLS)
def test_pythonpath_already_holding_the_folder_is_untouched(bundle: Bundle, shell: str) -> None:
    value = f"/u:{bundle.staged.resolve()}"
    got = report(invoke(shell, bundle.shim(), [], bundle.env(PYTHONPATH=value)))
    assert (got["PYTHONPATH"], got["ORIG"]) == (value, None)


@pytest.mark.parametrize("shell", SHELLS)
def test_orig_pythonpath_recorded_upstream_is_kept(bundle: Bundle, shell: str) -> None:
    got = report(invoke(shell, bundle.shim(), [], bundle.env(PYTHONPATH="/p", CODETRACER_ORIG_PYTHONPATH="set:/first")))
    assert got["ORIG"] == "set:/first"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "preset,expected",
    [(None, "ctfs"), ("", "ctfs"), ("json", "json"), ("ctfs", "ctfs"), ("binary", "binary")],
    ids=["unset", "empty", "json", "ctfs", "invalid-kept-for-the-recorder-to-refuse"],
)
def test_recorder_shim_defaults_the_trace_format_to_ctfs(bundle: Bundle, shell: str, preset, expected: str) -> None:
    """R7: the recorder runs with CODETRACER_FORMAT=ctfs unless the user set
    one; its own --format option is passed on untouched and wins over both."""
    args = ["--format", "json", "app.py"]
    got = report(invoke(shell, bundle.shim("ct-python-recorder"), args, bundle.env(CODETRACER_FORMAT=preset)))
    assert (got["FORMAT"], got["argv"]) == (expected, args)


@pytest.mark.parametrize("shell", SHELLS)
def test_ct_shim_leaves_the_trace_format_alone(bundle: Bundle, shell: str) -> None:
    """`ct record` passes --format itself; its shim exports nothing."""
    assert report(invoke(shell, bundle.shim("ct"), ["record"], bundle.env()))["FORMAT"] is None
    assert report(invoke(shell, bundle.shim("ct"), [], bundle.env(CODETRACER_FORMAT="json")))["FORMAT"] == "json"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("variable", ["CODETRACER_RECORDER_PATH", "CODERTRACER_RECORDER_PATH"])
def test_recorder_path_override(bundle: Bundle, shell: str, variable: str, tmp_path: Path) -> None:
    other = tmp_path / "other $rec"
    from .shimtest_support import stand_in_packages

    stand_in_packages(other)
    got = report(invoke(shell, bundle.shim(), [], bundle.env(**{variable: str(other)})))
    assert got["PYTHONPATH"] == str(other)


@pytest.mark.parametrize("shell", SHELLS)
def test_no_python_is_the_shells_own_127(bundle: Bundle, shell: str) -> None:
    proc = invoke(shell, bundle.shim(), ["x"], bundle.env(path=[bundle.tools]))
    assert proc.returncode == 127
    assert proc.stdout == ""
    assert "python" in proc.stderr and "not found" in proc.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_missing_PYTHON_has_no_fallback(bundle: Bundle, shell: str) -> None:
    proc = invoke(shell, bundle.shim(), [], bundle.env(PYTHON="no-such-python3.99"))
    assert proc.returncode == 127
    assert "no-such-python3.99" in proc.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, python312: Path) -> Path:
    folder = tmp_path_factory.mktemp("venv") / "my venv"
    subprocess.run([str(python312), "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder


@pytest.mark.parametrize("shell", SHELLS)
def test_interpreter_choice_matches_ct(bundle: Bundle, shell: str, venv: Path, python313: Path) -> None:
    cases = {
        "venv first": bundle.env(path=[venv / "bin", bundle.pybin, bundle.tools]),
        "pyenv first": bundle.env(path=[bundle.pybin, venv / "bin", bundle.tools]),
        "$PYTHON": bundle.env(PYTHON=str(python313)),
        "$CODETRACER_PYTHON over $PYTHON": bundle.env(
            CODETRACER_PYTHON=str(venv / "bin" / "python"), PYTHON=str(python313)
        ),
    }
    for label, env in cases.items():
        got = report(invoke(shell, bundle.shim(), [], env))
        assert Path(got["executable"]) == find_python(environ=env), label


@pytest.mark.parametrize("shell", SHELLS)
def test_shim_folder_first_on_path_never_runs_itself(bundle: Bundle, shell: str, tmp_path: Path) -> None:
    launchers = tmp_path / "launchers"
    launchers.mkdir()
    (launchers / "ct").symlink_to(bundle.shim())
    # A trap: were the shim to pick a python3 from its own folders it would
    # run itself again (or this file would fail loudly).
    (launchers / "python3").symlink_to(bundle.shim())
    (bundle.bin / "python3").symlink_to("ct")
    env = bundle.env(path=[launchers, bundle.bin, bundle.pybin, bundle.tools])
    proc = invoke(shell, launchers / "ct", ["ok"], env)
    assert proc.returncode == 0, proc.stderr
    got = report(proc)
    assert got["argv"] == ["ok"]
    assert Path(got["executable"]).resolve() == (bundle.pybin / "python3").resolve()


def test_uv_run_puts_its_venv_first(bundle: Bundle, tmp_path: Path, python312: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    project = tmp_path / "proj ü"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0"\nrequires-python = ">=3.12"\n')
    env = bundle.env(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    subprocess.run([str(uv), "venv", "-q", "--python", str(python312)], cwd=project, env=env, check=True)
    proc = run([str(uv), "run", "-q", "--offline", "--no-sync", "--", str(bundle.shim()), "arg 1"], env, cwd=project)
    assert proc.returncode == 0, proc.stderr
    got = report(proc)
    assert got["argv"] == ["arg 1"]
    assert Path(got["prefix"]) == project / ".venv"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_called_by_name_from_an_interactive_style_shell(bundle: Bundle, shell: str) -> None:
    """The shim folder on PATH, the user types `ct ...` in their shell."""
    env = bundle.env(path=[bundle.bin, bundle.pybin, bundle.tools])
    line = {"fish": "ct 'a b' '$x'; exit $status", "bash": "ct 'a b' '$x'", "zsh": "ct 'a b' '$x'"}[shell]
    argv = [which(shell), "--no-config", "-c", line] if shell == "fish" else [which(shell), "-c", line]
    proc = run(argv, env)
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["argv"] == ["a b", "$x"]
