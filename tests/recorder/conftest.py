"""Helpers for the recorder suite: run a program plainly and recorded, with
the same interpreter, cwd, environment and stdin, and read the trace."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

PROGRAMS = Path(__file__).parent / "programs"


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: float = 120
) -> Result:
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    for k in [k for k in e if k.startswith("CODETRACER_")]:
        e.pop(k)
    e.update(env or {})
    p = subprocess.run(
        cmd, cwd=cwd, env=e, input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout
    )
    return Result(p.returncode, p.stdout, p.stderr)


class Trace:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events: list[dict[str, Any]] = json.loads((folder / "trace.json").read_text(encoding="utf-8"))
        self.meta: dict[str, Any] = json.loads((folder / "trace_metadata.json").read_text(encoding="utf-8"))
        self.paths: list[str] = json.loads((folder / "trace_paths.json").read_text(encoding="utf-8"))
        self.functions = [e["Function"] for e in self.events if "Function" in e]
        self.varnames = [e["VariableName"] for e in self.events if "VariableName" in e]
        self.types = [e["Type"] for e in self.events if "Type" in e]

    def kinds(self) -> Counter[str]:
        return Counter(next(iter(e)) for e in self.events)

    def calls(self) -> list[str]:
        return [self.functions[e["Call"]["function_id"]]["name"] for e in self.events if "Call" in e]

    def balanced(self) -> bool:
        depth = 0
        for e in self.events:
            if "Call" in e:
                depth += 1
            elif "Return" in e:
                depth -= 1
                if depth < 0:
                    return False
        return depth == 0

    def values_of(self, name: str) -> list[dict[str, Any]]:
        """Every recorded value of variable `name` (Value events and call args)."""
        ids = {i for i, n in enumerate(self.varnames) if n == name}
        out = []
        for e in self.events:
            if "Value" in e and e["Value"]["variable_id"] in ids:
                out.append(e["Value"]["value"])
            elif "Call" in e:
                out.extend(a["value"] for a in e["Call"]["args"] if a["variable_id"] in ids)
        return out

    def returns_of(self, func: str) -> list[dict[str, Any]]:
        """Return values of calls to `func`, matched through the call stack."""
        stack: list[str] = []
        out = []
        for e in self.events:
            if "Call" in e:
                stack.append(self.functions[e["Call"]["function_id"]]["name"])
            elif "Return" in e:
                name = stack.pop()
                if name == func:
                    out.append(e["Return"]["return_value"])
        return out

    def type_name(self, value: dict[str, Any]) -> str:
        return self.types[value["type_id"]]["lang_type"]


@pytest.fixture
def record(recorder_python: Path, tmp_path: Path, trace_check: Path):
    """record(args, cwd=..., stdin=..., extra=[...], env=...) -> (plain, recorded, trace_dir)."""

    def _record(
        args: list[str],
        *,
        cwd: Path = PROGRAMS,
        stdin: bytes | None = None,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        check_trace: bool = True,
    ) -> tuple[Result, Result, Path]:
        out = tmp_path / "trace"
        plain = run([str(recorder_python), *args], cwd, env, stdin)
        recorded = run(
            [str(recorder_python), "-m", "codetracer_python_recorder", "--trace-dir", str(out), *(extra or []), *args],
            cwd,
            env,
            stdin,
        )
        if check_trace and (out / "trace_metadata.json").exists():
            chk = subprocess.run([str(trace_check), str(out)], capture_output=True, text=True)
            assert chk.returncode == 0, chk.stderr
        return plain, recorded, out

    return _record
