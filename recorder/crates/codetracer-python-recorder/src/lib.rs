//! `codetracer_python_recorder._native`: the Rust side of the recorder.
//!
//! Modules: [`monitoring`] (sys.monitoring install and callbacks),
//! [`recorder`] (what each event records), [`capture`] (values),
//! [`cpython`] (every CPython layout fact, the self-check and the portable
//! path), [`session`] (one recording's lifecycle),
//! [`policy`] (docs/design/error-policy.md §5 switches), [`preflight`], [`logging`] and
//! [`ffi`] (the boundary every entry point goes through).

mod capture;
mod child_env;
mod cpython;
mod env;
mod exit_seen;
#[cfg(feature = "fault-injection")]
mod fault;
mod ffi;
mod filters;
mod lines;
mod logging;
mod memo;
mod metrics;
mod monitoring;
mod os_thread;
mod policy;
mod preflight;
mod program_output;
mod purity;
mod recorder;
mod session;
mod stdvalues;
mod text;
mod tool;

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use recorder_errors::prelude::*;

use crate::capture::Bounds;
use crate::ffi::py_dispatch;
use crate::policy::{OnError, Policy};
use crate::recorder::ValuesMode;

/// Sends the recorder's diagnostics where `_config.py` resolved them to go
/// (`log_level`: a name it checked; `log_file`: None or "" for stderr) —
/// the command line does this before the program runs, for the errors it
/// may report before `start`.
#[pyfunction]
#[pyo3(signature = (log_level, log_file=None))]
fn configure_logging(py: Python<'_>, log_level: &str, log_file: Option<String>) -> PyResult<()> {
    py_dispatch(py, "configure_logging", || {
        let level = checked("log_level", log_level, logging::parse_level)?;
        logging::configure(level, log_file.as_deref().filter(|s| !s.is_empty()))
    })
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (trace_dir, program, args, *, values=ValuesMode::Locals.as_str(), activation_path=None, max_depth=None, max_items=None, max_str=None, max_nodes=None, skip_prefixes=Vec::new(), format=None, on_recorder_error="abort", require_trace=false, keep_partial_trace=false, log_level="warn", log_file=None, trace_filter=None, threads=false, follow_processes=false, tool_id="3"))]
fn start(
    py: Python<'_>,
    trace_dir: PathBuf,
    program: String,
    args: Vec<String>,
    values: &str,
    activation_path: Option<String>,
    max_depth: Option<u32>,
    max_items: Option<u32>,
    max_str: Option<u32>,
    max_nodes: Option<u32>,
    skip_prefixes: Vec<String>,
    format: Option<&str>,
    on_recorder_error: &str,
    require_trace: bool,
    keep_partial_trace: bool,
    log_level: &str,
    log_file: Option<String>,
    trace_filter: Option<Bound<'_, PyDict>>,
    threads: bool,
    follow_processes: bool,
    tool_id: &str,
) -> PyResult<String> {
    py_dispatch(py, "start", || {
        let (filter, filter_meta) = match &trace_filter {
            Some(d) => filter_from_py(d)?,
            None => (Arc::new(filters::Filter::everything()), serde_json::json!({"filters": [], "record_all": true, "redact": false})),
        };
        let values = checked("values", values, ValuesMode::parse)?;
        let format = checked("format", format.unwrap_or(trace_writer::Format::DEFAULT.as_str()), trace_writer::Format::parse)?;
        let policy = Policy {
            on_error: checked("on_recorder_error", on_recorder_error, OnError::parse)?,
            require_trace,
            keep_partial: keep_partial_trace,
            log_level: checked("log_level", log_level, logging::parse_level)?,
            log_file: log_file.filter(|s| !s.is_empty()),
        };
        let d = Bounds::default();
        let bounds = Bounds {
            max_depth: max_depth.unwrap_or(d.max_depth),
            max_items: max_items.unwrap_or(d.max_items),
            max_str: max_str.unwrap_or(d.max_str),
            max_nodes: max_nodes.unwrap_or(d.max_nodes),
        };
        let os_exit = wrap_pyfunction!(os_exit, py)
            .map_err(|e| bug!(ErrorCode::Internal, "cannot make the os._exit stand-in: {}", e.value(py)))?
            .into_any();
        let dir = session::start(
            py,
            session::StartOptions {
                trace_dir,
                program,
                args,
                values,
                activation: activation_path,
                bounds,
                skip_prefixes,
                policy,
                format,
                filter,
                filter_meta,
                threads,
                follow_processes,
                tool_id: checked("tool_id", tool_id, tool::parse_tool_id)?,
            },
            os_exit,
        )?;
        Ok(dir.to_string_lossy().into_owned())
    })
}

/// An option's name as its type: the Python side checked the name against
/// the same table (`_config.py`, which gives the user the one message for a
/// bad value), so one that does not parse here is the recorder's own bug.
fn checked<T>(option: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> RecorderResult<T> {
    parse(value).ok_or_else(|| {
        bug!(ErrorCode::Internal, "option {} = {:?} reached the recorder unchecked (_config.py checks every option)", option, value)
    })
}

fn filter_error(py: Python<'_>, e: PyErr) -> RecorderError {
    usage!(ErrorCode::InvalidOption, "invalid trace_filter: {}", e.value(py)).with_context("option", "trace_filter")
}

/// The flattened filter chain of `_filters.resolve()`, compiled; and what
/// the metadata says of it (each file's path and the SHA-256 of its contents).
fn filter_from_py(d: &Bound<'_, PyDict>) -> RecorderResult<(Arc<filters::Filter>, serde_json::Value)> {
    use sha2::{Digest, Sha256};
    let py = d.py();
    let get = |key: &str| -> RecorderResult<Bound<'_, PyAny>> {
        d.get_item(key).map_err(|e| filter_error(py, e))?.ok_or_else(|| usage!(ErrorCode::InvalidOption, "trace_filter has no {:?}", key))
    };
    let text = |o: Bound<'_, PyAny>| o.extract::<String>().map_err(|e| filter_error(py, e));
    let opt_text = |o: Option<Bound<'_, PyAny>>| -> RecorderResult<Option<String>> {
        match o {
            Some(o) if !o.is_none() => o.extract::<String>().map(Some).map_err(|e| filter_error(py, e)),
            _ => Ok(None),
        }
    };
    let default_exec = text(get("default_exec")?)?;
    let default_value = text(get("default_value_action")?)?;
    let mut specs = Vec::new();
    for rule in get("rules")?.try_iter().map_err(|e| filter_error(py, e))? {
        let rule = rule.map_err(|e| filter_error(py, e))?;
        let item = |k: &str| rule.get_item(k).ok();
        specs.push(filters::RuleSpec {
            selector: opt_text(item("selector"))?.unwrap_or_default(),
            exec: opt_text(item("exec"))?,
            value_default: opt_text(item("value_default"))?,
            patterns: item("patterns").map(|p| p.extract::<Vec<(String, String)>>()).transpose().map_err(|e| filter_error(py, e))?.unwrap_or_default(),
            source: opt_text(item("source"))?.unwrap_or_default(),
        });
    }
    // The same chain at every start of a test run: compiled once.
    static COMPILED: memo::Memo<(String, String, Vec<filters::RuleSpec>), Arc<filters::Filter>> = memo::Memo::new();
    let filter = COMPILED.get_or_make((default_exec.clone(), default_value, specs), |(exec, value, specs)| {
        filters::Filter::compile(exec, value, specs.clone()).map(Arc::new)
    })?;
    let provenance: Vec<(String, Vec<u8>)> = get("provenance")?.extract().map_err(|e| filter_error(py, e))?;
    let filters: Vec<serde_json::Value> = provenance
        .iter()
        .map(|(path, data)| {
            let digest = Sha256::digest(data);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({"path": path, "sha256": hex})
        })
        .collect();
    let summary = get("summary")?;
    let field = |k: &str| summary.get_item(k).ok();
    let strings = |k: &str| field(k).and_then(|v| v.extract::<Vec<String>>().ok()).unwrap_or_default();
    let flag = |k: &str| field(k).and_then(|v| v.extract::<bool>().ok()).unwrap_or(false);
    let meta = serde_json::json!({
        "filters": filters,
        "default_exec": default_exec,
        "record_all": flag("record_all"),
        "redact": flag("redact"),
        "include": strings("include"),
        "exclude": strings("exclude"),
        "entry": strings("entry"),
    });
    Ok((filter, meta))
}

/// Ends the recording; returns a dict {trace_dir, complete, partial,
/// error_code, error_message, stats}. Raises the recorder's error when the
/// policy makes it fatal.
#[pyfunction]
#[pyo3(signature = (exit_status=None))]
fn stop(py: Python<'_>, exit_status: Option<i64>) -> PyResult<Bound<'_, PyDict>> {
    let mut r = py_dispatch(py, "stop", || session::stop(py, exit_status))?;
    if let Some(interrupt) = r.interrupted.take() {
        // Ctrl-C while the trace was written: the caller gets the
        // KeyboardInterrupt (the recording is kept unconverted).
        return Err(interrupt);
    }
    let d = PyDict::new(py);
    d.set_item("trace_dir", r.trace_dir.to_string_lossy().into_owned())?;
    d.set_item("complete", r.complete)?;
    d.set_item("partial", r.partial)?;
    d.set_item("handed_to_parent", r.handed_to_parent)?;
    d.set_item("error_code", r.error.as_ref().map(|e| e.code().as_str()))?;
    d.set_item("error_message", r.error.as_ref().map(|e| e.message().to_string()))?;
    d.set_item("error", r.error.as_ref().map(|e| ffi::to_pyerr(py, e).into_value(py)))?;
    d.set_item("stats", r.stats.map(|s| s.to_string()))?;
    Ok(d)
}

/// Adds the dict `facts(format, steps)` returns to the finished trace's
/// metadata at `path` (`session::annotate`); the facts, or None when the
/// metadata cannot be read.
#[pyfunction]
fn _annotate_metadata<'py>(path: PathBuf, facts: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    session::annotate(&path, facts)
}

/// Stands in for `os._exit` while recording: a valid call (one int status)
/// first stops the recording, so the trace holds everything up to the call;
/// then the program's own `os._exit` runs (and reports bad arguments as
/// plain python does).
#[pyfunction]
#[pyo3(name = "_exit", signature = (*args, **kwargs))]
fn os_exit<'py>(py: Python<'py>, args: &Bound<'py, PyTuple>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
    let status = match (args.len(), kwargs.map_or(0, |k| k.len())) {
        (1, 0) => args.get_item(0).ok(),
        (0, 1) => kwargs.and_then(|k| k.get_item("status").ok().flatten()),
        _ => None,
    };
    if let Some(status) = status.and_then(|s| s.extract::<i32>().ok()) {
        if let Some(interrupt) = session::before_os_exit(py, i64::from(status)) {
            return Err(interrupt);
        }
    }
    session::real_os_exit(py)?.call(args, kwargs)
}

/// A stand-in for `real` (the function `name`: `fork_exec`, `posix_spawn`,
/// `posix_spawnp`, `execve`) that gives a child started with an environment
/// the program made the variable of a recording that follows processes
/// (`child_env.rs`; put in place by `_child_env.py`).
#[pyfunction]
fn _parent_env_stand_in<'py>(py: Python<'py>, real: Bound<'py, PyAny>, name: &str, env_index: usize) -> PyResult<Bound<'py, PyAny>> {
    py_dispatch(py, "_parent_env_stand_in", || child_env::stand_in(py, real, name, env_index).map(Bound::into_any))
}

/// Sets the metrics exporter: a callable receiving a dict of counters at the
/// end of each recording (`None`: the default no-op sink).
#[pyfunction]
fn set_metrics_exporter(py: Python<'_>, exporter: Option<Py<PyAny>>) {
    metrics::set_exporter(py, exporter);
}

/// The errors module whose exception classes the recorder raises.
#[pyfunction]
fn _errors_module(py: Python<'_>) -> PyResult<Py<PyModule>> {
    ffi::errors_module(py).map(|m| m.clone_ref(py))
}

/// Called in the child after `os.fork()` (registered by the Python façade).
#[pyfunction]
fn _after_fork_in_child(py: Python<'_>) {
    session::after_fork_in_child(py);
}

/// Says in the recording's metadata (`process`, JSON) that it is of a child
/// process started as a new interpreter (`_processes.py`; docs/recorder.md,
/// "Processes").
#[pyfunction]
fn _mark_child_process(py: Python<'_>, info: &str) -> PyResult<()> {
    py_dispatch(py, "_mark_child_process", || {
        let info = serde_json::from_str(info).map_err(|e| bug!(ErrorCode::Internal, "invalid process info: {e}"))?;
        session::mark_child_process(info)
    })
}

/// The exit status of the `SystemExit` that last left a module's code
/// (`exit_seen.rs`), for a recording stopped at interpreter exit.
#[pyfunction]
fn _exit_status_seen() -> Option<i64> {
    exit_seen::seen()
}

/// Called before `os.fork()` (registered by the Python façade).
#[pyfunction]
fn _before_fork() {
    session::before_fork();
}

/// Records an event of the trace (`kind`: EventLogKind; 11 = Error) on the
/// current step; nothing when no recording is active.
#[pyfunction]
#[pyo3(signature = (kind, content))]
fn record_event(kind: u8, content: &str) {
    session::with_recorder(|rec| rec.on_output(kind, "", content.as_bytes()));
}

#[pyfunction]
fn is_tracing() -> bool {
    session::is_tracing()
}

#[pyfunction]
fn flush(py: Python<'_>) -> PyResult<()> {
    py_dispatch(py, "flush", session::flush)
}

/// Turns a dead recording's staging folders (its own, its threads', its
/// forked children's) into partial traces: the events of its own trace
/// (None: it was complete), and how many thread and child traces were recovered.
#[pyfunction]
fn recover(py: Python<'_>, trace_dir: PathBuf) -> PyResult<(Option<u64>, usize, usize)> {
    py_dispatch(py, "recover", || session::recover(py, &trace_dir).map(|r| (r.main.map(|s| s.events), r.threads, r.processes)))
}

/// Writes a diagnostic line through the recorder's logger (stderr or the log file).
#[pyfunction]
#[pyo3(signature = (level, message, error_code=None))]
fn log_message(level: &str, message: &str, error_code: Option<&str>) {
    let lvl = match level {
        "error" => log::Level::Error,
        "warning" | "warn" => log::Level::Warn,
        "info" => log::Level::Info,
        _ => log::Level::Debug,
    };
    match error_code {
        Some(c) => log::log!(target: "codetracer", lvl, "{} [error_code={}]", message, c),
        None => log::log!(target: "codetracer", lvl, "{}", message),
    }
}

/// `(code, kind, exit_code, description)` for every error code.
#[pyfunction]
fn error_codes() -> Vec<(&'static str, &'static str, i32, &'static str)> {
    ErrorCode::ALL.iter().map(|c| (c.as_str(), c.kind().as_str(), c.exit_code(), c.description())).collect()
}

/// The JSON line of an error (the docs/design/error-policy.md §9 trailer), built by the façade crate.
#[pyfunction]
#[pyo3(signature = (code, message, context=Vec::new()))]
fn error_json(code: &str, message: String, context: Vec<(String, String)>) -> PyResult<String> {
    let c: ErrorCode = code.parse().map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("unknown error code {code}")))?;
    let mut e = RecorderError::new(c, message);
    for (k, v) in context {
        e = e.with_context(Box::leak(k.into_boxed_str()), v);
    }
    Ok(e.to_json_line())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", trace_writer::SCHEMA_VERSION)?;
    // The names of `--format`, from the format table.
    m.add("FORMATS", PyTuple::new(m.py(), trace_writer::Format::ALL.map(|f| f.as_str()))?)?;
    m.add("DEFAULT_FORMAT", trace_writer::Format::DEFAULT.as_str())?;
    // The names of `--values`.
    m.add("VALUES_MODES", PyTuple::new(m.py(), ValuesMode::ALL.map(|v| v.as_str()))?)?;
    let trace_files = PyDict::new(m.py());
    for f in trace_writer::Format::ALL {
        trace_files.set_item(f.as_str(), f.trace_file())?;
    }
    m.add("TRACE_FILES", trace_files)?;
    m.add("EXIT_USAGE", ErrorKind::Usage.exit_code())?;
    m.add("EXIT_ENVIRONMENT", ErrorKind::Environment.exit_code())?;
    m.add("EXIT_TARGET", ErrorKind::Target.exit_code())?;
    m.add("EXIT_INTERNAL", ErrorKind::Internal.exit_code())?;
    m.add("FAULT_INJECTION", cfg!(feature = "fault-injection"))?;
    m.add_function(wrap_pyfunction!(configure_logging, m)?)?;
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(stop, m)?)?;
    m.add_function(wrap_pyfunction!(is_tracing, m)?)?;
    m.add_function(wrap_pyfunction!(record_event, m)?)?;
    m.add("EVENT_STDERR", program_output::STDERR)?;
    m.add("EVENT_ERROR", program_output::ERROR)?;
    m.add_function(wrap_pyfunction!(set_metrics_exporter, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(_mark_child_process, m)?)?;
    m.add_function(wrap_pyfunction!(_exit_status_seen, m)?)?;
    m.add_function(wrap_pyfunction!(_parent_env_stand_in, m)?)?;
    m.add_function(wrap_pyfunction!(flush, m)?)?;
    m.add_function(wrap_pyfunction!(_annotate_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(recover, m)?)?;
    m.add_function(wrap_pyfunction!(log_message, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(error_json, m)?)?;
    m.add_function(wrap_pyfunction!(_errors_module, m)?)?;
    ffi::errors_module(m.py())?;
    Ok(())
}
