"""Interpreter discovery: --python, $CODETRACER_PYTHON, $PYTHON, then
python3/python on PATH as the shell resolves them; never a fallback."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct import NotFound, find_python


def exe(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_python3_first_on_path_wins(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    exe(second, "python3")
    exe(first, "python")
    want = exe(first, "python3")
    assert find_python(environ={"PATH": f"{first}{os.pathsep}{second}"}) == want


def test_python_when_no_python3(tmp_path):
    want = exe(tmp_path / "b", "python")
    assert find_python(environ={"PATH": str(tmp_path / "b")}) == want


def test_python3_anywhere_beats_an_earlier_python(tmp_path):
    # like `command -v python3` then `python`: python3 anywhere on PATH wins
    want = exe(tmp_path / "late", "python3")
    exe(tmp_path / "early", "python")
    env = {"PATH": f"{tmp_path / 'early'}{os.pathsep}{tmp_path / 'late'}"}
    assert find_python(environ=env) == want


def test_not_executable_file_is_skipped_like_the_shell(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "python3").write_text("not executable")
    want = exe(tmp_path / "b", "python3")
    assert find_python(environ={"PATH": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"}) == want


def test_order_explicit_then_codetracer_python_then_python(tmp_path):
    explicit, ct, plain = exe(tmp_path, "x"), exe(tmp_path, "y"), exe(tmp_path, "z")
    exe(tmp_path / "bin", "python3")
    env = {"PATH": str(tmp_path / "bin"), "CODETRACER_PYTHON": str(ct), "PYTHON": str(plain)}
    assert find_python(str(explicit), env) == explicit
    assert find_python(None, env) == ct
    del env["CODETRACER_PYTHON"]
    assert find_python(None, env) == plain


def test_a_name_is_looked_up_on_path(tmp_path):
    want = exe(tmp_path / "bin", "python3.12")
    assert find_python("python3.12", {"PATH": str(tmp_path / "bin")}) == want


def test_empty_variables_count_as_unset(tmp_path):
    want = exe(tmp_path / "bin", "python3")
    assert find_python(None, {"PATH": str(tmp_path / "bin"), "PYTHON": "", "CODETRACER_PYTHON": ""}) == want


def test_nothing_found_is_the_shells_message(tmp_path):
    with pytest.raises(NotFound) as caught:
        find_python(environ={"PATH": str(tmp_path)})
    assert caught.value.message == "python: command not found"


def test_broken_python_variable_never_falls_back(tmp_path):
    exe(tmp_path / "bin", "python3")
    env = {"PATH": str(tmp_path / "bin"), "PYTHON": "python9.9"}
    with pytest.raises(NotFound) as caught:
        find_python(environ=env)
    assert caught.value.message == "python9.9: command not found"
    env["PYTHON"] = str(tmp_path / "missing" / "python")
    with pytest.raises(NotFound) as caught:
        find_python(environ=env)
    assert caught.value.message == f"{tmp_path / 'missing' / 'python'}: No such file or directory"


def test_broken_explicit_never_falls_back(tmp_path):
    exe(tmp_path / "bin", "python3")
    with pytest.raises(NotFound) as caught:
        find_python("nopython", {"PATH": str(tmp_path / "bin")})
    assert caught.value.message == "nopython: command not found"
