"""A FAKE codetracer_python_recorder for ct's unit tests only: it honours the
CLI contract of docs/interfaces.md §1 (trace folder files, exit status,
CODETRACER_ORIG_PYTHONPATH, CODETRACER_ERROR_FILE) with sys.settrace. The
end-to-end tests use the real wheel."""

__version__ = "0.4.0"
