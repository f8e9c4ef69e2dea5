"""A trace started from the Python API (trace(), start()/stop(), the
CODETRACER_TRACE auto-start) holds the program only: never the recorder's
own calls (README "Scope: what is recorded")."""

from __future__ import annotations

from pathlib import Path

from .conftest import PROGRAMS, Trace, run


def _first_step(t: Trace) -> dict:
    return next(e["Step"] for e in t.events if "Step" in e)


def test_api_traces_hold_only_the_program(recorder_python: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    p = run([str(recorder_python), str(PROGRAMS / "api_scope.py"), str(a), str(b)], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"PosixPath a\n"  # start() still returns the folder as a Path
    program = str(PROGRAMS / "api_scope.py")
    for folder, first_line in ((a, 8), (b, 11)):
        t = Trace(folder)
        assert t.paths == [program]
        assert not any("pathlib" in f["name"] or "Path" in f["name"] for f in t.functions)
        lines = [e["Step"]["line"] for e in t.events if "Step" in e]
        # The module's entry step, then the first line inside the recorded window.
        assert _first_step(t)["path_id"] == 0 and lines[1] == first_line, lines


def test_autostart_trace_holds_only_the_program(recorder_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto"
    p = run([str(recorder_python), str(PROGRAMS / "functions.py")], PROGRAMS, {"CODETRACER_TRACE": str(out)})
    assert p.returncode == 0, p.stderr
    t = Trace(out)
    assert t.paths[0] == str(PROGRAMS / "functions.py")
    # Site initialisation after the .pth (on 3.13 it decodes .pth files with
    # encodings.utf_8_sig) runs no recorded step or call: recording waits for
    # the script. (Code met while waiting is still interned as a Path and
    # Function; the default scope skips the standard library anyway.)
    assert {e["Step"]["path_id"] for e in t.events if "Step" in e} == {0}
    assert {t.functions[e["Call"]["function_id"]]["path_id"] for e in t.events if "Call" in e} == {0}
    assert _first_step(t) == {"path_id": 0, "line": 1}
    assert t.balanced()
