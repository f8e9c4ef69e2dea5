"""The recorder's trace formats as ct knows them: ct runs without the
recorder, so it keeps this mirror of the recorder's format table
(trace-writer's format.rs); tests/lint/test_lint_env.py checks the two
agree."""

#: Format name -> the trace file it writes.
TRACE_FILES = {"json": "trace.json", "ctfs": "trace.ct"}
FORMATS = tuple(TRACE_FILES)
#: ct records CodeTracer's binary container unless told otherwise.
DEFAULT_FORMAT = "ctfs"
