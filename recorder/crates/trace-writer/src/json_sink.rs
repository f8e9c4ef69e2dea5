//! The JSON format: `trace.json` (+ `trace_paths.json`), CodeTracer's
//! db-backend trace as docs/design/trace-formats.md §2-§4 define it. [`JsonSink`] writes
//! what the replay stage hands it, byte for byte as the converter always
//! did, and [`write_json`] renders the compact stream's values as the
//! schema's `ValueRecord` JSON.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use recorder_errors::prelude::*;

use crate::float::write_python_float;
use crate::json_str::write_json_str;
use crate::sink::{write_paths, Node, Sink, TraceEnd, Track, Var};
use crate::stream::{unzigzag, ReadError, ReadResult, StreamReader};
use crate::value::vtag;

/// `,\n` + the Return of an inner frame closed at the end.
const RETURN_NONE: &[u8] = b"{\"Return\":{\"return_value\":{\"kind\":\"None\",\"type_id\":0}}}";
/// The longest Return of `<toplevel>` (the exit status as an Int).
const RETURN_TOPLEVEL_MAX: usize = r#"{"Return":{"return_value":{"kind":"Int","i":-9223372036854775808,"type_id":1}}}"#.len();

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

/// Writes `trace.json` (a JSON array, one event per line) and, at the end,
/// `trace_paths.json`.
pub struct JsonSink {
    out: Counted<BufWriter<File>>,
    path: PathBuf,
    paths_file: PathBuf,
    line: Vec<u8>,
    first: bool,
    /// Calls written and not yet returned (the replay's open frames).
    depth: u64,
    /// Size limit of trace.json: an event is written only when it and the
    /// Returns that close the open calls after it still fit.
    limit: Option<u64>,
    /// An event did not fit: nothing more is written but the closing.
    cut: bool,
}

impl JsonSink {
    fn io(&self, e: std::io::Error) -> RecorderError {
        RecorderError::from_io(ErrorCode::Io, e, &self.path)
    }

    /// Bytes that close every open call (after `open` calls) and the array.
    fn closing(open: u64) -> u64 {
        open.saturating_sub(1) * (RETURN_NONE.len() as u64 + 2) + RETURN_TOPLEVEL_MAX as u64 + 2 + 3
    }

    /// Whether `n` more bytes (an event and its separator) fit in the limit,
    /// keeping room to close every open call and the array after them.
    fn fits(&mut self, n: u64) -> bool {
        let Some(limit) = self.limit else { return true };
        if self.cut {
            return false;
        }
        // One frame more than now: the event may be a Call.
        if self.out.written + n + Self::closing(self.depth + 1) > limit {
            self.cut = true;
            return false;
        }
        true
    }

    /// Writes the event in `line`; `Ok(false)` when it did not fit (cut).
    fn emit(&mut self) -> RecorderResult<bool> {
        if !self.fits(self.line.len() as u64 + 2) {
            self.line.clear();
            return Ok(false);
        }
        let r = self
            .out
            .write_all(if self.first { b"[\n" } else { b",\n" })
            .and_then(|()| self.out.write_all(&self.line));
        self.first = false;
        self.line.clear();
        r.map_err(|e| self.io(e))?;
        Ok(true)
    }

    fn int(&mut self, i: impl itoa::Integer) {
        self.line.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    }
}

impl Sink for JsonSink {
    /// The events up to the last whole one that fits, then a Return for
    /// every call still open: a valid, balanced trace.
    const CUTS_TO_FIT: bool = true;

    fn create(trace_json: &Path, trace_paths: &Path, limit: Option<u64>) -> RecorderResult<Self> {
        let file = File::create(trace_json).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, trace_json))?;
        Ok(JsonSink {
            out: Counted { inner: BufWriter::with_capacity(4 << 20, file), written: 0 },
            path: trace_json.to_path_buf(),
            paths_file: trace_paths.to_path_buf(),
            line: Vec::with_capacity(256),
            first: true,
            depth: 0,
            limit,
            cut: false,
        })
    }

    fn render(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()> {
        write_json(r, out, 0)
    }

    fn render_nodes(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>, nodes: &mut Vec<Node>, depth: u32) -> ReadResult<()> {
        write_json_node(r, out, depth, nodes)
    }

    fn render_none(out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"kind\":\"None\",\"type_id\":0}");
    }

    fn render_int(i: i64, type_id: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"kind\":\"Int\",\"i\":");
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        out.extend_from_slice(b",\"type_id\":");
        out.extend_from_slice(itoa::Buffer::new().format(type_id).as_bytes());
        out.push(b'}');
    }

    fn path(&mut self, path: &[u8]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Path\":");
        write_json_str(path, &mut self.line);
        self.line.push(b'}');
        self.emit()
    }

    fn function(&mut self, path_id: u32, line: u32, name: &[u8]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Function\":{\"path_id\":");
        self.int(path_id);
        self.line.extend_from_slice(b",\"line\":");
        self.int(line);
        self.line.extend_from_slice(b",\"name\":");
        write_json_str(name, &mut self.line);
        self.line.extend_from_slice(b"}}");
        self.emit()
    }

    fn variable_name(&mut self, name: &[u8]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"VariableName\":");
        write_json_str(name, &mut self.line);
        self.line.push(b'}');
        self.emit()
    }

    fn type_record(&mut self, kind: u8, lang_type: &[u8], fields: Option<&[(&[u8], u64)]>) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Type\":{\"kind\":");
        self.int(kind);
        self.line.extend_from_slice(b",\"lang_type\":");
        write_json_str(lang_type, &mut self.line);
        match fields {
            None => self.line.extend_from_slice(b",\"specific_info\":{\"kind\":\"None\"}}}"),
            Some(fields) => {
                self.line.extend_from_slice(b",\"specific_info\":{\"kind\":\"Struct\",\"fields\":[");
                for (i, (name, type_id)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    self.line.extend_from_slice(b"{\"name\":");
                    write_json_str(name, &mut self.line);
                    self.line.extend_from_slice(b",\"type_id\":");
                    self.int(*type_id);
                    self.line.push(b'}');
                }
                self.line.extend_from_slice(b"]}}}");
            }
        }
        self.emit()
    }

    fn step(&mut self, path_id: u32, line: u32) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Step\":{\"path_id\":");
        self.int(path_id);
        self.line.extend_from_slice(b",\"line\":");
        self.int(line);
        self.line.extend_from_slice(b"}}");
        self.emit()
    }

    fn call(&mut self, function_id: u32, args: &[Var]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Call\":{\"function_id\":");
        self.int(function_id);
        self.line.extend_from_slice(b",\"args\":[");
        for (i, var) in args.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            self.line.extend_from_slice(b"{\"variable_id\":");
            self.int(var.id);
            self.line.extend_from_slice(b",\"value\":");
            self.line.extend_from_slice(&var.value);
            self.line.push(b'}');
        }
        self.line.extend_from_slice(b"]}}");
        let written = self.emit()?;
        self.depth += u64::from(written);
        Ok(written)
    }

    fn ret(&mut self, value: &[u8]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Return\":{\"return_value\":");
        self.line.extend_from_slice(value);
        self.line.extend_from_slice(b"}}");
        let written = self.emit()?;
        self.depth -= u64::from(written && self.depth > 0);
        Ok(written)
    }

    fn value(&mut self, variable_id: u32, value: &[u8]) -> RecorderResult<bool> {
        const HEAD: &[u8] = b",\n{\"Value\":{\"variable_id\":";
        const MID: &[u8] = b",\"value\":";
        let mut id = itoa::Buffer::new();
        let id = id.format(variable_id).as_bytes();
        if let Some(limit) = self.limit {
            let size = (HEAD.len() + id.len() + MID.len() + value.len() + 2) as u64;
            if self.out.written + size + Self::closing(self.depth) > limit {
                self.cut = true;
                return Ok(false);
            }
        }
        let out = &mut self.out;
        let r = out
            .write_all(HEAD)
            .and_then(|()| out.write_all(id))
            .and_then(|()| out.write_all(MID))
            .and_then(|()| out.write_all(value))
            .and_then(|()| out.write_all(b"}}"));
        r.map_err(|e| self.io(e))?;
        Ok(true)
    }

    fn event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> RecorderResult<bool> {
        self.line.extend_from_slice(b"{\"Event\":{\"kind\":");
        self.int(kind);
        self.line.extend_from_slice(b",\"metadata\":");
        write_json_str(metadata, &mut self.line);
        self.line.extend_from_slice(b",\"content\":");
        write_json_str(content, &mut self.line);
        self.line.extend_from_slice(b"}}");
        self.emit()
    }

    fn cut(&self) -> bool {
        self.cut
    }

    fn end_cut(&mut self) -> Option<u64> {
        let limit = self.limit.take().filter(|_| self.cut);
        self.cut = false;
        limit
    }

    fn finish(mut self, end: &TraceEnd<'_>) -> RecorderResult<u64> {
        let r = self.out.write_all(if self.first { b"[\n]\n" } else { b"\n]\n" }).and_then(|()| self.out.flush());
        r.map_err(|e| self.io(e))?;
        write_paths(&self.paths_file, end.paths)?;
        Ok(self.out.written)
    }
}

fn write_type_id(out: &mut Vec<u8>, type_id: u64) {
    out.extend_from_slice(b",\"type_id\":");
    out.extend_from_slice(itoa::Buffer::new().format(type_id).as_bytes());
    out.push(b'}');
}

/// Renders one value as a `ValueRecord` JSON object.
pub fn write_json(r: &mut StreamReader<'_>, out: &mut Vec<u8>, depth: u32) -> ReadResult<()> {
    write_json_node(r, out, depth, &mut ())
}

/// [`write_json`], noting each node in `track`.
fn write_json_node<T: Track>(r: &mut StreamReader<'_>, out: &mut Vec<u8>, depth: u32, track: &mut T) -> ReadResult<()> {
    let at = track.open(r.pos(), out.len());
    let children = write_json_inner(r, out, depth, track)?;
    track.close(at, r.pos(), out.len(), children);
    Ok(())
}

/// One node's JSON; its children.
#[inline(always)]
fn write_json_inner<T: Track>(r: &mut StreamReader<'_>, out: &mut Vec<u8>, depth: u32, track: &mut T) -> ReadResult<u64> {
    if depth > 256 {
        return Err(ReadError::Corrupt);
    }
    let tag = r.u8()?;
    if tag == vtag::NONE {
        out.extend_from_slice(b"{\"kind\":\"None\",\"type_id\":0}");
        return Ok(0);
    }
    let type_id = r.varint()?;
    match tag {
        vtag::FALSE | vtag::TRUE => {
            out.extend_from_slice(if tag == vtag::TRUE {
                b"{\"kind\":\"Bool\",\"b\":true"
            } else {
                b"{\"kind\":\"Bool\",\"b\":false"
            });
        }
        vtag::INT => {
            let i = unzigzag(r.varint()?);
            out.extend_from_slice(b"{\"kind\":\"Int\",\"i\":");
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        }
        vtag::BIGINT => {
            let negative = r.u8()? != 0;
            let magnitude = r.str()?;
            out.extend_from_slice(b"{\"kind\":\"BigInt\",\"b\":\"");
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(magnitude).as_bytes());
            out.extend_from_slice(if negative { b"\",\"negative\":true" } else { b"\",\"negative\":false" });
        }
        vtag::FLOAT => {
            let raw = r.bytes(8)?;
            let mut le = [0u8; 8];
            le.copy_from_slice(raw);
            out.extend_from_slice(b"{\"kind\":\"Float\",\"f\":\"");
            write_python_float(f64::from_le_bytes(le), out);
            out.push(b'"');
        }
        vtag::STR => {
            out.extend_from_slice(b"{\"kind\":\"String\",\"text\":");
            write_json_str(r.str()?, out);
        }
        vtag::RAW => {
            out.extend_from_slice(b"{\"kind\":\"Raw\",\"r\":");
            write_json_str(r.str()?, out);
        }
        vtag::ERROR => {
            out.extend_from_slice(b"{\"kind\":\"Error\",\"msg\":");
            write_json_str(r.str()?, out);
        }
        vtag::SEQ | vtag::TUPLE | vtag::STRUCT => {
            let n = r.varint()?;
            out.extend_from_slice(match tag {
                vtag::SEQ => b"{\"kind\":\"Sequence\",\"elements\":[".as_slice(),
                vtag::TUPLE => b"{\"kind\":\"Tuple\",\"elements\":[".as_slice(),
                _ => b"{\"kind\":\"Struct\",\"field_values\":[".as_slice(),
            });
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_json_node(r, out, depth + 1, track)?;
            }
            out.push(b']');
            if tag == vtag::SEQ {
                out.extend_from_slice(b",\"is_slice\":false");
            }
            write_type_id(out, type_id);
            return Ok(n);
        }
        _ => return Err(ReadError::Corrupt),
    }
    write_type_id(out, type_id);
    Ok(0)
}
