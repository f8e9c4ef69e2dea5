"""Test runs: ``--pytest ARGS...`` and ``--unittest ARGS...``.

The framework runs in-process exactly as ``python -m pytest ARGS`` /
``python -m unittest ARGS`` would run it (same ``sys.argv``, ``sys.path[0]``,
rootdir and conftest discovery, output and exit status). The framework's own
code is outside the default scope: the tests and the code under test are
the program (``--record-framework`` records the framework too).

With one trace per test (the default; ``--single-trace`` gives one trace of
the whole run), the trace folder is laid out as docs/test-runs.md describes:

    OUT/                  the session trace: start-up and collection
    OUT/tests/<name>/     one trace per test (setup, call, teardown), with the
                          traces of the threads and child processes it started
                          (threads/, processes/<pid>/, threads.json)
    OUT/fixtures/<n>/     the setup of a wider-scoped pytest fixture of the program
    OUT/between/<n>/      program code that ran between two tests or after
                          the last one (unittest class and module fixtures,
                          session-end hooks), kept only when it recorded any
    OUT/tests.json        every test: id, outcome, duration, folder, size
    OUT/session.toml      CodeTracer's multi-trace session manifest

Each test's trace is its own recording: the recorder's session is stopped
and started again around each test (``_native.stop`` / ``_native.start``
with the run's options), so every trace opens on its own.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

from . import _native, _processes, _replaycost
from ._manifest import SESSION_MAX_TRACES, THREADS_INDEX, annotate_threads, manifest_text, write_session_manifest

FRAMEWORKS = ("pytest", "unittest")

#: Module globs of each framework's own code (``--record-framework`` adds them to the scope).
FRAMEWORK_MODULES = {
    "pytest": ("pytest", "pytest.*", "_pytest", "_pytest.*", "pluggy", "pluggy.*"),
    "unittest": ("unittest", "unittest.*"),
}


#: What a test's outcome is called in the metadata and ``tests.json``.
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "rerun")
FAILING = ("failed", "error")

TESTS_INDEX = "tests.json"


def narrowing(framework: str) -> str:
    """The flags that narrow a test run's recording, for the budget note."""
    select = {"pytest": "pytest -k EXPRESSION", "unittest": "unittest -k PATTERN"}.get(framework)
    return _replaycost.NARROWING + (f", or fewer tests ({select})" if select else "")


def folder_name(test_id: str, taken: Callable[[str], bool]) -> str:
    """A folder name for ``test_id``: letters (any script), digits, ``.``,
    ``-`` and ``_`` kept, every other run of characters one ``_`` (so ``/``,
    ``::``, brackets and spaces make a valid name on every file system and in
    ``session.toml``); at most 80 characters; a short hash of the id added
    when the name was cut or ``taken(name)`` says it is taken (then ``-2``,
    ``-3``, ... until one is free)."""
    import hashlib

    name = re.sub(r"[^\w.\-]+", "_", test_id).strip("._") or "test"
    digest = hashlib.sha1(test_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    if len(name) > 80:
        name = f"{name[:71]}-{digest}"
    if not taken(name):
        return name
    name = f"{name}-{digest}"
    candidate, n = name, 2
    while taken(candidate):  # the same id twice (a whole item run again)
        candidate, n = f"{name}-{n}", n + 1
    return candidate


class TestTraces:
    """Switches the recording from trace to trace as tests begin and end,
    and writes ``tests.json`` and ``session.toml`` at the end."""

    def __init__(
        self, out_dir: str, framework: str, start: Callable[[str, str], object], remote: dict[str, Any] | None = None
    ) -> None:
        self.out_dir = out_dir
        self.framework = framework
        self._start = start  # start(trace_dir, program): a new recording with the run's options
        #: What a test process of this run (a pytest-xdist worker) needs to
        #: record its tests the same way: ``args`` and ``_native.start``'s ``kwargs``.
        self.remote = remote
        self.tests: list[dict[str, Any]] = []
        self.between: list[dict[str, Any]] = []
        self.fixtures: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None  # the test being recorded
        self._gap: dict[str, Any] | None = None  # the between-tests trace being recorded
        self._fixture: dict[str, Any] | None = None  # the wider-scoped fixture being set up
        self._session: dict[str, Any] = {"id": "<session>", "folder": ".", "kind": "session"}
        self._began = 0.0
        #: The replay estimates of the traces' thread traces, for the budget note.
        self.thread_facts: list[dict[str, Any]] = []
        #: The test process: a child a test forked that goes on running the
        #: framework switches no trace and writes no index (its recording is
        #: its own, in the test's ``processes/<pid>/``).
        self._pid = os.getpid()

    # --- the switch ----------------------------------------------------------------
    def _stop_current(self) -> dict[str, Any] | None:
        """Stops whatever trace is being recorded; its stop report."""
        if not _native.is_tracing() or os.getpid() != self._pid:
            return None
        try:
            return dict(_native.stop(None))
        except Exception as exc:  # noqa: BLE001 - a recorder failure must not fail the test run
            sys.stderr.write(f"codetracer-python-recorder: warning: a test's trace was not written: {exc}\n")
            return None

    def begin(self, test_id: str, path: str | None) -> None:
        """A test begins: the trace recorded so far ends, the test's begins."""
        report = self._stop_current()
        if self._gap is not None:
            self._close_gap(report)
        elif self._session.get("report") is None:
            self._session["report"] = report
        folder = os.path.join("tests", folder_name(test_id, self._claim))
        self._current = {"id": test_id, "folder": folder, "kind": "test", "path": path}
        self._began = time.perf_counter()
        self._start_at(folder, path)

    def _claim(self, name: str) -> bool:
        """Whether ``tests/name`` is taken; claims it (an atomic mkdir, so
        test processes of one run never share a folder) when it is not."""
        tests = os.path.join(self.out_dir, "tests")
        os.makedirs(tests, exist_ok=True)
        try:
            os.mkdir(os.path.join(tests, name))
        except FileExistsError:
            return True
        except OSError:
            return False  # (a name the file system refuses: the recorder reports it)
        return False

    def end(self, outcome: str, message: str | None = None, *, record_after: bool = True) -> None:
        """The test that began last ended with ``outcome``: its trace is
        written; with ``record_after``, what runs until the next test is
        recorded into a between-tests trace (kept only if it records any)."""
        test = self._current
        if test is None:
            return
        self._current = None
        test["duration"] = round(time.perf_counter() - self._began, 6)
        test["outcome"] = outcome
        if message:
            test["message"] = message
        if "report" not in test:  # (else its trace ended when a wider fixture's teardown began)
            if outcome in FAILING and _native.is_tracing():
                # CodeTracer flags a trace as ending in an error from an Error
                # event on its last step.
                _native.record_event(_native.EVENT_ERROR, message or f"test {outcome}")
            test["report"] = self._stop_current()
        test["facts"] = self._annotate(test)
        self.tests.append(test)
        if record_after:
            self.record_between(test["path"])

    def begin_fixture(self, name: str, scope: str, path: str | None) -> bool:
        """A fixture of a wider scope than one test (session, package,
        module, class) is set up while a test begins: its setup is recorded
        into a trace of its own, ``fixtures/<nnnn>-<scope>-<name>``, and the
        test's trace goes on after it. Returns whether it switched (not for
        a fixture that another one's setup asks for: that one's trace has it)."""
        test = self._current
        if test is None or self._fixture is not None:
            return False
        prefix = self._stop_current()  # the test's trace so far: pytest's own code, as a rule
        if not _recorded_nothing(prefix):  # (a test's own code ran first: kept, between the traces)
            moved = os.path.join("between", f"{len(self.between) + 1:04d}")
            os.makedirs(os.path.join(self.out_dir, "between"), exist_ok=True)
            os.replace(os.path.join(self.out_dir, test["folder"]), os.path.join(self.out_dir, moved))
            self.between.append(
                {
                    "id": f"<before fixture {name} of {test['id']}>",
                    "folder": moved,
                    "kind": "between",
                    "path": test["path"],
                    "report": prefix,
                }
            )
        folder = os.path.join("fixtures", folder_name(f"{len(self.fixtures) + 1:04d}-{scope}-{name}", _free))
        self._fixture = {"id": f"<{scope} fixture {name}>", "folder": folder, "kind": "fixture", "path": path}
        self._start_at(folder, path)
        return True

    def end_fixture(self) -> None:
        """The fixture's setup ended: its trace is written; the test's
        trace starts again in the test's folder."""
        if not self._close_fixture():
            return
        if self._current is not None:
            import shutil

            shutil.rmtree(os.path.join(self.out_dir, self._current["folder"]), ignore_errors=True)
            self._start_at(self._current["folder"], self._current["path"])

    def begin_fixture_teardown(
        self, name: str, scope: str, path: str | None, outcome: tuple[str, str | None] | None
    ) -> bool:
        """A wider-scoped fixture is torn down: that runs in the teardown of
        the last test that used it, after the test's own fixtures, so the
        test's trace ends here (``outcome``: the test's so far, for its Error
        event) and the teardown gets a trace of its own,
        ``fixtures/<nnnn>-<scope>-<name>-teardown``. Returns whether it switched."""
        if self._fixture is not None:
            return False
        test = self._current
        if test is not None and "report" not in test:
            if outcome is not None and outcome[0] in FAILING and _native.is_tracing():
                _native.record_event(_native.EVENT_ERROR, outcome[1] or f"test {outcome[0]}")
            test["report"] = self._stop_current()
        else:
            report = self._stop_current()
            if self._gap is not None:
                self._close_gap(report)
        n = len(self.fixtures) + 1
        folder = os.path.join("fixtures", folder_name(f"{n:04d}-{scope}-{name}-teardown", _free))
        self._fixture = {"id": f"<{scope} fixture {name} teardown>", "folder": folder, "kind": "fixture", "path": path}
        self._start_at(folder, path)
        return True

    def end_fixture_teardown(self) -> None:
        """The fixture's teardown ended: its trace is written (what runs next
        until the test ends is pytest's own code)."""
        self._close_fixture()

    def _close_fixture(self) -> bool:
        """Writes the fixture's trace (kept only if it recorded any);
        whether a fixture's trace was being recorded."""
        fixture, self._fixture = self._fixture, None
        if fixture is None:
            return False
        fixture["report"] = self._stop_current()
        if _recorded_nothing(fixture["report"]):
            _remove_trace(self.out_dir, fixture["folder"])
        else:
            self.fixtures.append(fixture)
        return True

    def current_id(self) -> str | None:
        """The id of the test being recorded, if one is."""
        return self._current["id"] if self._current is not None else None

    def untraced(self, test_id: str, outcome: str, message: str | None) -> None:
        """A test the framework reported without running it (no trace)."""
        entry: dict[str, Any] = {
            "id": test_id,
            "folder": None,
            "kind": "test",
            "outcome": outcome,
            "duration": 0.0,
            "message": message,
        }
        entry["facts"] = self._annotate(entry)
        self.tests.append(entry)

    def record_between(self, path: str | None) -> None:
        """Records what runs from now until the next test (or the end)."""
        if _native.is_tracing():
            return
        folder = os.path.join("between", f"{len(self.between) + 1:04d}")
        self._gap = {
            "id": f"<after {self.tests[-1]['id']}>" if self.tests else "<between>",
            "folder": folder,
            "kind": "between",
            "path": path,
        }
        self._start_at(folder, path)

    def _close_gap(self, report: dict[str, Any] | None) -> None:
        gap, self._gap = self._gap, None
        if gap is None:
            return
        gap["report"] = report
        if _recorded_nothing(report):
            _remove_trace(self.out_dir, gap["folder"])
        else:
            self.between.append(gap)

    def _start_at(self, folder: str, path: str | None) -> None:
        if os.getpid() != self._pid:
            return
        try:
            self._start(os.path.join(self.out_dir, folder), path or "")
        except Exception as exc:  # noqa: BLE001 - the tests go on untraced
            sys.stderr.write(f"codetracer-python-recorder: warning: cannot record {folder}: {exc}\n")

    # --- the end -------------------------------------------------------------------
    def finish(self, last_report: dict[str, Any] | None, exit_status: int) -> list[dict[str, Any]]:
        """After the run's last trace was stopped (``last_report``): writes
        each trace's test metadata, ``tests.json`` and ``session.toml``;
        returns every trace with its facts (for the budget check)."""
        if os.getpid() != self._pid:
            return []
        if self._gap is not None:
            self._close_gap(last_report)
        elif self._session.get("report") is None:
            self._session["report"] = last_report
        traces = [f for f in [self._annotate(self._session)] if f is not None]
        for test in self.tests:
            if test.get("facts") is not None:
                self._late_children(test["facts"])
        tests = [t.get("facts") for t in self.tests] if self.tests else self._recorded_elsewhere()
        traces += [f for f in tests if f is not None]
        traces += [f for f in (self._annotate(t) for t in [*self.fixtures, *self.between]) if f is not None]
        self._write_index(traces, exit_status)
        self._write_manifest(traces)
        return traces + self.thread_facts

    def _annotate(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """Adds the test's facts and the replay estimate to the trace's
        metadata; the trace's row of ``tests.json``."""
        if entry["folder"] is None:
            return {
                "id": entry["id"],
                "kind": entry["kind"],
                "folder": None,
                "recording_id": None,
                "outcome": entry["outcome"],
                "duration_seconds": 0.0,
                "message": entry.get("message"),
            }
        folder = os.path.normpath(os.path.join(self.out_dir, entry["folder"]))
        meta_path = os.path.join(folder, "trace_metadata.json")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return None
        if entry["kind"] == "test":
            meta["test"] = {
                "framework": self.framework,
                "id": entry["id"],
                "outcome": entry["outcome"],
                "duration_seconds": entry["duration"],
            }
            if entry.get("message"):
                meta["test"]["message"] = entry["message"]
        meta.update(
            _replaycost.estimate(
                folder, meta.get("format", _native.DEFAULT_FORMAT), _stats(entry.get("report")).get("steps")
            )
        )
        _replaycost.write_json(meta_path, meta)
        row = _row(entry["id"], entry["kind"], entry["folder"], meta)
        threads, children = self._threads(folder, entry["folder"])
        if threads:
            row["threads"] = threads
        if children:
            row["processes"] = children
        return row

    def _threads(self, folder: str, relative: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The thread traces in a test's folder (the threads that ran
        recorded code while it ran; ``threads.json``), each with its replay
        estimate, and the traces of the child processes it started that had
        ended by its stop; their rows of ``tests.json``. A thread still
        running when the test's trace ended (it outlived its test) is marked
        ``running_at_stop``: its later events are in the traces recorded then
        (a child that outlives its test: :meth:`_late_children`)."""
        if not os.path.exists(os.path.join(folder, THREADS_INDEX)):
            return [], []  # (one stat per trace: the switch stays cheap)
        self.thread_facts += annotate_threads(folder)
        with open(os.path.join(folder, THREADS_INDEX), encoding="utf-8") as f:
            index = json.load(f)
        keys = ("name", "started_before_recording", "running_at_stop", "incomplete", "partial")
        rows = []
        for thread in index.get("threads", []):
            row = {k: thread[k] for k in keys if k in thread}
            row["folder"] = f"{relative.replace(os.sep, '/')}/{thread['folder']}"
            row["steps"] = (thread.get("stats") or {}).get("steps")
            rows.append(row)
        children = [_child_row(folder, relative, str(p["folder"])) for p in index.get("processes", [])]
        return rows, children

    def _late_children(self, test: dict[str, Any]) -> None:
        """At the run's end: the children a test started that were still
        running when its trace ended (a ``Popen`` nobody waited for, a pool
        the test left open). Each records into the test's folder until it
        ends, whatever test runs then; those that wrote their trace by now
        are added to the test's ``threads.json`` and row (``ended_after_test``),
        those still running are in its row as ``running_at_end`` (their trace
        is written into ``processes/<pid>/`` when they end)."""
        if not test.get("folder"):
            return
        folder = os.path.normpath(os.path.join(self.out_dir, test["folder"]))
        try:
            pids = sorted(os.listdir(os.path.join(folder, _processes.PROCESSES_DIR)))
        except OSError:
            return  # (no child: one failed stat per test)
        listed = {row["folder"] for row in test.get("processes", [])}
        late = []
        for pid in pids:
            relative = f"{_processes.PROCESSES_DIR}/{pid}"
            if pid.isdigit() and f"{test['folder']}/{relative}" not in listed:
                late.append(_child_row(folder, test["folder"], relative))
        if not late:
            return
        test.setdefault("processes", []).extend(late)
        written = [row for row in late if not row.get("running_at_end")]
        for row in written:
            row["ended_after_test"] = True
        index_path = os.path.join(folder, THREADS_INDEX)
        if written:
            try:
                with open(index_path, encoding="utf-8") as f:
                    index = json.load(f)
            except (OSError, ValueError):
                index = {"main": {"name": "MainThread", "main": True, "folder": "."}, "threads": []}
            index.setdefault("processes", []).extend(
                {
                    **{k: row[k] for k in ("name", "pid", "partial", "exit_status", "ended_after_test")},
                    "folder": row["folder"][len(test["folder"]) + 1 :],
                }
                for row in written
            )
            _replaycost.write_json(index_path, index)
            self.thread_facts += annotate_threads(folder)

    def _recorded_elsewhere(self) -> list[dict[str, Any]]:
        """The tests that test processes recorded (pytest-xdist workers),
        from their traces' metadata, in the order they began."""
        found = []
        tests = os.path.join(self.out_dir, "tests")
        for name in sorted(os.listdir(tests)) if os.path.isdir(tests) else []:
            try:
                with open(os.path.join(tests, name, "trace_metadata.json"), encoding="utf-8") as f:
                    meta = json.load(f)
            except (OSError, ValueError):
                continue
            test = meta.get("test")
            if isinstance(test, dict) and "id" in test:
                found.append((str(meta.get("start_time", "")), _row(test["id"], "test", f"tests/{name}", meta)))
        return [row for _, row in sorted(found, key=lambda pair: pair[0])]

    def _write_index(self, traces: list[dict[str, Any]], exit_status: int) -> None:
        doc = {
            "framework": self.framework,
            "exit_status": exit_status,
            "traces_per_test": True,
            "counts": {o: sum(1 for t in traces if t.get("outcome") == o) for o in OUTCOMES},
            "traces": traces,
        }
        _replaycost.write_json(os.path.join(self.out_dir, TESTS_INDEX), doc)

    def _write_manifest(self, traces: list[dict[str, Any]]) -> None:
        tests = [t for t in traces if t["kind"] == "test"]
        order = [t for t in tests if t["outcome"] in FAILING] + [t for t in tests if t["outcome"] not in FAILING]
        order += [t for t in traces if t["kind"] != "test"]
        listed = [t for t in order if t.get("recording_id")][:SESSION_MAX_TRACES]
        if not listed:
            return
        write_session_manifest(
            self.out_dir,
            [
                (
                    t["recording_id"],
                    t["folder"],
                    manifest_text(f"{t.get('outcome', t['kind'])} {t['id']}"),
                    os.path.basename(t["folder"]) if t["folder"] != "." else "session",
                )
                for t in listed
            ],
        )


def _free(name: str) -> bool:
    """``folder_name``'s ``taken`` for a folder of this process's own numbering: never taken."""
    return False


def _remove_trace(out_dir: str, folder: str) -> None:
    """Removes a trace folder that recorded nothing, and its parent when empty."""
    import shutil

    shutil.rmtree(os.path.join(out_dir, folder), ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(os.path.join(out_dir, folder)))
    except OSError:
        pass  # holds other traces


def _row(trace_id: str, kind: str, folder: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A trace's row of ``tests.json`` from its metadata."""
    test = meta.get("test") or {}
    row: dict[str, Any] = {
        "id": trace_id,
        "kind": kind,
        "folder": folder.replace(os.sep, "/"),
        "recording_id": meta.get("recording_id"),
        "partial": bool(meta.get("partial")),
    }
    if kind == "test":
        row["outcome"] = test.get("outcome")
        row["duration_seconds"] = test.get("duration_seconds")
        if test.get("message"):
            row["message"] = test["message"]
    for key in ("steps", "trace_bytes", "replay_estimate"):
        row[key] = meta.get(key)
    return row


def _child_row(folder: str, relative: str, child: str) -> dict[str, Any]:
    """A child process's row of ``tests.json`` (``child``: its folder in the
    test's ``folder``), from its trace's metadata; one with no trace yet is
    ``running_at_end``."""
    row: dict[str, Any] = {"folder": f"{relative.replace(os.sep, '/')}/{child}"}
    try:
        with open(os.path.join(folder, child, "trace_metadata.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        name = os.path.basename(child)
        return {"name": f"process {name}", "pid": int(name) if name.isdigit() else None, **row, "running_at_end": True}
    process = meta.get("process") or {}
    return {
        "name": f"process {process.get('pid')}",
        "pid": process.get("pid"),
        "started": process.get("started", "fork" if process.get("forked") else None),
        **row,
        "steps": (meta.get("stats") or {}).get("steps"),
        "partial": bool(meta.get("partial")),
        "exit_status": meta.get("exit_status"),
    }


def _stats(report: dict[str, Any] | None) -> dict[str, Any]:
    raw = (report or {}).get("stats")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _recorded_nothing(report: dict[str, Any] | None) -> bool:
    """A trace that holds only its entry: no call beyond ``<toplevel>``, at most one step, and no thread trace."""
    if report is None:
        return True
    stats = _stats(report)
    return (
        bool(report.get("complete"))
        and stats.get("calls", 0) <= 1
        and stats.get("steps", 0) <= 1
        and not os.path.exists(os.path.join(str(report.get("trace_dir", "")), THREADS_INDEX))
    )  # (nor another thread)


# --- pytest ----------------------------------------------------------------------------
def _pytest_outcome(reports: list[Any]) -> tuple[str, str | None]:
    """A pytest item's outcome from its phase reports (setup, call,
    teardown), and a one-line message for a failing one. An attempt that a
    rerun plugin (pytest-rerunfailures) runs again is ``rerun``: each attempt
    is a trace of its own."""
    outcome = "passed"
    message = None
    for r in reports:
        xfail = hasattr(r, "wasxfail")
        if getattr(r, "outcome", None) == "rerun":
            return "rerun", _crash_line(r)
        if r.failed:
            outcome = "failed" if r.when == "call" else "error"
            message = _crash_line(r)
            break
        if r.skipped:
            outcome = "xfailed" if xfail else "skipped"
        elif r.when == "call" and xfail:
            outcome = "xpassed"
    return outcome, message


def _crash_line(report: Any) -> str | None:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message).splitlines()[0] if str(crash.message) else None
    text = getattr(report, "longreprtext", "") or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


#: The environment variable that loads this module into pytest-xdist's
#: worker processes (pytest's own ``PYTEST_PLUGINS``), and what it adds.
_PYTEST_PLUGINS = "PYTEST_PLUGINS"
_WORKER_PLUGIN = __name__
_WORKER_INPUT = "codetracer_test_run"


class PytestTests:
    """pytest's side of a test run: each item's trace from
    ``pytest_runtest_logstart`` (before its setup) to
    ``pytest_runtest_logfinish`` (after its teardown, and after reruns).
    Plain hooks (no wrapper marks), so this module needs no pytest import.

    Under pytest-xdist the controller runs no test: its plugin passes the
    run's recording options to every worker (``workerinput``) and loads this
    module there (``PYTEST_PLUGINS``); each worker records its own tests into
    the same ``tests/`` folder (folders claimed by an atomic mkdir), and the
    controller's index lists what they wrote."""

    def __init__(self, traces: TestTraces, *, worker: bool = False) -> None:
        self.traces = traces
        self.worker = worker
        self.distributed = False
        self.reports: list[Any] = []
        self.last: str | None = None
        self.config: Any = None
        self._saved_env: str | None = None

    def pytest_configure(self, config: Any) -> None:
        self.config = config
        # pytest-xdist's own condition for running the tests in workers (its
        # pytest_cmdline_main has turned `-n N` into a `dist` mode by now).
        xdist = (
            config.pluginmanager.hasplugin("xdist")
            and config.getoption("dist", "no") != "no"
            and not config.getoption("collectonly", False)
        )
        if self.worker or not xdist:
            return
        self.distributed = True
        if not _importable_from(sys.path):
            # (A launcher put the recorder on PYTHONPATH and gave the program
            # its own back: xdist's workers start with the program's sys.path.)
            sys.stderr.write(
                "codetracer-python-recorder: warning: pytest-xdist's workers are not recorded: "
                "the recorder is not importable from their sys.path (install it in the "
                "environment, or run without -n)\n"
            )
            return
        # The workers record their tests themselves: not as children of the session's trace.
        _processes.withdraw()
        self._saved_env = os.environ.get(_PYTEST_PLUGINS)
        os.environ[_PYTEST_PLUGINS] = ",".join(p for p in (self._saved_env, _WORKER_PLUGIN) if p)
        config.pluginmanager.register(_XdistController(self.traces), "codetracer-xdist")

    def pytest_unconfigure(self, config: Any) -> None:
        if self.distributed:
            if self._saved_env is None:
                os.environ.pop(_PYTEST_PLUGINS, None)
            else:
                os.environ[_PYTEST_PLUGINS] = self._saved_env

    def pytest_collection_finish(self, session: Any) -> None:
        self.last = session.items[-1].nodeid if session.items else None

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self.distributed:
            return
        self.reports = []
        root = getattr(self.config, "rootpath", None)
        path = os.path.abspath(location[0]) if location and location[0] else None
        if root is not None and location and location[0]:
            path = os.path.join(str(root), location[0])
        self.traces.begin(nodeid, path)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if not self.distributed:
            self.reports.append(report)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        if self.distributed:
            return
        outcome, message = _pytest_outcome(self.reports)
        # pytest runs nothing of the program between two items (a higher-
        # scoped fixture is set up and torn down inside an item's phases);
        # after the last one, the session's end does.
        self.traces.end(outcome, message, record_after=not self.worker and nodeid == self.last)

    def pytest_sessionfinish(self, session: Any) -> None:
        if not self.worker and not self.distributed:
            self.traces.record_between(None)  # (after -x stopped early: the rest of the run)


def _importable_from(path: list[str]) -> bool:
    """Whether this package is found on ``path`` (a worker's ``sys.path``)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return any(os.path.abspath(p or os.getcwd()) == here for p in path)


def _fixture_hooks(traces: TestTraces, tests: PytestTests) -> object:
    """The hook that gives a wider-scoped fixture's setup and teardown traces
    of their own (a hook wrapper: pytest's mark, so it is made once pytest is
    imported). The teardown is bracketed by two finalizers of the fixture:
    one added before its setup runs (so it runs after its teardown) and one
    after (so it runs before)."""
    import pytest

    class FixtureTraces:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
            path = _program_file(fixturedef.func) if fixturedef.scope != "function" else None
            if path is None:
                yield
                return
            name, scope = fixturedef.argname, fixturedef.scope
            torn: list[bool] = []
            fixturedef.addfinalizer(lambda: traces.end_fixture_teardown() if torn and torn.pop() else None)
            switched = traces.begin_fixture(name, scope, path)
            try:
                yield
            finally:
                if switched:
                    traces.end_fixture()

                def before_teardown() -> None:
                    torn.append(traces.begin_fixture_teardown(name, scope, path, _pytest_outcome(tests.reports)))

                fixturedef.addfinalizer(before_teardown)

    return FixtureTraces()


_INSTALLED: tuple[str, ...] = ()


def _installed_folders() -> tuple[str, ...]:
    """The standard library's and site-packages' folders (computed once)."""
    global _INSTALLED
    if not _INSTALLED:
        import sysconfig

        paths = sysconfig.get_paths()
        _INSTALLED = tuple(sorted({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}))
    return _INSTALLED


def _program_file(func: Any) -> str | None:
    """The file of a fixture function when it is the program's (not the
    framework's, a plugin's or the standard library's), else None."""
    try:
        import inspect

        path = inspect.getsourcefile(func)
    except (TypeError, OSError):
        return None
    if not path:
        return None
    path = os.path.abspath(path)
    installed = _installed_folders()
    if (
        any(path.startswith(os.path.join(p, "")) for p in installed)
        or f"{os.sep}site-packages{os.sep}" in path
        or f"{os.sep}dist-packages{os.sep}" in path
    ):
        return None
    return path


class _XdistController:
    """Registered in the controller only once pytest-xdist is in use (its
    hook ``pytest_configure_node`` exists only then)."""

    def __init__(self, traces: TestTraces) -> None:
        self.traces = traces

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_INPUT] = {"out_dir": self.traces.out_dir, **(self.traces.remote or {})}


def pytest_configure(config: Any) -> None:
    """In a pytest-xdist worker of a recorded run: record its tests."""
    given = getattr(config, "workerinput", {}).get(_WORKER_INPUT)
    if not given or "kwargs" not in given:
        return
    args, kwargs = list(given["args"]), dict(given["kwargs"])

    def start(directory: str, program: str) -> object:
        program = program or given.get("program", "")
        started = _native.start(directory, program, args, **kwargs)
        _processes.export(directory, program, kwargs)  # a test's children follow
        return started

    _processes.one_after_another(True)
    traces = TestTraces(given["out_dir"], "pytest", start)
    tests = PytestTests(traces, worker=True)
    config.pluginmanager.register(tests, "codetracer-worker")
    config.pluginmanager.register(_fixture_hooks(traces, tests), "codetracer-worker-fixtures")


def run_pytest(args: list[str], traces: TestTraces | None) -> None:
    """``python -m pytest ARGS`` in this process; raises SystemExit with its status."""
    import importlib.util

    spec = importlib.util.find_spec("pytest")
    if spec is None:
        # The words and status of `python -m pytest` without pytest.
        interpreter = sys.orig_argv[0] if getattr(sys, "orig_argv", None) else sys.executable
        sys.stderr.write(f"{interpreter}: No module named pytest\n")
        raise SystemExit(1)
    main_path = os.path.join(os.path.dirname(spec.origin or ""), "__main__.py")
    sys.argv = [main_path, *args]
    sys.path[0] = os.getcwd()
    import pytest

    plugins: list[object] = []
    if traces is not None:
        tests = PytestTests(traces)
        plugins += [tests, _fixture_hooks(traces, tests)]
    # pytest's console_main, with our plugin object registered.
    try:
        code = pytest.main(plugins=plugins)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    raise SystemExit(int(code) if not isinstance(code, int) else code)


# --- unittest --------------------------------------------------------------------------
def run_unittest(args: list[str], traces: TestTraces | None) -> None:
    """``python -m unittest ARGS`` in this process; raises SystemExit with its status."""
    sys.argv = [f"{os.path.basename(sys.executable)} -m unittest", *args]
    sys.path[0] = os.getcwd()
    import unittest

    runner: Any = None
    if traces is not None:
        runner = _unittest_runner(unittest, traces)
    unittest.main(module=None, testRunner=runner)


def _unittest_runner(unittest: Any, traces: TestTraces) -> type:
    class Result(unittest.TextTestResult):  # type: ignore[misc]  # unittest: Any, imported late
        """One trace per test: startTest (before setUp) to stopTest (after tearDown)."""

        _ct_outcome: tuple[str, str | None]

        def startTest(self, test: Any) -> None:
            self._ct_outcome = ("passed", None)
            traces.begin(test.id(), _test_file(test))
            super().startTest(test)

        def stopTest(self, test: Any) -> None:
            super().stopTest(test)
            outcome, message = getattr(self, "_ct_outcome", ("passed", None))
            traces.end(outcome, message)

        def _ct_set(self, outcome: str, err: Any = None) -> None:
            current = getattr(self, "_ct_outcome", ("passed", None))[0]
            if current in FAILING:
                return
            message: str | None = None
            if err is not None and err[1] is not None:
                message = f"{type(err[1]).__name__}: {err[1]}".splitlines()[0]
            self._ct_outcome = (outcome, message)

        def addError(self, test: Any, err: Any) -> None:
            super().addError(test, err)
            self._ct_set("error", err)

        def addFailure(self, test: Any, err: Any) -> None:
            super().addFailure(test, err)
            self._ct_set("failed", err)

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                self._ct_set("failed" if issubclass(err[0], test.failureException) else "error", err)

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            if traces.current_id() != test.id():
                # Skipped before it began (a skipped class or method, 3.12+):
                # a test without a trace of its own.
                traces.untraced(test.id(), "skipped", reason)
            self._ct_set("skipped")

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            super().addExpectedFailure(test, err)
            self._ct_set("xfailed")

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            self._ct_set("xpassed")

    class Runner(unittest.TextTestRunner):  # type: ignore[misc]  # (as Result)
        resultclass = Result

    return Runner


def _test_file(test: Any) -> str | None:
    try:
        import inspect

        return inspect.getsourcefile(type(test))
    except (TypeError, OSError):
        return None


def run(framework: str, args: list[str], traces: TestTraces | None) -> None:
    """Runs the test framework; raises SystemExit with its exit status."""
    if framework == "pytest":
        run_pytest(args, traces)
    else:
        run_unittest(args, traces)
