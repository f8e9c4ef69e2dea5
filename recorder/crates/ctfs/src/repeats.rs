//! A chunk's zstd frame made from the repeats its writer already knows.
//!
//! A full-snapshot trace repeats most of each step's `Value` events from
//! the step before (docs/ctfs.md, "Compression level"). zstd finds those
//! repeats by hashing and comparing every byte of the chunk; the writer
//! knows them for free: a variable's event that equals its previous one
//! ([`Repeats::skip`]: the writer does not even copy it into the chunk), or
//! shares a head and a tail with it ([`Repeats::compare`]). On the
//! compression thread the chunk is made whole ([`Repeats::expand`]) and
//! those repeats are handed to zstd as sequences
//! (`ZSTD_compressSequences`): zstd only entropy-codes them and the bytes
//! between them. It makes an ordinary zstd frame of the same bytes; any
//! reader decodes it as it decodes any other.

use std::ops::Range;
use std::ptr::NonNull;

use recorder_errors::prelude::*;
use zstd::zstd_safe::zstd_sys as sys;

/// Repeats shorter than this are left to the literals (a sequence costs
/// bytes too).
const MIN_REPEAT: usize = 8;
/// zstd's smallest match the frame declares (`ZSTD_c_minMatch`): at most
/// [`MIN_REPEAT`].
const MIN_MATCH: i32 = 4;
/// Chunks larger than a window of this log are compressed the usual way.
const MAX_WINDOW_LOG: u32 = 27;

/// `len` bytes at `at` of a chunk equal the `len` bytes `back` bytes
/// before them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Repeat {
    at: u32,
    len: u32,
    back: u32,
}

/// What the writer noted of an event of a chunk (offsets in the whole
/// chunk).
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// The `len` bytes at `at` repeat those `back` bytes before; the
    /// writer left them out of its buffer.
    Skipped { at: u32, len: u32, back: u32 },
    /// The event at `new` may share a head and a tail with the one at
    /// `old` (the same variable's previous event).
    Compare { old: u32, old_len: u32, new: u32, new_len: u32 },
}

/// The repeats of one chunk, in order: as the writer notes them
/// (`entries`), and as zstd is given them (`list`, made by
/// [`Repeats::expand`]).
#[derive(Default)]
pub(crate) struct Repeats {
    entries: Vec<Entry>,
    /// Bytes of the chunk left out of the writer's buffer.
    skipped: usize,
    list: Vec<Repeat>,
}

/// The 8 bytes of `s` at `i` as a number (`i + 8 <= s.len()`).
#[inline]
fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Bytes `a` and `b` share from their start.
fn common_head(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let d = word(a, i) ^ word(b, i);
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Bytes `a` and `b` share at their end, at most `max`.
fn common_tail(a: &[u8], b: &[u8], max: usize) -> usize {
    let n = a.len().min(b.len()).min(max);
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i + 8 <= n {
        let d = word(a, la - i - 8) ^ word(b, lb - i - 8);
        if d != 0 {
            return i + (d.leading_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[la - 1 - i] == b[lb - 1 - i] {
        i += 1;
    }
    i
}

impl Repeats {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the chunk the writer left out of its buffer.
    #[inline]
    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.list.clear();
        self.skipped = 0;
    }

    /// The `len` bytes at `at` of the chunk repeat those at `old`, and are
    /// left out of the writer's buffer (the writer knows they repeat).
    #[inline]
    pub(crate) fn skip(&mut self, old: usize, at: usize, len: usize) {
        self.skipped += len;
        self.entries.push(Entry::Skipped { at: at as u32, len: len as u32, back: (at - old) as u32 });
    }

    /// The event `new` of the chunk may share a head and a tail with the
    /// earlier event `old`.
    #[inline]
    pub(crate) fn compare(&mut self, old: Range<usize>, new: Range<usize>) {
        self.entries.push(Entry::Compare {
            old: old.start as u32,
            old_len: old.len() as u32,
            new: new.start as u32,
            new_len: new.len() as u32,
        });
    }

    /// Makes the whole chunk in `full` from the writer's buffer `written`
    /// and the bytes it left out, and the list of repeats zstd is given
    /// (comparing the events [`Repeats::compare`] named; `header`: see
    /// [`Repeats::note`]). `false` when the entries do not fit the buffer
    /// (never seen: `full` is then not the chunk).
    pub(crate) fn expand(&mut self, written: &[u8], full: &mut Vec<u8>, header: usize) -> bool {
        full.clear();
        full.reserve(written.len() + self.skipped);
        let mut from = 0;
        for e in &self.entries {
            if let Entry::Skipped { at, len, back } = *e {
                let (at, len, back) = (at as usize, len as usize, back as usize);
                let Some(part) = at.checked_sub(full.len()).and_then(|n| written.get(from..from + n)) else { return false };
                full.extend_from_slice(part);
                from += part.len();
                if back < len || back > full.len() {
                    return false;
                }
                let start = full.len() - back;
                full.extend_from_within(start..start + len);
            }
        }
        let Some(rest) = written.get(from..) else { return false };
        full.extend_from_slice(rest);
        self.list.clear();
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            match *e {
                Entry::Skipped { at, len, back } => self.push(at as usize, len as usize, back as usize),
                Entry::Compare { old, old_len, new, new_len } => {
                    let (old, new) = (old as usize, new as usize);
                    self.note(full, old..old + old_len as usize, new..new + new_len as usize, header);
                }
            }
        }
        self.entries = entries;
        true
    }

    fn push(&mut self, at: usize, len: usize, back: usize) {
        let (at, len, back) = (at as u32, len as u32, back as u32);
        if let Some(last) = self.list.last_mut() {
            if last.at + last.len == at && last.back == back {
                last.len += len;
                return;
            }
        }
        self.list.push(Repeat { at, len, back });
    }

    /// Notes what the bytes `new` of `chunk` share with the earlier bytes
    /// `old` of it (the same variable's previous event): a common head and
    /// a common tail, each checked byte for byte here. `header`: bytes of
    /// an event before its value (a changed value's length there ends the
    /// common head early: the value's own head is then compared too).
    fn note(&mut self, chunk: &[u8], old: Range<usize>, new: Range<usize>, header: usize) {
        if old.end > new.start || new.end > chunk.len() || chunk.len() > u32::MAX as usize {
            return;
        }
        let (a, b) = (&chunk[old.clone()], &chunk[new.clone()]);
        let back = new.start - old.start;
        if a == b {
            self.push(new.start, b.len(), back);
            return;
        }
        let mut front = common_head(a, b);
        if front >= MIN_REPEAT {
            self.push(new.start, front, back);
        }
        if front < header && a.len() > header && b.len() > header {
            let head = common_head(&a[header..], &b[header..]);
            if head >= MIN_REPEAT {
                self.push(new.start + header, head, back);
                front = header + head;
            }
        }
        let tail = common_tail(a, b, a.len().min(b.len()).saturating_sub(front));
        if tail >= MIN_REPEAT {
            self.push(new.end - tail, tail, new.end - old.end);
        }
    }
}

/// A zstd compression context of our own: the `zstd` crate does not expose
/// `ZSTD_compressSequences`.
pub(crate) struct SeqCompressor {
    cctx: NonNull<sys::ZSTD_CCtx>,
}

// SAFETY: a ZSTD_CCtx is a plain heap object with no thread affinity; this
// one is owned by one `SeqCompressor` and only used through `&mut self`.
unsafe impl Send for SeqCompressor {}

impl Drop for SeqCompressor {
    fn drop(&mut self) {
        // SAFETY: `cctx` came from ZSTD_createCCtx and is freed once, here.
        unsafe {
            sys::ZSTD_freeCCtx(self.cctx.as_ptr());
        }
    }
}

fn failed(what: &str, code: usize) -> RecorderError {
    // SAFETY: ZSTD_getErrorName returns a static NUL-terminated string for
    // any code.
    let name = unsafe { std::ffi::CStr::from_ptr(sys::ZSTD_getErrorName(code)) };
    RecorderError::new(ErrorCode::Internal, format!("zstd {what} failed: {}", name.to_string_lossy()))
}

impl SeqCompressor {
    pub(crate) fn new() -> RecorderResult<Self> {
        // SAFETY: plain constructor; NULL on allocation failure.
        let cctx = unsafe { sys::ZSTD_createCCtx() };
        NonNull::new(cctx)
            .map(|cctx| SeqCompressor { cctx })
            .ok_or_else(|| RecorderError::new(ErrorCode::Internal, "zstd: no compression context"))
    }

    fn set(&mut self, p: sys::ZSTD_cParameter, v: i32) -> RecorderResult<()> {
        // SAFETY: `cctx` is a live context; a bad parameter is reported as
        // an error code.
        let code = unsafe { sys::ZSTD_CCtx_setParameter(self.cctx.as_ptr(), p, v) };
        // SAFETY: ZSTD_isError only inspects the code.
        if unsafe { sys::ZSTD_isError(code) } != 0 {
            return Err(failed("parameter", code));
        }
        Ok(())
    }

    /// Compresses `raw` into `out` (cleared first) as one frame, at `level`,
    /// with `repeats` (of `raw`) as its matches. `Ok(false)` when the chunk
    /// is too large for it (the caller compresses it the usual way).
    pub(crate) fn compress(&mut self, raw: &[u8], repeats: &Repeats, level: i32, out: &mut Vec<u8>) -> RecorderResult<bool> {
        let window_log = usize::BITS - raw.len().max(1024).saturating_sub(1).leading_zeros();
        if window_log > MAX_WINDOW_LOG {
            return Ok(false);
        }
        let mut seqs = Vec::with_capacity(repeats.list.len());
        let mut pos = 0u32;
        for r in &repeats.list {
            if r.at < pos || r.back == 0 || r.back > r.at || (r.at + r.len) as usize > raw.len() {
                return Ok(false);
            }
            seqs.push(sys::ZSTD_Sequence { offset: r.back, litLength: r.at - pos, matchLength: r.len, rep: 0 });
            pos = r.at + r.len;
        }
        // SAFETY: `cctx` is live; resetting parameters is always allowed
        // between frames.
        let code = unsafe { sys::ZSTD_CCtx_reset(self.cctx.as_ptr(), sys::ZSTD_ResetDirective::ZSTD_reset_session_and_parameters) };
        // SAFETY: ZSTD_isError only inspects the code.
        if unsafe { sys::ZSTD_isError(code) } != 0 {
            return Err(failed("reset", code));
        }
        self.set(sys::ZSTD_cParameter::ZSTD_c_compressionLevel, level)?;
        self.set(sys::ZSTD_cParameter::ZSTD_c_windowLog, window_log as i32)?;
        self.set(sys::ZSTD_cParameter::ZSTD_c_minMatch, MIN_MATCH)?;
        // ZSTD_c_validateSequences: checked by zstd too, an error rather
        // than a bad frame.
        self.set(sys::ZSTD_cParameter::ZSTD_c_experimentalParam12, 1)?;
        out.clear();
        // SAFETY: ZSTD_compressBound is a pure size computation.
        let cap = unsafe { sys::ZSTD_compressBound(raw.len()) };
        out.reserve(cap);
        // SAFETY: `out` has room for `cap` bytes from its start (reserved
        // above, len 0); `seqs` and `raw` are valid for their lengths; zstd
        // writes at most `cap` bytes and returns how many, or an error.
        let n = unsafe {
            sys::ZSTD_compressSequences(
                self.cctx.as_ptr(),
                out.as_mut_ptr().cast(),
                cap,
                seqs.as_ptr(),
                seqs.len(),
                raw.as_ptr().cast(),
                raw.len(),
            )
        };
        // SAFETY: ZSTD_isError only inspects the code.
        if unsafe { sys::ZSTD_isError(n) } != 0 {
            return Err(failed("compressSequences", n));
        }
        // SAFETY: zstd initialised the first `n` (≤ `cap`) bytes.
        unsafe { out.set_len(n) };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_tails() {
        // Events of 4 header bytes ("HHHH", or "HHHh" for another length).
        let chunk = b"HHHH0123456789abcdefXY|HHHH0123456789abcdefXY|HHHh0123456789ZZZZabcdefXY|".to_vec();
        let mut r = Repeats::default();
        // An equal event: one repeat of it all.
        r.note(&chunk, 0..22, 23..45, 4);
        // A changed one: the value's head past the header, and the tail.
        r.note(&chunk, 23..45, 46..72, 4);
        let want = [
            Repeat { at: 23, len: 22, back: 23 },
            Repeat { at: 50, len: 10, back: 23 },
            Repeat { at: 64, len: 8, back: 27 },
        ];
        assert_eq!(r.list, want);
        let mut z = SeqCompressor::new().unwrap();
        let mut out = Vec::new();
        assert!(z.compress(&chunk, &r, 1, &mut out).unwrap());
        assert_eq!(zstd::stream::decode_all(&out[..]).unwrap(), chunk);
    }
}
