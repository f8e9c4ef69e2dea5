#!/usr/bin/env python3
"""A stand-in for CodeTracer's replay-server (`replay-server dap-server
--stdio`, ../shared/tools/REPLAY.md) for the bench's tests: it answers
initialize / launch / configurationDone and stops on the entry step when
the trace folder holds trace.json or trace.ct. FAKE_REPLAY=oom ends it as
the real server does past its address-space limit, FAKE_REPLAY=broken as a
server that cannot read the trace, FAKE_REPLAY=hang as one that never
stops (nor answers)."""

import json
import os
import sys
import time


def read():
    length = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return json.loads(sys.stdin.buffer.read(length))


def send(msg):
    body = json.dumps(msg).encode()
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    sys.stdout.buffer.flush()


def main():
    mode = os.environ.get("FAKE_REPLAY", "ok")
    folder = None
    while True:
        req = read()
        if req is None:
            return 0
        cmd = req["command"]
        if cmd == "launch":
            folder = req["arguments"]["traceFolder"]
        if cmd == "configurationDone":
            if mode == "hang":
                with open(os.path.join(folder, "server.pid"), "w") as f:
                    f.write(str(os.getpid()))
                while True:
                    time.sleep(1)
            if mode == "oom":
                sys.stderr.write("memory allocation of 632 bytes failed\n")
                os.abort()
            if mode == "broken" or not any(os.path.exists(os.path.join(folder, f)) for f in ("trace.json", "trace.ct")):
                sys.stderr.write(f"no trace in {folder}\n")
                return 3
        send({"seq": 0, "type": "response", "request_seq": req["seq"], "command": cmd, "success": True})
        if cmd == "configurationDone":
            send({"seq": 0, "type": "event", "event": "stopped", "body": {"reason": "entry", "threadId": 1}})
            send({"seq": 0, "type": "event", "event": "ct/complete-move", "body": {"location": {"rrTicks": 0}}})
        if cmd == "disconnect":
            return 0


if __name__ == "__main__":
    sys.exit(main())
