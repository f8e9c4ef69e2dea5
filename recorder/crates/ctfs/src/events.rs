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
//!
//! From the second chunk on, chunks are compressed on a thread of their own
//! ([`Packer`]) while the caller encodes the next ones, and appended in
//! order as they come back: compression is about half of writing a trace
//! (docs/performance.md, "Where the time goes"), and after the traced
//! program exits this puts the second core to work on it. A trace of one
//! chunk never starts the thread. A writer given a gate
//! ([`EventLog::compress_here_until`]) compresses on its own thread until the
//! gate opens: a conversion beside the program on a machine of two cores
//! leaves the program its core (docs/recorder.md, "Writing trace.ct beside
//! the run").

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use recorder_errors::prelude::*;
use zstd::zstd_safe::{CParameter, ParamSwitch};

use crate::cbor::{Value, ValueEncoder};
use crate::container::{ContainerWriter, FileCursor, FileId};

pub const CHUNK_HEADER: usize = 16;
/// Events per chunk, at most (the spec's default chunk size).
pub const CHUNK_EVENTS: u32 = 4096;
/// Uncompressed bytes per chunk, at most (a chunk closes at the first
/// event past it), bounding memory whatever the values' size.
pub const CHUNK_BYTES: usize = 1 << 20;
/// zstd level 1, literals stored raw (the spec's default is level 3; any
/// level and literal mode make a frame every reader decodes): docs/ctfs.md,
/// "Compression level".
pub const ZSTD_LEVEL: i32 = 1;

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

/// Chunks handed to the [`Packer`] and not yet appended, at most (bounds
/// memory: a chunk is at most [`CHUNK_BYTES`] raw).
const IN_FLIGHT: usize = 3;

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
    packer: Option<Packer>,
    /// Raw buffers back from the packer, for the next chunks.
    spare: Vec<Vec<u8>>,
    /// Seconds spent compressing (on either thread).
    pub zstd_seconds: f64,
    /// No compression thread starts while this is unset.
    gate: Option<Arc<AtomicBool>>,
}

/// A compressor at [`ZSTD_LEVEL`] whose literals are stored raw, not
/// Huffman-coded (docs/ctfs.md, "Compression level").
fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut z = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    z.set_parameter(CParameter::LiteralCompressionMode(ParamSwitch::Disable))?;
    Ok(z)
}

fn zstd_err(e: std::io::Error) -> RecorderError {
    RecorderError::new(ErrorCode::Internal, format!("zstd failed: {e}"))
}

/// One chunk's events to compress: raw bytes, event count, first event.
struct Job {
    raw: Vec<u8>,
    count: u32,
    first: u64,
}

/// A compressed chunk: its header and zstd frame, the raw buffer (to be
/// reused), and how long compressing it took.
struct Packed {
    head: [u8; CHUNK_HEADER],
    packed: Vec<u8>,
    raw: Vec<u8>,
    seconds: f64,
}

/// The thread compressing chunks, and the chunks it has not handed back.
struct Packer {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<RecorderResult<Packed>>,
    thread: Option<JoinHandle<()>>,
    in_flight: usize,
}

/// Compresses `raw` (a chunk of `count` events from event `first`) into
/// `packed` with `zstd`; returns the chunk's header.
fn pack(
    zstd: &mut zstd::bulk::Compressor<'static>,
    raw: &[u8],
    count: u32,
    first: u64,
    packed: &mut Vec<u8>,
) -> RecorderResult<[u8; CHUNK_HEADER]> {
    packed.clear();
    packed.reserve(zstd::zstd_safe::compress_bound(raw.len()));
    zstd.compress_to_buffer(raw, packed).map_err(zstd_err)?;
    let mut head = [0u8; CHUNK_HEADER];
    head[..4].copy_from_slice(&(packed.len() as u32).to_le_bytes());
    head[4..8].copy_from_slice(&count.to_le_bytes());
    head[8..16].copy_from_slice(&first.to_le_bytes());
    Ok(head)
}

impl Packer {
    /// Starts the thread; `None` when it cannot start (chunks are then
    /// compressed by the caller).
    fn start() -> Option<Packer> {
        let (jobs, todo) = mpsc::sync_channel::<Job>(IN_FLIGHT);
        let (send, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("codetracer-ctfs-zstd".into())
            .spawn(move || {
                let mut zstd = match compressor().map_err(zstd_err) {
                    Ok(z) => z,
                    Err(e) => {
                        let _ = send.send(Err(e));
                        return;
                    }
                };
                for job in todo {
                    let started = std::time::Instant::now();
                    let mut packed = Vec::new();
                    let done = pack(&mut zstd, &job.raw, job.count, job.first, &mut packed)
                        .map(|head| Packed { head, packed, raw: job.raw, seconds: started.elapsed().as_secs_f64() });
                    if send.send(done).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Packer { jobs: Some(jobs), done, thread: Some(thread), in_flight: 0 })
    }

    fn lost() -> RecorderError {
        RecorderError::new(ErrorCode::Internal, "the chunk compression thread stopped")
    }
}

impl EventLog {
    pub fn new(file: FileId) -> RecorderResult<Self> {
        Ok(EventLog {
            file,
            raw: Vec::with_capacity(64 * 1024),
            count: 0,
            first: 0,
            packed: Vec::new(),
            zstd: compressor().map_err(zstd_err)?,
            chunks: 0,
            raw_bytes: 0,
            chunk_events: CHUNK_EVENTS,
            packer: None,
            spare: Vec::new(),
            zstd_seconds: 0.0,
            gate: None,
        })
    }

    /// Chunks are compressed on the caller's thread until `gate` is set,
    /// then on the compression thread as usual. The file is the same.
    pub fn compress_here_until(&mut self, gate: Arc<AtomicBool>) {
        self.gate = Some(gate);
    }

    fn thread_allowed(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.load(Ordering::Acquire))
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
            self.close_chunk(w)?;
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
        // Every step's snapshot is made of these: one reserve, no length
        // to patch (the layout of `value_with`).
        self.raw.reserve(1 + 8 + 4 + cbor.len());
        self.raw.push(tag::VALUE);
        self.u64(variable_id);
        self.str(cbor);
        self.end_event(w)
    }

    /// `Value` events whose values are already CBOR-encoded, one per
    /// `(variable_id, cbor)` (a step's snapshot): the bytes and chunks of as
    /// many [`EventLog::value_encoded`] calls, with one reserve and no call
    /// per event.
    pub fn values_encoded<'a, I>(&mut self, w: &mut ContainerWriter, values: I) -> RecorderResult<()>
    where
        I: Iterator<Item = (u64, &'a [u8])> + Clone,
    {
        let bytes: usize = values.clone().map(|(_, cbor)| 1 + 8 + 4 + cbor.len()).sum();
        self.raw.reserve(bytes);
        for (variable_id, cbor) in values {
            let mut head = [0u8; 13];
            head[0] = tag::VALUE;
            head[1..9].copy_from_slice(&variable_id.to_le_bytes());
            head[9..].copy_from_slice(&(cbor.len() as u32).to_le_bytes());
            self.raw.extend_from_slice(&head);
            self.raw.extend_from_slice(cbor);
            self.end_event(w)?;
        }
        Ok(())
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

    /// Compresses the buffered events into one chunk, appends it and
    /// commits, after every chunk before it: on return every event so far
    /// is in the container.
    pub fn flush(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        self.close_chunk(w)?;
        self.drain(w)
    }

    /// Ends the compression thread, if one runs, once every chunk it has
    /// is appended (before a `fork()`: a process with threads makes CPython
    /// warn; the next chunk starts it again).
    pub fn stop_thread(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        let drained = self.drain(w);
        if let Some(mut p) = self.packer.take() {
            p.jobs = None;
            if let Some(t) = p.thread.take() {
                let _ = t.join();
            }
        }
        // Until the next chunk the buffers are let go of (a writer may wait
        // so for long: a thread trace's, parked until the recording stops).
        self.spare = Vec::new();
        self.packed = Vec::new();
        self.raw.shrink_to_fit();
        drained
    }

    /// Ends the buffered chunk: compressed here when it is the trace's first
    /// (a one-chunk trace starts no thread), while the gate is closed or no
    /// thread can start, else handed to the thread.
    fn close_chunk(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        if self.count == 0 {
            return Ok(());
        }
        if self.chunks > 0 && self.packer.is_none() && self.thread_allowed() {
            self.packer = Packer::start();
        }
        let (count, first) = (self.count, self.first);
        self.first += u64::from(count);
        self.count = 0;
        match &mut self.packer {
            None => {
                let started = std::time::Instant::now();
                let head = pack(&mut self.zstd, &self.raw, count, first, &mut self.packed)?;
                self.zstd_seconds += started.elapsed().as_secs_f64();
                self.raw_bytes += self.raw.len() as u64;
                self.raw.clear();
                self.chunks += 1;
                w.append(self.file, &head)?;
                w.append(self.file, &self.packed)?;
                w.commit(self.file)
            }
            Some(p) => {
                let mut next = self.spare.pop().unwrap_or_default();
                next.clear();
                let raw = std::mem::replace(&mut self.raw, next);
                let jobs = p.jobs.as_ref().ok_or_else(Packer::lost)?;
                jobs.send(Job { raw, count, first }).map_err(|_| Packer::lost())?;
                p.in_flight += 1;
                self.collect(w, IN_FLIGHT)
            }
        }
    }

    /// Appends the chunks the thread has compressed, waiting for the oldest
    /// until at most `keep` are left with it.
    fn collect(&mut self, w: &mut ContainerWriter, keep: usize) -> RecorderResult<()> {
        let Some(p) = &mut self.packer else { return Ok(()) };
        while p.in_flight > 0 {
            let packed = if p.in_flight > keep {
                p.done.recv().map_err(|_| Packer::lost())?
            } else {
                match p.done.try_recv() {
                    Ok(packed) => packed,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return Err(Packer::lost()),
                }
            };
            p.in_flight -= 1;
            let Packed { head, packed, mut raw, seconds } = packed?;
            w.append(self.file, &head)?;
            w.append(self.file, &packed)?;
            w.commit(self.file)?;
            self.zstd_seconds += seconds;
            self.raw_bytes += raw.len() as u64;
            self.chunks += 1;
            raw.clear();
            self.spare.push(raw);
        }
        Ok(())
    }

    /// Appends every chunk the thread still has.
    fn drain(&mut self, w: &mut ContainerWriter) -> RecorderResult<()> {
        self.collect(w, 0)
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

#[cfg(test)]
mod tests {
    //! Chunks compressed on the thread come back whole and in order, before
    //! and after the thread is stopped (a fork) and started again, and
    //! while a gate keeps it from starting.
    use super::*;
    use crate::container::ContainerReader;

    fn write(path: &std::path::Path, stop_at: &[u64]) -> Vec<u8> {
        write_gated(path, stop_at, None)
    }

    /// `gate`: closed until the event it names.
    fn write_gated(path: &std::path::Path, stop_at: &[u64], gate: Option<u64>) -> Vec<u8> {
        let mut w = ContainerWriter::create(path).unwrap();
        let f = w.add_file("events.log").unwrap();
        let mut log = EventLog::new(f).unwrap();
        log.set_chunk_events(7);
        let open = Arc::new(AtomicBool::new(false));
        if gate.is_some() {
            log.compress_here_until(open.clone());
        }
        let mut raw = Vec::new();
        for i in 0..1000u64 {
            if let Some(at) = gate {
                // No thread while the gate is closed; one from the first
                // chunk after it opened.
                assert_eq!(log.packer.is_some(), i >= at + 7, "event {i}");
                if i == at {
                    open.store(true, Ordering::Release);
                }
            }
            if stop_at.contains(&i) {
                log.stop_thread(&mut w).unwrap();
                // Every chunk closed so far is in the container.
                assert_eq!(log.chunks, i / 7);
            }
            log.step(&mut w, i % 3, i as i64).unwrap();
            raw.push(tag::STEP);
            raw.extend_from_slice(&(i % 3).to_le_bytes());
            raw.extend_from_slice(&i.to_le_bytes());
        }
        log.flush(&mut w).unwrap();
        assert_eq!((log.chunks, log.events()), (143, 1000));
        log.stop_thread(&mut w).unwrap();
        w.finish().unwrap();
        raw
    }

    fn read(path: &std::path::Path) -> Vec<u8> {
        let mut c = ContainerReader::open(path).unwrap();
        let mut chunks = ChunkReader::new(c.open_file("events.log").unwrap());
        let (mut data, mut next) = (Vec::new(), 0);
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            assert_eq!(chunk.first_event, next);
            next += u64::from(chunk.events);
            data.extend_from_slice(&chunk.data);
        }
        assert_eq!((chunks.end, next), (Some(ChunkEnd::Complete), 1000));
        data
    }

    #[test]
    fn threaded_chunks_in_order() {
        let dir = std::env::temp_dir().join(format!("ctfs-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.ct"), dir.join("b.ct"));
        let want = write(&a, &[]);
        assert_eq!(read(&a), want);
        write(&b, &[3, 500, 501, 777]);
        // Stopping and starting the thread changes nothing in the file.
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        // Nor does compressing on the writer's thread until a gate opens.
        write_gated(&b, &[], Some(700));
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
    /// Snapshots written with `values_encoded` make the file, chunks and
    /// all, that one `value_encoded` per value makes: chunks closed by
    /// their event count and by their size fall inside a snapshot.
    #[test]
    fn snapshots_as_single_values() {
        let dir = std::env::temp_dir().join(format!("ctfs-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = vec![0x61u8; CHUNK_BYTES / 3];
        let snapshot: Vec<(u64, &[u8])> = (0..5u64).map(|i| (i, if i == 2 { &big[..] } else { &b"\x81\x01"[..] })).collect();
        let write = |path: &std::path::Path, batched: bool| {
            let mut w = ContainerWriter::create(path).unwrap();
            let f = w.add_file("events.log").unwrap();
            let mut log = EventLog::new(f).unwrap();
            log.set_chunk_events(7);
            for step in 0..40 {
                log.step(&mut w, 0, step).unwrap();
                let n = (step as usize) % 6;
                if batched {
                    log.values_encoded(&mut w, snapshot[..n].iter().copied()).unwrap();
                } else {
                    for (id, cbor) in &snapshot[..n] {
                        log.value_encoded(&mut w, *id, cbor).unwrap();
                    }
                }
            }
            log.flush(&mut w).unwrap();
            log.stop_thread(&mut w).unwrap();
            w.finish().unwrap();
        };
        let (a, b) = (dir.join("a.ct"), dir.join("b.ct"));
        write(&a, false);
        write(&b, true);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
