//! One recording: start (preflight, trace folder, callbacks), the policy
//! applied when the hot path fails, and stop (finish the stream, convert,
//! move the trace into place or discard it, report).

use std::cell::UnsafeCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::ffi;
use pyo3::prelude::*;
use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};
use trace_writer::{LiveConvert, StreamWriter, TraceDir};

use crate::capture::{Bounds, Builtins};
use crate::cpython::{self, DictVersions, FrameReader};
use crate::policy::{OnError, Policy};
use crate::purity::OpTable;
use crate::recorder::{Metrics, Recorder, RecorderConfig, ValuesMode};
use crate::{logging, monitoring, preflight, tool};

/// State only touched with the GIL held.
struct GilCell<T>(UnsafeCell<T>);
// SAFETY: every access happens with the GIL held (callbacks and pyfunctions).
unsafe impl<T> Sync for GilCell<T> {}

static SESSION: GilCell<Option<Box<Session>>> = GilCell(UnsafeCell::new(None));
/// In a child of `os.fork()`: the trace folder of the parent's recording,
/// which the child left to its parent (its own `stop()` then ends quietly);
/// also set when Ctrl-C stopped the finish that `os._exit` began.
static FORKED_FROM: GilCell<Option<PathBuf>> = GilCell(UnsafeCell::new(None));

struct Session {
    recorder: Option<Recorder>,
    attached: bool,
    busy: bool,
    tool: u8,
    trace_dir: TraceDir,
    meta: Map<String, Value>,
    policy: Policy,
    failure: Option<RecorderError>,
    detaches: u64,
    started: Instant,
    /// The streams whose writes become events.
    output: Vec<crate::output::Installed>,
}

/// `os._exit` as the program had it, while ours stands in for it.
static REAL_OS_EXIT: GilCell<Option<(Py<PyAny>, Py<PyAny>)>> = GilCell(UnsafeCell::new(None));

/// Puts `wrapper` in place of `os._exit` for the recording: `os._exit` ends
/// the process without unwinding or atexit, so the recording is stopped
/// (the trace written whole) first, by [`before_os_exit`].
fn hook_os_exit(py: Python<'_>, wrapper: Bound<'_, PyAny>) {
    let Ok(os) = py.import("os") else { return };
    let Ok(real) = os.getattr("_exit") else { return };
    if os.setattr("_exit", &wrapper).is_ok() {
        // SAFETY: GIL held.
        unsafe { *REAL_OS_EXIT.0.get() = Some((real.unbind(), wrapper.unbind())) };
    }
}

/// Gives `os._exit` back (unless the program replaced our stand-in itself).
fn unhook_os_exit(py: Python<'_>) {
    // SAFETY: GIL held.
    let Some((real, wrapper)) = (unsafe { (*REAL_OS_EXIT.0.get()).take() }) else { return };
    if let Ok(os) = py.import("os") {
        if os.getattr("_exit").is_ok_and(|cur| cur.is(&wrapper)) {
            let _ = os.setattr("_exit", real);
        }
    }
}

/// The `os._exit` our stand-in calls: the program's own.
pub fn real_os_exit(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: GIL held.
    match unsafe { &*REAL_OS_EXIT.0.get() } {
        Some((real, _)) => Ok(real.bind(py).clone()),
        None => py.import("posix").or_else(|_| py.import("nt"))?.getattr("_exit"),
    }
}

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
                // SAFETY: GIL held.
                unsafe { *FORKED_FROM.0.get() = Some(report.trace_dir.clone()) };
            }
            report.interrupted
        }
        Err(e) => {
            logging::log_error(log::Level::Error, &e);
            None
        }
    }
}

fn session_mut() -> &'static mut Option<Box<Session>> {
    // SAFETY: GIL held by every caller; no two borrows are live at once
    // (callbacks check `busy`, pyfunctions never run inside a callback).
    unsafe { &mut *SESSION.0.get() }
}

pub fn is_tracing() -> bool {
    session_mut().as_ref().is_some_and(|s| s.attached)
}

/// The live recorder for one event, marked busy; None when there is none,
/// it is detached, or an event is being handled already (then counted as
/// dropped). A panic leaves it busy until [`hot_path_failed`].
#[inline]
fn enter_event() -> Option<*mut Recorder> {
    let s = session_mut().as_mut()?;
    if !s.attached || s.busy {
        if let Some(rec) = s.recorder.as_mut() {
            if s.busy {
                rec.metrics.dropped_events += 1;
            }
        }
        return None;
    }
    let rec = s.recorder.as_mut()? as *mut Recorder;
    s.busy = true;
    Some(rec)
}

/// Ends the event [`enter_event`] began.
#[inline]
fn leave_event() {
    if let Some(s) = session_mut().as_mut() {
        s.busy = false;
    }
}

/// What the callbacks are instantiated for: this session.
struct Host;

impl monitoring::Host for Host {
    #[inline(always)]
    fn enter() -> Option<*mut Recorder> {
        enter_event()
    }

    #[inline(always)]
    fn leave() {
        leave_event()
    }

    unsafe fn failed(err: Option<RecorderError>) -> *mut ffi::PyObject {
        // SAFETY: see the trait's contract.
        unsafe { hot_path_failed(err) }
    }
}

/// Runs `f` on the live recorder, unless detached or re-entered.
#[inline]
pub fn with_recorder<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    let rec = enter_event()?;
    // SAFETY: the live recorder, ours until `leave_event`.
    let r = f(unsafe { &mut *rec });
    leave_event();
    Some(r)
}

/// The hot path hit `err` (or left one in the recorder): detach, and under
/// `abort` raise it into the program. Returns the callback's result.
///
/// # Safety
/// GIL held (called from a monitoring callback).
pub unsafe fn hot_path_failed(err: Option<RecorderError>) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held by our caller.
    let py = unsafe { Python::assume_attached() };
    let Some(s) = session_mut().as_mut() else {
        // SAFETY: GIL held.
        return unsafe { none() };
    };
    s.busy = false;
    let err = err.or_else(|| s.recorder.as_mut().and_then(|r| r.error.take()));
    let Some(err) = err else {
        // SAFETY: GIL held.
        return unsafe { none() };
    };
    tool::detach_events(py, s.tool);
    s.attached = false;
    s.detaches += 1;
    let abort = s.policy.on_error == OnError::Abort;
    if abort {
        logging::log_error(log::Level::Error, &err);
    } else {
        logging::write_line(&format!(
            "codetracer-python-recorder: warning: recording disabled after a recorder error; the program continues untraced: {} [{}]",
            err.message(),
            err.code().as_str()
        ));
    }
    let pyerr = if abort { Some(crate::ffi::to_pyerr(py, &err)) } else { None };
    if s.failure.is_none() {
        s.failure = Some(err);
    }
    match pyerr {
        Some(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        // SAFETY: GIL held.
        None => unsafe { none() },
    }
}

/// # Safety
/// GIL held.
unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: GIL held (caller).
    unsafe {
        let n = ffi::Py_None();
        ffi::Py_INCREF(n);
        n
    }
}

/// Everything `start` needs.
pub struct StartOptions {
    pub trace_dir: PathBuf,
    pub program: String,
    pub args: Vec<String>,
    pub values: ValuesMode,
    pub activation: Option<String>,
    pub bounds: Bounds,
    pub skip_prefixes: Vec<String>,
    pub policy: Policy,
    pub format: String,
    /// What is recorded and which values are hidden.
    pub filter: crate::scope::Filter,
    /// What the metadata says of the filter (`trace_filter`).
    pub filter_meta: Value,
}

pub fn now_rfc3339() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

pub fn start(py: Python<'_>, o: StartOptions, os_exit: Bound<'_, PyAny>) -> RecorderResult<PathBuf> {
    if session_mut().is_some() {
        return Err(usage!(ErrorCode::AlreadyTracing, "a recording is already active in this process"));
    }
    // SAFETY: GIL held (pyfunction). A child recording on its own.
    unsafe { *FORKED_FROM.0.get() = None };
    logging::configure(o.policy.log_level, o.policy.log_file.as_deref())?;
    let info = preflight::python_info(py)?;
    preflight::check_python(py, &info)?;
    preflight::check_schema(None)?;
    let format = trace_writer::Format::parse(&o.format).ok_or_else(|| {
        usage!(ErrorCode::FormatUnsupported, "unsupported trace format {:?}: expected {}", o.format, trace_writer::Format::ALL.map(|f| f.as_str()).join(" or "))
            .with_context("format", &o.format)
    })?;
    let tool = tool::tool_id_from_env()?;

    let trace_dir = TraceDir::prepare(&o.trace_dir, format)?;
    let recording_id = uuid::Uuid::now_v7().to_string();
    logging::set_trace_id(&recording_id);
    let workdir = std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut meta = Map::new();
    meta.insert("workdir".into(), json!(workdir));
    meta.insert("program".into(), json!(o.program));
    meta.insert("args".into(), json!(o.args));
    meta.insert("recording_id".into(), json!(recording_id));
    meta.insert("recorder".into(), json!({"name": "codetracer-python-recorder", "version": env!("CARGO_PKG_VERSION")}));
    meta.insert("format".into(), json!(format.as_str()));
    meta.insert("schema_version".into(), json!(format.schema_version()));
    meta.insert("policy_hash".into(), json!(o.policy.hash()));
    meta.insert(
        "policy".into(),
        json!({"on_recorder_error": o.policy.on_error_str(), "require_trace": o.policy.require_trace, "keep_partial_trace": o.policy.keep_partial}),
    );
    meta.insert("python".into(), json!({"version": info.version, "executable": info.executable, "implementation": info.implementation}));
    meta.insert("values".into(), json!(o.values.as_str()));
    let path = cpython::choose(py, info.major, info.minor);
    meta.insert("cpython_layout".into(), json!(path.name()));
    if let Some(reason) = path.reason() {
        meta.insert("cpython_layout_reason".into(), json!(reason));
    }
    meta.insert("start_time".into(), json!(now_rfc3339()));
    meta.insert("run_id".into(), json!(logging::run_id()));
    meta.insert(
        "threads".into(),
        json!("main-only: only the thread that started the recording is recorded; events of other threads are counted in metrics.other_thread_events"),
    );
    if let Some(a) = &o.activation {
        meta.insert("activation_path".into(), json!(a));
    }
    meta.insert("trace_filter".into(), o.filter_meta);
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
    // A format that streams is written beside the run, on another core.
    match format.start_live(&trace_dir.events_path(), &trace_dir.staging) {
        Ok(Some(live)) => writer.follow(live),
        Ok(None) => {}
        // Not even the container's start fits (a full disk): the run goes
        // on, and the trace is converted after it, as for any format.
        Err(e) => log::info!("the trace is written after the run, not beside it: {e}"),
    }
    // CODETRACER_NO_TRAILS=1 turns off every change-detection shortcut
    // (trails, pure lines): the brute-force trace the shortcuts must equal.
    let shortcuts = std::env::var("CODETRACER_NO_TRAILS").map_or(true, |v| v != "1");
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
        filter: std::rc::Rc::new(o.filter),
    };
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
    }));
    if let Err(e) = tool::install(py, tool, monitoring::register::<Host>) {
        // Release whatever part of the tool was claimed before the failure.
        if e.code() != ErrorCode::ToolIdInUse {
            tool::uninstall(py, tool);
        }
        if let Some(mut s) = session_mut().take() {
            if let Some(mut r) = s.recorder.take() {
                r.drop_refs();
            }
        }
        let _ = trace_dir.discard();
        return Err(e);
    }
    let output = crate::output::install(py, |kind, metadata, text| {
        with_recorder(|rec| rec.on_output(kind, metadata, text));
    });
    if let Some(s) = session_mut().as_mut() {
        s.attached = true;
        s.output = output;
    }
    hook_os_exit(py, os_exit);
    request_running_lines(py, &skip_prefixes);
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

/// Line events are local to the code objects the recorder meets; frames
/// already running when the recording starts (the caller of `start()` and
/// its callers) get theirs now, so their next lines are recorded.
fn request_running_lines(py: Python<'_>, skip: &[String]) {
    let mut frame = py.import("sys").and_then(|m| m.call_method0("_getframe")).ok();
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

/// What `stop` reports.
pub struct StopReport {
    pub trace_dir: PathBuf,
    pub complete: bool,
    pub partial: bool,
    pub error: Option<RecorderError>,
    pub stats: Option<Value>,
    /// The exception a signal handler raised while the trace was being
    /// written (Ctrl-C: KeyboardInterrupt): the conversion stopped, no trace
    /// was moved into place, the staging folder keeps the stream.
    pub interrupted: Option<PyErr>,
}

/// Progress of a long finish on stderr, when stderr is a terminal.
struct FinishProgress {
    tty: bool,
    started: Instant,
    last: Option<Instant>,
}

impl FinishProgress {
    /// Shown only for finishes longer than this.
    const AFTER: std::time::Duration = std::time::Duration::from_millis(500);
    const EVERY: std::time::Duration = std::time::Duration::from_millis(200);

    fn new() -> Self {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self { tty, started: Instant::now(), last: None }
    }

    fn show(&mut self, done: u64, total: u64) {
        let now = Instant::now();
        if !self.tty || now.duration_since(self.started) < Self::AFTER || self.last.is_some_and(|l| now.duration_since(l) < Self::EVERY) {
            return;
        }
        self.last = Some(now);
        let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
        Self::write(&format!(
            "\rcodetracer-python-recorder: writing the trace: {pct:3}% of {:.1} MB recorded (Ctrl-C stops, keeping the recording to recover)",
            total as f64 / 1e6
        ));
    }

    fn end(&self, outcome: &str) {
        if self.last.is_some() {
            Self::write(&format!("\rcodetracer-python-recorder: writing the trace: {outcome}\x1b[K\n"));
        }
    }

    fn write(text: &str) {
        use std::io::Write;
        let stderr = std::io::stderr();
        let mut h = stderr.lock();
        let _ = h.write_all(text.as_bytes());
        let _ = h.flush();
    }
}

fn metrics_json(m: &Metrics, detaches: u64) -> Value {
    json!({
        "dropped_events": m.dropped_events,
        "other_thread_events": m.other_thread_events,
        "detaches": detaches,
        "panics_caught": crate::ffi::panics_caught(),
        "unreadable_frames": m.unreadable_frames,
        "skipped_code_objects": m.skipped_code,
        "recorded_code_objects": m.recorded_code,
        "redacted_values": m.redacted_values,
    })
}

/// Ends the recording. `Err` when the policy makes a recorder failure fatal.
pub fn stop(py: Python<'_>, exit_status: Option<i64>) -> RecorderResult<StopReport> {
    ensure_not_in_callback("stop()")?;
    let Some(mut s) = session_mut().take() else {
        // SAFETY: GIL held (pyfunction).
        if let Some(dir) = unsafe { (*FORKED_FROM.0.get()).take() } {
            // A forked child stopping the recording it inherited: the
            // parent writes the trace; the child ends as plain python would.
            return Ok(StopReport { trace_dir: dir, complete: false, partial: false, error: None, stats: None, interrupted: None });
        }
        return Err(usage!(ErrorCode::NotTracing, "no recording is active"));
    };
    crate::output::uninstall(py, std::mem::take(&mut s.output));
    let still_ours = tool::uninstall(py, s.tool);
    unhook_os_exit(py);
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
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    if s.failure.is_none() && s.policy.require_trace && !recorded_anything {
        s.failure = Some(target!(ErrorCode::NothingTraced, "--require-trace: the program ran no code that was recorded"));
    }
    let mut meta = std::mem::take(&mut s.meta);
    meta.insert("end_time".into(), json!(now_rfc3339()));
    if let Some(status) = exit_status {
        meta.insert("exit_status".into(), json!(status));
    }
    let metrics_doc = metrics_json(&metrics, s.detaches);
    crate::metrics::export(
        py,
        &[
            ("dropped_events", metrics.dropped_events),
            ("other_thread_events", metrics.other_thread_events),
            ("detaches", s.detaches),
            ("panics_caught", crate::ffi::panics_caught()),
            ("unreadable_frames", metrics.unreadable_frames),
        ],
    );
    if metrics.dropped_events > 0 || s.detaches > 0 || crate::ffi::panics_caught() > 0 {
        log::warn!("recorder metrics: {metrics_doc}");
    } else {
        log::info!("recorder metrics: {metrics_doc}");
    }
    meta.insert("metrics".into(), metrics_doc);
    let mut timings = Map::new();
    timings.insert("drain_seconds".into(), json!(drain_seconds));
    timings.insert("recording_seconds".into(), json!(s.started.elapsed().as_secs_f64()));

    let mut report =
        StopReport { trace_dir: s.trace_dir.dir.clone(), complete: false, partial: false, error: None, stats: None, interrupted: None };
    // A failed recording's trace is converted afresh, marked partial: the
    // live conversion stops (dropped) before that.
    let live = live.filter(|_| s.failure.is_none());
    match s.failure.take() {
        None => match finish_interruptibly(py, &s.trace_dir, meta.clone(), timings.clone(), live) {
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
                keep_or_discard(&s, meta, timings, &e, &mut report);
                report.error = Some(e);
            }
        },
        Some(e) => {
            keep_or_discard(&s, meta, timings, &e, &mut report);
            report.error = Some(e);
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

/// Converts the recording, checking for signals (Ctrl-C) as it goes and
/// showing progress on a terminal. `Ok(Err(exception))`: a signal handler
/// raised, the conversion stopped and the staging folder is left whole.
fn finish_interruptibly(
    py: Python<'_>,
    dir: &TraceDir,
    meta: Map<String, Value>,
    timings: Map<String, Value>,
    live: Option<LiveConvert>,
) -> RecorderResult<Result<trace_writer::ConvertStats, PyErr>> {
    let mut progress = FinishProgress::new();
    let mut interrupt: Option<PyErr> = None;
    let result = dir.finish_with_progress(meta, None, timings, live, &mut |done, total| {
        if let Err(e) = py.check_signals() {
            interrupt = Some(e);
            return false;
        }
        progress.show(done, total);
        true
    });
    match (result, interrupt) {
        (Ok(Some(stats)), _) => {
            progress.end("done");
            Ok(Ok(stats))
        }
        (Ok(None), Some(e)) => {
            progress.end("interrupted");
            Ok(Err(e))
        }
        (Ok(None), None) => Err(bug!(ErrorCode::Internal, "the trace conversion stopped without a reason")),
        (Err(e), _) => {
            progress.end("failed");
            Err(e)
        }
    }
}

fn keep_or_discard(s: &Session, meta: Map<String, Value>, timings: Map<String, Value>, e: &RecorderError, report: &mut StopReport) {
    if s.policy.keep_partial && s.trace_dir.events_path().exists() {
        match s.trace_dir.finish(meta, Some(e.code()), timings) {
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

/// Before `os.fork()`: the thread writing the trace beside the run ends
/// until the stream's next flush (CPython warns on `os.fork()` in a
/// process with more than one thread: the program would print a warning
/// that plain python does not).
pub fn before_fork() {
    // (Not from inside a callback, which holds the recorder: a fork there
    // is a finaliser's, and the thread then stays.)
    let s = session_mut().as_mut().filter(|s| !s.busy);
    if let Some(live) = s.and_then(|s| s.recorder.as_mut()).and_then(|r| r.writer.observer_mut()) {
        live.pause();
    }
}

/// In a child created by `os.fork()`: the recording belongs to the parent.
/// Stop the events and forget the session without writing anything (the
/// buffered records are the parent's, and so is the stream file).
pub fn after_fork_in_child(py: Python<'_>) {
    if let Some(mut s) = session_mut().take() {
        tool::uninstall(py, s.tool);
        unhook_os_exit(py);
        // SAFETY: GIL held (at-fork hook).
        unsafe { *FORKED_FROM.0.get() = Some(s.trace_dir.dir.clone()) };
        if let Some(mut r) = s.recorder.take() {
            // The parent's thread: not in this process.
            r.writer.forget_observer_after_fork();
            // Dropping the writer closes the child's copy of the file
            // descriptor and discards the buffer copy, writing nothing.
            drop(r);
        }
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

pub fn recover(dir: &Path) -> RecorderResult<trace_writer::ConvertStats> {
    trace_writer::recover(dir)
}
