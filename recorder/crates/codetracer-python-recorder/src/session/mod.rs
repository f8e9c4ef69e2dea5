//! One recording of the process, by job. Each file uses (`super::…`) only
//! files listed below it, so none uses `mod.rs` and no two use each other
//! (the test at the end checks this list against the code):
//!
//! - `mod.rs` — the lifecycle: `start` (preflight, trace folder, callbacks),
//!   `stop` (finish the stream, convert, move the trace into place or
//!   discard it, report), `flush`, `recover`, and the stop `os._exit`
//!   makes first.
//! - `recover.rs` — a recording that died: each staging folder it left
//!   (its own, its threads', its forked children's) made a partial trace.
//! - `fork.rs` — `os.fork()`: the recording stays the parent's; the child
//!   records into a trace of its own; a child started as a new
//!   interpreter says so in its metadata.
//! - `hot_path.rs` — the recorder lent to the callbacks for one event, and
//!   the policy when the hot path fails.
//! - `threads.rs` — the traces of the program's other threads: a recorder
//!   per thread, found without a lock; finished at stop.
//! - `metadata.rs` — what the recorder says of the run in
//!   `trace_metadata.json` (the rest is `trace_writer::Metadata`'s).
//! - `options.rs` — what `start` is asked for, what `stop` reports.
//! - `progress.rs` — the finish on a terminal: progress, Ctrl-C.
//! - `os_exit.rs` — the stand-in for `os._exit`: in place, given back.
//! - `state.rs` — the live session, the trace folder of one handed away,
//!   and the trace written beside the run (a start's, a forked child's).

mod fork;
mod hot_path;
mod metadata;
mod options;
mod os_exit;
mod progress;
mod recover;
mod state;
mod threads;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use pyo3::prelude::*;
use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};
use trace_writer::{StreamWriter, TraceDir};

use crate::capture::Builtins;
use crate::cpython::{self, DictVersions, FrameReader};
use crate::policy::OnError;
use crate::purity::OpTable;
use crate::recorder::{Metrics, Recorder, RecorderConfig, ValuesMode};
use crate::{logging, monitoring, preflight, program_output, tool};

pub use fork::{after_fork_in_child, before_fork, mark_child_process};
pub use hot_path::with_recorder;
pub use metadata::annotate;
pub use options::{StartOptions, StopReport};
pub use os_exit::real_os_exit;
pub use recover::Recovered;
use state::{session_mut, Session};

/// Called by the `os._exit` stand-in with the status it was given: stops the
/// recording (the trace is written with that exit status) before the
/// process ends. Failures are logged: the program's exit goes on. Returns
/// the exception of a Ctrl-C that stopped the trace's conversion, to be
/// raised instead of exiting.
pub fn before_os_exit(py: Python<'_>, status: i64) -> Option<PyErr> {
    if session_mut().as_ref().is_none_or(|s| s.busy) {
        return None;
    }
    match stop(py, Some(status)) {
        Ok(report) => {
            if let Some(e) = report.error {
                logging::log_error(log::Level::Error, &e);
            }
            if report.interrupted.is_some() {
                // The KeyboardInterrupt goes to the program; the stop() its
                // command line makes next ends quietly, as in a forked child.
                state::set_handed_over(Some(report.trace_dir.clone()));
            }
            report.interrupted
        }
        Err(e) => {
            logging::log_error(log::Level::Error, &e);
            None
        }
    }
}

pub fn is_tracing() -> bool {
    session_mut().as_ref().is_some_and(|s| s.attached)
}

pub fn start(py: Python<'_>, o: StartOptions, os_exit: Bound<'_, PyAny>) -> RecorderResult<PathBuf> {
    if session_mut().is_some() {
        return Err(usage!(ErrorCode::AlreadyTracing, "a recording is already active in this process"));
    }
    // A child recording on its own.
    state::set_handed_over(None);
    crate::exit_seen::clear();
    logging::configure(o.policy.log_level, o.policy.log_file.as_deref())?;
    let info = preflight::python_info(py)?;
    preflight::check_python(py, &info)?;
    preflight::check_schema(None)?;
    let format = o.format;
    let tool = o.tool_id;

    let trace_dir = TraceDir::prepare(&o.trace_dir, format)?;
    threads::clear_stale(&trace_dir.dir);
    let recording_id = uuid::Uuid::now_v7().to_string();
    logging::set_trace_id(&recording_id);
    let path = cpython::choose(py, info.major, info.minor);
    let meta = metadata::at_start(&trace_dir, &o, &info, &path, &recording_id);
    if let Err(e) = trace_dir.write_recording_info(&meta) {
        let _ = trace_dir.discard();
        return Err(e);
    }
    let mut writer = match StreamWriter::create(&trace_dir.events_path()) {
        Ok(w) => w,
        Err(e) => {
            let _ = trace_dir.discard();
            return Err(e);
        }
    };
    state::convert_beside_the_run(&mut writer, &trace_dir);
    // CODETRACER_NO_TRAILS=1 turns off every change-detection shortcut
    // (trails, pure lines): the brute-force trace the shortcuts must equal.
    let shortcuts = !crate::env::is(&crate::env::NO_TRAILS, "1");
    // The shortcuts that rest on facts of a known CPython beyond its layout.
    let known = cpython::known_version(info.major, info.minor);
    crate::lines::configure(py, known);
    let skip_prefixes = o.skip_prefixes.clone();
    // A debug build (sys.gettotalrefcount) counts references in its own way.
    let debug_build = py.import("sys").and_then(|m| m.hasattr("gettotalrefcount")).unwrap_or(true);
    cpython::activate(&path, debug_build);
    let reader = FrameReader::new(&path, info.minor);
    warn_portable(&path, &reader);
    let cfg = RecorderConfig {
        values: o.values,
        activation: o.activation.clone(),
        skip_prefixes: o.skip_prefixes,
        reader,
        builtins: Builtins::new(py)?,
        bounds: o.bounds,
        trails: shortcuts,
        ops: (shortcuts && known && o.values == ValuesMode::Locals).then(|| OpTable::load(py)).flatten(),
        versions: if shortcuts { DictVersions::new(path.layout()) } else { DictVersions::NEVER },
        filter: o.filter,
        facts: Default::default(),
    };
    let thread_template = o.threads.then(|| cfg.clone());
    let follow = o.follow_processes.then(|| state::Follow { cfg: cfg.clone(), start_path: toplevel_path(&o.program).to_owned(), threads: o.threads, hand_to: None });
    let mut recorder = Recorder::new(writer, toplevel_path(&o.program), cfg);
    // The program's entry (`<toplevel>`'s call) reaches the file at once: a
    // recording killed before its first buffer flush (SIGTERM, SIGKILL)
    // still recovers into a trace with a call and a step.
    if let Err(e) = recorder.flush() {
        // The live conversion stops (and closes its files) first.
        drop(recorder);
        let _ = trace_dir.discard();
        return Err(e);
    }
    *session_mut() = Some(Box::new(Session {
        recorder: Some(recorder),
        attached: false,
        busy: false,
        tool,
        trace_dir: trace_dir.clone(),
        meta,
        policy: o.policy,
        failure: None,
        detaches: 0,
        started: Instant::now(),
        output: Vec::new(),
        index_writer: None,
        follow,
    }));
    if o.threads || o.follow_processes {
        index_writer(py);
    }
    if o.follow_processes {
        fork::take_children(&trace_dir.staging);
    }
    if let Some(cfg) = thread_template {
        record_threads(py, cfg, &o.program, &trace_dir);
    }
    if let Err(e) = tool::install(py, tool, monitoring::register::<hot_path::Host>) {
        // Release whatever part of the tool was claimed before the failure.
        if e.code() != ErrorCode::ToolIdInUse {
            tool::uninstall(py, tool);
        }
        threads::end();
        if let Some(mut s) = session_mut().take() {
            if let Some(mut r) = s.recorder.take() {
                r.drop_refs();
            }
        }
        let _ = trace_dir.discard();
        return Err(e);
    }
    let output = program_output::install(py, |kind, metadata, text| {
        with_recorder(|rec| rec.on_output(kind, metadata, text));
    });
    if let Some(s) = session_mut().as_mut() {
        s.attached = true;
        s.output = output;
    }
    os_exit::hook(py, os_exit);
    request_running_lines(py, &skip_prefixes, threads::main_thread() != 0);
    log::info!("recording into {}", o.trace_dir.display());
    Ok(o.trace_dir)
}

/// Says once per process, on stderr through the logger, that values are
/// read through the portable path, and why.
fn warn_portable(path: &cpython::Path, reader: &FrameReader) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let (Some(reason), FrameReader::Api(frames)) = (path.reason(), reader) else {
        log::info!("reading CPython {} in place (self-check passed)", path.name());
        return;
    };
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("recording through the portable path (the public C API; slower): {reason}; locals through {}", frames.describe());
    }
}

/// Other threads record from now on, each into a trace of its own
/// (`threads.rs`), with the options of the main recorder (`cfg`).
fn record_threads(py: Python<'_>, cfg: RecorderConfig, program: &str, trace_dir: &TraceDir) {
    let Some(s) = session_mut().as_mut().filter(|s| s.index_writer.is_some()) else { return };
    let template = threads::Template {
        cfg,
        start_path: toplevel_path(program).to_owned(),
        out: trace_dir.dir.clone(),
        format: trace_dir.format,
        meta: s.meta.clone(),
        running: threads::running_threads(py),
    };
    threads::begin(crate::os_thread::current(), template);
}

/// The writer of the folder's index and manifest, kept in the session:
/// without it, neither other threads nor forked children are recorded.
fn index_writer(py: Python<'_>) {
    match threads::index_writer(py) {
        Ok(w) => {
            if let Some(s) = session_mut().as_mut() {
                s.index_writer = Some(w);
            }
        }
        Err(e) => {
            logging::log_error(log::Level::Warn, &e);
            if let Some(s) = session_mut().as_mut() {
                s.follow = None;
            }
        }
    }
}

/// Line events are local to the code objects the recorder meets; frames
/// already running when the recording starts (the caller of `start()` and
/// its callers; with `all_threads`, those of every thread) get theirs now,
/// so their next lines are recorded.
fn request_running_lines(py: Python<'_>, skip: &[String], all_threads: bool) {
    let sys = py.import("sys");
    let mut frames: Vec<Bound<'_, PyAny>> = sys.as_ref().ok().and_then(|m| m.call_method0("_getframe").ok()).into_iter().collect();
    if all_threads {
        if let Ok(current) = sys.and_then(|m| m.call_method0("_current_frames")).and_then(|d| d.call_method0("values")) {
            // A loop, not `extend`: a Python iterator's size hint imports
            // `operator` (PyO3), a module the program would then import afresh.
            for frame in current.try_iter().into_iter().flatten().flatten() {
                frames.push(frame);
            }
        }
    }
    for frame in frames {
        mark_frames(py, frame, skip);
    }
}

/// `frame` and its callers get their line events.
fn mark_frames(py: Python<'_>, frame: Bound<'_, PyAny>, skip: &[String]) {
    let mut frame = Some(frame);
    while let Some(f) = frame.filter(|f| !f.is_none()) {
        if let Ok(code) = f.getattr("f_code") {
            let file = code.getattr("co_filename").and_then(|f| f.extract::<String>()).unwrap_or_default();
            if !file.starts_with('<') && !skip.iter().any(|p| file.starts_with(p.as_str())) {
                let _ = tool::set_local_events(py, &code, tool::LINE);
            }
        }
        frame = f.getattr("f_back").ok();
    }
}

/// The path of `<toplevel>`: the program's file, or for `python -c CODE`
/// the file name CPython gives that code (`<string>`), never a made-up path.
fn toplevel_path(program: &str) -> &str {
    match program {
        "-c" => "<string>",
        _ => program,
    }
}

/// Ends the recording. `Err` when the policy makes a recorder failure fatal.
pub fn stop(py: Python<'_>, exit_status: Option<i64>) -> RecorderResult<StopReport> {
    ensure_not_in_callback("stop()")?;
    let Some(mut s) = session_mut().take() else {
        if let Some(dir) = state::take_handed_over() {
            // A forked child stopping the recording it inherited: the
            // parent writes the trace; the child ends as plain python would.
            return Ok(StopReport::new(dir));
        }
        return Err(usage!(ErrorCode::NotTracing, "no recording is active"));
    };
    program_output::uninstall(py, std::mem::take(&mut s.output));
    // (Before anything is finished: a child handing its trace over now is waited for.)
    fork::close_handoff(&s.trace_dir.staging);
    let still_ours = tool::uninstall(py, s.tool);
    let main_thread = threads::main_thread();
    let other_threads = threads::end();
    os_exit::unhook(py);
    if !still_ours && s.attached && s.failure.is_none() {
        s.failure = Some(target!(
            ErrorCode::TargetMonitoringChanged,
            "the traced program released or replaced the recorder's sys.monitoring tool id {}; the trace may be incomplete",
            s.tool
        ));
    }
    s.attached = false;
    let drain_started = Instant::now();
    let mut metrics = Metrics::default();
    let mut recorded_anything = false;
    let mut live = None;
    if let Some(mut rec) = s.recorder.take() {
        if let Some(e) = rec.error.take() {
            s.failure.get_or_insert(e);
        }
        metrics = rec.metrics();
        recorded_anything = rec.recorded_anything;
        match rec.finish(exit_status.unwrap_or(0)) {
            Ok(l) => live = l,
            Err(e) => {
                s.failure.get_or_insert(e);
            }
        }
    }
    metrics.other_thread_events += threads::lost_events();
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    // The thread traces: what their converter did not replay beside the run.
    let threads_started = Instant::now();
    let thread_rows = threads::finish_all(py, &s.trace_dir.dir, s.trace_dir.format, other_threads, exit_status.unwrap_or(0));
    let threads_seconds = threads_started.elapsed().as_secs_f64();
    if main_thread != 0 {
        s.meta.insert("thread", json!({"main": true, "ident": main_thread as u64, "other_thread_traces": thread_rows.len()}));
    }
    if s.failure.is_none() && s.policy.require_trace && !recorded_anything {
        s.failure = Some(target!(ErrorCode::NothingTraced, "--require-trace: the program ran no code that was recorded"));
    }
    let metrics_doc = metadata::report_metrics(py, &metrics, s.detaches);
    metadata::at_stop(&mut s.meta, exit_status, metrics_doc);
    let mut timings = Map::new();
    timings.insert("drain_seconds".into(), json!(drain_seconds));
    if !thread_rows.is_empty() {
        timings.insert("threads_finish_seconds".into(), json!(threads_seconds));
    }
    timings.insert("recording_seconds".into(), json!(s.started.elapsed().as_secs_f64()));

    let mut report = StopReport::new(s.trace_dir.dir.clone());
    // A failed recording's trace is converted afresh, marked partial: the
    // live conversion stops (dropped) before that.
    let live = live.filter(|_| s.failure.is_none());
    // A forked child recorded without converting beside its run leaves its
    // trace to the parent's stop, if that recording still takes it ("Processes").
    let hand_to = s.follow.as_ref().and_then(|f| f.hand_to.as_deref()).filter(|_| live.is_none() && s.failure.is_none());
    let handed = hand_to.is_some_and(|parent| fork::hand_over(parent, &s.trace_dir, &s.meta, timings.clone()));
    match s.failure.take() {
        None if handed => report.handed_to_parent = true,
        None => match progress::finish_interruptibly(py, &s.trace_dir, &s.meta, timings.clone(), live) {
            Ok(Ok(stats)) => {
                report.complete = true;
                report.stats = Some(json!({"events": stats.events, "steps": stats.steps, "calls": stats.calls}));
            }
            Ok(Err(interrupt)) => {
                log::warn!(
                    "interrupted while writing the trace: no trace was written; the recording stays in {} (`codetracer-python-recorder recover {}` converts it)",
                    s.trace_dir.staging.display(),
                    s.trace_dir.dir.display()
                );
                report.interrupted = Some(interrupt);
            }
            Err(e) => {
                logging::log_error(log::Level::Error, &e);
                keep_or_discard(&s, timings, &e, &mut report);
                report.error = Some(e);
            }
        },
        Some(e) => {
            keep_or_discard(&s, timings, &e, &mut report);
            report.error = Some(e);
        }
    }
    let process_rows = if s.follow.is_some() { threads::forked_children(&s.trace_dir.dir) } else { Vec::new() };
    if let Some(writer) = s.index_writer.take().filter(|_| !thread_rows.is_empty() || !process_rows.is_empty()) {
        if report.complete || report.partial || handed {
            let main_ident = if main_thread != 0 { main_thread } else { crate::os_thread::current() } as u64;
            threads::write_index(py, &writer, &s.trace_dir.dir, &s.meta, main_ident, thread_rows, process_rows);
        } else {
            // The folder's own trace was not written: neither are its threads'.
            let _ = std::fs::remove_dir_all(s.trace_dir.dir.join(threads::THREADS_DIR));
        }
    }
    if let Some(e) = report.error.take() {
        let fatal = s.policy.on_error == OnError::Abort || s.policy.require_trace;
        if fatal {
            return Err(e.with_context("trace_dir", s.trace_dir.dir.display()).with_context("partial_trace_kept", report.partial));
        }
        report.error = Some(e);
    }
    Ok(report)
}

/// A failed recording: its trace is kept marked partial
/// (`--keep-partial-trace`), or everything it wrote is removed.
fn keep_or_discard(s: &Session, timings: Map<String, Value>, e: &RecorderError, report: &mut StopReport) {
    if s.policy.keep_partial && s.trace_dir.events_path().exists() {
        match s.trace_dir.finish(&s.meta, Some(e.code()), timings) {
            Ok(_) => {
                report.partial = true;
                return;
            }
            Err(e2) => logging::log_error(log::Level::Error, &e2),
        }
    }
    if let Err(e2) = s.trace_dir.discard() {
        logging::log_error(log::Level::Error, &e2);
    }
}

/// Refuses API calls made from code the recorder itself runs mid-event (a
/// finaliser triggered while it releases a value): the recording is busy.
fn ensure_not_in_callback(what: &str) -> RecorderResult<()> {
    if session_mut().as_ref().is_some_and(|s| s.busy) {
        return Err(usage!(
            ErrorCode::InvalidOption,
            "{} was called from a finaliser that ran inside a recorder callback; call it from the program's own code",
            what
        ));
    }
    Ok(())
}

/// Flushes the in-run buffers to disk.
pub fn flush() -> RecorderResult<()> {
    ensure_not_in_callback("flush()")?;
    match session_mut().as_mut().and_then(|s| s.recorder.as_mut()) {
        Some(r) => r.flush(),
        None => Err(usage!(ErrorCode::NotTracing, "no recording is active")),
    }
}

/// Turns what a dead recording left in `dir` into traces marked partial
/// (`recover.rs`).
pub fn recover(py: Python<'_>, dir: &Path) -> RecorderResult<Recovered> {
    recover::recover_tree(py, dir)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The modules `text` uses through `super::` paths (comments skipped).
    fn uses(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for after in code.split("super::").skip(1) {
                let items = match after.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                    None => vec![after],
                };
                out.extend(items.iter().map(|i| i.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()));
            }
        }
        out
    }

    #[test]
    fn each_file_uses_only_files_listed_below_it() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/session");
        // A file's code before its tests (whose `super::` is the file).
        let read = |name: &str| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap_or_default();
            text.split("#[cfg(test)]").next().unwrap_or_default().to_owned()
        };
        let doc = read("mod");
        let order: Vec<&str> =
            doc.lines().filter_map(|l| l.strip_prefix("//! - `")).filter_map(|l| l.split_once(".rs`")).map(|(name, _)| name).collect();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".rs").map(str::to_owned))
            .collect();
        files.sort();
        assert!(files.len() > 2, "session/ was not read: {files:?}");
        let mut listed: Vec<String> = order.iter().map(|n| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, files, "the list at the top of session/mod.rs names every file of session/ once");
        for (at, name) in order.iter().enumerate().skip(1) {
            for used in uses(&read(name)) {
                assert!(order[at + 1..].contains(&used.as_str()), "session/{name}.rs uses super::{used}, not a file listed below it");
            }
        }
    }
}
