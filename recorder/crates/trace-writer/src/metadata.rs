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
        Self::read(path, dir, true)
    }

    /// The metadata a recording that ended and handed its conversion to
    /// another process left in `recording.json` (its final keys: see
    /// [`crate::TraceDir::hand_over`]).
    pub(crate) fn handed(path: &Path, dir: &Path) -> RecorderResult<Self> {
        Self::read(path, dir, false)
    }

    fn read(path: &Path, dir: &Path, recovered: bool) -> RecorderResult<Self> {
        let mut fields: Map<String, Value> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => Map::new(),
        };
        if recovered {
            fields.insert("recovered".into(), Value::Bool(true));
        }
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

/// `fields` as the bytes of `trace_metadata.json` (and `recording.json`):
/// what Python's `json.dumps(fields, indent=2, ensure_ascii=False)` and a
/// newline make of them (keys in their sorted order, floats as
/// `repr(float)`), so the file is the same whether the recorder wrote it or
/// Python rewrote it (docs/recorder.md, "Fixed costs").
pub fn metadata_text(fields: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let _ = write_object(fields.iter(), 0, &mut out, |v, depth, out| {
        write_value(v, depth, out);
        Ok::<(), ()>(())
    });
    out.push(b'\n');
    out
}

/// Appends `v` nested `depth` levels deep, laid out as [`metadata_text`].
pub fn write_value(v: &Value, depth: usize, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) => write_json_float(f, out),
            None => out.extend_from_slice(n.to_string().as_bytes()),
        },
        Value::String(s) => write_json_text(s, out),
        Value::Array(items) => {
            let _ = write_array(items.iter(), depth, out, |v, depth, out| {
                write_value(v, depth, out);
                Ok::<(), ()>(())
            });
        }
        Value::Object(m) => {
            let _ = write_object(m.iter(), depth, out, |v, depth, out| {
                write_value(v, depth, out);
                Ok::<(), ()>(())
            });
        }
    }
}

/// Appends a dict's `entries` nested `depth` levels deep, laid out as
/// [`metadata_text`]; `value` appends one value (given its depth).
pub fn write_object<K: AsRef<str>, T, E>(
    entries: impl IntoIterator<Item = (K, T)>,
    depth: usize,
    out: &mut Vec<u8>,
    mut value: impl FnMut(T, usize, &mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    write_nested(b'{', b'}', entries, depth, out, |(k, v), out| {
        write_json_text(k.as_ref(), out);
        out.extend_from_slice(b": ");
        value(v, depth + 1, out)
    })
}

/// Appends a list's `items` nested `depth` levels deep, laid out as
/// [`metadata_text`]; `value` appends one item (given its depth).
pub fn write_array<T, E>(
    items: impl IntoIterator<Item = T>,
    depth: usize,
    out: &mut Vec<u8>,
    mut value: impl FnMut(T, usize, &mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    write_nested(b'[', b']', items, depth, out, |v, out| value(v, depth + 1, out))
}

/// `items` between `open` and `close`, one per line, indented by two
/// spaces a level (`[]`, `{}` when there are none): Python's `indent=2`.
fn write_nested<T, E>(
    open: u8,
    close: u8,
    items: impl IntoIterator<Item = T>,
    depth: usize,
    out: &mut Vec<u8>,
    mut item: impl FnMut(T, &mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    out.push(open);
    let mut any = false;
    for it in items {
        out.extend_from_slice(if any { b",\n" } else { b"\n" });
        any = true;
        out.extend(std::iter::repeat_n(b' ', 2 * (depth + 1)));
        item(it, out)?;
    }
    if any {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', 2 * depth));
    }
    out.push(close);
    Ok(())
}

/// A JSON string literal as Python's `json.dumps(ensure_ascii=False)`
/// writes it (the escapes of `serde_json`, which are the same).
pub fn write_json_text(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A float as Python's `json.dumps` writes it: `repr(float)`, and
/// `NaN`/`Infinity`/`-Infinity`.
pub fn write_json_float(f: f64, out: &mut Vec<u8>) {
    match f {
        f if f.is_nan() => out.extend_from_slice(b"NaN"),
        f if f.is_infinite() => out.extend_from_slice(if f < 0.0 { b"-Infinity" } else { b"Infinity" }),
        f => crate::float::write_python_float(f, out),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of Python's `json.dumps(doc, indent=2, ensure_ascii=False) + "\n"`
    /// (CPython 3.12) for the same document: the annotation Python adds
    /// after the recorder wrote the file leaves what it wrote unchanged.
    #[test]
    fn metadata_text_is_pythons_json_dumps() {
        let doc = json!({
            "a": [], "b": {}, "c": [1, 2.5, {"d": null, "e": true}],
            "f": "\u{e9}\u{1}\"\\\n\t\u{7f}\u{2028}",
            "g": 1e-05, "h": 1e16, "i": 123456789.0, "j": 0.0001, "k": -0.0, "l": u64::MAX, "m": -3,
        });
        let Value::Object(fields) = doc else { unreachable!() };
        let want = "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    2.5,\n    {\n      \"d\": null,\n      \"e\": true\n    }\n  ],\n  \"f\": \"\u{e9}\\u0001\\\"\\\\\\n\\t\u{7f}\u{2028}\",\n  \"g\": 1e-05,\n  \"h\": 1e+16,\n  \"i\": 123456789.0,\n  \"j\": 0.0001,\n  \"k\": -0.0,\n  \"l\": 18446744073709551615,\n  \"m\": -3\n}\n";
        assert_eq!(String::from_utf8_lossy(&metadata_text(&fields)), want);
    }
}
