"""Types of the native module (``src/lib.rs``, which registers each name):
what ``mypy --strict`` checks the Python side's calls against."""

from types import ModuleType
from typing import Any, Callable

__version__: str
SCHEMA_VERSION: str
#: The names of ``--format``: the format table (crate trace-writer, ``format.rs``).
FORMATS: tuple[str, ...]
DEFAULT_FORMAT: str
#: The names of ``--values`` (``ValuesMode``).
VALUES_MODES: tuple[str, ...]
#: Format name -> the trace file it writes.
TRACE_FILES: dict[str, str]
EXIT_USAGE: int
EXIT_ENVIRONMENT: int
EXIT_TARGET: int
EXIT_INTERNAL: int
FAULT_INJECTION: bool
EVENT_STDERR: int
EVENT_ERROR: int

def configure_logging(log_level: str, log_file: str | None = None) -> None: ...
def start(
    trace_dir: str,
    program: str,
    args: list[str],
    *,
    values: str = "locals",
    activation_path: str | None = None,
    max_depth: int | None = None,
    max_items: int | None = None,
    max_str: int | None = None,
    max_nodes: int | None = None,
    skip_prefixes: list[str] = ...,
    format: str | None = None,
    on_recorder_error: str = "abort",
    require_trace: bool = False,
    keep_partial_trace: bool = False,
    log_level: str = "warn",
    log_file: str | None = None,
    trace_filter: dict[str, Any] | None = None,
    threads: bool = False,
    follow_processes: bool = False,
    tool_id: str = "3",
) -> str: ...
def stop(exit_status: int | None = None) -> dict[str, Any]: ...
def is_tracing() -> bool: ...
def record_event(kind: int, content: str) -> None: ...
def set_metrics_exporter(exporter: Any) -> None: ...
def flush() -> None: ...
def _annotate_metadata(
    path: str, facts: Callable[[str | None, int | None], dict[str, Any]]
) -> dict[str, Any] | None: ...
def recover(trace_dir: str) -> tuple[int | None, int, int]: ...
def log_message(level: str, message: str, error_code: str | None = None) -> None: ...
def error_codes() -> list[tuple[str, str, int, str]]: ...
def error_json(code: str, message: str, context: list[tuple[str, str]] = ...) -> str: ...
def _errors_module() -> ModuleType: ...
def _after_fork_in_child() -> None: ...
def _before_fork() -> None: ...
def _mark_child_process(info: str) -> None: ...
def _exit_status_seen() -> int | None: ...
def _parent_env_stand_in(real: Any, name: str, env_index: int) -> Any: ...
