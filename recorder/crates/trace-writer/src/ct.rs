//! The CTFS format: `trace.ct`, CodeTracer's binary container
//! (`docs/ctfs.md`), written through crate `ctfs` — the same writer
//! `ct-trace-convert` uses. Values arrive as CBOR rendered from the compact
//! stream ([`crate::cbor::write_cbor`]), so the replay's cached per-variable
//! renderings go into `events.log` as they are.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ctfs::{CtfsSink, TraceMeta, ValueEncoder};
use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::replay::Var;
use crate::sink::{Sink, TraceEnd};
use crate::stream::{ReadResult, StreamReader};

/// Writes `trace.ct`: events into chunked `events.log`, `meta.dat` last
/// (its presence marks a finished trace), `partial.txt` when the trace stops
/// early; and `trace_paths.json` beside it.
pub struct CtSink {
    inner: CtfsSink,
    paths_file: PathBuf,
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl CtSink {
    /// Creates `trace_ct`; `trace_paths` (the paths as JSON, for tools that
    /// copy the sources) is written by [`Sink::finish`].
    pub fn create(trace_ct: &Path, trace_paths: &Path) -> RecorderResult<Self> {
        Ok(CtSink { inner: CtfsSink::create(trace_ct)?, paths_file: trace_paths.to_path_buf() })
    }
}

/// `meta.dat`'s fields from what the recording knows of itself (the start
/// of `trace_metadata.json`).
pub fn trace_meta(meta: &Map<String, Value>, paths: &[String]) -> TraceMeta {
    let s = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let recorder = meta.get("recorder");
    let part = |k: &str| recorder.and_then(|r| r.get(k)).and_then(Value::as_str).unwrap_or_default();
    let recorder_id = match (part("name"), part("version")) {
        ("", _) => "codetracer-python-recorder".to_owned(),
        (name, "") => name.to_owned(),
        (name, version) => format!("{name} {version}"),
    };
    TraceMeta {
        recording_id: s("recording_id"),
        program: s("program"),
        args: meta
            .get("args")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        workdir: s("workdir"),
        recorder_id,
        paths: paths.to_vec(),
    }
}

impl Sink for CtSink {
    fn render(r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()> {
        crate::cbor::write_cbor(r, out, 0)
    }

    fn render_none(out: &mut Vec<u8>) {
        ValueEncoder::new(out).none_value(0);
    }

    fn render_int(i: i64, type_id: u32, out: &mut Vec<u8>) {
        ValueEncoder::new(out).int_value(i, u64::from(type_id));
    }

    fn path(&mut self, path: &[u8]) -> RecorderResult<bool> {
        let p = text(path);
        self.inner.note_path(&p);
        let (log, w) = self.inner.raw();
        log.path(w, &p)?;
        Ok(true)
    }

    fn function(&mut self, path_id: u32, line: u32, name: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.function(w, u64::from(path_id), i64::from(line), &text(name))?;
        Ok(true)
    }

    fn variable_name(&mut self, name: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.variable_name(w, &text(name))?;
        Ok(true)
    }

    fn type_record(&mut self, kind: u8, lang_type: &[u8], fields: Option<&[(&[u8], u64)]>) -> RecorderResult<bool> {
        let names: Vec<(Cow<'_, str>, u64)> = fields.unwrap_or_default().iter().map(|(n, t)| (text(n), *t)).collect();
        let fields: Option<Vec<(&str, u64)>> = fields.map(|_| names.iter().map(|(n, t)| (n.as_ref(), *t)).collect());
        let (log, w) = self.inner.raw();
        log.type_record(w, kind, &text(lang_type), fields.as_deref())?;
        Ok(true)
    }

    fn step(&mut self, path_id: u32, line: u32) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.step(w, u64::from(path_id), i64::from(line))?;
        Ok(true)
    }

    fn call(&mut self, function_id: u32, args: &[Var]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.call_with(w, u64::from(function_id), |e| {
            e.begin_args(args.len() as u64);
            for a in args {
                e.arg(u64::from(a.id));
                e.encoded(&a.value);
            }
        })?;
        Ok(true)
    }

    fn ret(&mut self, value: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.return_with(w, |e| e.encoded(value))?;
        Ok(true)
    }

    fn value(&mut self, variable_id: u32, value: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.value_encoded(w, u64::from(variable_id), value)?;
        Ok(true)
    }

    fn event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.io_event(w, kind, &text(metadata), &text(content))?;
        Ok(true)
    }

    fn finish(self, end: &TraceEnd<'_>) -> RecorderResult<u64> {
        let meta = trace_meta(end.meta, end.paths);
        let bytes = self.inner.finish_with(&meta, end.partial)?.bytes;
        crate::json::write_paths(&self.paths_file, end.paths)?;
        Ok(bytes)
    }
}
