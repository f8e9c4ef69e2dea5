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
    /// [`Sink::render`] that also appends, in `nodes`, where each node of
    /// the value lies in its encoding and in its rendering ([`Node`], in
    /// preorder); `depth`: the value's depth in the value it belongs to (as
    /// a recursive render would have it), for the same depth limit.
    fn render_nodes(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>, nodes: &mut Vec<Node>, depth: u32) -> ReadResult<()>;
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
    /// A step's snapshot: [`Sink::value`] for each of `vars` in order, up
    /// to the first not written; how many were.
    fn values(&mut self, vars: &[Var]) -> RecorderResult<usize> {
        for (n, var) in vars.iter().enumerate() {
            if !self.value(var.id, &var.value)? {
                return Ok(n);
            }
        }
        Ok(vars.len())
    }
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
    /// Starts no thread of its own until `gate` is set (set when the
    /// program stopped writing the stream: see [`crate::live`]).
    fn no_threads_until(&mut self, _gate: std::sync::Arc<std::sync::atomic::AtomicBool>) {}
    /// Seconds spent in the sink's stages so far, by name (for the
    /// metadata's `timings`).
    fn stage_seconds(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Completes the trace after the last event; returns the bytes of the
    /// trace file(s).
    fn finish(self, end: &TraceEnd<'_>) -> RecorderResult<u64>;
}

/// One node of a rendered value (a container or a leaf): its byte ranges in
/// the value's compact encoding (`c..c_end`) and in its rendering
/// (`r..r_end`), its children, and how many nodes its subtree has after it
/// (`desc`: the next sibling is `desc + 1` nodes on, in preorder). A value's
/// nodes, kept beside its rendering, let a patch render only the nodes it
/// replaces and splice them in (`replay.rs`, `patch_rendered`): in both
/// formats a container's rendering is its head, its elements' renderings
/// and a tail that depend on the element count only, never on the
/// elements' bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub c: usize,
    pub c_end: usize,
    pub r: usize,
    pub r_end: usize,
    pub children: u64,
    pub desc: usize,
}

/// What a render notes of the nodes it renders: nothing (`()`), or each
/// node's [`Node`] (`Vec<Node>`). A sink's render is written once, generic
/// over it.
pub trait Track {
    /// A node starts at `c` in the encoding and `r` in the rendering;
    /// returns the token [`Track::close`] takes.
    fn open(&mut self, c: usize, r: usize) -> usize;
    /// The node opened as `at` ends at `c_end` / `r_end`, with `children`.
    fn close(&mut self, at: usize, c_end: usize, r_end: usize, children: u64);
}

impl Track for () {
    #[inline(always)]
    fn open(&mut self, _: usize, _: usize) -> usize {
        0
    }

    #[inline(always)]
    fn close(&mut self, _: usize, _: usize, _: usize, _: u64) {}
}

impl Track for Vec<Node> {
    #[inline]
    fn open(&mut self, c: usize, r: usize) -> usize {
        self.push(Node { c, r, ..Node::default() });
        self.len() - 1
    }

    #[inline]
    fn close(&mut self, at: usize, c_end: usize, r_end: usize, children: u64) {
        let desc = self.len() - at - 1;
        if let Some(n) = self.get_mut(at) {
            n.c_end = c_end;
            n.r_end = r_end;
            n.children = children;
            n.desc = desc;
        }
    }
}

/// A variable of an open frame (or an argument of a call).
pub struct Var {
    pub id: u32,
    /// The current value as the sink renders it.
    pub value: Vec<u8>,
    /// The current value as encoded in the stream (what PATCH records edit;
    /// the replay's own).
    pub(crate) compact: Vec<u8>,
    /// Where `compact`'s nodes lie in both (empty until a patch needs them).
    pub(crate) nodes: Vec<Node>,
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
