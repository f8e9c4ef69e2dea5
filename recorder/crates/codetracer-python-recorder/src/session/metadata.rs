//! What the recorder says of a run in its trace's metadata, beyond what
//! the trace writer's one builder (`trace_writer::Metadata`: the keys every
//! trace has, the format and `schema_version`, what the conversion saw)
//! sets itself. At start: the recording's ids, the recorder, the
//! interpreter and how its frames are read, the options; at stop: the end
//! time, the exit status and the recorder's metrics.

use std::path::Path;
use std::time::SystemTime;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{json, Map, Value};
use trace_writer::metadata::{write_array, write_json_float, write_json_text, write_object, write_value};
use trace_writer::{Metadata, TraceDir};

use super::options::StartOptions;
use crate::cpython;
use crate::logging;
use crate::preflight::PythonInfo;
use crate::recorder::Metrics;

/// The metadata of the run starting with `o` into `trace_dir`, under
/// `python`, read through `layout`, named `recording_id`.
pub(super) fn at_start(trace_dir: &TraceDir, o: &StartOptions, python: &PythonInfo, layout: &cpython::Path, recording_id: &str) -> Metadata {
    let workdir = std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut meta = trace_dir.metadata(&workdir, &o.program, &o.args);
    meta.insert("recording_id", json!(recording_id));
    meta.insert("recorder", json!({"name": "codetracer-python-recorder", "version": env!("CARGO_PKG_VERSION")}));
    meta.insert("policy_hash", json!(o.policy.hash()));
    meta.insert(
        "policy",
        json!({"on_recorder_error": o.policy.on_error_str(), "require_trace": o.policy.require_trace, "keep_partial_trace": o.policy.keep_partial}),
    );
    meta.insert("python", json!({"version": python.version, "executable": python.executable, "implementation": python.implementation}));
    meta.insert("values", json!(o.values.as_str()));
    meta.insert("cpython_layout", json!(layout.name()));
    if let Some(reason) = layout.reason() {
        meta.insert("cpython_layout_reason", json!(reason));
    }
    meta.insert("start_time", json!(now()));
    meta.insert("run_id", json!(logging::run_id()));
    let threads = if o.threads {
        "per-thread: this trace is the thread's that started the recording; every other thread that ran recorded code has a trace of its own in threads/ (threads.json); events of other threads no trace holds are counted in metrics.other_thread_events"
    } else {
        "main-only: only the thread that started the recording is recorded; events of other threads are counted in metrics.other_thread_events"
    };
    meta.insert("threads", json!(threads));
    let processes = if o.follow_processes {
        "child processes: a child made by os.fork(), or a new interpreter of this python (subprocess, multiprocessing spawn and forkserver), records into processes/<pid>/ (threads.json)"
    } else {
        "not followed: a child made by os.fork() stops recording at once"
    };
    meta.insert("processes", json!(processes));
    if let Some(a) = &o.activation {
        meta.insert("activation_path", json!(a));
    }
    meta.insert("trace_filter", o.filter_meta.clone());
    meta
}

/// What the run's end adds: when, the exit status (when the program gave
/// one), the recorder's `metrics` ([`metrics_json`]).
pub(super) fn at_stop(meta: &mut Metadata, exit_status: Option<i64>, metrics: Value) {
    meta.insert("end_time", json!(now()));
    if let Some(status) = exit_status {
        meta.insert("exit_status", json!(status));
    }
    meta.insert("metrics", metrics);
}

/// The metadata's `metrics`: what the recorder counted (`detaches`: how
/// often a failure detached it), also handed to the metrics exporter and
/// logged (a warning when events were lost).
pub(super) fn report_metrics(py: Python<'_>, m: &Metrics, detaches: u64) -> Value {
    let panics_caught = crate::ffi::panics_caught();
    crate::metrics::export(
        py,
        &[
            ("dropped_events", m.dropped_events),
            ("other_thread_events", m.other_thread_events),
            ("detaches", detaches),
            ("panics_caught", panics_caught),
            ("unreadable_frames", m.unreadable_frames),
        ],
    );
    let doc = metrics_json(m, detaches);
    if m.dropped_events > 0 || detaches > 0 || panics_caught > 0 {
        log::warn!("recorder metrics: {doc}");
    } else {
        log::info!("recorder metrics: {doc}");
    }
    doc
}

/// The counters of one trace's `metrics`.
pub(super) fn metrics_json(m: &Metrics, detaches: u64) -> Value {
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

/// The time now as the metadata writes it: RFC 3339 in UTC, milliseconds
/// (`2026-01-31T09:05:07.042Z`).
pub(super) fn now() -> String {
    rfc3339(SystemTime::now())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Adds to the finished trace's metadata at `path` the keys of the dict
/// `facts(format, steps)` returns (the trace's format and its step count,
/// read from the metadata; None for one that has none) and writes the file
/// back as Python's `json.dumps(meta, indent=2, ensure_ascii=False)` would
/// after `meta.update(facts)`: the replay estimate (`_replaycost.py`)
/// without Python's `json` after the program, which a program that never
/// imported it would pay for (docs/recorder.md, "Fixed costs"). Returns the
/// facts; None when the metadata cannot be read.
pub fn annotate<'py>(path: &Path, facts: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Ok(fields) = std::fs::read(path).map_err(drop).and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).map_err(drop)) else {
        return Ok(None);
    };
    let format = fields.get("format").and_then(Value::as_str);
    let steps = fields.get("stats").and_then(|s| s.get("steps")).and_then(Value::as_u64);
    let added = facts.call1((format, steps))?.cast_into::<PyDict>()?;
    let mut out = Vec::with_capacity(4096);
    // Keys already there keep their place; new ones follow, in the dict's order.
    let mut entries: Vec<(String, Entry<'_, 'py>)> = fields.iter().map(|(k, v)| (k.clone(), Entry::Value(v))).collect();
    for (k, v) in added.iter() {
        let key: String = k.extract()?;
        match entries.iter_mut().find(|(name, _)| *name == key) {
            Some(slot) => slot.1 = Entry::Py(v),
            None => entries.push((key, Entry::Py(v))),
        }
    }
    write_object(entries, 0, &mut out, write_entry)?;
    out.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &out).and_then(|()| std::fs::rename(&tmp, path))?;
    Ok(Some(added))
}

/// A value of the metadata: read from the file, or given by Python.
enum Entry<'a, 'py> {
    Value(&'a Value),
    Py(Bound<'py, PyAny>),
}

fn write_entry(e: Entry<'_, '_>, depth: usize, out: &mut Vec<u8>) -> PyResult<()> {
    match e {
        Entry::Value(v) => {
            write_value(v, depth, out);
            Ok(())
        }
        Entry::Py(v) => write_py(&v, depth, out),
    }
}

/// `v` (None, a bool, int, float, str, list, tuple or dict with str keys)
/// as Python's `json.dumps(indent=2, ensure_ascii=False)` writes it.
fn write_py(v: &Bound<'_, PyAny>, depth: usize, out: &mut Vec<u8>) -> PyResult<()> {
    if v.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(b) = v.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if v.is_instance_of::<PyInt>() {
        out.extend_from_slice(v.str()?.to_cow()?.as_bytes());
    } else if let Ok(f) = v.cast::<PyFloat>() {
        write_json_float(f.value(), out);
    } else if let Ok(s) = v.cast::<PyString>() {
        write_json_text(&s.to_cow()?, out);
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut entries = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            entries.push((k.extract::<String>()?, v));
        }
        write_object(entries, depth, out, |v, depth, out| write_py(&v, depth, out))?;
    } else if let Ok(l) = v.cast::<PyList>() {
        write_array(l.iter(), depth, out, |v, depth, out| write_py(&v, depth, out))?;
    } else if let Ok(t) = v.cast::<PyTuple>() {
        write_array(t.iter(), depth, out, |v, depth, out| write_py(&v, depth, out))?;
    } else {
        return Err(PyTypeError::new_err(format!("{} cannot be written to trace_metadata.json", v.get_type().name()?)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::rfc3339;

    #[test]
    fn times_are_utc_with_milliseconds() {
        let at = |ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(1_709_208_000_500), "2024-02-29T12:00:00.500Z");
        assert_eq!(at(1_709_251_200_007), "2024-03-01T00:00:00.007Z");
        // Digits below the millisecond are dropped, not rounded.
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_nanos(1_709_164_799_999_999_999)), "2024-02-28T23:59:59.999Z");
    }
}
