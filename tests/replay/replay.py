"""Record a program, replay its trace in CodeTracer's replay-server over DAP,
and compare every step with the oracle (oracle.py).

Shared by test_replay.py and compare_upstream.py. Standard library only.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dap import DapClient
from oracle import canon

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROGRAMS = HERE / "programs"
# Real programs that the recorder suite's scope tests record too: one copy,
# in that suite's folder.
SHARED_PROGRAMS = REPO / "tests" / "recorder" / "programs"
SHARED = ("cli_tool", "imports_only")
ORACLE = HERE / "oracle.py"
REPLAY_SERVER = (REPO / ".." / "shared" / "tools" / "replay-server").resolve()

MAX_STEPS = 2000  # a program of the suite has tens of steps; more means the end was missed
LOAD_LOCALS = {
    "rrTicks": 0,
    "countBudget": 3000,
    "minCountLimit": 50,
    "lang": 21,
    "watchExpressions": [],
    "depthLimit": 3,
}

# ValueRecord kinds as ct/load-locals numbers them (TypeKind order).
SEQ, SET, STRUCT, INT, FLOAT, STRING, BOOL, RAW, ERROR, TUPLE, NONE = 0, 1, 6, 7, 8, 9, 12, 16, 24, 27, 30


def program_path(name: str) -> Path:
    """The program `name` of this suite: programs/<name>.py, or a shared one."""
    return (SHARED_PROGRAMS if name in SHARED else PROGRAMS) / f"{name}.py"


def program_names() -> list[str]:
    """Every program of this suite: those of programs/ and the shared ones."""
    return sorted([p.stem for p in PROGRAMS.glob("*.py")] + list(SHARED))


@dataclass
class Step:
    func: str
    line: int
    vars: dict[str, str]
    hidden: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.func}:{self.line}"


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass
class Replay:
    steps: list[Step]
    terminal: str
    errors: list[str]  # texts of error notifications (ct/notification kind 2)
    output_events: list[dict[str, Any]]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for k in [k for k in env if k.startswith("CODETRACER_")]:
        env.pop(k)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 120) -> Run:
    p = subprocess.run(cmd, cwd=cwd, env=clean_env(), input=b"", capture_output=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


# --- the oracle -------------------------------------------------------------------------
def oracle(python: Path, program: Path, work: Path) -> tuple[list[Step], Run]:
    out = work / "oracle.json"
    res = run([str(python), str(ORACLE), str(out), str(program)], program.parent)
    steps = [Step(s["func"], s["line"], s["vars"], s["hidden"]) for s in json.loads(out.read_text("utf-8"))]
    return steps, res


# --- the recording side -------------------------------------------------------------------
def canon_value(v: dict[str, Any]) -> str:
    """Canonical text of a ct/load-locals value: the same text oracle.canon gives the
    live value it stands for (docs/replay-tests.md)."""
    kind = v.get("kind")
    typ = (v.get("typ") or {}).get("langType", "")
    els = v.get("elements") or []
    if kind == NONE:
        return "None"
    if kind == BOOL:
        return "True" if v.get("b") else "False"
    if kind == INT:
        return str(int(v.get("i")))
    if kind == FLOAT:
        return _canon_float_text(v.get("f", ""))
    if kind == STRING:
        return json.dumps(v.get("text", ""), ensure_ascii=False)
    if kind == TUPLE:
        inner = ", ".join(canon_value(e) for e in els)
        return "(" + inner + ("," if len(els) == 1 else "") + ")"
    if kind in (SEQ, SET):
        t = typ.lower()
        if t == "dict":
            return "{" + ", ".join(_pair(e) for e in els) + "}"
        if t == "set":
            return "{" + ", ".join(sorted(canon_value(e) for e in els)) + "}" if els else "set()"
        if t == "frozenset":
            return "frozenset({" + ", ".join(sorted(canon_value(e) for e in els)) + "})"
        if t == "tuple":
            inner = ", ".join(canon_value(e) for e in els)
            return "(" + inner + ("," if len(els) == 1 else "") + ")"
        return "[" + ", ".join(canon_value(e) for e in els) + "]"
    if kind == STRUCT:
        labels = (v.get("typ") or {}).get("labels") or []
        fields = ", ".join(f"{n}={canon_value(e)}" for n, e in zip(labels, els))
        return f"{typ}{{{fields}}}"
    if kind == RAW:
        return _canon_raw(v.get("r", ""))
    if kind == ERROR:
        return f"<error {v.get('msg', '')}>"
    return f"<kind {kind} {typ}>"


def _pair(e: dict[str, Any]) -> str:
    kv = e.get("elements") or []
    if len(kv) == 2:
        return f"{canon_value(kv[0])}: {canon_value(kv[1])}"
    return f"<entry {canon_value(e)}>"


def _canon_float_text(text: str) -> str:
    try:
        f = float(text)
    except ValueError:
        return f"<float {text}>"
    if f != f:
        return "nan"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    return repr(f)


def _canon_raw(r: str) -> str:
    """A Raw value is shown as its text: a Raw whose text is exactly how a number
    prints shows the same as that number (a recorder may write floats or big ints
    as Raw), anything else stays text. A value cut by the depth bound (`[...]`,
    `{...}`, `<...>`) shows as the oracle's `...`."""
    if r in ("[...]", "{...}", "<...>", "(...)"):
        return "..."
    try:
        return str(int(r)) if r.lstrip("-").isdigit() else _canon_float_text(str(float(r)))
    except ValueError:
        pass
    # A Python literal written as its repr (a set, a frozenset) shows as that value.
    inner, wrap = (
        (r[len("frozenset(") : -1], frozenset) if r.startswith("frozenset(") and r.endswith(")") else (r, None)
    )
    try:
        value = ast.literal_eval(inner)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return r
    return canon(wrap(value) if wrap else value)


MAX_TRACE_BYTES = 20_000_000  # the server holds 60-110x a JSON trace in memory: never open a huge one


class TraceTooLarge(AssertionError):
    pass


def replay(trace_dir: Path, runtime_dir: Path, *, only: set[str] | None = None, server: Path = REPLAY_SERVER) -> Replay:
    """Open `trace_dir` in the replay-server, stepIn through every step to the end,
    reading the top frame and (for stops in a file of `only`, default every file)
    ct/load-locals at each stop; stops elsewhere are stepped through, not kept."""
    size = (trace_dir / "trace.json").stat().st_size if (trace_dir / "trace.json").exists() else 0
    if size > MAX_TRACE_BYTES:
        raise TraceTooLarge(
            f"{trace_dir}/trace.json is {size / 1e6:.0f} MB: not opened (the replay-server "
            f"would need 60-110x that in memory)"
        )
    steps: list[Step] = []
    with DapClient(server, runtime_dir) as c:
        c.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
        c.request("launch", {"traceFolder": str(trace_dir), "program": "main", "pid": 1})
        c.request("configurationDone", {})
        c.wait_event("stopped")
        last_tick = None
        stops = 0
        while True:
            frames = c.request("stackTrace", {"threadId": 1})["body"]["stackFrames"]
            move = _last_move(c)
            tick = move.get("rrTicks") if move else None
            if tick is not None and tick == last_tick:
                break  # stepIn at the last step stays there
            last_tick = tick
            top = frames[0]
            path = (top.get("source") or {}).get("path", "")
            if only is None or path in only or top["name"] == "<toplevel>":
                locals_ = c.request("ct/load-locals", LOAD_LOCALS)["body"]["locals"]
                values = {loc["expression"]: canon_value(loc["value"]) for loc in locals_}
                steps.append(Step(top["name"], top["line"], dict(sorted(values.items()))))
            stops += 1
            if stops > MAX_STEPS:
                raise AssertionError(f"more than {MAX_STEPS} stops: the end of the trace was never reached")
            c.request("stepIn", {"threadId": 1})
            ev = c.wait_event("stopped", "terminated")
            if ev["event"] == "terminated":
                break
        terminal_resp = c.request("ct/load-terminal", {})
        c.drain(0.2)
        terminal = "".join(e.get("content", "") for e in terminal_resp.get("body") or [])
        notes = [e["body"] for e in c.events if e.get("event") == "ct/notification"]
        errors = sorted({n.get("text", "") for n in notes if n.get("kind") == 2})
        outputs = [e["body"] for e in c.events if e.get("event") == "output"]
    return Replay(steps, terminal, errors, outputs)


def session_threads(folder: Path, runtime_dir: Path) -> list[str]:
    """The names the replay-server's `threads` gives for the trace folder
    (with a session.toml: every listed trace's threads), at its first stop."""
    with DapClient(REPLAY_SERVER, runtime_dir) as c:
        c.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
        c.request("launch", {"traceFolder": str(folder), "program": "main", "pid": 1})
        c.request("configurationDone", {})
        c.wait_event("stopped", timeout=60)
        return [t["name"] for t in c.request("threads", {})["body"]["threads"]]


def _last_move(c: DapClient) -> dict[str, Any] | None:
    """The location of the latest ct/complete-move (each stop sends one)."""
    c.drain(0)
    moves = [e for e in c.events if e.get("event") == "ct/complete-move"]
    c._unconsumed = [e for e in c._unconsumed if e.get("event") != "ct/complete-move"]
    return (moves[-1].get("body") or {}).get("location") if moves else None


# --- comparison -------------------------------------------------------------------------
def recorded_steps(rep: Replay) -> list[Step]:
    """The stops that are the program's own steps: the `<toplevel>` pseudo-frame
    (the entry stop, before the module's first line) is not one."""
    return [s for s in rep.steps if s.func != "<toplevel>"]


def diff(expected: list[Step], actual: list[Step], *, exact: bool = True) -> str | None:
    """None when equal; else a readable account of the first differing step.
    `exact=False` allows extra names on the recording's side."""
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e.line != a.line or a.func not in (e.func, e.func.rsplit(".", 1)[-1]):  # qualname or name
            return _report(i, expected, actual, f"location differs: program at {e.where()}, replay at {a.where()}")
        shown = {k: v for k, v in a.vars.items() if k not in e.hidden}
        missing = {k: v for k, v in e.vars.items() if k not in shown}
        wrong = {k: (v, shown[k]) for k, v in e.vars.items() if k in shown and shown[k] != v}
        extra = {k: v for k, v in shown.items() if k not in e.vars} if exact else {}
        if missing or wrong or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(f"{k}={v}" for k, v in missing.items()))
            if wrong:
                parts.append("wrong " + ", ".join(f"{k}: program {p} / replay {r}" for k, (p, r) in wrong.items()))
            if extra:
                parts.append("extra " + ", ".join(f"{k}={v}" for k, v in extra.items()))
            return _report(i, expected, actual, "; ".join(parts))
    if len(expected) != len(actual):
        return _report(
            min(len(expected), len(actual)),
            expected,
            actual,
            f"{len(expected)} steps in the program, {len(actual)} in the replay",
        )
    return None


def _report(i: int, expected: list[Step], actual: list[Step], what: str) -> str:
    def show(steps: list[Step], j: int) -> str:
        if j >= len(steps):
            return "(none)"
        s = steps[j]
        return f"{s.where()} {s.vars}"

    lines = [f"step {i}: {what}"]
    for j in range(max(0, i - 2), i + 2):
        mark = ">" if j == i else " "
        lines.append(f"{mark} [{j}] program: {show(expected, j)}")
        lines.append(f"{mark} [{j}] replay : {show(actual, j)}")
    return "\n".join(lines)
