"""The `ct` command line: record, list, show, delete, upload, login."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import __version__, _archive, _datadir, _exitcodes, _formats, _summary, _upload, _uploadconfig
from ._errors import ConfigError, CtError, TraceUnusable, UnknownTrace
from ._index import Index, Trace, Upload, utc_now
from ._record import Request, record

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
    ("--record-all", False, "record the standard library and installed packages too (default: the program only)"),
    ("--no-redact", False, "keep values under secret-looking names (password, token, ...) instead of <redacted>"),
    ("--no-auto-filter", False, "do not use the project's .codetracer/trace-filter.toml"),
    ("--no-threads", False, "record only the main thread (default: every thread, each into a trace of its own)"),
    ("--no-follow-processes", False, "child processes are not recorded (default: each into processes/<pid>/)"),
    ("--trace-per-test", False, "with --pytest/--unittest: one trace per test (the default)"),
    ("--single-trace", False, "with --pytest/--unittest: one trace of the whole test run"),
    ("--record-framework", False, "with --pytest/--unittest: record the test framework's own code too"),
    ("--replay-budget", True, "note when a trace needs more replay memory than this to open (default 4GB, 0: never)"),
)
# Recorder scope options that may be given several times, passed through in order.
RECORDER_LIST_OPTIONS: Tuple[Tuple[str, str], ...] = (
    ("--include", "also record code matching this path or module glob (repeatable)"),
    ("--exclude", "do not record code matching this path or module glob (repeatable)"),
    ("--trace-filter", "a trace filter file, upstream's TOML schema (repeatable)"),
)
# ct's own record options: (flags, takes a value).
CT_RECORD_OPTIONS: Tuple[Tuple[Tuple[str, ...], bool], ...] = (
    (("--python",), True),
    (("--activation-path",), True),
    (("--trace-dir", "-o"), True),
    (("--with-diff",), False),
    (("--format",), True),
    (("-h", "--help"), False),
)
# The trace formats the recorder writes (its `--format`), and ct's default:
# CTFS, the container current CodeTracer opens; `--format json` writes
# trace.json (docs/design/trace-formats.md §6).
FORMATS = _formats.FORMATS
DEFAULT_FORMAT = _formats.DEFAULT_FORMAT
# The options that start a test run (`--pytest ARGS...`) -> the framework.
TEST_FRAMEWORKS = {"--pytest": "pytest", "--unittest": "unittest"}

RECORD_USAGE = (
    "ct record [options] script.py [args ...]\n"
    "       ct record [options] -m module [args ...]\n"
    "       ct record [options] --pytest [pytest args ...]\n"
    "       ct record [options] --unittest [unittest args ...]"
)


def _takes_value() -> Dict[str, bool]:
    table = {flag: value for flags, value in CT_RECORD_OPTIONS for flag in flags}
    table.update({flag: value for flag, value, _ in RECORDER_OPTIONS})
    table.update({flag: True for flag, _ in RECORDER_LIST_OPTIONS})
    return table


def split_record_argv(argv: Sequence[str]) -> Tuple[List[str], Optional[Tuple[str, str]], List[str]]:
    """(ct options, (kind, target) or None, the program's args); kind is
    "script", "module" or "tests" (`--pytest`/`--unittest`). Options end
    at the script, at `-m MODULE`, `--pytest`, `--unittest` or `--`:
    everything after belongs to the program, exactly like `python`."""
    values = _takes_value()
    options: List[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            if i + 1 < len(argv):
                return options, ("script", argv[i + 1]), list(argv[i + 2 :])
            return options, None, []
        if token in TEST_FRAMEWORKS:
            return options, ("tests", TEST_FRAMEWORKS[token]), list(argv[i + 1 :])
        if token == "-m" or (token.startswith("-m") and not token.startswith("--")):
            module = token[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            rest = argv[i + 1 :] if token[2:] else argv[i + 2 :]
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
        return options, ("script", token), list(argv[i + 1 :])
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
    parser.add_argument(
        "--trace-dir", "-o", metavar="DIR", help="write the trace here instead of <data dir>/traces/<id>"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=DEFAULT_FORMAT,
        help="trace format: ctfs (trace.ct, the binary container current CodeTracer opens) or "
        f"json (trace.json, the JSON trace every CodeTracer reads); default {DEFAULT_FORMAT}",
    )
    parser.add_argument(
        "--with-diff",
        action="store_true",
        help="store `git diff HEAD` of the script's repository with the trace (diff.patch)",
    )
    group = parser.add_argument_group("recorder policy (passed to codetracer_python_recorder)")
    for flag, value, text in RECORDER_OPTIONS:
        if value:
            group.add_argument(flag, metavar="VALUE", help=text)
        else:
            group.add_argument(flag, action="store_true", help=text)
    for flag, text in RECORDER_LIST_OPTIONS:
        group.add_argument(flag, metavar="PATTERN", action="append", default=[], help=text)
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
    for flag, _ in RECORDER_LIST_OPTIONS:
        for item in getattr(parsed, flag.lstrip("-").replace("-", "_")):
            out += [flag, item]
    return tuple(out)


def cmd_record(argv: Sequence[str], prog: str) -> int:
    parser = _record_parser(prog)
    options, target, args = split_record_argv(argv)
    parsed = parser.parse_args(options)
    if target is None:
        parser.error("a script, -m MODULE, --pytest or --unittest is required")
    kind, name = target
    label = None
    framework = None
    if kind == "module":
        label = "-m " + name
    elif kind == "tests":  # the recorder runs the framework: one trace per test
        framework, label = name, "--" + name
    request = Request(
        target=name,
        args=tuple(args),
        module=(kind != "script"),
        python=parsed.python,
        activation_path=parsed.activation_path,
        with_diff=parsed.with_diff,
        trace_dir=parsed.trace_dir,
        format=parsed.format,
        recorder_options=_recorder_options(parsed),
        program_label=label,
        test_framework=framework,
    )
    return record(request)


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
        uploads = index.latest_uploads()
    if parsed.json:
        _print_json(
            [
                dict(trace.as_json(), upload=uploads[trace.id].as_json() if trace.id in uploads else None)
                for trace in traces
            ]
        )
        return _exitcodes.OK
    if not traces:
        sys.stdout.write("no traces yet: record one with `ct record script.py`\n")
        return _exitcodes.OK
    rows = [("ID", "CREATED", "STATUS", "EXIT", "UPLOADED", "TESTS", "THREADS", "PROGRAM")]
    rows += [
        (
            str(t.id),
            t.created_at,
            t.status,
            "" if t.exit_status is None else str(t.exit_status),
            "yes" if t.id in uploads else "no",
            _tests_cell(Path(t.folder)),
            _threads_cell(Path(t.folder)),
            _command_line(t),
        )
        for t in traces
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(7)]
    for row in rows:
        cells = [row[column].ljust(widths[column]) for column in range(7)] + [row[7]]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
    return _exitcodes.OK


def _tests_cell(folder: Path) -> str:
    """`ct list`'s TESTS column: `12 (2 failed)` for a test run, else `-`."""
    tests = _summary.tests_of(folder)
    if not tests:
        return "-"
    failing = sum(1 for t in tests if t.get("outcome") in ("failed", "error"))
    return f"{len(tests)} ({failing} failing)" if failing else str(len(tests))


def _threads_cell(folder: Path) -> str:
    """`ct list`'s THREADS column: `3` threads with a trace each, `3 +2 proc`
    with forked children's, else `-` (one trace)."""
    rows = _summary.threads_of(folder)
    if not rows:
        return "-"
    processes = sum(1 for r in rows if r["kind"] == "process")
    return str(len(rows) - processes) + (f" +{processes} proc" if processes else "")


def _get(index: Index, trace_id: int) -> Trace:
    trace = index.get(trace_id)
    if trace is None:
        raise UnknownTrace(trace_id)
    return trace


def cmd_show(parsed: argparse.Namespace) -> int:
    with _open_index() as index:
        trace = _get(index, parsed.id)
        uploads = index.uploads(trace.id)
    folder = Path(trace.folder)
    summary = _summary.summarize(folder) if folder.is_dir() else None
    if parsed.json:
        data = trace.as_json()
        data["summary"] = summary
        data["folder_exists"] = folder.is_dir()
        data["uploads"] = [upload.as_json() for upload in uploads]
        data["tests"] = _summary.tests_of(folder)
        data["threads"] = _summary.threads_of(folder)
        _print_json(data)
        return _exitcodes.OK
    fields = [
        ("id", trace.id),
        ("program", _command_line(trace)),
        ("cwd", trace.cwd),
        ("language", trace.language),
        ("interpreter", trace.interpreter),
        ("python", f"{trace.python_version} ({trace.python_executable})"),
        ("recorder", trace.recorder_version),
        ("exit status", trace.exit_status),
        ("status", trace.status + (f" ({trace.error_code})" if trace.error_code else "")),
        ("with diff", "yes" if trace.with_diff else "no"),
        ("created", trace.created_at),
        ("folder", trace.folder + ("" if folder.is_dir() else "  (MISSING)")),
    ]
    fields += [
        ("uploaded", f"{upload.share_url}  ({upload.uploaded_at}, {upload.base_url}, tenant {upload.tenant})")
        for upload in uploads
    ] or [("uploaded", "no")]
    if summary is not None:
        fields += [(key, summary[key]) for key in ("format", "events", "steps", "calls", "files", "functions")]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        sys.stdout.write(f"{name + ':':<{width + 1}} {'-' if value is None else value}\n")
    tests = _summary.tests_of(folder)
    if tests:
        sys.stdout.write(f"tests ({len(tests)}, failing first; `ct upload {trace.id} --test ID` sends one):\n")
        for test in tests:
            size = _upload.size_text(int(test["trace_bytes"])) if test.get("trace_bytes") else "-"
            steps = f"{test['steps']:,}" if isinstance(test.get("steps"), int) else "-"
            threads = test.get("threads") or []  # the threads it started: traces in its folder's threads/
            children = test.get("processes") or []  # the child processes it started: its folder's processes/
            sys.stdout.write(
                f"  {test.get('outcome', '?'):<8} {steps:>10} steps {size:>9}  {test.get('id')}  "
                f"{test.get('folder') or '(no trace)'}{f'  +{len(threads)} thread(s)' if threads else ''}"
                f"{f'  +{len(children)} process(es)' if children else ''}\n"
            )
            for child in children:
                sys.stdout.write(f"      {_test_child_line(child)}\n")
    threads = _summary.threads_of(folder)
    if threads:
        sys.stdout.write(f"threads and processes ({len(threads)} traces, each opens alone; folders in {folder}):\n")
        for row in threads:
            who = f"ident {row['ident']}" if row["kind"] == "thread" else f"pid {row.get('pid')}"
            steps = f"{row['steps']:,}" if isinstance(row.get("steps"), int) else "-"
            sys.stdout.write(
                f"  {row['kind']:<7}  {str(row.get('name')):<20} {who:<22} {steps:>10} steps  "
                f"{row.get('folder')}  {row['state']}\n"
            )
    if summary and summary["top_functions"]:
        sys.stdout.write("most called functions:\n")
        for function in summary["top_functions"]:
            where = f"{function.get('path')}:{function.get('line')}"
            sys.stdout.write(f"  {function.get('calls'):>8}  {function.get('name')}  {where}\n")
    return _exitcodes.OK


def _test_child_line(child: Dict[str, Any]) -> str:
    """A child process of a test, under the test's line of `ct show`."""
    steps = f"{child['steps']:,}" if isinstance(child.get("steps"), int) else "-"
    if child.get("running_at_end"):
        state = "still running at the run's end (no trace yet)"
    else:
        state = ("partial" if child.get("partial") else "complete") + f", exit status {child.get('exit_status')}"
        state += ", ended after its test" if child.get("ended_after_test") else ""
    started = f" ({child['started']})" if child.get("started") else ""
    return f"process {child.get('pid')}{started}  {steps} steps  {child.get('folder')}  {state}"


def cmd_delete(parsed: argparse.Namespace) -> int:
    data = _datadir.data_dir()
    with _open_index() as index:
        trace = _get(index, parsed.id)
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


# --- upload / login ------------------------------------------------------------------


def _upload_target(index: Index, text: str) -> Tuple[Optional[Trace], Path]:
    """(indexed trace or None, path): digits name an id (write ./5 for a
    folder named 5); anything else is a folder or a .ct file."""
    if text.isdigit():
        trace = _get(index, int(text))
        return trace, Path(trace.folder)
    path = Path(os.path.abspath(text))
    folder = path.parent if path.suffix == _archive.CT_SUFFIX and path.is_file() else path
    return index.find_by_folder(str(folder)), path


def _test_folder(folder: Path, test_id: str) -> Path:
    """The trace folder of one test of the test run in `folder` (`ct upload --test`)."""
    test = _summary.find_test(folder, test_id)
    if test is None or not test.get("folder"):
        what = "has no trace of its own" if test is not None else "is not a test of"
        raise CtError(f"{test_id!r} {what} the recording in {folder} (`ct show` lists its tests)")
    return folder / str(test["folder"])


def cmd_upload(parsed: argparse.Namespace) -> int:
    try:
        return _upload_command(parsed)
    except KeyboardInterrupt:  # outside the upload itself (which reports its own progress)
        raise CtError("interrupted; the index records no upload of this trace", _exitcodes.INTERRUPTED) from None


def _upload_command(parsed: argparse.Namespace) -> int:
    data = _datadir.data_dir()
    with _open_index() as index:
        trace, path = _upload_target(index, parsed.trace)
        if parsed.test is not None:
            path = _test_folder(path, parsed.test)
        try:
            source = _archive.inspect(path, allow_partial=parsed.allow_partial)
            settings = _uploadconfig.resolve(data, parsed.base_url, parsed.tenant)
        except (TraceUnusable, ConfigError) as exc:
            raise CtError(f"cannot upload: {exc}", exc.exit_status) from exc
        if source.status == "partial":
            sys.stderr.write(f"ct: uploading a PARTIAL trace (--allow-partial): {source.reason}\n")
        result = _upload.upload(source, settings)
        upload = Upload(
            trace_id=trace.id if trace else None,
            folder=str(source.folder),
            recording_id=result.recording_id,
            base_url=settings.base_url,
            tenant=settings.tenant,
            share_url=result.share_url,
            archive_name=result.archive_name,
            archive_size=result.archive_size,
            archive_sha256=result.archive_sha256,
            uploaded_at=utc_now(),
        )
        try:
            index.add_upload(upload)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError: the upload itself is done
            sys.stderr.write(f"ct: error: uploaded, but the index could not record it: {exc}\n")
            sys.stdout.write(result.share_url + "\n")
            return _exitcodes.ENVIRONMENT
    if parsed.json:
        _print_json(
            dict(
                upload.as_json(),
                id=upload.trace_id,
                status=source.status,
                content_type=result.content_type,
                download_url=result.download_url,
                download_expires_at=result.download_expires_at,
            )
        )
        return _exitcodes.OK
    name = f"trace {trace.id}" if trace else str(source.folder)
    sys.stderr.write(
        f"ct: {name} uploaded to {settings.base_url} (tenant {settings.tenant}): a zip of "
        f"{_upload.size_text(result.archive_size)}; anyone with this link can replay it:\n"
    )
    sys.stdout.write(result.share_url + "\n")
    return _exitcodes.OK


def cmd_login(parsed: argparse.Namespace) -> int:
    import getpass

    data = _datadir.data_dir()
    values = {"tenant": parsed.tenant or ""}
    if parsed.base_url:
        values["base_url"] = _uploadconfig.normalise_base_url(parsed.base_url)
    if sys.stdin.isatty():
        token = getpass.getpass("CodeTracer token (empty: keep the saved one): ")
    else:
        token = sys.stdin.readline()
    values["token"] = token.strip()
    path = _uploadconfig.save(data, values)
    saved = _uploadconfig.read_file(data)
    sys.stdout.write(
        f"saved in {path} (readable by you only): base URL {saved.get('base_url', '-')}, "
        f"tenant {saved.get('tenant', '-')}, token {'set' if saved.get('token') else 'not set'}\n"
    )
    return _exitcodes.OK


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Record Python programs with the CodeTracer recorder and manage the local trace index "
        "(data dir: $CODETRACER_DATA_DIR, $XDG_DATA_HOME/codetracer or the platform default).",
    )
    parser.add_argument("--version", action="version", version=f"ct {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("record", help="record a Python program (see `ct record --help`)", add_help=False)
    listing = commands.add_parser(
        "list", help="list the recorded traces", description="List the traces in the local index."
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = commands.add_parser(
        "show",
        help="show a trace's metadata and summary",
        description="Show a trace's metadata and a summary of its events.",
    )
    show.add_argument("id", type=int, help="trace id (see `ct list`)")
    show.add_argument("--json", action="store_true", help="print a JSON object")
    delete = commands.add_parser(
        "delete",
        help="delete a trace and its folder",
        description="Remove a trace from the index and delete its folder "
        "(folders outside the data dir, from --trace-dir, are kept).",
    )
    delete.add_argument("id", type=int, help="trace id (see `ct list`)")
    delete.add_argument("--json", action="store_true", help="print a JSON object")
    upload = commands.add_parser(
        "upload",
        help="share a trace: upload it and print its link",
        description="Pack a trace folder (a deterministic zip of the whole folder, as CodeTracer's own "
        "`ct upload` sends it), upload it to a CodeTracer server through its upload-url / "
        "confirm-upload API, and print the link to its replay page. Settings: the flags, else "
        "$CODETRACER_BASE_URL / $CODETRACER_TENANT / $CODETRACER_TOKEN, else the file `ct login` "
        "writes. Exit status: 0 uploaded, 1 no such id, 2 usage or settings, 3 the trace cannot be "
        "uploaded, 10 local I/O, 11 network, 12 token refused (401/403), 13 not found (404), "
        "14 too large (413), 15 server error, 130 interrupted.",
    )
    upload.add_argument(
        "trace",
        metavar="ID|FOLDER",
        help="trace id (see `ct list`), a trace folder, or a .ct file (its folder is sent)",
    )
    upload.add_argument("--base-url", metavar="URL", help="the server, e.g. https://codetracer.example")
    upload.add_argument("--tenant", metavar="T", help="the organisation (its slug, or a tenant id) to upload to")
    upload.add_argument("--allow-partial", action="store_true", help="upload a trace even if it is partial")
    upload.add_argument(
        "--test",
        metavar="TEST_ID",
        help="of a test run, send only this test's trace (its id or folder name, see `ct show`)",
    )
    upload.add_argument("--json", action="store_true", help="print a JSON object")
    login = commands.add_parser(
        "login",
        help="save the upload server, tenant and token",
        description="Save the settings of `ct upload` in <data dir>/upload.json (readable by you only). "
        "The token is read from stdin (prompted for, unechoed, on a terminal), never from argv.",
    )
    login.add_argument("--base-url", metavar="URL", help="the server, e.g. https://codetracer.example")
    login.add_argument("--tenant", metavar="T", help="the organisation (its slug, or a tenant id) to upload to")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`ct`: the exit status of the command; a `CtError` that ends it is
    reported here, the one place (its diagnostic on stderr, its status)."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except CtError as exc:
        sys.stderr.write(exc.diagnostic() + "\n")
        return exc.exit_status


def _run(argv: List[str]) -> int:
    prog = "ct"
    if argv and argv[0] == "record":
        return cmd_record(argv[1:], prog + " record")
    parser = _parser(prog)
    parsed = parser.parse_args(argv)
    handlers = {"list": cmd_list, "show": cmd_show, "delete": cmd_delete, "upload": cmd_upload, "login": cmd_login}
    if parsed.command is None:
        parser.print_help()
        return _exitcodes.USAGE
    return handlers[parsed.command](parsed)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
