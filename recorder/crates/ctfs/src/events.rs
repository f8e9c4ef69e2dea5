//! `events.log`: the trace's events in split-binary encoding
//! (`trace-events.md`, "Split-Binary Encoding"), in independently
//! zstd-compressed chunks.
//!
//! Each chunk is a 16-byte header — compressed size (u32 LE), number of
//! events (u32 LE), index of its first event (u64 LE) — then one zstd frame
//! of the chunk's encoded events. This is the layout of the spec's
//! `fixtures/minimal_trace.ct` and the one CodeTracer's replay-server reads
//! (`events.fmt` = `split-binary` marks the encoding). A chunk is written
//! and committed whole, so a reader of a cut container sees whole chunks.

use std::io::Read;

use recorder_errors::prelude::*;

use crate::cbor::{Value, ValueEncoder};
use crate::container::{ContainerWriter, FileCursor, FileId};

pub const CHUNK_HEADER: usize = 16;
/// Events per chunk, at most (the spec's default chunk size).
pub const CHUNK_EVENTS: u32 = 4096;
/// Uncompressed bytes per chunk, at most (a chunk closes at the first
/// event past it), bounding memory whatever the values' size.
pub const CHUNK_BYTES: usize = 1 << 20;
/// The spec's default zstd level.
pub const ZSTD_LEVEL: i32 = 3;

/// Split-binary tags (`trace-events.md`, per-variant encoding).
pub mod tag {
    pub const STEP: u8 = 0;
    pub const PATH: u8 = 1;
    pub const VARIABLE_NAME: u8 = 2;
    pub const TYPE: u8 = 4;
    pub const VALUE: u8 = 5;
    pub const FUNCTION: u8 = 6;
    pub const CALL: u8 = 7;
    pub const RETURN: u8 = 8;
    pub const EVENT: u8 = 9;
}

/// Buffers events into chunks and writes each, compressed, to `events.log`.
pub struct EventLog {
    file: FileId,
    raw: Vec<u8>,
    count: u32,
    first: u64,
    packed: Vec<u8>,
    zstd: zstd::bulk::Compressor<'static>,
    pub chunks: u64,
    pub raw_bytes: u64,
    chunk_events: u32,
}

fn zstd_err(e: std::io::Error) -> RecorderError {
    RecorderError::new(ErrorCode::Internal, format!("zstd failed: {e}"))
}

impl EventLog {
    pub fn new(file: FileId) -> RecorderResult<Self> {
        Ok(EventLog {
            file,
            raw: Vec::with_capacity(64 * 1024),
            count: 0,
            first: 0,
            packed: Vec::new(),
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zstd_err)?,
            chunks: 0,
            raw_bytes: 0,
            chunk_events: CHUNK_EVENTS,
        })
    }

    /// Closes chunks after `n` events (at least 1) instead of [`CHUNK_EVENTS`].
    pub fn set_chunk_events(&mut self, n: u32) {
        self.chunk_events = n.max(1);
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.first + u64::from(self.count)
    }

    #[inline]
    fn u64(&mut self, v: u64) {
        self.raw.extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn str(&mut self, s: &[u8]) {
        self.raw.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.raw.extend_from_slice(s);
    }

    /// Writes a u32 length placeholder, lets `f` encode CBOR after it, and
    /// patches the length.
    #[inline]
    fn cbor(&mut self, f: impl FnOnce(&mut ValueEncoder<'_>)) {
        let at = self.raw.len();
        self.raw.extend_from_slice(&[0; 4]);
        f(&mut ValueEncoder::new(&mut self.raw));
        let n = (self.raw.len() - at - 4) as u32;
        self.raw[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    #[inline]
    fn end_event(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        self.count += 1;
        if self.count >= self.chunk_events || self.raw.len() >= CHUNK_BYTES {
            self.flush(w)?;
        }
        Ok(())
    }

    pub fn path(&mut self, w: &mut ContainerWriter, path: &str) -> RecorderResult<()> {
        self.raw.push(tag::PATH);
        self.str(path.as_bytes());
        self.end_event(w)
    }

    pub fn variable_name(&mut self, w: &mut ContainerWriter, name: &str) -> RecorderResult<()> {
        self.raw.push(tag::VARIABLE_NAME);
        self.str(name.as_bytes());
        self.end_event(w)
    }

    pub fn function(&mut self, w: &mut ContainerWriter, path_id: u64, line: i64, name: &str) -> RecorderResult<()> {
        self.raw.push(tag::FUNCTION);
        self.u64(path_id);
        self.u64(line as u64);
        self.str(name.as_bytes());
        self.end_event(w)
    }

    pub fn type_record(
        &mut self,
        w: &mut ContainerWriter,
        kind: u8,
        lang_type: &str,
        fields: Option<&[(&str, u64)]>,
    ) -> RecorderResult<()> {
        self.raw.push(tag::TYPE);
        self.cbor(|e| e.type_record(kind, lang_type, fields));
        self.end_event(w)
    }

    pub fn step(&mut self, w: &mut ContainerWriter, path_id: u64, line: i64) -> RecorderResult<()> {
        self.raw.push(tag::STEP);
        self.u64(path_id);
        self.u64(line as u64);
        self.end_event(w)
    }

    /// A `Value` event whose value `f` encodes (with [`ValueEncoder`]).
    pub fn value_with(
        &mut self,
        w: &mut ContainerWriter,
        variable_id: u64,
        f: impl FnOnce(&mut ValueEncoder<'_>),
    ) -> RecorderResult<()> {
        self.raw.push(tag::VALUE);
        self.u64(variable_id);
        self.cbor(f);
        self.end_event(w)
    }

    /// A `Call` event whose argument list `f` encodes
    /// ([`ValueEncoder::begin_args`], then per argument `arg` + its value).
    pub fn call_with(
        &mut self,
        w: &mut ContainerWriter,
        function_id: u64,
        f: impl FnOnce(&mut ValueEncoder<'_>),
    ) -> RecorderResult<()> {
        self.raw.push(tag::CALL);
        self.u64(function_id);
        self.cbor(f);
        self.end_event(w)
    }

    /// A `Return` event whose value `f` encodes.
    pub fn return_with(&mut self, w: &mut ContainerWriter, f: impl FnOnce(&mut ValueEncoder<'_>)) -> RecorderResult<()> {
        self.raw.push(tag::RETURN);
        self.cbor(f);
        self.end_event(w)
    }

    /// A `Value` event whose value is already CBOR-encoded.
    pub fn value_encoded(&mut self, w: &mut ContainerWriter, variable_id: u64, cbor: &[u8]) -> RecorderResult<()> {
        self.value_with(w, variable_id, |e| e.encoded(cbor))
    }

    pub fn value(&mut self, w: &mut ContainerWriter, variable_id: u64, v: &Value) -> RecorderResult<()> {
        self.value_with(w, variable_id, |e| e.value(v))
    }

    /// An `Event` record (program output etc.): `kind` is the schema's
    /// `EventLogKind` number.
    pub fn io_event(&mut self, w: &mut ContainerWriter, kind: u8, metadata: &str, content: &str) -> RecorderResult<()> {
        self.raw.push(tag::EVENT);
        self.raw.push(kind);
        self.str(metadata.as_bytes());
        self.str(content.as_bytes());
        self.end_event(w)
    }

    /// Compresses the buffered events into one chunk, appends it and commits.
    pub fn flush(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        if self.count == 0 {
            return Ok(());
        }
        let bound = zstd::zstd_safe::compress_bound(self.raw.len());
        self.packed.clear();
        self.packed.reserve(bound);
        self.zstd.compress_to_buffer(&self.raw, &mut self.packed).map_err(zstd_err)?;
        let mut head = [0u8; CHUNK_HEADER];
        head[..4].copy_from_slice(&(self.packed.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&self.count.to_le_bytes());
        head[8..16].copy_from_slice(&self.first.to_le_bytes());
        w.append(self.file, &head)?;
        w.append(self.file, &self.packed)?;
        w.commit(self.file)?;
        self.raw_bytes += self.raw.len() as u64;
        self.first += u64::from(self.count);
        self.count = 0;
        self.raw.clear();
        self.chunks += 1;
        Ok(())
    }
}

/// One chunk of an `events.log`, decompressed.
pub struct Chunk {
    pub first_event: u64,
    pub events: u32,
    pub data: Vec<u8>,
}

/// What stopped a chunk scan before the end of the declared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkEnd {
    /// Every chunk the file declares was read.
    Complete,
    /// The container ends inside the chunk starting at this byte of the
    /// file (a cut or killed trace): the chunks before it were read.
    CutShort { at: u64 },
}

/// Reads the chunks of an `events.log`, one at a time (bounded memory).
pub struct ChunkReader<'a> {
    cur: FileCursor<'a>,
    offset: u64,
    pub end: Option<ChunkEnd>,
    next_event: u64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(cur: FileCursor<'a>) -> Self {
        ChunkReader { cur, offset: 0, end: None, next_event: 0 }
    }

    fn read_full(&mut self, buf: &mut [u8]) -> RecorderResult<bool> {
        let mut got = 0;
        while got < buf.len() {
            let n = self
                .cur
                .read(&mut buf[got..])
                .map_err(|e| RecorderError::new(ErrorCode::TraceStreamCorrupt, format!("events.log: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            got += n;
        }
        Ok(true)
    }

    /// The next chunk; `Ok(None)` at the end (see [`ChunkReader::end`]),
    /// `Err` when a chunk that is fully present does not decode.
    pub fn next_chunk(&mut self) -> RecorderResult<Option<Chunk>> {
        if self.end.is_some() {
            return Ok(None);
        }
        if self.offset >= self.cur.entry.size {
            self.end = Some(ChunkEnd::Complete);
            return Ok(None);
        }
        let at = self.offset;
        let mut head = [0u8; CHUNK_HEADER];
        if !self.read_full(&mut head)? {
            self.end = Some(if self.cur.cut_short { ChunkEnd::CutShort { at } } else { ChunkEnd::Complete });
            if !self.cur.cut_short && at + (CHUNK_HEADER as u64) > self.cur.entry.size {
                return Err(RecorderError::new(
                    ErrorCode::TraceStreamCorrupt,
                    format!("events.log: {} stray bytes after the last chunk", self.cur.entry.size - at),
                ));
            }
            return Ok(None);
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (size, events) = (word(0) as usize, word(4));
        let mut first = [0u8; 8];
        first.copy_from_slice(&head[8..16]);
        let first_event = u64::from_le_bytes(first);
        if at + (CHUNK_HEADER + size) as u64 > self.cur.entry.size {
            return Err(RecorderError::new(
                ErrorCode::TraceStreamCorrupt,
                format!("events.log: the chunk at byte {at} runs past the end of the file"),
            ));
        }
        let mut body = vec![0u8; size];
        if !self.read_full(&mut body)? {
            self.end = Some(ChunkEnd::CutShort { at });
            return Ok(None);
        }
        if first_event != self.next_event {
            return Err(RecorderError::new(
                ErrorCode::TraceStreamCorrupt,
                format!("events.log: the chunk at byte {at} starts at event {first_event}, expected {}", self.next_event),
            ));
        }
        let data = zstd::stream::decode_all(&body[..]).map_err(|e| {
            RecorderError::new(ErrorCode::TraceStreamCorrupt, format!("events.log: the chunk at byte {at} does not decompress: {e}"))
        })?;
        self.offset = at + (CHUNK_HEADER + size) as u64;
        self.next_event = first_event + u64::from(events);
        Ok(Some(Chunk { first_event, events, data }))
    }
}
