//! The compact in-run event stream (`events.bin`).
//!
//! The traced program's hot path only appends a few bytes per event to a
//! buffer; values are written only when a frame's variable changed since that
//! frame's previous step. The replay stage reads the stream back (after the
//! run, or beside it as it is flushed: see [`FlushObserver`]) and writes the
//! full-snapshot trace. Nothing here knows a trace format.
//!
//! Layout: the 8-byte [`MAGIC`], then records. A record is one tag byte and
//! its payload; integers are LEB128 varints (signed ones zigzag-encoded),
//! strings are a varint length and UTF-8 bytes, values use [`crate::value`].
//! Every id (path, function, variable name, type) is defined by a record of
//! its own, in order, before its first use — exactly as in trace.json — so a
//! stream cut at any record boundary is still a readable (partial) trace.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use recorder_errors::prelude::*;

/// First bytes of every stream; the digits are the stream format version
/// (3 added `OBJ`, `OBJ_PATCH` and object references).
pub const MAGIC: &[u8; 8] = b"CTPYEV03";

/// Headers of the older formats this reader still reads (each format only
/// added records).
pub const OLDER_MAGICS: &[&[u8; 8]] = &[b"CTPYEV02"];

/// Whether `head` (a stream's first 8 bytes) is a header this reader reads.
pub fn readable_header(head: &[u8]) -> bool {
    head == MAGIC || OLDER_MAGICS.iter().any(|m| head == *m)
}

/// Record tags.
pub mod tag {
    /// `str`: the next PathId.
    pub const PATH: u8 = 1;
    /// `path_id, line, str name`: the next FunctionId.
    pub const FUNCTION: u8 = 2;
    /// `str`: the next VariableId.
    pub const VARNAME: u8 = 3;
    /// `u8 kind, str lang_type, u8 has_fields [, n, (str name, type_id)*]`: the next TypeId.
    pub const TYPE: u8 = 4;
    /// `path_id, line`: a line executes in the current frame.
    pub const STEP: u8 = 5;
    /// `function_id, n, (variable_id, value)*`: a frame starts or resumes.
    pub const CALL: u8 = 6;
    /// `value`: the current frame returns, yields or unwinds.
    pub const RETURN: u8 = 7;
    /// `variable_id, value`: a variable of the current frame has a new value.
    pub const SET: u8 = 8;
    /// `variable_id`: a variable of the current frame is no longer bound.
    pub const UNSET: u8 = 9;
    /// `u8 kind, str metadata, str content`: an I/O event.
    pub const EVENT: u8 = 10;
    /// `zigzag exit_status`: the recording ended normally.
    pub const END: u8 = 11;
    /// `variable_id, n, (path_len, child_index*, value)*`: leaves of a
    /// variable of the current frame changed in place. A path names a node of
    /// the variable's encoded value by child indices (a dict entry is a pair:
    /// key 0, value 1); the empty path is the whole value.
    pub const PATCH: u8 = 12;
    /// `object_id, value`: an object's encoding, as of now (defines the id
    /// or replaces its encoding). Variables and arguments refer to it with
    /// a `vtag::OBJ` value, which stands for the encoding at that point of
    /// the stream; so a change to an object many frames show is written
    /// once, and an argument passed down call after call costs a few bytes.
    pub const OBJ: u8 = 13;
    /// `object_id, n, (path_len, child_index*, value)*`: leaves of an
    /// object's encoding changed in place (paths as in `PATCH`).
    pub const OBJ_PATCH: u8 = 14;
}

/// Flush the in-memory buffer to disk once it holds this many bytes.
pub const FLUSH_AT: usize = 1 << 20;

/// Flush at this many bytes instead while a thread converts the stream
/// beside the run ([`StreamWriter::follow`]): it sees nothing before a
/// flush, so what the last flush left in the buffer is converted after the
/// program's exit, and a recording of a few hundred KiB would be converted
/// whole then. A write of 64 KiB costs what copying it costs; the number
/// of writes hardly counts.
pub const FLUSH_AT_FOLLOWED: usize = 64 << 10;

#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
pub fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

#[inline]
pub fn put_step(buf: &mut Vec<u8>, path_id: u32, line: u32) {
    buf.push(tag::STEP);
    put_varint(buf, u64::from(path_id));
    put_varint(buf, u64::from(line));
}

pub fn put_path(buf: &mut Vec<u8>, path: &str) {
    buf.push(tag::PATH);
    put_str(buf, path.as_bytes());
}

pub fn put_function(buf: &mut Vec<u8>, path_id: u32, line: u32, name: &str) {
    buf.push(tag::FUNCTION);
    put_varint(buf, u64::from(path_id));
    put_varint(buf, u64::from(line));
    put_str(buf, name.as_bytes());
}

pub fn put_varname(buf: &mut Vec<u8>, name: &str) {
    buf.push(tag::VARNAME);
    put_str(buf, name.as_bytes());
}

/// A TYPE record; `fields` is `Some` for struct types.
pub fn put_type(buf: &mut Vec<u8>, kind: u8, lang_type: &str, fields: Option<&[(String, u32)]>) {
    buf.push(tag::TYPE);
    buf.push(kind);
    put_str(buf, lang_type.as_bytes());
    match fields {
        None => buf.push(0),
        Some(fields) => {
            buf.push(1);
            put_varint(buf, fields.len() as u64);
            for (name, type_id) in fields {
                put_str(buf, name.as_bytes());
                put_varint(buf, u64::from(*type_id));
            }
        }
    }
}

/// Start of a CALL record; the caller appends `nargs` × (variable_id, value).
#[inline]
pub fn put_call_head(buf: &mut Vec<u8>, function_id: u32, nargs: u32) {
    buf.push(tag::CALL);
    put_varint(buf, u64::from(function_id));
    put_varint(buf, u64::from(nargs));
}

/// Start of a RETURN record; the caller appends the value.
#[inline]
pub fn put_return_head(buf: &mut Vec<u8>) {
    buf.push(tag::RETURN);
}

/// Start of a PATCH record; the caller appends `n` × (path, value).
#[inline]
pub fn put_patch_head(buf: &mut Vec<u8>, variable_id: u32, n: u32) {
    buf.push(tag::PATCH);
    put_varint(buf, u64::from(variable_id));
    put_varint(buf, u64::from(n));
}

/// Start of a SET record; the caller appends the value.
#[inline]
pub fn put_set_head(buf: &mut Vec<u8>, variable_id: u32) {
    buf.push(tag::SET);
    put_varint(buf, u64::from(variable_id));
}

/// Start of an OBJ record; the caller appends the value.
#[inline]
pub fn put_obj_head(buf: &mut Vec<u8>, object_id: u32) {
    buf.push(tag::OBJ);
    put_varint(buf, u64::from(object_id));
}

/// Start of an OBJ_PATCH record; the caller appends `n` × (path, value).
#[inline]
pub fn put_obj_patch_head(buf: &mut Vec<u8>, object_id: u32, n: u32) {
    buf.push(tag::OBJ_PATCH);
    put_varint(buf, u64::from(object_id));
    put_varint(buf, u64::from(n));
}

#[inline]
pub fn put_unset(buf: &mut Vec<u8>, variable_id: u32) {
    buf.push(tag::UNSET);
    put_varint(buf, u64::from(variable_id));
}

pub fn put_event(buf: &mut Vec<u8>, kind: u8, metadata: &str, content: &[u8]) {
    buf.push(tag::EVENT);
    buf.push(kind);
    put_str(buf, metadata.as_bytes());
    put_str(buf, content);
}

pub fn put_end(buf: &mut Vec<u8>, exit_status: i64) {
    buf.push(tag::END);
    put_varint(buf, zigzag(exit_status));
}

/// Told how far the stream is on disk: what follows the file as it grows
/// (the live conversion) implements it, and the [`StreamWriter`] calls it
/// after each flush.
pub trait FlushObserver {
    /// The stream's first `bytes` are on disk.
    fn flushed(&mut self, bytes: u64);
    /// A write of the stream failed: the file is not the stream the writer
    /// holds.
    fn failed(&mut self);
    /// The stream is complete at `bytes` (no byte will follow).
    fn done(&mut self, bytes: u64);
}

/// The observer of a stream nothing follows (it cannot be made).
pub enum Unobserved {}

impl FlushObserver for Unobserved {
    fn flushed(&mut self, _: u64) {
        match *self {}
    }
    fn failed(&mut self) {
        match *self {}
    }
    fn done(&mut self, _: u64) {
        match *self {}
    }
}

/// Appends records to `events.bin`: an in-memory buffer the hot path writes
/// into directly, flushed to the file in large chunks. `O`: what may follow
/// the file as it grows ([`StreamWriter::follow`]).
pub struct StreamWriter<O: FlushObserver = Unobserved> {
    buf: Vec<u8>,
    file: File,
    path: PathBuf,
    bytes_written: u64,
    /// The buffer is flushed once it holds this many bytes ([`FLUSH_AT`],
    /// [`FLUSH_AT_FOLLOWED`]).
    flush_at: usize,
    /// Told of every flush.
    observer: Option<O>,
}

impl<O: FlushObserver> StreamWriter<O> {
    pub fn create(path: &Path) -> RecorderResult<Self> {
        let file = File::create(path).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        let mut buf = Vec::with_capacity(FLUSH_AT + (FLUSH_AT >> 2));
        buf.extend_from_slice(MAGIC);
        Ok(Self { buf, file, path: path.to_path_buf(), bytes_written: 0, flush_at: FLUSH_AT, observer: None })
    }

    /// The buffer records are appended to.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Whether the buffer is due to be flushed.
    #[inline]
    pub fn wants_flush(&self) -> bool {
        self.buf.len() >= self.flush_at
    }

    /// Writes the buffer to the file.
    pub fn flush(&mut self) -> RecorderResult<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.buf);
        self.bytes_written += self.buf.len() as u64;
        self.buf.clear();
        if let Some(observer) = &mut self.observer {
            match res {
                Ok(()) => observer.flushed(self.bytes_written),
                Err(_) => observer.failed(),
            }
        }
        res.map_err(|e| RecorderError::from_io(ErrorCode::Io, e, &self.path))
    }

    /// Tells `observer` of every flush from now on (and of what is on disk
    /// already).
    pub fn follow(&mut self, mut observer: O) {
        observer.flushed(self.bytes_written);
        self.observer = Some(observer);
        self.flush_often();
    }

    /// Flushes at [`FLUSH_AT_FOLLOWED`] from now on: something reads the
    /// file as it grows.
    pub fn flush_often(&mut self) {
        self.flush_at = FLUSH_AT_FOLLOWED;
    }

    /// Detaches the observer: it is told nothing more.
    pub fn take_observer(&mut self) -> Option<O> {
        self.observer.take()
    }

    /// In a child of `fork()`: the observer is the parent's (a thread it
    /// runs is not in this process), so it is forgotten untouched, never
    /// dropped.
    pub fn forget_observer_after_fork(&mut self) {
        if let Some(observer) = self.observer.take() {
            std::mem::forget(observer);
        }
    }

    /// The observer following this stream, if any (to pause it around a
    /// `fork()`).
    pub fn observer_mut(&mut self) -> Option<&mut O> {
        self.observer.as_mut()
    }

    /// Bytes in the stream so far (written and buffered).
    pub fn len(&self) -> u64 {
        self.bytes_written + self.buf.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and closes the file, returning the stream's size.
    pub fn finish(self) -> RecorderResult<u64> {
        self.finish_observed().map(|(bytes, _)| bytes)
    }

    /// [`StreamWriter::finish`], handing back the observer (told the stream
    /// is complete).
    pub fn finish_observed(mut self) -> RecorderResult<(u64, Option<O>)> {
        self.flush()?;
        self.file.flush().map_err(|e| RecorderError::from_io(ErrorCode::Io, e, &self.path))?;
        let mut observer = self.observer.take();
        if let Some(o) = &mut observer {
            o.done(self.bytes_written);
        }
        Ok((self.bytes_written, observer))
    }
}

/// Reads records back. Truncation at the end of the data (a stream whose
/// writer died) is reported as [`ReadError::Truncated`], distinct from
/// corruption.
pub struct StreamReader<'a> {
    data: &'a [u8],
    pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The data ends inside a record.
    Truncated,
    /// The data is not a stream of this format.
    Corrupt,
}

pub type ReadResult<T> = Result<T, ReadError>;

impl<'a> StreamReader<'a> {
    /// A reader over a whole stream, header included.
    pub fn new(data: &'a [u8]) -> ReadResult<Self> {
        if data.len() < MAGIC.len() {
            return Err(ReadError::Truncated);
        }
        if !readable_header(&data[..MAGIC.len()]) {
            return Err(ReadError::Corrupt);
        }
        Ok(Self { data, pos: MAGIC.len() })
    }

    /// A reader over bare record bytes (no header).
    pub fn records(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    #[inline]
    pub fn u8(&mut self) -> ReadResult<u8> {
        match self.data.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => Err(ReadError::Truncated),
        }
    }

    #[inline]
    pub fn varint(&mut self) -> ReadResult<u64> {
        let mut out = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift >= 64 {
                return Err(ReadError::Corrupt);
            }
            out |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(out);
            }
            shift += 7;
        }
    }

    #[inline]
    pub fn id(&mut self) -> ReadResult<u32> {
        u32::try_from(self.varint()?).map_err(|_| ReadError::Corrupt)
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(ReadError::Corrupt)?;
        match self.data.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(ReadError::Truncated),
        }
    }

    #[inline]
    pub fn str(&mut self) -> ReadResult<&'a [u8]> {
        let n = usize::try_from(self.varint()?).map_err(|_| ReadError::Corrupt)?;
        self.bytes(n)
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut buf = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in values {
            put_varint(&mut buf, v);
        }
        let mut r = StreamReader::records(&buf);
        for v in values {
            assert_eq!(r.varint(), Ok(v));
        }
        assert_eq!(r.varint(), Err(ReadError::Truncated));
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn header_is_checked() {
        assert_eq!(StreamReader::new(b"CTPY").err(), Some(ReadError::Truncated));
        assert_eq!(StreamReader::new(b"NOTASTREAM").err(), Some(ReadError::Corrupt));
        assert!(StreamReader::new(MAGIC).is_ok());
        assert!(StreamReader::new(b"CTPYEV02").is_ok());
        assert_eq!(StreamReader::new(b"CTPYEV99").err(), Some(ReadError::Corrupt));
    }
}
