"""CPU time per `sys.stdout.write` in a recorded loop, with stdout on its
original file and then pointed at a temporary file (os.dup2), and of one
`os.fstat` for scale. Run by bench/output_writes.py; prints one JSON line on
stderr."""
import json
import os
import sys
import tempfile
import time

N = 200_000
w = sys.stdout.write


def loop(n: int) -> None:
    for _ in range(n):
        w("x")


def per_write(n: int = N) -> float:
    t = time.thread_time()
    loop(n)
    return (time.thread_time() - t) / n * 1e9


loop(1000)
original = per_write()
f = tempfile.TemporaryFile()
sys.stdout.flush()
os.dup2(f.fileno(), 1)
redirected = per_write()
t = time.thread_time()
for _ in range(N):
    os.fstat(1)
fstat = (time.thread_time() - t) / N * 1e9
print(json.dumps({"original_ns": original, "redirected_ns": redirected, "fstat_ns": fstat}), file=sys.stderr)
