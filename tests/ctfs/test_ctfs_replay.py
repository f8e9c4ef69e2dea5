"""CodeTracer's replay-server shows a CTFS `trace.ct` exactly as it shows the
trace.json it was converted from: the same stops in the same order, the
same stack (function, line, file) and locals at each, the same terminal.

Programs are recorded with our recorder (trace.json), turned into trace.ct
by `ct-trace-convert`, and both folders are walked step by step over DAP.
Skipped, loudly, where `../shared/tools/replay-server` is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import workspace_binary
from tests.ctfs.dap_client import REPLAY_SERVER, Dap

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "tests" / "recorder" / "programs"

# Small programs of the recorder suite covering calls, classes, containers,
# exceptions (one exits 1), generators, try/except, unicode, mutation,
# exit statuses and async code.
CASES = [
    "functions.py",
    "classes.py",
    "containers.py",
    "exceptions.py",
    "generators.py",
    "try_blocks.py",
    "unicode_io.py",
    "mutations.py",
    "exit_code.py",
    "async_prog.py",
    "argv_path.py",
    "exit_msg.py",
    "exit_none.py",
    "finalizers.py",
    "string_code.py",
    "threads.py",
    "stdin_echo.py",
]

pytestmark = pytest.mark.skipif(
    not REPLAY_SERVER.exists(),
    reason=f"CodeTracer's replay-server is not at {REPLAY_SERVER} (see ../shared/tools/REPLAY.md): "
    "CTFS replay parity NOT checked",
)


@pytest.fixture(scope="session")
def convert() -> Path:
    """The ct-trace-convert binary (trace.json folder -> trace.ct folder)."""
    return workspace_binary("ct-trace-convert", "trace-convert", "trace-check")


def to_ct(convert: Path, json_dir: Path, ct_dir: Path) -> None:
    p = subprocess.run([str(convert), str(json_dir), str(ct_dir)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in ct_dir.iterdir()) == ["trace.ct"]
    chk = subprocess.run([str(convert.parent / "ct-trace-check"), str(ct_dir)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stderr


def walk(trace_dir: Path, runtime: Path) -> tuple[list[dict[str, Any]], Any]:
    """Every stop of a forward walk (stepIn until the step index stops
    moving): its step index, stack and locals; then the terminal."""
    runtime.mkdir(parents=True, exist_ok=True)
    dap = Dap(runtime)
    try:
        dap.launch(trace_dir)
        stops: list[dict[str, Any]] = []
        tick = 0
        while True:
            stops.append({"tick": tick, "frames": dap.frames(), "locals": dap.locals()})
            nxt = dap.step()
            if nxt is None or nxt == tick:
                break
            assert nxt > tick, f"stepIn moved back from {tick} to {nxt}"
            tick = nxt
        return stops, dap.terminal()
    finally:
        dap.close()


def steps_in(json_dir: Path) -> int:
    return sum(1 for e in json.loads((json_dir / "trace.json").read_text(encoding="utf-8")) if "Step" in e)


def assert_same_replay(json_dir: Path, ct_dir: Path, tmp_path: Path) -> list[dict[str, Any]]:
    want, want_term = walk(json_dir, tmp_path / "rt-json")
    got, got_term = walk(ct_dir, tmp_path / "rt-ct")
    assert len(want) == steps_in(json_dir), "the JSON walk did not stop at every step"
    for i, (w, g) in enumerate(zip(want, got)):
        assert g == w, f"stop {i} differs"
    assert len(got) == len(want)
    assert got_term == want_term
    return got


@pytest.mark.parametrize("program", CASES)
def test_replay_server_shows_ct_as_json(program: str, recorder_python: Path, convert: Path, tmp_path: Path) -> None:
    json_dir, ct_dir = tmp_path / "json", tmp_path / "ct"
    subprocess.run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "--trace-dir", str(json_dir), program],
        cwd=PROGRAMS,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert (json_dir / "trace.json").exists()
    to_ct(convert, json_dir, ct_dir)
    stops = assert_same_replay(json_dir, ct_dir, tmp_path)
    # The walk saw the program: its own file, and locals wherever the trace has values.
    assert any(f[2] and f[2].endswith(program) for s in stops for f in s["frames"])
    has_values = '"Value"' in (json_dir / "trace.json").read_text(encoding="utf-8")
    assert any(s["locals"] for s in stops) == has_values


def test_replay_server_shows_ct_terminal_output_as_json(recorder_python: Path, convert: Path, tmp_path: Path) -> None:
    """Output events (`Event` records) reach the terminal view the same way
    from both formats. The recording gets them spliced in after steps, so
    this holds whether or not the recorder writes them yet."""
    rec = tmp_path / "rec"
    subprocess.run(
        [str(recorder_python), "-m", "codetracer_python_recorder", "--trace-dir", str(rec), "functions.py"],
        cwd=PROGRAMS,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=True,
    )
    events = json.loads((rec / "trace.json").read_text(encoding="utf-8"))
    out: list[dict[str, Any]] = []
    n = 0
    for e in events:
        out.append(e)
        if "Step" in e:
            n += 1
            if n % 5 == 0:
                out.append({"Event": {"kind": 0, "metadata": "", "content": f"line {n} ünïcode\n"}})
            if n == 7:
                out.append({"Event": {"kind": 2, "metadata": "", "content": "to stderr\n"}})
    json_dir = tmp_path / "json"
    shutil.copytree(rec, json_dir)
    (json_dir / "trace.json").write_text(json.dumps(out), encoding="utf-8")
    ct_dir = tmp_path / "ct"
    to_ct(convert, json_dir, ct_dir)
    assert_same_replay(json_dir, ct_dir, tmp_path)
    _, term = walk(ct_dir, tmp_path / "rt-term")
    text = json.dumps(term, ensure_ascii=False)
    assert "line 5 ünïcode" in text and "line 10 ünïcode" in text, text[:2000]
