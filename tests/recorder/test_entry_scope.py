"""The program the user names is recorded wherever it is installed: the
module of `-m MODULE` and its package, a script's file; the rest of the
standard library and installed packages stays out. A trace that holds only
the entry of a module that handed its work to code outside the scope says
so in one line on stderr (docs/recorder.md, "Scope")."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Result, Trace

NOTE = b"codetracer-python-recorder: note: the trace holds only the entry of "


def same_bytes(plain: Result, recorded: Result) -> None:
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def step_files(t: Trace) -> set[str]:
    return {t.paths[e["Step"]["path_id"]] for e in t.events if "Step" in e}


def test_m_json_tool_records_json_tool_and_its_package(record, tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text('{"b": [1, 2], "a": "x"}', encoding="utf-8")
    plain, recorded, out = record(["-m", "json.tool", "data.json"], cwd=tmp_path)
    same_bytes(plain, recorded)
    assert b'"a": "x"' in plain.stdout
    t = Trace(out)
    files = step_files(t)
    assert any(p.endswith("/json/tool.py") for p in files), files
    assert any(p.endswith("/json/encoder.py") for p in files), files  # the package: json.dump's encoder
    assert sum(1 for e in t.events if "Step" in e) > 20
    # The rest of the standard library stays out (json.tool parses its options with argparse).
    assert not any(p.endswith("/argparse.py") for p in t.paths), t.paths
    # The output is written at a step of json.tool, not before the first step.
    first_step = next(i for i, e in enumerate(t.events) if "Step" in e)
    output = [i for i, e in enumerate(t.events) if "Event" in e and e["Event"]["kind"] == 0]
    assert output and min(output) > first_step
    entry = t.meta["trace_filter"]["entry"]
    assert (
        entry[0].startswith("file:literal:") and entry[0].endswith("/json/tool.py") and entry[1] == "pkg:literal:json"
    )


def test_exclude_still_decides_over_the_named_module(record, tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("[1]", encoding="utf-8")
    _, recorded, out = record(["-m", "json.tool", "data.json"], cwd=tmp_path, extra=["--exclude", "json.encoder"])
    assert recorded.returncode == 0
    files = step_files(Trace(out))
    assert any(p.endswith("/json/tool.py") for p in files) and not any(p.endswith("/encoder.py") for p in files)


def _site_packages(tmp_path: Path) -> Path:
    """An installed-packages folder: `handoff` (its __main__ hands the work
    to `worker`, another installed package) and `tool.py`, a script."""
    site = tmp_path / "lib" / "site-packages"
    (site / "handoff").mkdir(parents=True)
    (site / "worker").mkdir()
    (site / "handoff" / "__init__.py").write_text("", encoding="utf-8")
    (site / "handoff" / "__main__.py").write_text("import worker\n\nworker.run()\n", encoding="utf-8")
    (site / "worker" / "__init__.py").write_text(
        "def run():\n    total = 0\n    for i in range(5):\n        total += i\n    print('worker total', total)\n",
        encoding="utf-8",
    )
    (site / "tool.py").write_text("def main():\n    return 6 * 7\n\nprint('tool says', main())\n", encoding="utf-8")
    return site


def test_a_script_among_installed_packages_is_recorded(record, tmp_path: Path) -> None:
    site = _site_packages(tmp_path)
    plain, recorded, out = record([str(site / "tool.py")], cwd=tmp_path)
    same_bytes(plain, recorded)
    t = Trace(out)
    assert step_files(t) == {str(site / "tool.py")}
    assert "main" in t.calls()


def test_a_run_that_records_only_its_entry_says_why_on_stderr(record, tmp_path: Path) -> None:
    site = _site_packages(tmp_path)
    env = {"PYTHONPATH": str(site)}
    plain, recorded, out = record(["-m", "handoff"], cwd=tmp_path, env=env)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout) == (0, b"worker total 10\n")
    assert plain.stderr == b""
    lines = recorded.stderr.splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].startswith(NOTE + b"-m handoff ("), recorded.stderr
    assert b"--include" in lines[0] and b"--record-all" in lines[0]
    t = Trace(out)
    assert step_files(t) == {str(site / "handoff" / "__main__.py")}
    # Widened, the work is recorded and nothing is said.
    plain, recorded, out = record(["-m", "handoff"], cwd=tmp_path, env=env, extra=["--include", "worker"])
    same_bytes(plain, recorded)
    assert str(site / "worker" / "__init__.py") in step_files(Trace(out))


def test_m_unittest_records_the_tests_not_the_runner(record, tmp_path: Path) -> None:
    (tmp_path / "test_small.py").write_text(
        "import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n",
        encoding="utf-8",
    )
    plain, recorded, out = record(["-m", "unittest", "-q", "test_small"], cwd=tmp_path)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert NOTE not in recorded.stderr and b"Ran 1 test" in recorded.stderr
    t = Trace(out)
    assert step_files(t) == {str(tmp_path / "test_small.py")}
    assert json.loads((out / "trace_metadata.json").read_text(encoding="utf-8"))["trace_filter"]["entry"] == []
