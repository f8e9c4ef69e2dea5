//! The replay stage: compact stream → the events of a trace with full
//! snapshots, handed to a [`Sink`] (one per format).
//!
//! Runs after the traced program finished (or on a partial stream left by a
//! recording that died). It keeps, per open frame, each visible variable's
//! current value (as the stream encodes it, and as the sink renders it), and
//! after every `Step` hands the sink the full snapshot the db-backend
//! expects. Memory is bounded by the stream read chunk, the interning tables
//! and the open frames — never by the trace length.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::sink::{Node, Sink, TraceEnd, Var};
use crate::stream::{readable_header, tag, unzigzag, ReadError, StreamReader, MAGIC};
use crate::value::{self, vtag};

pub(crate) const READ_CHUNK: usize = 8 << 20;
/// EventLogKind Error: never joined with another event.
const EVENT_ERROR: u8 = 11;
/// Bytes of one step's events held before they are written anyway.
const EVENTS_HELD: usize = 1 << 20;
const TOP_FUNCTIONS: usize = 20;

/// What the conversion saw; goes into the metadata's `stats`.
#[derive(Debug, Default, Clone)]
pub struct ConvertStats {
    pub events: u64,
    pub steps: u64,
    pub calls: u64,
    pub returns: u64,
    pub values: u64,
    pub paths: Vec<String>,
    pub functions: u64,
    pub types: u64,
    pub io_events: u64,
    /// (name, path, line, calls), most called first.
    pub top_functions: Vec<(String, String, u32, u64)>,
    /// The stream ended with an END record (a finished recording).
    pub ended: bool,
    /// The stream stopped in the middle of a record (its writer died).
    pub truncated: bool,
    /// Calls that were still open at the end and got a synthetic Return.
    pub closed_open_calls: u64,
    pub exit_status: Option<i64>,
    /// Bytes of the trace file (trace.json, trace.ct), counted by its writer.
    pub trace_bytes: u64,
    /// The conversion stopped at the last whole event that fit in a size
    /// limit (a full disk or a file size limit): the limit in bytes.
    pub cut_to_fit: Option<u64>,
    /// Seconds by stage, for the metadata's `timings`: `replay_cpu_seconds`
    /// (CPU time of the thread(s) replaying the stream, rendering values and
    /// writing events — compression included when the sink does it there)
    /// and the sink's own ([`Sink::stage_seconds`]).
    pub stage_seconds: Vec<(&'static str, f64)>,
}

impl ConvertStats {
    /// Why a trace of these stats stops early: `partial` (the caller's
    /// reason), else a stream that did not reach its END record.
    pub fn partial_reason(&self, partial: Option<ErrorCode>) -> Option<ErrorCode> {
        partial.or((!self.ended).then_some(ErrorCode::TraceStreamCorrupt))
    }
}

struct Frame {
    /// The frame's variables, in order of first binding.
    vars: Vec<Var>,
}

/// An object the stream defined (`OBJ`): its encoding, and its rendering
/// once a reference needed it.
#[derive(Default)]
struct Obj {
    compact: Vec<u8>,
    rendered: Vec<u8>,
    /// `rendered` is `compact`'s rendering, and `nodes` (when not empty)
    /// their nodes.
    fresh: bool,
    nodes: Vec<Node>,
}

/// Buffers a patch reuses ([`patch_rendered`]).
#[derive(Default)]
struct PatchScratch {
    path: Vec<u32>,
    /// Ancestors of the patched node.
    above: Vec<usize>,
    /// The new node's rendering and nodes.
    out: Vec<u8>,
    nodes: Vec<Node>,
}

/// Renders `compact` into `rendered` anew, noting its nodes.
fn render_all<S: Sink>(sink: &mut S, compact: &[u8], rendered: &mut Vec<u8>, nodes: &mut Vec<Node>) -> Result<(), ReadError> {
    rendered.clear();
    nodes.clear();
    let done = sink.render_nodes(&mut StreamReader::records(compact), rendered, nodes, 0);
    if done.is_err() {
        nodes.clear();
    }
    done
}

/// `n` PATCH edits (read from `r`) applied to a value: its encoding
/// `compact`, its rendering `rendered` and their `nodes` (empty when not
/// known: then the edits go to the encoding and the whole value is
/// rendered again, its nodes noted). With the nodes known, each edit
/// renders only the node it replaces and splices it into both, the other
/// nodes' offsets moved by the difference: the same bytes as a whole render
/// (docs/recorder.md, "Formats: one replay, one sink each"). An edit whose
/// node cannot be rendered alone goes the whole way, with the rest.
fn patch_rendered<S: Sink>(
    sink: &mut S,
    compact: &mut Vec<u8>,
    rendered: &mut Vec<u8>,
    nodes: &mut Vec<Node>,
    n: u64,
    r: &mut StreamReader<'_>,
    scratch: &mut PatchScratch,
) -> Result<(), ReadError> {
    if nodes.is_empty() {
        value::apply_patches(compact, n, r)?;
        return render_all(sink, compact, rendered, nodes);
    }
    for i in 0..n {
        scratch.path.clear();
        let len = r.varint()?;
        for _ in 0..len {
            scratch.path.push(r.id()?);
        }
        let start = r.pos();
        value::skip(r, 0)?;
        let leaf = &r.data()[start..r.pos()];
        if splice_edit(sink, compact, rendered, nodes, leaf, scratch).is_err() {
            nodes.clear();
            let range = value::locate(compact, &scratch.path)?;
            compact.splice(range, leaf.iter().copied());
            value::apply_patches(compact, n - i - 1, r)?;
            return render_all(sink, compact, rendered, nodes);
        }
    }
    Ok(())
}

/// One edit (`scratch.path`, the new node `leaf`) spliced into a value with
/// known nodes; changes nothing when it fails.
fn splice_edit<S: Sink>(
    sink: &mut S,
    compact: &mut Vec<u8>,
    rendered: &mut Vec<u8>,
    nodes: &mut Vec<Node>,
    leaf: &[u8],
    scratch: &mut PatchScratch,
) -> Result<(), ReadError> {
    let PatchScratch { path, above, out, nodes: new } = scratch;
    above.clear();
    let mut at = 0usize;
    for &child in path.iter() {
        let node = nodes.get(at).ok_or(ReadError::Corrupt)?;
        if u64::from(child) >= node.children {
            return Err(ReadError::Corrupt);
        }
        above.push(at);
        at += 1;
        for _ in 0..child {
            at += 1 + nodes.get(at).ok_or(ReadError::Corrupt)?.desc;
        }
    }
    let old = *nodes.get(at).ok_or(ReadError::Corrupt)?;
    out.clear();
    new.clear();
    sink.render_nodes(&mut StreamReader::records(leaf), out, new, path.len() as u32)?;
    let end = at + old.desc + 1;
    if compact.len() < old.c_end || rendered.len() < old.r_end || nodes.len() < end {
        return Err(ReadError::Corrupt);
    }
    replace_range(compact, old.c..old.c_end, leaf);
    replace_range(rendered, old.r..old.r_end, out);
    let dc = leaf.len() as isize - (old.c_end - old.c) as isize;
    let dr = out.len() as isize - (old.r_end - old.r) as isize;
    let dd = new.len() as isize - (old.desc + 1) as isize;
    for &a in above.iter() {
        if let Some(a) = nodes.get_mut(a) {
            a.c_end = a.c_end.wrapping_add_signed(dc);
            a.r_end = a.r_end.wrapping_add_signed(dr);
            a.desc = a.desc.wrapping_add_signed(dd);
        }
    }
    if dc != 0 || dr != 0 {
        for n in nodes.iter_mut().skip(end) {
            n.c = n.c.wrapping_add_signed(dc);
            n.c_end = n.c_end.wrapping_add_signed(dc);
            n.r = n.r.wrapping_add_signed(dr);
            n.r_end = n.r_end.wrapping_add_signed(dr);
        }
    }
    for n in new.iter_mut() {
        n.c += old.c;
        n.c_end += old.c;
        n.r += old.r;
        n.r_end += old.r;
    }
    if new.len() == end - at {
        nodes[at..end].copy_from_slice(new);
    } else {
        nodes.splice(at..end, new.iter().copied());
    }
    Ok(())
}

/// `v[range]` replaced by `with` (in place when the lengths agree).
fn replace_range<T: Copy>(v: &mut Vec<T>, range: std::ops::Range<usize>, with: &[T]) {
    if range.len() == with.len() {
        v[range].copy_from_slice(with);
    } else {
        v.splice(range, with.iter().copied());
    }
}

struct FunctionInfo {
    path_id: u32,
    line: u32,
    name: String,
    calls: u64,
}

/// Told how far a conversion got (stream bytes read, stream size); answers
/// whether to go on. A conversion told to stop leaves no trace.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Records converted between two calls of the progress hook.
const PROGRESS_EVERY: u32 = 1 << 14;

struct Replay<S: Sink> {
    sink: S,
    frames: Vec<Frame>,
    functions: Vec<FunctionInfo>,
    snapshot_pending: bool,
    stats: ConvertStats,
    spare: Vec<Vec<u8>>,
    /// Node lists of variables gone, for the next patched one.
    spare_nodes: Vec<Vec<Node>>,
    patch_scratch: PatchScratch,
    /// By object id (`OBJ` records).
    objs: Vec<Obj>,
    /// The events of the current step, written before the next Step (or at
    /// the end): consecutive writes to one stream join (`print` writes its
    /// text and its newline separately), and an Error event ending the
    /// trace goes first among its step's events — the replay backend flags
    /// an error end only from the last step's first event.
    events: Vec<(u8, Vec<u8>, Vec<u8>)>,
    events_bytes: usize,
    /// The last argument value of each variable (by its id, direct-mapped):
    /// its encoding and its rendering ([`Replay::arg_value`]).
    args_seen: Vec<(u32, Vec<u8>, Vec<u8>)>,
}

/// Entries of [`Replay::args_seen`]; values past `ARG_SEEN_BYTES` are not kept.
const ARGS_SEEN: usize = 1024;
const ARG_SEEN_BYTES: usize = 512;

impl<S: Sink> Replay<S> {
    fn flush_events(&mut self) -> RecorderResult<()> {
        let mut events = std::mem::take(&mut self.events);
        self.events_bytes = 0;
        for (kind, metadata, content) in events.drain(..) {
            if self.sink.event(kind, &metadata, &content)? {
                self.stats.events += 1;
                self.stats.io_events += 1;
            }
        }
        self.events = events;
        Ok(())
    }

    fn push_event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> RecorderResult<()> {
        self.events_bytes += content.len() + metadata.len();
        match self.events.last_mut() {
            Some((k, m, c)) if *k == kind && m[..] == *metadata && kind != EVENT_ERROR => c.extend_from_slice(content),
            _ => {
                if kind == EVENT_ERROR {
                    // First among its step's events (see `events`).
                    self.events.insert(0, (kind, metadata.to_vec(), content.to_vec()));
                } else {
                    self.events.push((kind, metadata.to_vec(), content.to_vec()));
                }
            }
        }
        if self.events_bytes > EVENTS_HELD {
            self.flush_events()?;
        }
        Ok(())
    }

    fn flush_snapshot(&mut self) -> RecorderResult<()> {
        if !self.snapshot_pending {
            return Ok(());
        }
        self.snapshot_pending = false;
        let Some(frame) = self.frames.last() else { return Ok(()) };
        let n = self.sink.values(&frame.vars)? as u64;
        self.stats.events += n;
        self.stats.values += n;
        Ok(())
    }

    fn buffer(&mut self) -> Vec<u8> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        v
    }

    fn render(&mut self, r: &mut StreamReader<'_>) -> Result<Vec<u8>, ReadError> {
        let mut v = self.buffer();
        self.sink.render(r, &mut v)?;
        Ok(v)
    }

    /// A variable's value read from the stream: its rendering and its
    /// encoding (an object reference stands for the object's encoding as of
    /// now).
    fn var_value(&mut self, id: u32, r: &mut StreamReader<'_>) -> Result<Var, ReadError> {
        let start = r.pos();
        if r.data().get(start) == Some(&vtag::OBJ) {
            r.u8()?;
            let o = r.id()? as usize;
            let obj = self.objs.get_mut(o).ok_or(ReadError::Corrupt)?;
            if !obj.fresh {
                // Its nodes are noted once it is patched (`obj_patch`).
                obj.rendered.clear();
                obj.nodes.clear();
                self.sink.render(&mut StreamReader::records(&obj.compact), &mut obj.rendered)?;
                obj.fresh = true;
            }
            let mut value = self.spare.pop().unwrap_or_default();
            value.clear();
            let obj = &self.objs[o];
            value.extend_from_slice(&obj.rendered);
            let mut compact = self.spare.pop().unwrap_or_default();
            compact.clear();
            compact.extend_from_slice(&obj.compact);
            return Ok(Var { id, value, compact, nodes: Vec::new() });
        }
        let value = self.render(r)?;
        let mut compact = self.buffer();
        compact.extend_from_slice(&r.data()[start..r.pos()]);
        Ok(Var { id, value, compact, nodes: Vec::new() })
    }

    /// A call's argument: [`Replay::var_value`], re-using the rendering of
    /// the variable's previous argument when its encoding is the same bytes
    /// (a sink's rendering depends on the encoding alone: [`Sink::render`]).
    /// A resumed generator's Call shows every local it holds, most of them
    /// as at its previous resume.
    fn arg_value(&mut self, id: u32, r: &mut StreamReader<'_>) -> Result<Var, ReadError> {
        let start = r.pos();
        if r.data().get(start) == Some(&vtag::OBJ) {
            return self.var_value(id, r);
        }
        value::skip(r, 0)?;
        let data = r.data();
        let encoded = &data[start..r.pos()];
        let at = id as usize % ARGS_SEEN;
        let mut value = self.buffer();
        match self.args_seen.get(at) {
            Some((seen, c, v)) if *seen == id && c[..] == *encoded => value.extend_from_slice(v),
            _ => {
                self.sink.render(&mut StreamReader::records(encoded), &mut value)?;
                if encoded.len() <= ARG_SEEN_BYTES {
                    if self.args_seen.len() <= at {
                        self.args_seen.resize_with(ARGS_SEEN, || (u32::MAX, Vec::new(), Vec::new()));
                    }
                    let (seen, c, v) = &mut self.args_seen[at];
                    *seen = id;
                    c.clear();
                    c.extend_from_slice(encoded);
                    v.clear();
                    v.extend_from_slice(&value);
                }
            }
        }
        let mut compact = self.buffer();
        compact.extend_from_slice(encoded);
        Ok(Var { id, value, compact, nodes: Vec::new() })
    }

    fn recycle(&mut self, mut var: Var) {
        if self.spare.len() < 4096 {
            self.spare.push(var.value);
            self.spare.push(var.compact);
        }
        if var.nodes.capacity() > 0 && self.spare_nodes.len() < 1024 {
            var.nodes.clear();
            self.spare_nodes.push(var.nodes);
        }
    }

    /// A PATCH record's edits applied to the variable's encoding and its
    /// rendering ([`patch_rendered`]), once the record is known to be whole
    /// (a record cut by the end of what was read is read again whole).
    fn patch(&mut self, r: &mut StreamReader<'_>) -> Result<(), ReadError> {
        let id = r.id()?;
        let n = r.varint()?;
        let start = r.pos();
        value::skip_patches(r, n)?;
        let mut edits = StreamReader::records(&r.data()[start..r.pos()]);
        let Some(var) = self.frames.last_mut().and_then(|f| f.vars.iter_mut().find(|v| v.id == id)) else {
            return Err(ReadError::Corrupt);
        };
        if var.nodes.capacity() == 0 {
            if let Some(nodes) = self.spare_nodes.pop() {
                var.nodes = nodes;
            }
        }
        patch_rendered(&mut self.sink, &mut var.compact, &mut var.value, &mut var.nodes, n, &mut edits, &mut self.patch_scratch)
    }

    /// An OBJ record: the object's encoding anew (ids are given in order:
    /// a new one is the next).
    fn obj(&mut self, r: &mut StreamReader<'_>) -> Result<(), ReadError> {
        let o = r.id()? as usize;
        let start = r.pos();
        value::skip(r, 0)?;
        let bytes = &r.data()[start..r.pos()];
        if o == self.objs.len() {
            self.objs.push(Obj::default());
        }
        let obj = self.objs.get_mut(o).ok_or(ReadError::Corrupt)?;
        obj.compact.clear();
        obj.compact.extend_from_slice(bytes);
        obj.fresh = false;
        Ok(())
    }

    /// An OBJ_PATCH record, applied once it is known to be whole.
    fn obj_patch(&mut self, r: &mut StreamReader<'_>) -> Result<(), ReadError> {
        let o = r.id()? as usize;
        let n = r.varint()?;
        let start = r.pos();
        value::skip_patches(r, n)?;
        let obj = self.objs.get_mut(o).ok_or(ReadError::Corrupt)?;
        let mut edits = StreamReader::records(&r.data()[start..r.pos()]);
        if obj.fresh {
            // Its rendering follows the edits (and its nodes, noted at the
            // first patch).
            let done = patch_rendered(&mut self.sink, &mut obj.compact, &mut obj.rendered, &mut obj.nodes, n, &mut edits, &mut self.patch_scratch);
            obj.fresh = done.is_ok();
            return done;
        }
        value::apply_patches(&mut obj.compact, n, &mut edits)?;
        Ok(())
    }

    fn write_return(&mut self, value: &[u8]) -> RecorderResult<bool> {
        let written = self.sink.ret(value)?;
        self.stats.events += u64::from(written);
        self.stats.returns += u64::from(written);
        Ok(written)
    }

    fn pop_frame(&mut self) {
        if let Some(frame) = self.frames.pop() {
            for var in frame.vars {
                self.recycle(var);
            }
        }
    }

    /// One record; `Err(Truncated)` leaves the reader where the record began.
    fn record(&mut self, r: &mut StreamReader<'_>) -> Result<(), ConvError> {
        let t = r.u8()?;
        // Records that change values before the step's snapshot is written,
        // and interning records (a name or type first used by those values:
        // written before the snapshot, which then still belongs to the step).
        if !matches!(
            t,
            tag::SET | tag::UNSET | tag::PATCH | tag::OBJ | tag::OBJ_PATCH | tag::VARNAME | tag::TYPE | tag::PATH | tag::FUNCTION
        ) {
            self.flush_snapshot()?;
        }
        match t {
            tag::PATH => {
                let p = r.str()?;
                if self.sink.path(p)? {
                    self.stats.events += 1;
                    self.stats.paths.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            tag::FUNCTION => {
                let path_id = r.id()?;
                let line = r.id()?;
                let name = r.str()?;
                self.functions.push(FunctionInfo {
                    path_id,
                    line,
                    name: String::from_utf8_lossy(name).into_owned(),
                    calls: 0,
                });
                if self.sink.function(path_id, line, name)? {
                    self.stats.events += 1;
                    self.stats.functions += 1;
                }
            }
            tag::VARNAME => {
                let name = r.str()?;
                if self.sink.variable_name(name)? {
                    self.stats.events += 1;
                }
            }
            tag::TYPE => {
                let kind = r.u8()?;
                let lang_type = r.str()?;
                let has_fields = r.u8()?;
                let written = if has_fields == 0 {
                    self.sink.type_record(kind, lang_type, None)?
                } else {
                    let n = r.varint()?;
                    let mut fields = Vec::with_capacity(n.min(256) as usize);
                    for _ in 0..n {
                        let name = r.str()?;
                        fields.push((name, r.varint()?));
                    }
                    self.sink.type_record(kind, lang_type, Some(&fields))?
                };
                if written {
                    self.stats.events += 1;
                    self.stats.types += 1;
                }
            }
            tag::STEP => {
                let path_id = r.id()?;
                let line = r.id()?;
                self.snapshot_pending = self.write_step(path_id, line)?;
            }
            tag::CALL => {
                let function_id = r.id()?;
                let nargs = r.varint()?;
                let mut vars = Vec::with_capacity(nargs.min(64) as usize);
                for _ in 0..nargs {
                    let var = r.id()?;
                    let value = self.arg_value(var, r)?;
                    vars.push(value);
                }
                let Some(func) = self.functions.get_mut(function_id as usize) else {
                    return Err(ConvError::Read(ReadError::Corrupt));
                };
                func.calls += 1;
                let (path_id, line) = (func.path_id, func.line);
                // A Step at the function's first line, then the Call, whose
                // `args` give that step its arguments. (Argument Values before
                // the Step would belong to the caller's step in a replay.)
                if function_id != 0 {
                    self.write_step(path_id, line)?;
                }
                if self.sink.call(function_id, &vars)? {
                    self.stats.events += 1;
                    self.stats.calls += 1;
                    self.frames.push(Frame { vars });
                } else {
                    for var in vars {
                        self.recycle(var);
                    }
                }
            }
            tag::RETURN => {
                let value = self.render(r)?;
                if self.frames.len() > 1 && self.write_return(&value)? {
                    self.pop_frame();
                }
                self.spare.push(value);
            }
            tag::SET => {
                let var = r.id()?;
                let value = self.var_value(var, r)?;
                if let Some(frame) = self.frames.last_mut() {
                    if let Some(slot) = frame.vars.iter_mut().find(|v| v.id == var) {
                        let old = std::mem::replace(slot, value);
                        self.recycle(old);
                    } else {
                        frame.vars.push(value);
                    }
                }
            }
            tag::UNSET => {
                let var = r.id()?;
                if let Some(frame) = self.frames.last_mut() {
                    if let Some(i) = frame.vars.iter().position(|v| v.id == var) {
                        let old = frame.vars.remove(i);
                        self.recycle(old);
                    }
                }
            }
            tag::PATCH => self.patch(r)?,
            tag::OBJ => self.obj(r)?,
            tag::OBJ_PATCH => self.obj_patch(r)?,
            tag::EVENT => {
                let kind = r.u8()?;
                let metadata = r.str()?;
                let content = r.str()?;
                let (metadata, content) = (metadata.to_vec(), content.to_vec());
                self.push_event(kind, &metadata, &content)?;
            }
            tag::END => {
                let status = unzigzag(r.varint()?);
                self.stats.exit_status = Some(status);
                self.stats.ended = true;
                return Err(ConvError::End);
            }
            _ => return Err(ConvError::Read(ReadError::Corrupt)),
        }
        Ok(())
    }

    fn write_step(&mut self, path_id: u32, line: u32) -> RecorderResult<bool> {
        self.flush_events()?;
        let written = self.sink.step(path_id, line)?;
        self.stats.events += u64::from(written);
        self.stats.steps += u64::from(written);
        Ok(written)
    }

    /// Closes every open call so the trace stays balanced: inner frames
    /// return None, `<toplevel>` returns the exit status (None if unknown).
    fn close(&mut self) -> RecorderResult<()> {
        // Under a size limit each may cut; once cut, only the closing follows.
        let cut = self.sink.cut();
        if !cut {
            self.flush_snapshot()?;
        }
        if self.stats.steps == 0 && !self.frames.is_empty() && !self.sink.cut() {
            // A trace without a single step crashes readers (the replay
            // backend's first `scopes` request): show the program's entry.
            let (path_id, line) = self.functions.first().map_or((0, 1), |f| (f.path_id, f.line));
            self.write_step(path_id, line)?;
        }
        if !self.sink.cut() {
            self.flush_events()?;
        }
        // The room for what follows was kept by the sink.
        self.stats.cut_to_fit = self.sink.end_cut();
        let mut none = Vec::new();
        S::render_none(&mut none);
        while self.frames.len() > 1 {
            self.write_return(&none)?;
            self.pop_frame();
            self.stats.closed_open_calls += 1;
        }
        if !self.frames.is_empty() {
            // Type 1 is `int` once the recording defined it.
            let mut value = Vec::new();
            match self.stats.exit_status.filter(|_| self.stats.types > 1) {
                Some(status) => S::render_int(status, 1, &mut value),
                None => S::render_none(&mut value),
            }
            self.write_return(&value)?;
            self.pop_frame();
        }
        Ok(())
    }
}

enum ConvError {
    Read(ReadError),
    Sink(RecorderError),
    End,
}

impl From<ReadError> for ConvError {
    fn from(e: ReadError) -> Self {
        ConvError::Read(e)
    }
}

impl From<RecorderError> for ConvError {
    fn from(e: RecorderError) -> Self {
        ConvError::Sink(e)
    }
}

/// Where the replay reads the stream from: a finished file ([`FileSource`]),
/// or one a live recording is still appending to (the live conversion's).
pub(crate) trait Source {
    /// Appends up to `max` bytes to `buf`, growing it only by what was read
    /// (no room is cleared ahead: a chunk is megabytes, a test's trace
    /// often a few kilobytes); how many; 0 only at the stream's final end;
    /// `None` when the replay is to pause (see [`Replayed::run`]).
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<usize>>;
    /// The stream's size as far as known now (for progress).
    fn total(&self) -> u64;
    /// The stream file (for errors).
    fn path(&self) -> &Path;
}

/// A stream file that is complete.
pub(crate) struct FileSource {
    file: File,
    path: std::path::PathBuf,
    total: u64,
}

impl FileSource {
    pub(crate) fn open(path: &Path) -> RecorderResult<Self> {
        let file = File::open(path).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(FileSource { file, path: path.to_path_buf(), total })
    }
}

impl Source for FileSource {
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<usize>> {
        (&mut self.file).take(max as u64).read_to_end(buf).map(Some)
    }

    fn total(&self) -> u64 {
        self.total
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Replays the stream at `events` into `sink` and completes the trace.
/// A truncated stream (a recording that died) converts up to its last whole
/// record and is reported in the stats; a corrupt one is an error.
/// `Ok(None)` when `progress` answered stop.
pub fn replay<S: Sink>(
    events: &Path,
    sink: S,
    partial: Option<ErrorCode>,
    meta: &Map<String, Value>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    replay_in_chunks(events, sink, READ_CHUNK, partial, meta, progress)
}

/// [`replay`] reading the stream `chunk` bytes at a time (records straddle
/// chunks: a record cut by the chunk's end is read again whole).
pub(crate) fn replay_in_chunks<S: Sink>(
    events: &Path,
    sink: S,
    chunk: usize,
    partial: Option<ErrorCode>,
    meta: &Map<String, Value>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    let mut source = FileSource::open(events)?;
    let mut replayed = Replayed::new(sink);
    if !replayed.run(&mut source, chunk, progress)? {
        return Ok(None);
    }
    replayed.complete(partial, meta).map(Some)
}

/// A replay that has read its stream (or part of it, see [`Replayed::run`])
/// and not yet completed its trace.
pub(crate) struct Replayed<S: Sink> {
    conv: Replay<S>,
    /// Read and not yet replayed (a record cut by the end of what was read).
    buf: Vec<u8>,
    /// Stream bytes before `buf`.
    consumed: u64,
    since_progress: u32,
    header_checked: bool,
    eof: bool,
    /// CPU seconds of the runs so far.
    cpu_seconds: f64,
}

/// CPU time of the calling thread, in seconds (`None` where not known).
fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid timespec for clock_gettime to fill.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
        ok.then_some(t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

impl<S: Sink> Replayed<S> {
    pub(crate) fn new(sink: S) -> Self {
        Replayed {
            conv: Replay {
                sink,
                frames: Vec::new(),
                functions: Vec::new(),
                snapshot_pending: false,
                stats: ConvertStats::default(),
                spare: Vec::new(),
                spare_nodes: Vec::new(),
                patch_scratch: PatchScratch::default(),
                objs: Vec::new(),
                events: Vec::new(),
                events_bytes: 0,
                args_seen: Vec::new(),
            },
            buf: Vec::new(),
            consumed: 0,
            since_progress: 0,
            header_checked: false,
            eof: false,
            cpu_seconds: 0.0,
        }
    }

    /// Replays `source` to its end (or its END record), reading `chunk`
    /// bytes at a time. `Ok(false)` when `progress` answered stop or the
    /// source asked to pause: the replay can go on with another `run`
    /// where it stopped.
    pub(crate) fn run(&mut self, source: &mut dyn Source, chunk: usize, progress: Progress<'_>) -> RecorderResult<bool> {
        let started = thread_cpu_seconds();
        let done = self.run_timed(source, chunk, progress);
        if let (Some(a), Some(b)) = (started, thread_cpu_seconds()) {
            self.cpu_seconds += b - a;
        }
        done
    }

    fn run_timed(&mut self, source: &mut dyn Source, chunk: usize, progress: Progress<'_>) -> RecorderResult<bool> {
        let Replayed { conv, buf, consumed, since_progress, header_checked, eof, .. } = self;
        let events = source.path().to_path_buf();
        'outer: loop {
            // Refill: keep the unconsumed tail, append the next chunk.
            if !*eof {
                let old = buf.len();
                let n = source.read_into(buf, chunk).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, &events));
                let Some(n) = n.inspect_err(|_| buf.truncate(old))? else {
                    // Paused until more is written (a thread trace's replay
                    // waits so, parked, for the rest of the run): the read
                    // buffer is let go of.
                    buf.truncate(old);
                    buf.shrink_to_fit();
                    return Ok(false);
                };
                buf.truncate(old + n);
                *eof = n == 0;
            }
            let mut start = 0usize;
            if !*header_checked {
                if buf.len() < MAGIC.len() {
                    if *eof {
                        conv.stats.truncated = true;
                        break;
                    }
                    continue;
                }
                if !readable_header(&buf[..MAGIC.len()]) {
                    return Err(bug!(ErrorCode::TraceStreamCorrupt, "not a recorder event stream").with_context("path", events.display()));
                }
                *header_checked = true;
                start = MAGIC.len();
            }
            let mut r = StreamReader::records(buf);
            r.set_pos(start);
            loop {
                if r.at_end() {
                    *consumed += buf.len() as u64;
                    buf.clear();
                    if *eof {
                        break 'outer;
                    }
                    continue 'outer;
                }
                let at = r.pos();
                *since_progress += 1;
                if *since_progress >= PROGRESS_EVERY {
                    *since_progress = 0;
                    if !progress(*consumed + at as u64, source.total()) {
                        *consumed += at as u64;
                        buf.drain(..at);
                        return Ok(false);
                    }
                }
                match conv.record(&mut r) {
                    Ok(()) if conv.sink.cut() => break 'outer,
                    Ok(()) => {}
                    Err(ConvError::End) => break 'outer,
                    Err(ConvError::Sink(e)) => return Err(e),
                    Err(ConvError::Read(ReadError::Truncated)) => {
                        if *eof {
                            conv.stats.truncated = true;
                            break 'outer;
                        }
                        *consumed += at as u64;
                        buf.drain(..at);
                        continue 'outer;
                    }
                    Err(ConvError::Read(ReadError::Corrupt)) => {
                        return Err(bug!(ErrorCode::TraceStreamCorrupt, "corrupt record in the event stream")
                            .with_context("path", events.display())
                            .with_context("offset", *consumed + at as u64));
                    }
                }
            }
        }
        Ok(true)
    }

    /// Closes the open calls and completes the trace; `partial`: the
    /// caller's reason the trace stops early, if any.
    pub(crate) fn complete(self, partial: Option<ErrorCode>, meta: &Map<String, Value>) -> RecorderResult<ConvertStats> {
        let started = thread_cpu_seconds();
        let mut conv = self.conv;
        conv.close()?;

        let mut top: Vec<(String, String, u32, u64)> = conv
            .functions
            .iter()
            .filter(|f| f.calls > 0)
            .map(|f| {
                let path = conv.stats.paths.get(f.path_id as usize).cloned().unwrap_or_default();
                (f.name.clone(), path, f.line, f.calls)
            })
            .collect();
        top.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
        top.truncate(TOP_FUNCTIONS);
        conv.stats.top_functions = top;

        let mut stats = conv.stats;
        let reason = stats.partial_reason(partial);
        let mut sink = conv.sink;
        // The sink's last chunks are compressed by now (its thread joined).
        sink.stop_threads()?;
        stats.stage_seconds = sink.stage_seconds();
        stats.trace_bytes = sink.finish(&TraceEnd { meta, paths: &stats.paths, partial: reason.map(|c| c.as_str()) })?;
        if let (Some(a), Some(b)) = (started, thread_cpu_seconds()) {
            stats.stage_seconds.insert(0, ("replay_cpu_seconds", self.cpu_seconds + b - a));
        }
        Ok(stats)
    }
}

/// A replay under way, whatever its sink: what the live conversion holds
/// between two runs of its thread, and hands back to be completed.
pub(crate) trait Replaying: Send {
    /// [`Replayed::run`].
    fn run(&mut self, source: &mut dyn Source, chunk: usize, progress: Progress<'_>) -> RecorderResult<bool>;
    /// [`Sink::stop_threads`].
    fn stop_threads(&mut self) -> RecorderResult<()>;
    /// [`Replayed::complete`].
    fn complete(self: Box<Self>, partial: Option<ErrorCode>, meta: &Map<String, Value>) -> RecorderResult<ConvertStats>;
}

impl<S: Sink + Send> Replaying for Replayed<S> {
    fn run(&mut self, source: &mut dyn Source, chunk: usize, progress: Progress<'_>) -> RecorderResult<bool> {
        Replayed::run(self, source, chunk, progress)
    }

    fn stop_threads(&mut self) -> RecorderResult<()> {
        self.conv.sink.stop_threads()
    }

    fn complete(self: Box<Self>, partial: Option<ErrorCode>, meta: &Map<String, Value>) -> RecorderResult<ConvertStats> {
        Replayed::complete(*self, partial, meta)
    }
}

#[cfg(test)]
mod tests {
    //! A patch spliced into a kept rendering gives the bytes, and the nodes,
    //! of the whole value rendered again: nested lists, dicts, tuples and
    //! instances, patched many times at random, in both formats.
    use super::*;
    use crate::ctfs_sink::CtfsSink;
    use crate::json_sink::JsonSink;
    use crate::stream::put_varint;
    use crate::value::{self as v, types};

    /// xorshift64*: the same values on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random value: containers (up to `depth` deep) of every kind of leaf.
    fn put_value(b: &mut Vec<u8>, rng: &mut Rng, depth: u32) {
        let pick = if depth == 0 { rng.below(9) } else { rng.below(13) };
        match pick {
            0 => v::put_none(b),
            1 => v::put_bool(b, types::BOOL, rng.below(2) == 1),
            // Ints of every varint length.
            2 => v::put_int(b, types::INT, (rng.next() >> rng.below(64)) as i64 - 1_000),
            3 => v::put_bigint(b, types::INT, rng.below(2) == 1, &rng.next().to_be_bytes()[..1 + rng.below(8) as usize]),
            // Floats whose texts differ in length, and repeats (the float cache).
            4 => v::put_float(b, types::FLOAT, (rng.below(2_000) as f64 - 1_000.0) / [1.0, 3.0, 7.0, 1e-9][rng.below(4) as usize]),
            5 => v::put_float(b, 40, [0.1, -0.0, f64::NAN, f64::INFINITY, 1e300, 2.5][rng.below(6) as usize]),
            // Texts, invalid UTF-8 and escapes among them.
            6 => v::put_string(b, types::STR, &b"ab\"\\\xff\ncd\xe2\x82"[..rng.below(11) as usize]),
            7 => v::put_raw(b, types::BYTES, &b"<raw \x01>"[..rng.below(8) as usize]),
            8 => v::put_error(b, types::ERROR, b"unreadable"),
            9 | 10 => {
                let n = rng.below(5) as u32;
                v::put_container_head(b, vtag::SEQ, types::LIST, n);
                for _ in 0..n {
                    put_value(b, rng, depth - 1);
                }
            }
            11 => {
                // A dict: a list of (key, value) pairs.
                let n = rng.below(4) as u32;
                v::put_container_head(b, vtag::SEQ, types::DICT, n);
                for _ in 0..n {
                    v::put_container_head(b, vtag::TUPLE, types::TUPLE, 2);
                    put_value(b, rng, 0);
                    put_value(b, rng, depth - 1);
                }
            }
            _ => {
                // An instance (its fields), or a tuple.
                let n = rng.below(4) as u32;
                let (tag, type_id) = if rng.below(2) == 0 { (vtag::STRUCT, 20) } else { (vtag::TUPLE, types::TUPLE) };
                v::put_container_head(b, tag, type_id, n);
                for _ in 0..n {
                    put_value(b, rng, depth - 1);
                }
            }
        }
    }

    /// A random path to a node of `nodes`' value (the root, sometimes).
    fn random_path(nodes: &[Node], rng: &mut Rng) -> Vec<u64> {
        let mut path = Vec::new();
        let mut at = 0;
        while nodes[at].children > 0 && rng.below(5) != 0 {
            let child = rng.below(nodes[at].children);
            path.push(child);
            at += 1;
            for _ in 0..child {
                at += 1 + nodes[at].desc;
            }
        }
        path
    }

    fn check<S: Sink>(mut sink: S, seed: u64) {
        let mut rng = Rng(seed);
        let mut scratch = PatchScratch::default();
        for round in 0..40 {
            let mut compact = Vec::new();
            v::put_container_head(&mut compact, vtag::SEQ, types::LIST, 3);
            for _ in 0..3 {
                put_value(&mut compact, &mut rng, 3);
            }
            let (mut rendered, mut nodes) = (Vec::new(), Vec::new());
            render_all(&mut sink, &compact, &mut rendered, &mut nodes).unwrap();
            if round % 2 == 1 {
                // Rendered without its nodes (an object before its first
                // patch): the first patch renders it whole and notes them.
                nodes.clear();
            }
            for _ in 0..50 {
                // 1-3 edits in one record, each at a node of the value as
                // the edits before it left it.
                let n = 1 + rng.below(3);
                let mut edits = Vec::new();
                let mut expected = compact.clone();
                for _ in 0..n {
                    let (mut e_rendered, mut e_nodes) = (Vec::new(), Vec::new());
                    render_all(&mut sink, &expected, &mut e_rendered, &mut e_nodes).unwrap();
                    let path = random_path(&e_nodes, &mut rng);
                    let mut edit = Vec::new();
                    put_varint(&mut edit, path.len() as u64);
                    for i in &path {
                        put_varint(&mut edit, *i);
                    }
                    let depth = rng.below(3) as u32;
                    put_value(&mut edit, &mut rng, depth);
                    value::apply_patches(&mut expected, 1, &mut StreamReader::records(&edit)).unwrap();
                    edits.extend_from_slice(&edit);
                }
                patch_rendered(&mut sink, &mut compact, &mut rendered, &mut nodes, n, &mut StreamReader::records(&edits), &mut scratch)
                    .unwrap();
                assert_eq!(compact, expected);
                let (mut whole, mut whole_nodes) = (Vec::new(), Vec::new());
                render_all(&mut sink, &compact, &mut whole, &mut whole_nodes).unwrap();
                assert_eq!(rendered, whole);
                assert_eq!(nodes, whole_nodes);
            }
        }
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ct-splice-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn spliced_patches_render_as_the_whole_value_json() {
        let d = dir("json");
        check(JsonSink::create(&d.join("trace.json"), &d.join("paths.json"), None).unwrap(), 0x5eed_0001);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn spliced_patches_render_as_the_whole_value_ctfs() {
        let d = dir("ctfs");
        check(CtfsSink::create(&d.join("trace.ct"), &d.join("paths.json"), None).unwrap(), 0x5eed_0002);
        let _ = std::fs::remove_dir_all(d);
    }

    /// An edit whose node cannot be spliced (a path past its container)
    /// fails as the whole way fails.
    #[test]
    fn a_bad_path_is_corrupt() {
        let d = dir("bad");
        let mut sink = JsonSink::create(&d.join("trace.json"), &d.join("paths.json"), None).unwrap();
        let mut compact = Vec::new();
        v::put_container_head(&mut compact, vtag::SEQ, types::LIST, 1);
        v::put_int(&mut compact, types::INT, 1);
        let (mut rendered, mut nodes) = (Vec::new(), Vec::new());
        render_all(&mut sink, &compact, &mut rendered, &mut nodes).unwrap();
        let mut edit = Vec::new();
        put_varint(&mut edit, 1);
        put_varint(&mut edit, 1);
        v::put_int(&mut edit, types::INT, 2);
        let mut scratch = PatchScratch::default();
        let r = patch_rendered(&mut sink, &mut compact, &mut rendered, &mut nodes, 1, &mut StreamReader::records(&edit), &mut scratch);
        assert!(matches!(r, Err(ReadError::Corrupt)));
        let _ = std::fs::remove_dir_all(d);
    }
}
