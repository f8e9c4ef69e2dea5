"""Writes to stdout and stderr, some while their file descriptors point at
a temporary file (os.dup2, as pytest's fd capture does): only what reached
the original stdout and stderr is what the user saw."""
import os
import sys
import tempfile

print("before")
print("err-before", file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
# Fixed descriptor numbers (dup2's target), so the trace's values do not
# depend on how many files the recorder itself holds open.
saved = os.dup2(1, 100), os.dup2(2, 101)
with tempfile.TemporaryFile() as f:
    os.dup2(os.dup2(f.fileno(), 102), 1)
    os.dup2(102, 2)
    os.close(102)
    print("hidden")
    print("err-hidden", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    f.seek(0)
    went = f.read().decode()
print("after")
print("err-after", file=sys.stderr)
print("the file got", repr(went))
