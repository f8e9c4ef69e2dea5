"""Prints into an io.StringIO through contextlib.redirect_stdout: that text
is the program's data, not what the user saw."""
import contextlib
import io

print("shown")
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    print("captured")
with contextlib.redirect_stderr(io.StringIO()):
    import sys
    print("captured-err", file=sys.stderr)
print("buffer held", repr(buf.getvalue()))
