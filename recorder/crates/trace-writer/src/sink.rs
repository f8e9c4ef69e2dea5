//! The seam between the replay of the in-run stream and the trace formats:
//! [`Sink`] is what a format implements (one file per format:
//! `json_sink.rs`, `ctfs_sink.rs`), with what it is handed — a [`Var`], the
//! [`TraceEnd`] — and [`write_paths`], the `trace_paths.json` every format's
//! folder has.
//!
//! The replay knows frames, variables, objects and snapshots; a sink only
//! writes events, in trace order, each already complete. Values reach a sink
//! in the sink's own encoding ([`Sink::render`]): the replay keeps each
//! variable's and object's rendering and renders again only what changed.

use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::json_str::write_json_str;
use crate::stream::{ReadResult, StreamReader};

/// An output format of the replay stage.
///
/// Every event method returns whether the event was written: a sink with a
/// size limit (`trace.json` cut to fit a full disk) answers `false` once an
/// event does not fit, and [`Sink::cut`] then stays true until
/// [`Sink::end_cut`].
pub trait Sink: Sized {
    /// Whether the sink can keep its trace within a size limit, cutting it
    /// to the events that fit (a full disk); otherwise a trace that does not
    /// fit is not kept.
    const CUTS_TO_FIT: bool = false;

    /// Creates the trace file `trace` (truncating it); `trace_paths` is
    /// written by [`Sink::finish`] ([`write_paths`]). `limit`: the size the
    /// trace file must keep to (only for a sink that [`Sink::CUTS_TO_FIT`]).
    fn create(trace: &Path, trace_paths: &Path, limit: Option<u64>) -> RecorderResult<Self>;

    /// Appends the value the stream holds at `r` (never an object reference:
    /// the replay resolves those) in this format's encoding. (`&mut self`:
    /// a sink may keep renderings it gives again.)
    fn render(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()>;
    /// `None` (type 0), as this format encodes it.
    fn render_none(out: &mut Vec<u8>);
    /// An `Int` of type `type_id`, as this format encodes it.
    fn render_int(i: i64, type_id: u32, out: &mut Vec<u8>);

    fn path(&mut self, path: &[u8]) -> RecorderResult<bool>;
    fn function(&mut self, path_id: u32, line: u32, name: &[u8]) -> RecorderResult<bool>;
    fn variable_name(&mut self, name: &[u8]) -> RecorderResult<bool>;
    /// `fields`: `None` for a type without specific info, else a struct's
    /// fields (name, type id).
    fn type_record(&mut self, kind: u8, lang_type: &[u8], fields: Option<&[(&[u8], u64)]>) -> RecorderResult<bool>;
    fn step(&mut self, path_id: u32, line: u32) -> RecorderResult<bool>;
    /// A call and its arguments (rendered values).
    fn call(&mut self, function_id: u32, args: &[Var]) -> RecorderResult<bool>;
    fn ret(&mut self, value: &[u8]) -> RecorderResult<bool>;
    /// One variable of the snapshot after a step.
    fn value(&mut self, variable_id: u32, value: &[u8]) -> RecorderResult<bool>;
    /// An `Event` record (`kind`: the schema's `EventLogKind`).
    fn event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> RecorderResult<bool>;

    /// An event did not fit and nothing more is written.
    fn cut(&self) -> bool {
        false
    }
    /// Lifts the size limit (to close the open calls); the limit when an
    /// event did not fit.
    fn end_cut(&mut self) -> Option<u64> {
        None
    }
    /// Ends any thread of the sink's own, its work done (before a `fork()`:
    /// see [`crate::live`]); the sink starts it again when it needs it.
    fn stop_threads(&mut self) -> RecorderResult<()> {
        Ok(())
    }
    /// Seconds spent in the sink's stages so far, by name (for the
    /// metadata's `timings`).
    fn stage_seconds(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Completes the trace after the last event; returns the bytes of the
    /// trace file(s).
    fn finish(self, end: &TraceEnd<'_>) -> RecorderResult<u64>;
}

/// A variable of an open frame (or an argument of a call).
pub struct Var {
    pub id: u32,
    /// The current value as the sink renders it.
    pub value: Vec<u8>,
    /// The current value as encoded in the stream (what PATCH records edit;
    /// the replay's own).
    pub(crate) compact: Vec<u8>,
}

/// What a sink needs to complete a trace.
pub struct TraceEnd<'a> {
    /// What is known of the recording (program, args, workdir, recording id…:
    /// the start of `trace_metadata.json`).
    pub meta: &'a Map<String, Value>,
    /// Every path of the trace, in id order.
    pub paths: &'a [String],
    /// Why the trace stops early, when it does (an error code).
    pub partial: Option<&'a str>,
}

/// Writes `trace_paths.json`: the trace's paths in id order (a folder of
/// every format has it, for tools that copy the sources).
pub fn write_paths(file: &Path, paths: &[String]) -> RecorderResult<()> {
    let mut out = Vec::new();
    out.push(b'[');
    for (i, p) in paths.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(p.as_bytes(), &mut out);
    }
    out.extend_from_slice(b"]\n");
    std::fs::write(file, &out).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, file))
}
