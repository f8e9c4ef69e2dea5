//! `codetracer-python-recorder recover DIR`: a recording that ended without
//! `stop()` (the process was killed, the machine went down) leaves staging
//! folders instead of traces: the folder's own trace's (`.codetracer-partial/`),
//! each other thread's (`threads/.codetracer-partial-<n>/`, `threads.rs`) and
//! each forked child's (`processes/<pid>/`, the same layout again, `fork.rs`).
//! Each becomes a trace marked partial, in the folder `stop()` would have
//! given it, and `threads.json` / `session.toml` list them as `stop()` would
//! have (docs/recorder.md, "Threads", "Processes").

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use recorder_errors::prelude::*;
use serde_json::{json, Value};
use trace_writer::trace_folder::{EVENTS_FILE, RECORDING_FILE, STAGING_DIR, TRACE_METADATA};
use trace_writer::ConvertStats;

use super::threads::{self, PROCESSES_DIR, THREADS_DIR};

/// What `recover` made of a trace folder.
pub struct Recovered {
    /// The folder's own trace (None: it was complete already).
    pub main: Option<ConvertStats>,
    /// Thread traces recovered, in this folder and in its children's.
    pub threads: usize,
    /// Forked children's traces recovered.
    pub processes: usize,
}

/// Recovers every staging folder of the recording in `dir`.
pub(super) fn recover_tree(py: Python<'_>, dir: &Path) -> RecorderResult<Recovered> {
    let main = match has_stream(&dir.join(STAGING_DIR)) {
        true => Some(trace_writer::recover(dir)?),
        false => None,
    };
    let rows = recover_threads(dir);
    let mut done = Recovered { main, threads: rows.len(), processes: 0 };
    for child in std::fs::read_dir(dir.join(PROCESSES_DIR)).into_iter().flatten().flatten() {
        if !child.path().is_dir() || !left_staging(&child.path()) {
            continue;
        }
        match recover_tree(py, &child.path()) {
            Ok(r) => {
                done.processes += usize::from(r.main.is_some()) + r.processes;
                done.threads += r.threads;
            }
            Err(e) => log::warn!("the trace of the forked child in {} could not be recovered: {e}", child.path().display()),
        }
    }
    if done.main.is_none() && done.threads == 0 && done.processes == 0 {
        // Nothing left to recover: the usual answer for a folder without a recording.
        return trace_writer::recover(dir).map(|_| done);
    }
    let children = threads::forked_children(dir);
    if !rows.is_empty() || !children.is_empty() {
        write_index(py, dir, rows, children);
    }
    Ok(done)
}

/// Whether `staging` holds an event stream.
fn has_stream(staging: &Path) -> bool {
    staging.join(EVENTS_FILE).is_file()
}

/// Whether the recording in `dir` left any staging folder (its own, a thread's, a child's).
fn left_staging(dir: &Path) -> bool {
    has_stream(&dir.join(STAGING_DIR))
        || !thread_stagings(dir).is_empty()
        || std::fs::read_dir(dir.join(PROCESSES_DIR)).into_iter().flatten().flatten().any(|c| left_staging(&c.path()))
}

/// The staging folders of `dir`'s thread traces, in the order the threads first recorded.
fn thread_stagings(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("{STAGING_DIR}-");
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join(THREADS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let seq = e.file_name().to_string_lossy().strip_prefix(&prefix)?.parse::<u64>().ok()?;
            has_stream(&e.path()).then(|| (seq, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Each thread staging folder of `dir` becomes `threads/<n>-<name>/`, a
/// trace marked partial (`n` going on from the threads `threads.json`
/// lists already); their rows of `threads.json`.
fn recover_threads(dir: &Path) -> Vec<Value> {
    let mut n = read_index(dir).map(|i| i["threads"].as_array().map_or(0, Vec::len)).unwrap_or(0);
    let mut rows = Vec::new();
    for staging in thread_stagings(dir) {
        let info = read_json(&staging.join(RECORDING_FILE)).unwrap_or(Value::Null);
        let thread = &info["thread"];
        let ident = thread["ident"].as_u64().unwrap_or(0);
        let name = thread["name"].as_str().map_or_else(|| format!("thread-{ident}"), str::to_owned);
        let folder = format!("{THREADS_DIR}/{}-{}", n + 1, threads::folder_name(&name));
        let target = dir.join(&folder);
        let moved = std::fs::create_dir_all(&target).and_then(|_| std::fs::rename(&staging, target.join(STAGING_DIR)));
        if let Err(e) = moved {
            log::warn!("the trace of thread {name} in {} could not be recovered: {e}", staging.display());
            continue;
        }
        match trace_writer::recover(&target) {
            Ok(stats) => {
                n += 1;
                let recording_id = read_json(&target.join(TRACE_METADATA)).map(|m| m["recording_id"].clone()).unwrap_or(Value::Null);
                rows.push(json!({"name": name, "ident": ident, "main": false, "index": n,
                    "started_before_recording": thread["started_before_recording"].as_bool().unwrap_or(false),
                    "incomplete": "the recording ended without stopping (the process was killed): the trace ends where the thread's stream did",
                    "folder": folder, "prefix": folder.trim_start_matches(&format!("{THREADS_DIR}/")),
                    "recording_id": recording_id, "partial": true,
                    "stats": {"events": stats.events, "steps": stats.steps, "calls": stats.calls}}));
            }
            // A thread whose stream holds no event: no trace, as `stop()` gives it.
            Err(e) if e.code() == ErrorCode::NothingTraced => {
                let _ = std::fs::remove_dir_all(&target);
            }
            // (Kept: `recover` of that folder tries again.)
            Err(e) => log::warn!("the trace of thread {name} could not be recovered (its stream stays in {}): {e}", target.display()),
        }
    }
    let _ = std::fs::remove_dir(dir.join(THREADS_DIR));
    rows
}

/// `threads.json` and `session.toml` of `dir` listing its recovered
/// thread traces after those listed already, and its children's traces.
fn write_index(py: Python<'_>, dir: &Path, rows: Vec<Value>, children: Vec<Value>) {
    let writer = match threads::index_writer(py) {
        Ok(w) => w,
        Err(e) => {
            crate::logging::log_error(log::Level::Warn, &e);
            return;
        }
    };
    let own = read_json(&dir.join(TRACE_METADATA)).unwrap_or(Value::Null);
    let mut doc = read_index(dir).unwrap_or_else(|| {
        json!({"main": {"name": "MainThread", "ident": own["thread"]["ident"], "main": true, "folder": ".", "prefix": "main",
            "recording_id": own["recording_id"], "partial": own["partial"]}, "threads": []})
    });
    if let Some(listed) = doc["threads"].as_array_mut() {
        listed.extend(rows);
    }
    doc["processes"] = Value::Array(children);
    threads::write_doc(py, &writer, dir, &doc);
}

fn read_index(dir: &Path) -> Option<Value> {
    read_json(&dir.join(threads::THREADS_INDEX)).filter(|i| i["main"].is_object())
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
