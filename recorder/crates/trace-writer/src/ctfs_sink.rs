//! The CTFS format: `trace.ct` (+ `trace_paths.json`), CodeTracer's binary
//! container (`docs/ctfs.md`), written through crate `ctfs` — the same
//! writer `ct-trace-convert` uses. Values arrive as CBOR rendered from the
//! compact stream ([`write_cbor`]), so the replay's cached per-variable
//! renderings go into `events.log` as they are.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ctfs::{TraceMeta, ValueEncoder};
use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::float::{write_python_float, FloatCache};
use crate::sink::{write_paths, Node, Sink, TraceEnd, Track, Var};
use crate::stream::{unzigzag, ReadError, ReadResult, StreamReader};
use crate::value::vtag;

/// Writes `trace.ct`: events into chunked `events.log`, `meta.dat` last
/// (its presence marks a finished trace), `partial.txt` when the trace stops
/// early; and `trace_paths.json` beside it.
pub struct CtfsSink {
    inner: ctfs::CtfsWriter,
    paths_file: PathBuf,
    floats: FloatCache,
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
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

impl Sink for CtfsSink {
    /// `limit`: none (a CTFS trace is never cut: [`Sink::CUTS_TO_FIT`]).
    fn create(trace_ct: &Path, trace_paths: &Path, _limit: Option<u64>) -> RecorderResult<Self> {
        Ok(CtfsSink {
            inner: ctfs::CtfsWriter::create(trace_ct)?,
            paths_file: trace_paths.to_path_buf(),
            floats: FloatCache::default(),
        })
    }

    fn render(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>) -> ReadResult<()> {
        write_cbor(r, out, &mut self.floats, 0)
    }

    fn render_nodes(&mut self, r: &mut StreamReader<'_>, out: &mut Vec<u8>, nodes: &mut Vec<Node>, depth: u32) -> ReadResult<()> {
        write_cbor_node(r, out, &mut self.floats, depth, nodes)
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

    fn values(&mut self, vars: &[Var]) -> RecorderResult<usize> {
        let (log, w) = self.inner.raw();
        log.values_encoded(w, vars.iter().map(|v| (u64::from(v.id), v.value.as_slice())))?;
        Ok(vars.len())
    }

    fn event(&mut self, kind: u8, metadata: &[u8], content: &[u8]) -> RecorderResult<bool> {
        let (log, w) = self.inner.raw();
        log.io_event(w, kind, &text(metadata), &text(content))?;
        Ok(true)
    }

    fn stop_threads(&mut self) -> RecorderResult<()> {
        self.inner.stop_thread()
    }

    fn no_threads_until(&mut self, gate: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.inner.compress_here_until(gate);
    }

    /// `zstd_seconds`: compressing `events.log` (on the sink's thread or
    /// the caller's).
    fn stage_seconds(&self) -> Vec<(&'static str, f64)> {
        vec![("zstd_seconds", self.inner.zstd_seconds())]
    }

    fn finish(self, end: &TraceEnd<'_>) -> RecorderResult<u64> {
        let meta = trace_meta(end.meta, end.paths);
        let bytes = self.inner.finish_with(&meta, end.partial)?.bytes;
        write_paths(&self.paths_file, end.paths)?;
        Ok(bytes)
    }
}

/// Reads one value (not an `OBJ` reference: the replay resolves those) and
/// appends its CBOR `ValueRecord` to `out` — the counterpart of the JSON
/// sink's `write_json`, value for value: same kinds, same type ids, same
/// float text, invalid UTF-8 replaced the same way. Floats come from
/// `floats` when it rendered them before.
pub fn write_cbor(r: &mut StreamReader<'_>, out: &mut Vec<u8>, floats: &mut FloatCache, depth: u32) -> ReadResult<()> {
    write_cbor_node(r, out, floats, depth, &mut ())
}

/// [`write_cbor`], noting each node in `track`.
fn write_cbor_node<T: Track>(r: &mut StreamReader<'_>, out: &mut Vec<u8>, floats: &mut FloatCache, depth: u32, track: &mut T) -> ReadResult<()> {
    let at = track.open(r.pos(), out.len());
    let children = write_cbor_inner(r, out, floats, depth, track)?;
    track.close(at, r.pos(), out.len(), children);
    Ok(())
}

/// One node's CBOR; its children.
#[inline(always)]
fn write_cbor_inner<T: Track>(r: &mut StreamReader<'_>, out: &mut Vec<u8>, floats: &mut FloatCache, depth: u32, track: &mut T) -> ReadResult<u64> {
    if depth > 256 {
        return Err(ReadError::Corrupt);
    }
    let tag = r.u8()?;
    if tag == vtag::FLOAT {
        let type_id = r.id()?;
        let raw = r.bytes(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(raw);
        floats.render(f64::from_le_bytes(le), type_id, out, write_float);
        return Ok(0);
    }
    let mut e = ValueEncoder::new(out);
    if tag == vtag::NONE {
        e.none_value(0);
        return Ok(0);
    }
    let type_id = r.varint()?;
    match tag {
        vtag::FALSE | vtag::TRUE => e.bool_value(tag == vtag::TRUE, type_id),
        vtag::INT => e.int_value(unzigzag(r.varint()?), type_id),
        vtag::BIGINT => {
            let negative = r.u8()? != 0;
            let magnitude = r.str()?;
            e.bigint_value(magnitude, negative, type_id);
        }
        vtag::STR | vtag::RAW | vtag::ERROR => {
            let (kind, key) = match tag {
                vtag::STR => ("String", "text"),
                vtag::RAW => ("Raw", "r"),
                _ => ("Error", "msg"),
            };
            e.tagged_field(kind, key, type_id);
            e.text_lossy(r.str()?);
        }
        vtag::SEQ | vtag::TUPLE | vtag::STRUCT => {
            let n = r.varint()?;
            match tag {
                vtag::SEQ => e.begin_sequence(n, false, type_id),
                vtag::TUPLE => e.begin_tuple(n, type_id),
                _ => e.begin_struct(n, type_id),
            }
            for _ in 0..n {
                write_cbor_node(r, out, floats, depth + 1, track)?;
            }
            return Ok(n);
        }
        _ => return Err(ReadError::Corrupt),
    }
    Ok(0)
}

/// A `Float` value record: the schema's `f` is the number's text, Python's
/// `repr`.
fn write_float(f: f64, type_id: u32, out: &mut Vec<u8>) {
    let mut text = Vec::with_capacity(32);
    write_python_float(f, &mut text);
    let mut e = ValueEncoder::new(out);
    e.tagged_field("Float", "f", u64::from(type_id));
    e.text_lossy(&text);
}

#[cfg(test)]
mod tests {
    //! The float cache never shows a stale value: renderings through one
    //! long-lived cache equal renderings with a fresh cache each time.
    use super::*;
    use crate::value::{self as v, types};

    fn render(value: &[u8], floats: &mut FloatCache) -> Vec<u8> {
        let mut out = Vec::new();
        write_cbor(&mut StreamReader::records(value), &mut out, floats, 0).unwrap_or_else(|_| out.clear());
        out
    }

    fn list(xs: &[f64], type_id: u32) -> Vec<u8> {
        let mut b = Vec::new();
        v::put_container_head(&mut b, vtag::SEQ, types::LIST, xs.len() as u32);
        for x in xs {
            v::put_float(&mut b, type_id, *x);
        }
        b
    }

    #[test]
    fn cached_renderings_equal_fresh_ones() {
        let mut int_one = Vec::new();
        v::put_int(&mut int_one, types::INT, 1);
        let mut float_one = Vec::new();
        v::put_float(&mut float_one, types::FLOAT, 1.0);
        let values = [
            list(&[1.0, 2.5, 0.1], types::FLOAT),
            // A list mutated in place: one element changed, by one bit.
            list(&[1.0, 2.5, f64::from_bits(0.1f64.to_bits() + 1)], types::FLOAT),
            list(&[1.0, 2.5, 0.1], types::FLOAT),
            // The same numbers of another type (a float subclass).
            list(&[1.0, 2.5, 0.1], 40),
            // A variable rebound from 1.0 to 1, and back.
            float_one.clone(),
            int_one,
            float_one,
            list(&[-0.0, 0.0, f64::NAN, f64::INFINITY, 1e300], types::FLOAT),
        ];
        let mut cache = FloatCache::default();
        for value in values.iter().chain(values.iter()) {
            let fresh = render(value, &mut FloatCache::default());
            assert!(!fresh.is_empty());
            assert_eq!(render(value, &mut cache), fresh);
        }
        let mut text = Vec::new();
        write_python_float(f64::from_bits(0.1f64.to_bits() + 1), &mut text);
        let second = render(&values[1], &mut cache);
        assert!(second.windows(text.len()).any(|w| w == text), "{}", String::from_utf8_lossy(&second));
    }
}
