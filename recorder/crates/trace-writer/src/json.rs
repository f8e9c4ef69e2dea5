//! Converter: compact stream -> `trace.json` + `trace_paths.json`.
//!
//! Runs after the traced program finished (or on a partial stream left by a
//! recording that died). It keeps, per open frame, the JSON of each visible
//! variable's current value, and after every `Step` writes the full snapshot
//! the db-backend expects. Memory is bounded by the stream read chunk, the
//! interning tables and the open frames — never by the trace length.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use recorder_errors::prelude::*;

use crate::stream::{readable_header, tag, unzigzag, ReadError, StreamReader, MAGIC};
use crate::value::{self, vtag};

const READ_CHUNK: usize = 8 << 20;
/// EventLogKind Error: never joined with another event.
const EVENT_ERROR: u8 = 11;
/// Bytes of one step's events held before they are written anyway.
const EVENTS_HELD: usize = 1 << 20;
const TOP_FUNCTIONS: usize = 20;

/// Appends `s` as a JSON string literal (invalid UTF-8 is replaced).
pub fn write_json_str(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let text = String::from_utf8_lossy(s);
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

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
    pub trace_json_bytes: u64,
    /// The conversion stopped at the last whole event that fit in a size
    /// limit (a full disk or a file size limit): the limit in bytes.
    pub cut_to_fit: Option<u64>,
}

/// `,\n` + the Return of an inner frame closed at the end.
const RETURN_NONE: &[u8] = b"{\"Return\":{\"return_value\":{\"kind\":\"None\",\"type_id\":0}}}";
/// The longest Return of `<toplevel>` (the exit status as an Int).
const RETURN_TOPLEVEL_MAX: usize = r#"{"Return":{"return_value":{"kind":"Int","i":-9223372036854775808,"type_id":1}}}"#.len();

struct Frame {
    /// The frame's variables, in order of first binding.
    vars: Vec<Var>,
}

struct Var {
    id: u32,
    /// JSON of the current value.
    json: Vec<u8>,
    /// The current value as encoded in the stream (what PATCH records edit).
    compact: Vec<u8>,
}

/// An object the stream defined (`OBJ`): its encoding, and the JSON of it
/// once a reference needed it.
#[derive(Default)]
struct Obj {
    compact: Vec<u8>,
    json: Vec<u8>,
    rendered: bool,
}

struct FunctionInfo {
    path_id: u32,
    line: u32,
    name: String,
    calls: u64,
}

/// A writer that counts what it wrote: `trace_json_bytes` is the size of
/// trace.json by construction, not by a separate tally of each piece.
struct Counted<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Told how far a conversion got (stream bytes read, stream size); answers
/// whether to go on. A conversion told to stop leaves no trace.json.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Records converted between two calls of the progress hook.
const PROGRESS_EVERY: u32 = 1 << 14;

struct Converter<W: Write> {
    out: Counted<W>,
    line: Vec<u8>,
    first: bool,
    frames: Vec<Frame>,
    functions: Vec<FunctionInfo>,
    snapshot_pending: bool,
    stats: ConvertStats,
    spare: Vec<Vec<u8>>,
    /// By object id (`OBJ` records).
    objs: Vec<Obj>,
    /// Size limit of trace.json: an event is written only when it and the
    /// Returns that close the open calls after it still fit.
    limit: Option<u64>,
    /// An event did not fit: nothing more is written but the closing.
    cut: bool,
    /// The events of the current step, written before the next Step (or at
    /// the end): consecutive writes to one stream join (`print` writes its
    /// text and its newline separately), and an Error event ending the
    /// trace goes first among its step's events — the replay backend flags
    /// an error end only from the last step's first event.
    events: Vec<(u8, Vec<u8>, Vec<u8>)>,
    events_bytes: usize,
}

impl<W: Write> Converter<W> {
    /// Whether `n` more bytes (an event and its separator) fit in the limit,
    /// keeping room to close every open call and the array after them.
    fn fits(&mut self, n: u64) -> bool {
        let Some(limit) = self.limit else { return true };
        if self.cut {
            return false;
        }
        // One frame more than now: the event may be a Call.
        let open = self.frames.len() as u64 + 1;
        let closing = (open - 1) * (RETURN_NONE.len() as u64 + 2) + RETURN_TOPLEVEL_MAX as u64 + 2 + 3;
        if self.out.written + n + closing > limit {
            self.cut = true;
            return false;
        }
        true
    }

    /// Writes the event in `line`; `Ok(false)` when it did not fit (cut).
    fn emit(&mut self) -> std::io::Result<bool> {
        if !self.fits(self.line.len() as u64 + 2) {
            self.line.clear();
            return Ok(false);
        }
        self.out.write_all(if self.first { b"[\n" } else { b",\n" })?;
        self.first = false;
        self.out.write_all(&self.line)?;
        self.stats.events += 1;
        self.line.clear();
        Ok(true)
    }

    fn flush_events(&mut self) -> std::io::Result<()> {
        let mut events = std::mem::take(&mut self.events);
        self.events_bytes = 0;
        for (kind, metadata, content) in events.drain(..) {
            self.line.extend_from_slice(b"{\"Event\":{\"kind\":");
            self.line.extend_from_slice(itoa::Buffer::new().format(kind).as_bytes());
            self.line.extend_from_slice(b",\"metadata\":");
            write_json_str(&metadata, &mut self.line);
            self.line.extend_from_slice(b",\"content\":");
            write_json_str(&content, &mut self.line);
            self.line.extend_from_slice(b"}}");
            if self.emit()? {
                self.stats.io_events += 1;
            }
        }
        self.events = events;
        Ok(())
    }

    fn push_event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> std::io::Result<()> {
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

    fn flush_snapshot(&mut self) -> std::io::Result<()> {
        if !self.snapshot_pending {
            return Ok(());
        }
        self.snapshot_pending = false;
        const HEAD: &[u8] = b",\n{\"Value\":{\"variable_id\":";
        const MID: &[u8] = b",\"value\":";
        let Some(frame) = self.frames.last() else { return Ok(()) };
        let mut n = 0u64;
        let mut cut = false;
        for var in &frame.vars {
            let mut id = itoa::Buffer::new();
            let id = id.format(var.id).as_bytes();
            let size = (HEAD.len() + id.len() + MID.len() + var.json.len() + 2) as u64;
            if let Some(limit) = self.limit {
                let open = self.frames.len() as u64;
                let closing = open.saturating_sub(1) * (RETURN_NONE.len() as u64 + 2) + RETURN_TOPLEVEL_MAX as u64 + 2 + 3;
                if self.out.written + size + closing > limit {
                    cut = true;
                    break;
                }
            }
            self.out.write_all(HEAD)?;
            self.out.write_all(id)?;
            self.out.write_all(MID)?;
            self.out.write_all(&var.json)?;
            self.out.write_all(b"}}")?;
            n += 1;
        }
        self.cut |= cut;
        self.stats.events += n;
        self.stats.values += n;
        Ok(())
    }

    fn value_json(&mut self, r: &mut StreamReader<'_>) -> Result<Vec<u8>, ReadError> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        value::write_json(r, &mut v, 0)?;
        Ok(v)
    }

    /// A variable's value read from the stream: its JSON and its encoding
    /// (an object reference stands for the object's encoding as of now).
    fn var_value(&mut self, id: u32, r: &mut StreamReader<'_>) -> Result<Var, ReadError> {
        let start = r.pos();
        if r.data().get(start) == Some(&vtag::OBJ) {
            r.u8()?;
            let o = r.id()? as usize;
            let obj = self.objs.get_mut(o).ok_or(ReadError::Corrupt)?;
            if !obj.rendered {
                obj.json.clear();
                value::write_json(&mut StreamReader::records(&obj.compact), &mut obj.json, 0)?;
                obj.rendered = true;
            }
            let mut json = self.spare.pop().unwrap_or_default();
            json.clear();
            json.extend_from_slice(&obj.json);
            let mut compact = self.spare.pop().unwrap_or_default();
            compact.clear();
            compact.extend_from_slice(&obj.compact);
            return Ok(Var { id, json, compact });
        }
        let json = self.value_json(r)?;
        let mut compact = self.spare.pop().unwrap_or_default();
        compact.clear();
        compact.extend_from_slice(&r.data()[start..r.pos()]);
        Ok(Var { id, json, compact })
    }

    fn recycle(&mut self, var: Var) {
        if self.spare.len() < 4096 {
            self.spare.push(var.json);
            self.spare.push(var.compact);
        }
    }

    /// A PATCH record's edits applied to the variable's encoding, then its
    /// JSON rendered again.
    fn patch(&mut self, r: &mut StreamReader<'_>) -> Result<(), ReadError> {
        let id = r.id()?;
        let n = r.varint()?;
        let Some(var) = self.frames.last_mut().and_then(|f| f.vars.iter_mut().find(|v| v.id == id)) else {
            return Err(ReadError::Corrupt);
        };
        value::apply_patches(&mut var.compact, n, r)?;
        var.json.clear();
        value::write_json(&mut StreamReader::records(&var.compact), &mut var.json, 0)
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
        obj.rendered = false;
        Ok(())
    }

    /// An OBJ_PATCH record, applied once it is known to be whole.
    fn obj_patch(&mut self, r: &mut StreamReader<'_>) -> Result<(), ReadError> {
        let o = r.id()? as usize;
        let n = r.varint()?;
        let start = r.pos();
        value::skip_patches(r, n)?;
        let obj = self.objs.get_mut(o).ok_or(ReadError::Corrupt)?;
        value::apply_patches(&mut obj.compact, n, &mut StreamReader::records(&r.data()[start..r.pos()]))?;
        obj.rendered = false;
        Ok(())
    }

    fn write_return(&mut self, json: &[u8]) -> std::io::Result<bool> {
        self.line.extend_from_slice(b"{\"Return\":{\"return_value\":");
        self.line.extend_from_slice(json);
        self.line.extend_from_slice(b"}}");
        let written = self.emit()?;
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
                self.line.extend_from_slice(b"{\"Path\":");
                write_json_str(p, &mut self.line);
                self.line.push(b'}');
                if self.emit()? {
                    self.stats.paths.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            tag::FUNCTION => {
                let path_id = r.id()?;
                let line = r.id()?;
                let name = r.str()?;
                self.line.extend_from_slice(b"{\"Function\":{\"path_id\":");
                self.line.extend_from_slice(itoa::Buffer::new().format(path_id).as_bytes());
                self.line.extend_from_slice(b",\"line\":");
                self.line.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
                self.line.extend_from_slice(b",\"name\":");
                write_json_str(name, &mut self.line);
                self.line.extend_from_slice(b"}}");
                self.functions.push(FunctionInfo {
                    path_id,
                    line,
                    name: String::from_utf8_lossy(name).into_owned(),
                    calls: 0,
                });
                if self.emit()? {
                    self.stats.functions += 1;
                }
            }
            tag::VARNAME => {
                let name = r.str()?;
                self.line.extend_from_slice(b"{\"VariableName\":");
                write_json_str(name, &mut self.line);
                self.line.push(b'}');
                self.emit()?;
            }
            tag::TYPE => {
                let kind = r.u8()?;
                let lang_type = r.str()?;
                let has_fields = r.u8()?;
                self.line.extend_from_slice(b"{\"Type\":{\"kind\":");
                self.line.extend_from_slice(itoa::Buffer::new().format(kind).as_bytes());
                self.line.extend_from_slice(b",\"lang_type\":");
                write_json_str(lang_type, &mut self.line);
                if has_fields == 0 {
                    self.line.extend_from_slice(b",\"specific_info\":{\"kind\":\"None\"}}}");
                } else {
                    self.line.extend_from_slice(b",\"specific_info\":{\"kind\":\"Struct\",\"fields\":[");
                    let n = r.varint()?;
                    for i in 0..n {
                        if i > 0 {
                            self.line.push(b',');
                        }
                        let name = r.str()?;
                        let type_id = r.varint()?;
                        self.line.extend_from_slice(b"{\"name\":");
                        write_json_str(name, &mut self.line);
                        self.line.extend_from_slice(b",\"type_id\":");
                        self.line.extend_from_slice(itoa::Buffer::new().format(type_id).as_bytes());
                        self.line.push(b'}');
                    }
                    self.line.extend_from_slice(b"]}}}");
                }
                if self.emit()? {
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
                    let value = self.var_value(var, r)?;
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
                self.line.extend_from_slice(b"{\"Call\":{\"function_id\":");
                self.line.extend_from_slice(itoa::Buffer::new().format(function_id).as_bytes());
                self.line.extend_from_slice(b",\"args\":[");
                for (i, Var { id: var, json, .. }) in vars.iter().enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    self.line.extend_from_slice(b"{\"variable_id\":");
                    self.line.extend_from_slice(itoa::Buffer::new().format(*var).as_bytes());
                    self.line.extend_from_slice(b",\"value\":");
                    self.line.extend_from_slice(json);
                    self.line.push(b'}');
                }
                self.line.extend_from_slice(b"]}}");
                if self.emit()? {
                    self.stats.calls += 1;
                    self.frames.push(Frame { vars });
                } else {
                    for var in vars {
                        self.recycle(var);
                    }
                }
            }
            tag::RETURN => {
                let json = self.value_json(r)?;
                if self.frames.len() > 1 && self.write_return(&json)? {
                    self.pop_frame();
                }
                self.spare.push(json);
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

    fn write_step(&mut self, path_id: u32, line: u32) -> std::io::Result<bool> {
        self.flush_events()?;
        self.line.extend_from_slice(b"{\"Step\":{\"path_id\":");
        self.line.extend_from_slice(itoa::Buffer::new().format(path_id).as_bytes());
        self.line.extend_from_slice(b",\"line\":");
        self.line.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
        self.line.extend_from_slice(b"}}");
        let written = self.emit()?;
        self.stats.steps += u64::from(written);
        Ok(written)
    }

    /// Closes every open call so the trace stays balanced: inner frames
    /// return None, `<toplevel>` returns the exit status (None if unknown).
    fn close(&mut self) -> std::io::Result<()> {
        // Under a size limit each may cut; once cut, only the closing follows.
        if !self.cut {
            self.flush_snapshot()?;
        }
        if self.stats.steps == 0 && !self.frames.is_empty() && !self.cut {
            // A trace without a single step crashes readers (the replay
            // backend's first `scopes` request): show the program's entry.
            let (path_id, line) = self.functions.first().map_or((0, 1), |f| (f.path_id, f.line));
            self.write_step(path_id, line)?;
        }
        if !self.cut {
            self.flush_events()?;
        }
        // The room for what follows was kept by `fits`.
        if self.cut {
            self.stats.cut_to_fit = self.limit;
        }
        self.limit = None;
        self.cut = false;
        while self.frames.len() > 1 {
            self.write_return(b"{\"kind\":\"None\",\"type_id\":0}")?;
            self.pop_frame();
            self.stats.closed_open_calls += 1;
        }
        if !self.frames.is_empty() {
            // Type 1 is `int` once the recording defined it.
            let json = match self.stats.exit_status.filter(|_| self.stats.types > 1) {
                Some(status) => {
                    let mut j = b"{\"kind\":\"Int\",\"i\":".to_vec();
                    j.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
                    j.extend_from_slice(b",\"type_id\":1}");
                    j
                }
                None => b"{\"kind\":\"None\",\"type_id\":0}".to_vec(),
            };
            self.write_return(&json)?;
            self.pop_frame();
        }
        self.out.write_all(if self.first { b"[\n]\n" } else { b"\n]\n" })?;
        self.out.flush()?;
        self.stats.trace_json_bytes = self.out.written;
        Ok(())
    }
}

enum ConvError {
    Read(ReadError),
    Io(std::io::Error),
    End,
}

impl From<ReadError> for ConvError {
    fn from(e: ReadError) -> Self {
        ConvError::Read(e)
    }
}

impl From<std::io::Error> for ConvError {
    fn from(e: std::io::Error) -> Self {
        ConvError::Io(e)
    }
}

/// Converts the stream at `events` into `trace_json` and `trace_paths`.
/// A truncated stream (a recording that died) converts up to its last whole
/// record and is reported in the stats; a corrupt one is an error.
pub fn convert(events: &Path, trace_json: &Path, trace_paths: &Path) -> RecorderResult<ConvertStats> {
    convert_in_chunks(events, trace_json, trace_paths, READ_CHUNK, None, &mut |_, _| true)
        .and_then(|s| s.ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to")))
}

/// [`convert`] telling `progress` how far it got, now and then; `Ok(None)`
/// when `progress` answered stop (trace.json is then removed; after an error
/// it stays, for the caller to measure what fitted).
pub fn convert_with_progress(events: &Path, trace_json: &Path, trace_paths: &Path, progress: Progress<'_>) -> RecorderResult<Option<ConvertStats>> {
    let r = convert_in_chunks(events, trace_json, trace_paths, READ_CHUNK, None, progress);
    if matches!(r, Ok(None)) {
        let _ = std::fs::remove_file(trace_json);
    }
    r
}

/// [`convert`] keeping `trace_json` within `limit` bytes: the events up to
/// the last whole one that fits, then a Return for every call still open
/// (a valid, balanced trace). `stats.cut_to_fit` says whether it was cut.
pub fn convert_within(events: &Path, trace_json: &Path, trace_paths: &Path, limit: u64) -> RecorderResult<ConvertStats> {
    convert_in_chunks(events, trace_json, trace_paths, READ_CHUNK, Some(limit), &mut |_, _| true)
        .and_then(|s| s.ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to")))
}

/// [`convert`] reading the stream `chunk` bytes at a time (records straddle
/// chunks: a record cut by the chunk's end is read again whole).
fn convert_in_chunks(
    events: &Path,
    trace_json: &Path,
    trace_paths: &Path,
    chunk: usize,
    limit: Option<u64>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    let mut input = File::open(events).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, events))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    // Stream bytes before `buf` (for progress).
    let mut consumed: u64 = 0;
    let mut since_progress = 0u32;
    let out_file = File::create(trace_json).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, trace_json))?;
    let io_err = |e: std::io::Error| RecorderError::from_io(ErrorCode::Io, e, trace_json);
    let mut conv = Converter {
        out: Counted { inner: BufWriter::with_capacity(4 << 20, out_file), written: 0 },
        line: Vec::with_capacity(256),
        first: true,
        frames: Vec::new(),
        functions: Vec::new(),
        snapshot_pending: false,
        stats: ConvertStats::default(),
        spare: Vec::new(),
        objs: Vec::new(),
        limit,
        cut: false,
        events: Vec::new(),
        events_bytes: 0,
    };

    let mut buf: Vec<u8> = Vec::with_capacity(chunk);
    let mut header_checked = false;
    let mut eof = false;
    'outer: loop {
        // Refill: keep the unconsumed tail, append the next chunk.
        if !eof {
            let old = buf.len();
            buf.resize(old + chunk, 0);
            let n = read_full(&mut input, &mut buf[old..]).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, events))?;
            buf.truncate(old + n);
            eof = n == 0;
        }
        let mut start = 0usize;
        if !header_checked {
            if buf.len() < MAGIC.len() {
                if eof {
                    conv.stats.truncated = true;
                    break;
                }
                continue;
            }
            if !readable_header(&buf[..MAGIC.len()]) {
                return Err(bug!(ErrorCode::TraceStreamCorrupt, "not a recorder event stream").with_context("path", events.display()));
            }
            header_checked = true;
            start = MAGIC.len();
        }
        let mut r = StreamReader::records(&buf);
        r.set_pos(start);
        loop {
            if r.at_end() {
                consumed += buf.len() as u64;
                buf.clear();
                if eof {
                    break 'outer;
                }
                continue 'outer;
            }
            let at = r.pos();
            since_progress += 1;
            if since_progress >= PROGRESS_EVERY {
                since_progress = 0;
                if !progress(consumed + at as u64, total) {
                    return Ok(None);
                }
            }
            match conv.record(&mut r) {
                Ok(()) if conv.cut => break 'outer,
                Ok(()) => {}
                Err(ConvError::End) => break 'outer,
                Err(ConvError::Io(e)) => return Err(io_err(e)),
                Err(ConvError::Read(ReadError::Truncated)) => {
                    conv.line.clear();
                    if eof {
                        conv.stats.truncated = true;
                        break 'outer;
                    }
                    consumed += at as u64;
                    buf.drain(..at);
                    continue 'outer;
                }
                Err(ConvError::Read(ReadError::Corrupt)) => {
                    return Err(bug!(ErrorCode::TraceStreamCorrupt, "corrupt record in the event stream")
                        .with_context("path", events.display())
                        .with_context("offset", at));
                }
            }
        }
    }
    conv.close().map_err(io_err)?;

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

    let mut paths_json = Vec::new();
    paths_json.push(b'[');
    for (i, p) in conv.stats.paths.iter().enumerate() {
        if i > 0 {
            paths_json.push(b',');
        }
        write_json_str(p.as_bytes(), &mut paths_json);
    }
    paths_json.extend_from_slice(b"]\n");
    std::fs::write(trace_paths, &paths_json).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, trace_paths))?;
    Ok(Some(conv.stats))
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{self as st, StreamWriter};
    use crate::value::{self as v, types};

    /// Every kind of record, objects and their patches included.
    fn stream(b: &mut Vec<u8>) {
        for (k, name) in types::PREDEFINED {
            st::put_type(b, *k, name, None);
        }
        st::put_path(b, "/src/app.py");
        st::put_function(b, 0, 1, "<toplevel>");
        st::put_function(b, 0, 5, "f");
        st::put_call_head(b, 0, 0);
        st::put_varname(b, "xs");
        st::put_step(b, 0, 2);
        st::put_obj_head(b, 0);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_float(b, types::FLOAT, 1.25);
        v::put_string(b, types::STR, b"a longer string than a chunk");
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 3);
        st::put_call_head(b, 1, 1);
        st::put_varint(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 6);
        st::put_obj_patch_head(b, 0, 2);
        for (i, x) in [(0u64, 2.5f64), (1, 7.0)] {
            st::put_varint(b, 1);
            st::put_varint(b, i);
            v::put_float(b, types::FLOAT, x);
        }
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 7);
        st::put_event(b, 0, "", b"out\n");
        st::put_return_head(b);
        v::put_none(b);
        st::put_step(b, 0, 4);
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 5);
        st::put_end(b, 0);
    }

    #[test]
    #[allow(clippy::panic_in_result_fn)] // a test's assertions
    fn records_cut_by_a_chunk_end_are_read_again_whole() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("ct-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let events = dir.join("events.bin");
        let mut w = StreamWriter::create(&events)?;
        stream(w.buf());
        w.finish()?;
        let (json, paths) = (dir.join("trace.json"), dir.join("trace_paths.json"));
        convert(&events, &json, &paths)?;
        let whole = std::fs::read_to_string(&json)?;
        assert!(whole.contains("\"f\":\"2.5\"") && whole.contains("\"f\":\"7.0\""), "{whole}");
        for chunk in 1..48 {
            let stats = convert_in_chunks(&events, &json, &paths, chunk, None, &mut |_, _| true)?.ok_or("stopped")?;
            assert!(stats.ended && !stats.truncated);
            assert_eq!(stats.trace_json_bytes, std::fs::metadata(&json)?.len(), "chunk {chunk}");
            assert_eq!(std::fs::read_to_string(&json)?, whole, "chunk {chunk}");
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Cut at every size: always valid JSON within the limit, every Call
    /// returned, the paths file in step, each cut a prefix of the whole.
    #[test]
    #[allow(clippy::panic_in_result_fn)] // a test's assertions
    fn a_trace_cut_to_fit_is_valid_balanced_and_within_the_limit() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("ct-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let events = dir.join("events.bin");
        let mut w = StreamWriter::create(&events)?;
        stream(w.buf());
        w.finish()?;
        let (json, paths) = (dir.join("trace.json"), dir.join("trace_paths.json"));
        let whole_stats = convert(&events, &json, &paths)?;
        let whole: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&json)?)?;
        let size = std::fs::metadata(&json)?.len();
        let mut seen_cut = 0;
        for limit in (0..size + 300).step_by(7) {
            let stats = convert_in_chunks(&events, &json, &paths, 4096, Some(limit), &mut |_, _| true)?.ok_or("stopped")?;
            let bytes = std::fs::read(&json)?;
            let events_cut: Vec<serde_json::Value> = serde_json::from_slice(&bytes)?;
            if stats.cut_to_fit.is_none() {
                assert_eq!(events_cut, whole, "limit {limit}");
                assert_eq!(stats.events, whole_stats.events);
                continue;
            }
            seen_cut += 1;
            assert!(bytes.len() as u64 <= limit.max(4), "limit {limit}: {} bytes", bytes.len());
            let mut depth = 0i64;
            for (i, e) in events_cut.iter().enumerate() {
                if e.get("Call").is_some() {
                    depth += 1;
                } else if e.get("Return").is_some() {
                    depth -= 1;
                    assert!(depth >= 0 && (depth > 0 || i + 1 == events_cut.len()), "limit {limit}");
                } else {
                    // Everything but the closing Returns is the whole trace's prefix.
                    assert_eq!(e, &whole[i], "limit {limit}, event {i}");
                }
            }
            assert_eq!(depth, 0, "limit {limit}");
            let npaths = events_cut.iter().filter(|e| e.get("Path").is_some()).count();
            let listed: Vec<String> = serde_json::from_slice(&std::fs::read(&paths)?)?;
            assert_eq!(listed.len(), npaths, "limit {limit}");
            assert_eq!(stats.steps as usize, events_cut.iter().filter(|e| e.get("Step").is_some()).count());
        }
        assert!(seen_cut > 10);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
