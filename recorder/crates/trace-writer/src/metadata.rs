//! `trace_metadata.json`: the one builder of a trace's metadata. A run
//! starts it ([`Metadata::new`]: the keys every trace has, the format),
//! the recorder adds what it knows of the run, the start is written as
//! `recording.json` beside the stream, and finishing adds what the
//! conversion saw ([`Metadata::finished`]). A recording that died is
//! finished from its `recording.json` ([`Metadata::recovered`]) by the same
//! code, so a recovered trace's metadata differs only by `recovered` and
//! the defaults of what was lost.

use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};

use crate::format::Format;
use crate::replay::ConvertStats;

/// The metadata of one trace: its format and its keys.
#[derive(Debug, Clone)]
pub struct Metadata {
    format: Format,
    fields: Map<String, Value>,
}

impl Metadata {
    /// The start of a trace's metadata: the keys every trace has (where the
    /// program ran, the program, its arguments) and the format.
    pub(crate) fn new(format: Format, workdir: &str, program: &str, args: &[String]) -> Self {
        let mut fields = Map::new();
        fields.insert("workdir".into(), json!(workdir));
        fields.insert("program".into(), json!(program));
        fields.insert("args".into(), json!(args));
        Self::of(format, fields)
    }

    /// `fields` written as `format` (the one place `format` and
    /// `schema_version` are set).
    fn of(format: Format, mut fields: Map<String, Value>) -> Self {
        fields.insert("format".into(), json!(format.as_str()));
        fields.insert("schema_version".into(), json!(format.schema_version()));
        Self { format, fields }
    }

    /// The metadata a recording that died left in `recording.json` (at
    /// `path`, in the trace folder `dir`), marked `recovered`; the keys every
    /// trace has, when the file itself was lost, get defaults. The format is
    /// the one the run was started with (recordings before formats: JSON).
    pub(crate) fn recovered(path: &Path, dir: &Path) -> RecorderResult<Self> {
        let mut fields: Map<String, Value> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => Map::new(),
        };
        fields.insert("recovered".into(), Value::Bool(true));
        fields.entry("workdir").or_insert_with(|| json!(dir.to_string_lossy()));
        fields.entry("program").or_insert_with(|| json!("<unknown>"));
        fields.entry("args").or_insert_with(|| json!([]));
        let format = match fields.get("format").and_then(Value::as_str) {
            None => Format::JSON,
            Some(name) => Format::parse(name).ok_or_else(|| {
                usage!(ErrorCode::FormatUnsupported, "the partial recording asks for trace format {:?}, which this recorder does not write", name)
                    .with_context("path", path.display())
            })?,
        };
        Ok(Self::of(format, fields))
    }

    /// Sets `key` (what the recorder knows of the run).
    pub fn insert(&mut self, key: &str, value: Value) {
        self.fields.insert(key.into(), value);
    }

    /// The format the trace is written as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The keys so far (what a format's own header takes from them).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The document of the finished trace: these keys, and what the
    /// conversion saw — whether the trace is partial and why, the exit
    /// status (when the recorder did not know it, the stream's), its
    /// `stats` (`stream_bytes`: the size of the in-run stream) and
    /// `timings`.
    pub(crate) fn finished(&self, stats: &ConvertStats, partial: Option<ErrorCode>, stream_bytes: u64, timings: Map<String, Value>) -> Map<String, Value> {
        let mut meta = self.fields.clone();
        let partial = stats.partial_reason(partial);
        meta.insert("partial".into(), Value::Bool(partial.is_some()));
        if let Some(code) = partial {
            meta.insert("reason".into(), Value::String(code.as_str().into()));
        }
        if let Some(status) = stats.exit_status {
            meta.entry("exit_status").or_insert(json!(status));
        }
        meta.insert("stats".into(), stats_json(stats, stream_bytes, self.format));
        meta.insert("timings".into(), Value::Object(timings));
        meta
    }
}

fn stats_json(stats: &ConvertStats, stream_bytes: u64, format: Format) -> Value {
    let top: Vec<Value> = stats
        .top_functions
        .iter()
        .map(|(name, path, line, calls)| json!({"name": name, "path": path, "line": line, "calls": calls}))
        .collect();
    let mut s = json!({
        "events": stats.events,
        "steps": stats.steps,
        "calls": stats.calls,
        "returns": stats.returns,
        "values": stats.values,
        "paths": stats.paths.len(),
        "functions": stats.functions,
        "types": stats.types,
        "io_events": stats.io_events,
        "stream_bytes": stream_bytes,
        "closed_open_calls": stats.closed_open_calls,
        "truncated_stream": stats.truncated,
        "cut_to_fit_bytes": stats.cut_to_fit,
        "top_functions": top,
    });
    if let Some(m) = s.as_object_mut() {
        m.insert(format.bytes_key().into(), json!(stats.trace_bytes));
    }
    s
}
