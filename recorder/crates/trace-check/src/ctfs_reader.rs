//! Reads a CTFS `trace.ct` into CodeTracer's official schema types, one
//! chunk of events at a time: the container and chunks through the `ctfs`
//! crate, the split-binary events (`trace-events.md`) here, their CBOR
//! payloads with `cbor4ii` + serde into the schema's own types — so a
//! `.ct` that reads here holds what trace.json would.
//!
//! A container cut short (killed writer, partial copy) reads up to its last
//! complete chunk and says so ([`CtRead::end`]); anything else that does
//! not decode is refused with the reason.

use std::path::{Path, PathBuf};

use codetracer_trace_types::{
    CallRecord, EventLogKind, FullValueRecord, FunctionId, FunctionRecord, Line, PathId, RecordEvent, ReturnRecord,
    StepRecord, TraceLowLevelEvent as E, TypeRecord, ValueRecord, VariableId,
};
use ctfs::container::ContainerReader;
use ctfs::events::{ChunkEnd, ChunkReader};
use ctfs::meta::{self, TraceMeta};

/// What reading a `.ct` found.
#[derive(Debug)]
pub struct CtRead {
    /// `meta.dat` (or, in containers of the spec's fixture era, `meta.json`
    /// + `paths.json`); `None` when the trace was never finished.
    pub meta: Option<TraceMeta>,
    /// Why the metadata is absent or unreadable, when it is.
    pub meta_problem: Option<String>,
    pub events: u64,
    pub chunks: u64,
    pub end: ChunkEnd,
    /// The reason in `partial.txt`, when the writer marked the trace partial.
    pub partial: Option<String>,
}

impl CtRead {
    /// True when the container is whole and was finished.
    pub fn complete(&self) -> bool {
        self.meta.is_some() && self.end == ChunkEnd::Complete && self.partial.is_none()
    }
}

struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or("event runs past the end of its chunk")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    fn cbor<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        cbor4ii::serde::from_slice(b).map_err(|e| format!("CBOR payload does not match the schema: {e}"))
    }
}

fn id(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Decodes one split-binary event (the tags a runtime trace uses).
fn decode(b: &mut Bytes<'_>) -> Result<E, String> {
    Ok(match b.u8()? {
        0 => {
            let path_id = PathId(id(b.u64()?));
            E::Step(StepRecord { path_id, line: Line(b.u64()? as i64) })
        }
        1 => E::Path(PathBuf::from(b.str()?)),
        2 => E::VariableName(b.str()?),
        3 => E::Variable(b.str()?),
        4 => E::Type(b.cbor::<TypeRecord>()?),
        5 => {
            let variable_id = VariableId(id(b.u64()?));
            E::Value(FullValueRecord { variable_id, value: b.cbor::<ValueRecord>()? })
        }
        6 => {
            let path_id = PathId(id(b.u64()?));
            let line = Line(b.u64()? as i64);
            E::Function(FunctionRecord { path_id, line, name: b.str()? })
        }
        7 => {
            let function_id = FunctionId(id(b.u64()?));
            E::Call(CallRecord { function_id, args: b.cbor::<Vec<FullValueRecord>>()? })
        }
        8 => E::Return(ReturnRecord { return_value: b.cbor::<ValueRecord>()? }),
        9 => {
            let k = b.u8()?;
            let kind: EventLogKind =
                serde_json::from_value(serde_json::Value::from(k)).map_err(|_| format!("unknown EventLogKind {k}"))?;
            let metadata = b.str()?;
            E::Event(RecordEvent { kind, metadata, content: b.str()? })
        }
        t => return Err(format!("split-binary tag {t} is not read by this checker")),
    })
}

fn read_meta(c: &mut ContainerReader) -> (Option<TraceMeta>, Option<String>) {
    if c.entry(ctfs::files::META).is_some() {
        return match c.read_file(ctfs::files::META).and_then(|b| meta::decode(&b)) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e.to_string())),
        };
    }
    // The spec's fixture predates meta.dat: meta.json + paths.json.
    if c.entry("meta.json").is_some() {
        let parsed = c.read_file("meta.json").map_err(|e| e.to_string()).and_then(|b| {
            serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| format!("meta.json: {e}"))
        });
        let paths = c
            .read_file("paths.json")
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            .unwrap_or_default();
        return match parsed {
            Ok(j) => {
                let s = |k: &str| j.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let args = j
                    .get("args")
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                (
                    Some(TraceMeta {
                        recording_id: s("recording_id"),
                        program: s("program"),
                        args,
                        workdir: s("workdir"),
                        recorder_id: String::new(),
                        paths,
                    }),
                    None,
                )
            }
            Err(e) => (None, Some(e)),
        };
    }
    (None, Some("no meta.dat: the trace was not finished (its writer stopped or was killed)".into()))
}

/// Reads `path`, handing each event to `on_event` in trace order. `Err`
/// when the file is not a readable CTFS trace; a trace cut short is `Ok`
/// with [`CtRead::end`] saying where it stops.
pub fn read_ct(path: &Path, mut on_event: impl FnMut(u64, &E) -> Result<(), String>) -> Result<CtRead, String> {
    let mut c = ContainerReader::open(path).map_err(|e| e.to_string())?;
    let (meta, meta_problem) = read_meta(&mut c);
    let partial = if c.entry(ctfs::files::PARTIAL).is_some() {
        Some(c.read_file(ctfs::files::PARTIAL).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
    } else {
        None
    };
    match c.entry(ctfs::files::FORMAT) {
        Some(_) => {
            let fmt = c.read_file(ctfs::files::FORMAT).map_err(|e| e.to_string())?;
            if fmt != b"split-binary" {
                return Err(format!("events.fmt is {:?}: only split-binary is read", String::from_utf8_lossy(&fmt)));
            }
        }
        None => return Err("no events.fmt: only split-binary event logs are read".into()),
    }
    let cur = c.open_file(ctfs::files::EVENTS).ok_or("no events.log in the container")?;
    let mut chunks = ChunkReader::new(cur);
    let (mut events, mut n_chunks) = (0u64, 0u64);
    while let Some(chunk) = chunks.next_chunk().map_err(|e| e.to_string())? {
        let mut b = Bytes { data: &chunk.data, pos: 0 };
        for _ in 0..chunk.events {
            let ev = decode(&mut b).map_err(|m| format!("event {events}: {m}"))?;
            on_event(events, &ev)?;
            events += 1;
        }
        if b.pos != chunk.data.len() {
            return Err(format!("chunk {n_chunks}: {} bytes after its {} events", chunk.data.len() - b.pos, chunk.events));
        }
        n_chunks += 1;
    }
    let end = chunks.end.clone().unwrap_or(ChunkEnd::Complete);
    Ok(CtRead { meta, meta_problem, events, chunks: n_chunks, end, partial })
}
