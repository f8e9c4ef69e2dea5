"""The `ct` command line: record, list, show, delete."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import __version__, _datadir, _exitcodes, _summary
from ._index import Index, IndexUnavailable, Trace
from ._record import RecordError, Request, record

# Recorder policy options that `ct record` passes through unchanged
# (docs/interfaces.md §1): (flag, takes a value, help).
RECORDER_OPTIONS: Tuple[Tuple[str, bool, str], ...] = (
    ("--values", True, "how many values to capture: none, args or locals (recorder default: locals)"),
    ("--max-depth", True, "bound on nested value encoding"),
    ("--max-items", True, "bound on items encoded per collection"),
    ("--max-str", True, "bound on encoded string length"),
    ("--max-nodes", True, "bound on values shown per variable"),
    ("--on-recorder-error", True, "abort or disable when the recorder itself fails"),
    ("--require-trace", False, "fail when no trace could be written"),
    ("--keep-partial-trace", False, "on failure keep the trace, marked partial"),
    ("--log-level", True, "recorder diagnostics: error, warn, info, debug, trace"),
    ("--log-file", True, "recorder diagnostics go to this file instead of stderr"),
)
# ct's own record options: (flags, takes a value).
CT_RECORD_OPTIONS: Tuple[Tuple[Tuple[str, ...], bool], ...] = (
    (("--python",), True),
    (("--activation-path",), True),
    (("--trace-dir", "-o"), True),
    (("--with-diff",), False),
    (("-h", "--help"), False),
)
TARGET_MARKERS = {"-m": None, "--pytest": "pytest", "--unittest": "unittest"}

RECORD_USAGE = (
    "ct record [options] script.py [args ...]\n"
    "       ct record [options] -m module [args ...]\n"
    "       ct record [options] --pytest [pytest args ...]\n"
    "       ct record [options] --unittest [unittest args ...]"
)


def _takes_value() -> Dict[str, bool]:
    table = {flag: value for flags, value in CT_RECORD_OPTIONS for flag in flags}
    table.update({flag: value for flag, value, _ in RECORDER_OPTIONS})
    return table


def split_record_argv(argv: Sequence[str]) -> Tuple[List[str], Optional[Tuple[str, str]], List[str]]:
    """(ct options, (kind, target) or None, the program's args). Options end
    at the script, at `-m MODULE`, `--pytest`, `--unittest` or `--`:
    everything after belongs to the program, exactly like `python`."""
    values = _takes_value()
    options: List[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            if i + 1 < len(argv):
                return options, ("script", argv[i + 1]), list(argv[i + 2:])
            return options, None, []
        if token in ("--pytest", "--unittest"):
            return options, ("module", TARGET_MARKERS[token]), list(argv[i + 1:])
        if token == "-m" or (token.startswith("-m") and not token.startswith("--")):
            module = token[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            rest = argv[i + 1:] if token[2:] else argv[i + 2:]
            if not module:
                options.append("-m")  # argparse reports the missing module
                return options, None, []
            return options, ("module", module), list(rest)
        if token.startswith("-") and token != "-":
            options.append(token)
            name = token.split("=", 1)[0]
            if values.get(name) and "=" not in token and i + 1 < len(argv):
                options.append(argv[i + 1])
                i += 1
            i += 1
            continue
        return options, ("script", token), list(argv[i + 1:])
    return options, None, []


def _record_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=RECORD_USAGE,
        description=(
            "Run a Python program exactly as `python` would (same interpreter, environment, cwd, "
            "argv, stdio and exit status) while the CodeTracer recorder writes a trace; then add the "
            "trace to the local index. The interpreter is --python, else $CODETRACER_PYTHON, else "
            "$PYTHON, else python3/python on PATH. Trace id and folder are printed on stderr."
        ),
    )
    parser.add_argument("--python", metavar="PYTHON", help="the interpreter to record with (a path or a command name)")
    parser.add_argument("--activation-path", metavar="PATH", help="record only while code of this file runs")
    parser.add_argument("--trace-dir", "-o", metavar="DIR",
                        help="write the trace here instead of <data dir>/traces/<id>")
    parser.add_argument("--with-diff", action="store_true",
                        help="store `git diff HEAD` of the script's repository with the trace (diff.patch)")
    group = parser.add_argument_group("recorder policy (passed to codetracer_python_recorder)")
    for flag, value, text in RECORDER_OPTIONS:
        if value:
            group.add_argument(flag, metavar="VALUE", help=text)
        else:
            group.add_argument(flag, action="store_true", help=text)
    parser.add_argument("-m", dest="module", metavar="MODULE", help="record a module, like python -m")
    parser.add_argument("--pytest", action="store_true", help="record pytest with the arguments that follow")
    parser.add_argument("--unittest", action="store_true", help="record unittest with the arguments that follow")
    return parser


def _recorder_options(parsed: argparse.Namespace) -> Tuple[str, ...]:
    out: List[str] = []
    for flag, value, _ in RECORDER_OPTIONS:
        attribute = getattr(parsed, flag.lstrip("-").replace("-", "_"))
        if value and attribute is not None:
            out += [flag, attribute]
        elif not value and attribute:
            out.append(flag)
    return tuple(out)


def cmd_record(argv: Sequence[str], prog: str) -> int:
    parser = _record_parser(prog)
    options, target, args = split_record_argv(argv)
    parsed = parser.parse_args(options)
    if target is None:
        parser.error("a script, -m MODULE, --pytest or --unittest is required")
    kind, name = target
    label = None
    if kind == "module":
        label = "-m " + name
    request = Request(
        target=name, args=tuple(args), module=(kind == "module"), python=parsed.python,
        activation_path=parsed.activation_path, with_diff=parsed.with_diff, trace_dir=parsed.trace_dir,
        recorder_options=_recorder_options(parsed), program_label=label,
    )
    try:
        return record(request)
    except IndexUnavailable as exc:
        sys.stderr.write(f"ct: error: {exc}\n")
        return _exitcodes.ENVIRONMENT
    except RecordError as exc:
        if exc.exit_status == _exitcodes.COMMAND_NOT_FOUND:
            sys.stderr.write(f"{exc}\n")  # the shell's own words
        else:
            sys.stderr.write(f"ct: error: {exc}\n")
        return exc.exit_status


# --- list / show / delete ---------------------------------------------------------

def _open_index() -> Index:
    return Index(_datadir.index_path(_datadir.data_dir()))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _command_line(trace: Trace) -> str:
    return " ".join([trace.program] + trace.args)


def cmd_list(parsed: argparse.Namespace) -> int:
    with _open_index() as index:
        traces = index.all()
    if parsed.json:
        _print_json([trace.as_json() for trace in traces])
        return _exitcodes.OK
    if not traces:
        sys.stdout.write("no traces yet: record one with `ct record script.py`\n")
        return _exitcodes.OK
    rows = [("ID", "CREATED", "STATUS", "EXIT", "PROGRAM")]
    rows += [(str(t.id), t.created_at, t.status, "" if t.exit_status is None else str(t.exit_status),
              _command_line(t)) for t in traces]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [row[column].ljust(widths[column]) for column in range(4)] + [row[4]]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
    return _exitcodes.OK


def _get(index: Index, trace_id: int) -> Optional[Trace]:
    trace = index.get(trace_id)
    if trace is None:
        sys.stderr.write(f"ct: no trace with id {trace_id} (see `ct list`)\n")
    return trace


def cmd_show(parsed: argparse.Namespace) -> int:
    with _open_index() as index:
        trace = _get(index, parsed.id)
    if trace is None:
        return _exitcodes.FAILURE
    folder = Path(trace.folder)
    summary = _summary.summarize(folder) if folder.is_dir() else None
    if parsed.json:
        data = trace.as_json()
        data["summary"] = summary
        data["folder_exists"] = folder.is_dir()
        _print_json(data)
        return _exitcodes.OK
    fields = [
        ("id", trace.id), ("program", _command_line(trace)), ("cwd", trace.cwd),
        ("language", trace.language), ("interpreter", trace.interpreter),
        ("python", f"{trace.python_version} ({trace.python_executable})"),
        ("recorder", trace.recorder_version), ("exit status", trace.exit_status),
        ("status", trace.status + (f" ({trace.error_code})" if trace.error_code else "")),
        ("with diff", "yes" if trace.with_diff else "no"), ("created", trace.created_at),
        ("folder", trace.folder + ("" if folder.is_dir() else "  (MISSING)")),
    ]
    if summary is not None:
        fields += [(key, summary[key]) for key in ("events", "steps", "calls", "files", "functions")]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        sys.stdout.write(f"{name + ':':<{width + 1}} {'-' if value is None else value}\n")
    if summary and summary["top_functions"]:
        sys.stdout.write("most called functions:\n")
        for function in summary["top_functions"]:
            where = f"{function.get('path')}:{function.get('line')}"
            sys.stdout.write(f"  {function.get('calls'):>8}  {function.get('name')}  {where}\n")
    return _exitcodes.OK


def cmd_delete(parsed: argparse.Namespace) -> int:
    data = _datadir.data_dir()
    with _open_index() as index:
        trace = _get(index, parsed.id)
        if trace is None:
            return _exitcodes.FAILURE
        index.delete(trace.id)
    folder = Path(trace.folder)
    owned = Path(os.path.abspath(str(folder))).parent == Path(os.path.abspath(str(_datadir.traces_dir(data))))
    removed = False
    if owned and folder.is_dir():
        shutil.rmtree(str(folder))
        removed = True
    if parsed.json:
        _print_json({"id": trace.id, "deleted": True, "folder": trace.folder, "folder_removed": removed})
    else:
        kept = "" if removed or not folder.exists() else f" (kept {folder}: it is outside the data dir)"
        sys.stdout.write(f"deleted trace {trace.id}{kept}\n")
    return _exitcodes.OK


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Record Python programs with the CodeTracer recorder and manage the local trace index "
                    f"(data dir: $CODETRACER_DATA_DIR, $XDG_DATA_HOME/codetracer or the platform default).",
    )
    parser.add_argument("--version", action="version", version=f"ct {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("record", help="record a Python program (see `ct record --help`)", add_help=False)
    listing = commands.add_parser("list", help="list the recorded traces",
                                  description="List the traces in the local index.")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = commands.add_parser("show", help="show a trace's metadata and summary",
                               description="Show a trace's metadata and a summary of its events.")
    show.add_argument("id", type=int, help="trace id (see `ct list`)")
    show.add_argument("--json", action="store_true", help="print a JSON object")
    delete = commands.add_parser("delete", help="delete a trace and its folder",
                                 description="Remove a trace from the index and delete its folder "
                                             "(folders outside the data dir, from --trace-dir, are kept).")
    delete.add_argument("id", type=int, help="trace id (see `ct list`)")
    delete.add_argument("--json", action="store_true", help="print a JSON object")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "ct"
    if argv and argv[0] == "record":
        return cmd_record(argv[1:], prog + " record")
    parser = _parser(prog)
    parsed = parser.parse_args(argv)
    handlers = {"list": cmd_list, "show": cmd_show, "delete": cmd_delete}
    if parsed.command is None:
        parser.print_help()
        return _exitcodes.USAGE
    try:
        return handlers[parsed.command](parsed)
    except IndexUnavailable as exc:
        sys.stderr.write(f"ct: error: {exc}\n")
        return _exitcodes.ENVIRONMENT


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
