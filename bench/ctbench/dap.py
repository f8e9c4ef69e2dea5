"""A minimal Debug Adapter Protocol client for CodeTracer's replay-server
(`../shared/tools/REPLAY.md`): enough to open a trace folder, step through
it and read what a user sees (frames, locals, terminal). The bench uses it to
time opening a trace (replay_open.py); tests/ctfs drives the replay with it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REPLAY_SERVER = REPO.parent / "shared" / "tools" / "replay-server"


class DapError(Exception):
    pass


class Dap:
    """One replay-server process speaking DAP over stdio."""

    def __init__(
        self, runtime_dir: Path, exe: Path = REPLAY_SERVER, timeout: float = 120, wrapper: list[str] | None = None
    ) -> None:
        """`wrapper`: a command the server runs under (e.g. `/usr/bin/time -v -o F`)."""
        env = dict(os.environ)
        env["CODETRACER_RUNTIME_DIR"] = str(runtime_dir)
        self.proc = subprocess.Popen(
            [*(wrapper or []), str(exe), "dap-server", "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )  # its own process group: the server under a wrapper
        self.timeout = timeout
        self.seq = 0
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self.threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        for chunk in iter(lambda: stream.read(4096), b""):
            self.stderr += chunk

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length is None:
                    continue
                self.inbox.put(json.loads(out.read(length)))
        finally:
            self.inbox.put(None)

    def _next(self) -> dict[str, Any]:
        try:
            msg = self.inbox.get(timeout=self.timeout)
        except queue.Empty:
            raise DapError(f"replay-server sent nothing for {self.timeout}s") from None
        if msg is None:
            try:
                status = self.proc.wait(timeout=5)  # its stdout closed: it is exiting
            except subprocess.TimeoutExpired:
                status = None
            for t in self.threads[1:]:
                t.join(timeout=5)  # all it said on stderr
            raise DapError(f"replay-server exited ({status}): {bytes(self.stderr[-2000:]).decode(errors='replace')}")
        return msg

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sends a request and returns its response (events that arrive first are kept)."""
        self.seq += 1
        seq = self.seq
        body = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments or {}}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        while True:
            msg = self._next()
            if msg.get("type") == "response" and msg.get("request_seq") == seq:
                return msg
            if msg.get("type") == "event":
                self.events.append(msg)

    def wait_event(self, *names: str) -> dict[str, Any]:
        """The first not yet seen event named one of `names`."""
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") in names:
                    return self.events.pop(i)
            msg = self._next()
            if msg.get("type") == "event":
                self.events.append(msg)

    def launch(self, trace_dir: Path) -> dict[str, Any]:
        """Opens a trace folder; returns the first `stopped` event, or raises
        with the server's output when the trace does not load."""
        self.request("initialize", {"clientID": "tests", "adapterID": "codetracer"})
        resp = self.request("launch", {"traceFolder": str(trace_dir), "program": "main", "pid": 1})
        if not resp.get("success", False):
            raise DapError(f"launch failed: {resp.get('message')}")
        self.request("configurationDone", {})
        ev = self.wait_event("stopped", "terminated", "exited")
        if ev.get("event") != "stopped":
            outputs = [e.get("body", {}).get("output") for e in self.events if e.get("event") == "output"]
            raise DapError(f"trace did not load: {ev} {outputs}")
        self.wait_event("ct/complete-move")  # follows each stop
        return ev

    def step(self, command: str = "stepIn") -> int | None:
        """One step; returns the step index the server moved to (its
        `rrTicks`), or None when it did not stop."""
        resp = self.request(command, {"threadId": 1})
        if not resp.get("success", False):
            return None
        ev = self.wait_event("stopped", "terminated", "exited")
        if ev.get("event") != "stopped":
            return None
        move = self.wait_event("ct/complete-move")
        return int(move.get("body", {}).get("location", {}).get("rrTicks", -1))

    def frames(self) -> list[tuple[Any, Any, Any]]:
        """(name, line, source path) of each frame, as the server gives them."""
        body = self.request("stackTrace", {"threadId": 1}).get("body", {})
        return [
            (f.get("name"), f.get("line"), (f.get("source") or {}).get("path")) for f in body.get("stackFrames", [])
        ]

    def locals(self) -> list[tuple[str, Any]]:
        """CodeTracer's own view of the locals (`ct/load-locals`)."""
        resp = self.request(
            "ct/load-locals",
            {
                "rrTicks": 0,
                "countBudget": 3000,
                "minCountLimit": 50,
                "lang": 21,
                "watchExpressions": [],
                "depthLimit": 3,
            },
        )
        return [(v.get("expression"), v.get("value")) for v in resp.get("body", {}).get("locals", [])]

    def terminal(self) -> Any:
        return self.request("ct/load-terminal", {}).get("body")

    def close(self) -> None:
        """Disconnect, then kill the process group if it lingers."""
        self.timeout = grace = min(self.timeout, 10)
        try:
            if self.proc.poll() is None:
                self.request("disconnect", {})
        except (DapError, OSError):
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the wrapper and the server it runs
            except ProcessLookupError:
                pass
            self.proc.wait()
        for t in self.threads:
            t.join(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
