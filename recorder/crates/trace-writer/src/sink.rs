//! The seam between the replay of the in-run stream ([`crate::replay`]) and
//! the trace formats: [`Sink`] is what a format implements, [`Format`] is
//! the one place a format is chosen. A third format is one file with a
//! `Sink` and one line in [`Format`].
//!
//! The replay knows frames, variables, objects and snapshots; a sink only
//! writes events, in trace order, each already complete. Values reach a sink
//! in the sink's own encoding ([`Sink::render`]): the replay keeps each
//! variable's and object's rendering and renders again only what changed.

use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::ct::CtSink;
use crate::json::JsonSink;
use crate::replay::{replay, ConvertStats, Progress, Var};
use crate::stream::{ReadResult, StreamReader};

/// An output format of the replay stage.
///
/// Every event method returns whether the event was written: a sink with a
/// size limit (`trace.json` cut to fit a full disk) answers `false` once an
/// event does not fit, and [`Sink::cut`] then stays true until
/// [`Sink::end_cut`].
pub trait Sink {
    /// Appends the value the stream holds at `r` (never an object reference:
    /// the replay resolves those) in this format's encoding.
    fn render(r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()>;
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
    /// Completes the trace after the last event; returns the bytes of the
    /// trace file(s).
    fn finish(self, end: &TraceEnd<'_>) -> RecorderResult<u64>;
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

/// The trace formats, and the one place each is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `trace.json` + `trace_paths.json`: the design documents' format.
    Json,
    /// `trace.ct`, CodeTracer's CTFS container (`docs/ctfs.md`), + `trace_paths.json`.
    Ctfs,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Json, Format::Ctfs];

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The name of `--format`, `CODETRACER_FORMAT` and the metadata's `format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ctfs => "ctfs",
        }
    }

    /// The files a trace of this format adds to its folder (the first is
    /// the trace itself).
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Format::Json => &[crate::output::TRACE_JSON, crate::output::TRACE_PATHS],
            Format::Ctfs => &[crate::output::TRACE_CT, crate::output::TRACE_PATHS],
        }
    }

    /// `schema_version` of the metadata.
    pub fn schema_version(self) -> &'static str {
        match self {
            Format::Json => crate::output::SCHEMA_VERSION,
            Format::Ctfs => "codetracer_trace_types-0.16.3/ctfs-split-binary",
        }
    }

    /// The metadata's `stats` key for the trace's size.
    pub fn bytes_key(self) -> &'static str {
        match self {
            Format::Json => "trace_json_bytes",
            Format::Ctfs => "trace_ct_bytes",
        }
    }

    /// Whether the trace is written while the program runs
    /// ([`crate::live`]), rather than converted after it.
    pub fn streams(self) -> bool {
        self == Format::Ctfs
    }

    /// Whether a trace that does not fit (a full disk) can be cut to the
    /// events that do (otherwise it is not kept).
    pub fn cuts_to_fit(self) -> bool {
        self == Format::Json
    }
}

/// Replays the stream at `events` into a trace of `format` in `dir` (the
/// files of [`Format::files`]). `limit`: the size trace.json must keep to
/// (JSON only). `Ok(None)` when `progress` answered stop.
pub fn convert(
    format: Format,
    events: &Path,
    dir: &Path,
    limit: Option<u64>,
    partial: Option<ErrorCode>,
    meta: &Map<String, Value>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    let file = |i: usize| dir.join(format.files()[i]);
    match format {
        Format::Json => replay(events, JsonSink::create(&file(0), &file(1), limit)?, partial, meta, progress),
        Format::Ctfs => replay(events, CtSink::create(&file(0), &file(1))?, partial, meta, progress),
    }
}
