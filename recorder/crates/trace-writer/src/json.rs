//! The JSON format: `trace.json` + `trace_paths.json`, CodeTracer's
//! db-backend trace as the design documents define it. [`JsonSink`] writes
//! what the replay stage ([`crate::replay`]) hands it, byte for byte as the
//! converter always did; the `convert*` functions are the JSON-only entry
//! points (the recorder goes through [`crate::sink::convert`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use recorder_errors::prelude::*;
use serde_json::Map;

pub use crate::replay::{ConvertStats, Progress};
use crate::replay::{replay_in_chunks, Var, READ_CHUNK};
use crate::sink::{Sink, TraceEnd};
use crate::stream::{ReadResult, StreamReader};
use crate::value;

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
    /// Creates `trace_json` (truncating it); `trace_paths` is written by
    /// [`Sink::finish`]. `limit`: see [`convert_within`].
    pub fn create(trace_json: &Path, trace_paths: &Path, limit: Option<u64>) -> RecorderResult<Self> {
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
    fn render(r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()> {
        value::write_json(r, out, 0)
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

/// Writes `trace_paths.json`: the trace's paths in id order (a folder of
/// either format has it, for tools that copy the sources).
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

/// Converts the stream at `events` into `trace_json` and `trace_paths`.
/// A truncated stream (a recording that died) converts up to its last whole
/// record and is reported in the stats; a corrupt one is an error.
pub fn convert(events: &Path, trace_json: &Path, trace_paths: &Path) -> RecorderResult<ConvertStats> {
    convert_in_chunks(events, trace_json, trace_paths, READ_CHUNK, None, &mut |_, _| true)
        .and_then(|s| s.ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to")))
}

/// [`convert`] keeping `trace_json` within `limit` bytes: the events up to
/// the last whole one that fits, then a Return for every call still open
/// (a valid, balanced trace). `stats.cut_to_fit` says whether it was cut.
pub fn convert_within(events: &Path, trace_json: &Path, trace_paths: &Path, limit: u64) -> RecorderResult<ConvertStats> {
    convert_in_chunks(events, trace_json, trace_paths, READ_CHUNK, Some(limit), &mut |_, _| true)
        .and_then(|s| s.ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to")))
}

/// [`convert`] reading the stream `chunk` bytes at a time.
fn convert_in_chunks(
    events: &Path,
    trace_json: &Path,
    trace_paths: &Path,
    chunk: usize,
    limit: Option<u64>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    let sink = JsonSink::create(trace_json, trace_paths, limit)?;
    replay_in_chunks(events, sink, chunk, None, &Map::new(), progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{self as st, StreamWriter};
    use crate::value::{self as v, types, vtag};

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

    /// A folder `name-<pid>` holding [`stream`] as `events.bin`; its
    /// (folder, events.bin, trace.json, trace_paths.json).
    fn sample(name: &str) -> std::io::Result<(PathBuf, PathBuf, PathBuf, PathBuf)> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let events = dir.join("events.bin");
        let mut w = StreamWriter::create(&events).map_err(|e| std::io::Error::other(e.to_string()))?;
        stream(w.buf());
        w.finish().map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok((dir.clone(), events, dir.join("trace.json"), dir.join("trace_paths.json")))
    }

    #[test]
    #[allow(clippy::panic_in_result_fn)] // a test's assertions
    fn records_cut_by_a_chunk_end_are_read_again_whole() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, events, json, paths) = sample("ct-chunks")?;
        convert(&events, &json, &paths)?;
        let whole = std::fs::read_to_string(&json)?;
        assert!(whole.contains("\"f\":\"2.5\"") && whole.contains("\"f\":\"7.0\""), "{whole}");
        for chunk in 1..48 {
            let stats = convert_in_chunks(&events, &json, &paths, chunk, None, &mut |_, _| true)?.ok_or("stopped")?;
            assert!(stats.ended && !stats.truncated);
            assert_eq!(stats.trace_bytes, std::fs::metadata(&json)?.len(), "chunk {chunk}");
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
        let (dir, events, json, paths) = sample("ct-cut")?;
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
