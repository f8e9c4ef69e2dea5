//! The finish (the trace's conversion) as the user sees it: progress of a
//! long one on stderr when stderr is a terminal, and Ctrl-C, which stops it
//! keeping the recording to recover.

use std::io::Write;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use recorder_errors::prelude::*;
use serde_json::{Map, Value};
use trace_writer::{ConvertStats, LiveConvert, Metadata, TraceDir};

/// Converts the recording, checking for signals (Ctrl-C) as it goes and
/// showing progress on a terminal. `Ok(Err(exception))`: a signal handler
/// raised, the conversion stopped and the staging folder is left whole.
pub(super) fn finish_interruptibly(
    py: Python<'_>,
    dir: &TraceDir,
    meta: &Metadata,
    timings: Map<String, Value>,
    live: Option<LiveConvert>,
) -> RecorderResult<Result<ConvertStats, PyErr>> {
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

/// What a finish has shown so far.
struct FinishProgress {
    tty: bool,
    started: Instant,
    last: Option<Instant>,
}

impl FinishProgress {
    /// Shown only for finishes longer than this.
    const AFTER: Duration = Duration::from_millis(500);
    const EVERY: Duration = Duration::from_millis(200);

    fn new() -> Self {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self { tty, started: Instant::now(), last: None }
    }

    /// `done` bytes of `total` converted.
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

    /// The finish ended with `outcome` (`done`, `interrupted`, `failed`):
    /// said on the progress line, if one was shown.
    fn end(&self, outcome: &str) {
        if self.last.is_some() {
            Self::write(&format!("\rcodetracer-python-recorder: writing the trace: {outcome}\x1b[K\n"));
        }
    }

    fn write(text: &str) {
        let stderr = std::io::stderr();
        let mut h = stderr.lock();
        let _ = h.write_all(text.as_bytes());
        let _ = h.flush();
    }
}
