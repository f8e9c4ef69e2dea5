//! [`CtfsWriter`] writes `trace.ct`: typed events in ([`TraceEvent`], what
//! `ct-trace-convert` reads from trace.json), or events whose values are
//! already encoded ([`CtfsWriter::raw`], what the recorder's replay stage
//! writes through `trace_writer::ctfs_sink::CtfsSink` — the one `Sink` trait of the
//! formats lives in crate trace-writer).

use std::path::Path;

use recorder_errors::prelude::*;

use crate::cbor::Value;
use crate::container::{ContainerWriter, FileId};
use crate::events::EventLog;
use crate::meta::{self, TraceMeta};

/// A `Type`'s specific info: `None`, or a struct's fields (name, type id).
#[derive(Clone, Copy, Debug)]
pub enum TypeInfo<'a> {
    None,
    Struct(&'a [(&'a str, u64)]),
}

/// One event of a trace, as trace.json holds it (ids are implicit: the n-th
/// `Path` is path n, and so on).
#[derive(Clone, Copy, Debug)]
pub enum TraceEvent<'a> {
    Path(&'a str),
    Function { path_id: u64, line: i64, name: &'a str },
    /// `kind`: the schema's `TypeKind` number.
    Type { kind: u8, lang_type: &'a str, info: TypeInfo<'a> },
    VariableName(&'a str),
    Step { path_id: u64, line: i64 },
    /// `args`: (variable id, value).
    Call { function_id: u64, args: &'a [(u64, Value)] },
    Return { value: &'a Value },
    Value { variable_id: u64, value: &'a Value },
    /// `kind`: the schema's `EventLogKind` number (0 stdout, 2 stderr, ...).
    Event { kind: u8, metadata: &'a str, content: &'a str },
}

/// What a finished sink wrote.
#[derive(Clone, Debug, Default)]
pub struct WriteStats {
    pub events: u64,
    pub steps: u64,
    /// Bytes of the trace file(s).
    pub bytes: u64,
}

/// Writes a CTFS container (`trace.ct`): `events.log` (split-binary,
/// chunked zstd), `events.fmt`, and — last, as the mark of a finished
/// trace — `meta.dat`.
pub struct CtfsWriter {
    w: ContainerWriter,
    log: EventLog,
    paths: Vec<String>,
    steps: u64,
}

impl CtfsWriter {
    /// Creates `path` (truncating it) and starts the trace.
    pub fn create(path: &Path) -> RecorderResult<Self> {
        let mut w = ContainerWriter::create(path)?;
        let events = w.add_file("events.log")?;
        let fmt = w.add_file("events.fmt")?;
        w.append(fmt, b"split-binary")?;
        w.commit(fmt)?;
        w.commit(events)?;
        Ok(CtfsWriter { log: EventLog::new(events)?, w, paths: Vec::new(), steps: 0 })
    }

    /// The event log and its container, to write events whose values are
    /// encoded in place (see [`EventLog::value_with`]) instead of through
    /// [`TraceEvent`]. Paths written this way must also go to
    /// [`CtfsWriter::note_path`].
    pub fn raw(&mut self) -> (&mut EventLog, &mut ContainerWriter) {
        (&mut self.log, &mut self.w)
    }

    /// Chunks written so far, and the container's size in bytes.
    pub fn progress(&self) -> (u64, u64) {
        (self.log.chunks, self.w.len())
    }

    /// Ends the event log's compression thread (before a `fork()`); the
    /// next chunk starts it again. See [`EventLog::stop_thread`].
    pub fn stop_thread(&mut self) -> RecorderResult<()> {
        self.log.stop_thread(&mut self.w)
    }

    /// See [`EventLog::compress_here_until`].
    pub fn compress_here_until(&mut self, gate: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.log.compress_here_until(gate);
    }

    /// Seconds spent compressing `events.log` so far.
    pub fn zstd_seconds(&self) -> f64 {
        self.log.zstd_seconds
    }

    pub fn note_path(&mut self, path: &str) {
        self.paths.push(path.to_owned());
    }

    fn write_meta(&mut self, meta: &TraceMeta) -> RecorderResult<FileId> {
        let mut m = meta.clone();
        if m.paths.is_empty() {
            m.paths = std::mem::take(&mut self.paths);
        }
        let f = self.w.add_file("meta.dat")?;
        self.w.append(f, &meta::encode(&m))?;
        Ok(f)
    }

    /// Flushes the last chunk and writes `meta.dat` and, when `partial` is
    /// given, `partial.txt` holding the reason (readers then know the trace
    /// stops early although it is well-formed).
    pub fn finish_with(mut self, meta: &TraceMeta, partial: Option<&str>) -> RecorderResult<WriteStats> {
        self.log.flush(&mut self.w)?;
        self.log.stop_thread(&mut self.w)?;
        if let Some(reason) = partial {
            let f = self.w.add_file("partial.txt")?;
            self.w.append(f, reason.as_bytes())?;
        }
        self.write_meta(meta)?;
        let events = self.log.events();
        let bytes = self.w.finish()?;
        Ok(WriteStats { events, steps: self.steps, bytes })
    }
}

impl CtfsWriter {
    /// Writes one event (events arrive in trace order).
    pub fn event(&mut self, ev: &TraceEvent<'_>) -> RecorderResult<()> {
        let w = &mut self.w;
        match *ev {
            TraceEvent::Path(p) => {
                self.paths.push(p.to_owned());
                self.log.path(w, p)
            }
            TraceEvent::Function { path_id, line, name } => self.log.function(w, path_id, line, name),
            TraceEvent::Type { kind, lang_type, info } => {
                let fields = match info {
                    TypeInfo::None => None,
                    TypeInfo::Struct(f) => Some(f),
                };
                self.log.type_record(w, kind, lang_type, fields)
            }
            TraceEvent::VariableName(n) => self.log.variable_name(w, n),
            TraceEvent::Step { path_id, line } => {
                self.steps += 1;
                self.log.step(w, path_id, line)
            }
            TraceEvent::Call { function_id, args } => self.log.call_with(w, function_id, |e| {
                e.begin_args(args.len() as u64);
                for (vid, v) in args {
                    e.arg(*vid);
                    e.value(v);
                }
            }),
            TraceEvent::Return { value } => self.log.return_with(w, |e| e.value(value)),
            TraceEvent::Value { variable_id, value } => self.log.value(w, variable_id, value),
            TraceEvent::Event { kind, metadata, content } => self.log.io_event(w, kind, metadata, content),
        }
    }

    /// Completes the trace with its metadata (the sink adds the paths it saw).
    pub fn finish(self, meta: &TraceMeta) -> RecorderResult<WriteStats> {
        self.finish_with(meta, None)
    }
}
