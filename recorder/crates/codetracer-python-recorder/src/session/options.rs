//! What `start()` is asked for and what `stop()` reports: the session's
//! interface with the boundary (`lib.rs`). The options arrive typed: the
//! Python side checked every one (`codetracer_python_recorder/_config.py`).

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::PyErr;
use recorder_errors::RecorderError;
use serde_json::Value;
use trace_writer::Format;

use crate::capture::Bounds;
use crate::policy::Policy;
use crate::recorder::ValuesMode;
use crate::filters::Filter;

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
    pub format: Format,
    /// What is recorded and which values are hidden.
    pub filter: Arc<Filter>,
    /// What the metadata says of the filter (`trace_filter`).
    pub filter_meta: Value,
    /// Every thread that runs recorded code gets a trace of its own
    /// (`threads.rs`); false: only the thread calling `start` is recorded.
    pub threads: bool,
    /// A child made by `os.fork()` records into a trace of its own
    /// (`fork.rs`); false: it stops recording at once.
    pub follow_processes: bool,
    /// The `sys.monitoring` tool id to claim (`tool.rs`): 3 or 4.
    pub tool_id: u8,
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
    /// A forked child's trace left to the parent's stop, which writes it
    /// (docs/recorder.md, "Processes"): not `complete` here, not lost.
    pub handed_to_parent: bool,
}

impl StopReport {
    /// A report on the recording in `trace_dir` with nothing to say yet.
    pub(super) fn new(trace_dir: PathBuf) -> Self {
        Self { trace_dir, complete: false, partial: false, error: None, stats: None, interrupted: None, handed_to_parent: false }
    }
}
