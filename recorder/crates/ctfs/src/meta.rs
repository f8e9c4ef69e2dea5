//! `meta.dat` (`internal-files.md`, "Metadata"): the trace's metadata in
//! binary. Layout of version 3, the one current CodeTracer reads: magic
//! `CTMD`, version u16 LE, flags u16 LE, then varint-length-prefixed UTF-8
//! strings: recording_id (a UUIDv7), program, args (count + strings),
//! workdir, recorder_id, paths (count + strings). No flag is set: this
//! writer carries none of the optional sections.
//!
//! Version 1 of the spec's text lacks `recording_id`; the reader accepts
//! both.

use recorder_errors::prelude::*;

use crate::varint::{get_varint, put_varint};

pub const MAGIC: [u8; 4] = *b"CTMD";
pub const VERSION: u16 = 3;

/// What `meta.dat` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceMeta {
    pub recording_id: String,
    pub program: String,
    pub args: Vec<String>,
    pub workdir: String,
    pub recorder_id: String,
    pub paths: Vec<String>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn encode(meta: &TraceMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    put_str(&mut out, &meta.recording_id);
    put_str(&mut out, &meta.program);
    put_varint(&mut out, meta.args.len() as u64);
    for a in &meta.args {
        put_str(&mut out, a);
    }
    put_str(&mut out, &meta.workdir);
    put_str(&mut out, &meta.recorder_id);
    put_varint(&mut out, meta.paths.len() as u64);
    for p in &meta.paths {
        put_str(&mut out, p);
    }
    out
}

fn bad(msg: impl Into<String>) -> RecorderError {
    RecorderError::new(ErrorCode::TraceStreamCorrupt, format!("meta.dat: {}", msg.into()))
}

fn get_str(data: &[u8], pos: &mut usize) -> RecorderResult<String> {
    let n = get_varint(data, pos).ok_or_else(|| bad("truncated length"))? as usize;
    let end = pos.checked_add(n).filter(|&e| e <= data.len()).ok_or_else(|| bad("string runs past the end"))?;
    let s = std::str::from_utf8(&data[*pos..end]).map_err(|_| bad("string is not UTF-8"))?;
    *pos = end;
    Ok(s.to_owned())
}

/// Parses `meta.dat` (versions 1 and 3, no optional sections).
pub fn decode(data: &[u8]) -> RecorderResult<TraceMeta> {
    if data.len() < 8 || data[..4] != MAGIC {
        return Err(bad("bad magic (expected CTMD)"));
    }
    let version = u16::from_le_bytes([data[4], data[5]]);
    let flags = u16::from_le_bytes([data[6], data[7]]);
    if version != 1 && version != 3 {
        return Err(bad(format!("unsupported version {version}")));
    }
    if flags != 0 {
        return Err(bad(format!("optional sections (flags 0x{flags:04x}) are not supported")));
    }
    let mut pos = 8;
    let recording_id = if version >= 3 { get_str(data, &mut pos)? } else { String::new() };
    let program = get_str(data, &mut pos)?;
    let n = get_varint(data, &mut pos).ok_or_else(|| bad("truncated args count"))?;
    let mut args = Vec::new();
    for _ in 0..n {
        args.push(get_str(data, &mut pos)?);
    }
    let workdir = get_str(data, &mut pos)?;
    let recorder_id = get_str(data, &mut pos)?;
    let n = get_varint(data, &mut pos).ok_or_else(|| bad("truncated paths count"))?;
    let mut paths = Vec::new();
    for _ in 0..n {
        paths.push(get_str(data, &mut pos)?);
    }
    if pos != data.len() {
        return Err(bad(format!("{} trailing bytes", data.len() - pos)));
    }
    Ok(TraceMeta { recording_id, program, args, workdir, recorder_id, paths })
}
