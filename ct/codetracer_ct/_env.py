"""The environment variables `ct` reads or sets for the recording: one
entry per variable (name, type, default, meaning). The recorder's are in
its `_env.py` and `src/env.rs`; tests/lint/test_lint_env.py checks that no
CODETRACER_ name is spelled anywhere else, that the lists agree, and that
README names every public one (docs/recorder.md "Environment variables").
The launcher shims (shims/README.md) read and set some of these too."""

import os
from typing import Mapping, NamedTuple, Optional


class Var(NamedTuple):
    name: str
    #: `path`, `url`, `text`, `int`, `seconds`, `command`.
    type: str
    #: Its value when unset ("" when nothing).
    default: str
    meaning: str
    #: Documented for users (README); otherwise set by ct or a launcher for the recorder.
    public: bool = True


DATA_DIR = Var(
    "CODETRACER_DATA_DIR", "path", "$XDG_DATA_HOME/codetracer or the platform's", "where ct keeps its index and traces"
)
PYTHON = Var("CODETRACER_PYTHON", "command", "$PYTHON, else python3/python on PATH", "the python that records")
RECORDER_PATH = Var(
    "CODETRACER_RECORDER_PATH",
    "path",
    "the folder ct is staged in",
    "a folder holding codetracer_python_recorder, prepended to PYTHONPATH",
)
BASE_URL = Var("CODETRACER_BASE_URL", "url", "upload.json's", "the server `ct upload` sends to")
TENANT = Var("CODETRACER_TENANT", "text", "upload.json's", "the organisation `ct upload` sends as")
TOKEN = Var("CODETRACER_TOKEN", "text", "upload.json's", "the token `ct upload` sends")
UPLOAD_RETRIES = Var("CODETRACER_UPLOAD_RETRIES", "int", "5", "retries of one upload request after its first attempt")
UPLOAD_BACKOFF = Var(
    "CODETRACER_UPLOAD_BACKOFF", "seconds", "1", "first wait between upload attempts, doubled each time"
)
UPLOAD_TIMEOUT = Var("CODETRACER_UPLOAD_TIMEOUT", "seconds", "60", "connect / read timeout of one upload request")
ERROR_FILE = Var("CODETRACER_ERROR_FILE", "path", "", "set by ct: the recorder writes its JSON error there")
ORIG_PYTHONPATH = Var(
    "CODETRACER_ORIG_PYTHONPATH",
    "text",
    "",
    "set by ct and the launchers that prepend the recorder's folder: unset or set:<value>",
    public=False,
)
#: Set by the `ct-python-recorder` launcher when unset (shims/README.md R7); the recorder reads it.
FORMAT = Var("CODETRACER_FORMAT", "format name", "", "the recorder's trace format")
#: Set and cleared again by the Windows installer's PATH script (shims/user-path.ps1.j2):
#: the change makes Windows tell running programs the user environment changed.
PATH_REFRESH = Var("CODETRACER_PATH_REFRESH", "text", "", "a throw-away user variable, never read", public=False)

ALL = (
    DATA_DIR,
    PYTHON,
    RECORDER_PATH,
    BASE_URL,
    TENANT,
    TOKEN,
    UPLOAD_RETRIES,
    UPLOAD_BACKOFF,
    UPLOAD_TIMEOUT,
    ERROR_FILE,
    ORIG_PYTHONPATH,
    FORMAT,
    PATH_REFRESH,
)


def get(var: Var, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """The value of `var` in `environ`, or None when unset."""
    return environ.get(var.name)
