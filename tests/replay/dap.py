"""A small Debug Adapter Protocol client over stdio, standard library only.

It drives CodeTracer's `replay-server dap-server --stdio` (see
../shared/tools/REPLAY.md): messages are `Content-Length: N\\r\\n\\r\\n{json}`
both ways. A reader thread parses what the server writes into one queue;
`request()` sends a request and waits for the response with its
`request_seq`, keeping every event that arrives meanwhile for
`wait_event()`. Every wait has a timeout, and `close()` always ends the
process it started (disconnect, then kill by its handle).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["DapClient", "DapError", "DapTimeout"]

DEFAULT_TIMEOUT = 30.0


class DapError(RuntimeError):
    """The server answered a request with success=false, or broke the protocol."""


class DapTimeout(DapError):
    """No answer in time."""


def _read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """One framed message, or None at end of stream."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            if length is None:
                continue  # stray blank line between messages
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = b""
    while len(body) < length:
        chunk = stream.read(length - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body.decode("utf-8"))


class DapClient:
    """One replay-server process spoken to over DAP.

    `runtime_dir` becomes its CODETRACER_RUNTIME_DIR (each client its own);
    the server's stderr goes to `runtime_dir/server.stderr` for diagnostics.
    """

    def __init__(self, binary: Path, runtime_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.runtime_dir = runtime_dir
        runtime_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = runtime_dir / "server.stderr"
        env = dict(os.environ)
        env["CODETRACER_RUNTIME_DIR"] = str(runtime_dir)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "dap-server", "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=runtime_dir,
        )
        self._seq = 0
        self._incoming: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._responses: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # every event ever received, in order
        self._unconsumed: list[dict[str, Any]] = []  # events not yet taken by wait_event
        self._eof = False
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self._reader.start()

    # --- transport ------------------------------------------------------------------
    def _read_loop(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                msg = _read_message(self.proc.stdout)
                if msg is None:
                    break
                self._incoming.put(msg)
        except (OSError, ValueError) as exc:  # a broken frame ends the session
            self._incoming.put({"type": "_broken", "error": repr(exc)})
        finally:
            self._incoming.put(None)

    def _pump(self, deadline: float) -> bool:
        """Take one message off the wire (waiting until `deadline`); False on timeout/EOF."""
        if self._eof:
            return False
        try:
            msg = self._incoming.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if msg is None:
            self._eof = True
            return False
        kind = msg.get("type")
        if kind == "response":
            self._responses[msg["request_seq"]] = msg
        elif kind == "event":
            self.events.append(msg)
            self._unconsumed.append(msg)
        elif kind == "_broken":
            raise DapError(f"unreadable message from the server: {msg['error']}")
        # reverse requests (type "request") are not used by this server
        return True

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self._seq += 1
        msg = {"seq": self._seq, "type": "request", "command": command, "arguments": arguments or {}}
        data = json.dumps(msg).encode("utf-8")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.proc.stdin.flush()
        except OSError as exc:
            raise DapError(f"{command}: the server is gone ({exc}); {self.stderr_tail()}") from exc
        return self._seq

    # --- requests and events ----------------------------------------------------------
    def request(
        self, command: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None, check: bool = True
    ) -> dict[str, Any]:
        """Send a request and return its response (raises DapError on failure when `check`)."""
        seq = self.send(command, arguments)
        deadline = time.monotonic() + (timeout or self.timeout)
        while seq not in self._responses:
            if not self._pump(deadline):
                why = "the server exited" if self._eof else "timed out"
                raise DapTimeout(f"{command}: no response ({why}); {self.stderr_tail()}")
        resp = self._responses.pop(seq)
        if check and not resp.get("success", False):
            raise DapError(f"{command} failed: {resp.get('message')!r} {resp.get('body')!r}")
        return resp

    def wait_event(self, *names: str, timeout: float | None = None) -> dict[str, Any]:
        """The first not yet consumed event named one of `names` (earlier others stay queued)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self._unconsumed):
                if ev.get("event") in names:
                    return self._unconsumed.pop(i)
            if not self._pump(deadline):
                why = "the server exited" if self._eof else "timed out"
                raise DapTimeout(
                    f"no {'/'.join(names)} event ({why}); got "
                    f"{[e.get('event') for e in self.events]}; {self.stderr_tail()}"
                )

    def drain(self, settle: float = 0.0) -> None:
        """Read whatever has arrived (waiting up to `settle` seconds for more)."""
        deadline = time.monotonic() + settle
        while self._pump(deadline):
            pass

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            data = self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return "no server stderr"
        return f"server stderr: {data.strip()!r}" if data.strip() else "server stderr empty"

    # --- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect politely, then make sure the process is gone."""
        if self.proc.poll() is None and not self._eof:
            try:
                self.request("disconnect", {}, timeout=5, check=False)
            except DapError:
                pass
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
