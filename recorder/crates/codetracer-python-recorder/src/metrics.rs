//! Metrics sink (docs/design/error-policy.md §9): the recorder's counters (dropped events,
//! detaches, panics caught, events of other threads, unreadable frames) go
//! into every trace's metadata and the log, and to an exporter when one is
//! set. The default sink does nothing.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// Where counters go at the end of a recording.
pub trait MetricsSink: Send + Sync {
    fn export(&self, py: Python<'_>, counters: &[(&'static str, u64)]);
}

/// The default: counters stay in the metadata and the log only.
pub struct NoopSink;

impl MetricsSink for NoopSink {
    fn export(&self, _py: Python<'_>, _counters: &[(&'static str, u64)]) {}
}

/// A Python callable receiving a dict of counters.
pub struct PythonExporter(Py<PyAny>);

impl MetricsSink for PythonExporter {
    fn export(&self, py: Python<'_>, counters: &[(&'static str, u64)]) {
        let d = PyDict::new(py);
        for (k, v) in counters {
            if d.set_item(*k, *v).is_err() {
                return;
            }
        }
        if let Err(e) = self.0.call1(py, (d,)) {
            // An exporter's failure never fails the recording.
            log::warn!("metrics exporter failed: {}", e.value(py));
        }
    }
}

static SINK: PyOnceLock<Mutex<Box<dyn MetricsSink>>> = PyOnceLock::new();

fn sink(py: Python<'_>) -> &'static Mutex<Box<dyn MetricsSink>> {
    SINK.get_or_init(py, || Mutex::new(Box::new(NoopSink)))
}

/// Installs a Python exporter (`None` restores the no-op sink).
pub fn set_exporter(py: Python<'_>, exporter: Option<Py<PyAny>>) {
    if let Ok(mut s) = sink(py).lock() {
        *s = match exporter {
            Some(f) => Box::new(PythonExporter(f)),
            None => Box::new(NoopSink),
        };
    }
}

pub fn export(py: Python<'_>, counters: &[(&'static str, u64)]) {
    if let Ok(s) = sink(py).lock() {
        s.export(py, counters);
    }
}
