//! A suspended generator's locals, kept encoded for its resume.
//!
//! A resumed generator (or coroutine) shows every local it holds again in
//! its Call record, most of them the objects it held at its yield. At the
//! yield the recorder lets go of them (it holds nothing of a suspended
//! frame: its finalisers run when the program drops it), but keeps the
//! encodings it wrote of those whose encoding cannot change while the
//! object lives (exact ints, floats, strs, bytes, bools, None, builtin
//! functions of a static class or of a module: [`Encoder::fixed_encoding`]),
//! with their addresses. At the resume a slot holding the same address
//! shows the kept bytes instead of being encoded again.
//!
//! Why the address proves the object the same: up to the yield the
//! recorder held the object (a strong slot), so an object the frame held
//! then at that address is that object; while suspended the frame holds its
//! locals, and nothing rebinds them:
//! - no code of the frame runs unseen: every event a recorder missed
//!   (another thread's, one dropped inside another event, one no recorder
//!   took) counts in [`UNSEEN`], and so does every start, resume or throw
//!   handled by another recorder than the one before it; a kept frame is
//!   used only when nothing counted since its yield (`stamp`); a start or
//!   resume of a frame at the same address takes its kept entry away;
//! - `f_locals` writes (3.13's `FrameLocalsProxy`, 3.12's
//!   `PyFrame_LocalsToFast`) need a frame object: the interpreter frame's
//!   `frame_obj` must still be null at the resume (read in place, so only on
//!   a known layout);
//! - cells (which closures rebind) and redacted values are never kept.
//!
//! Slots the frame's steps found changed since they were written are
//! dropped from the kept set (`Kept::live`), so what is kept at the
//! yield is what the frame showed last. Traces are byte for byte the same
//! (tests/recorder/programs/resumes.py).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::*;

/// Events no recorder handled, and each change of the recorder that
/// handles starts and resumes (see the module's text).
static UNSEEN: AtomicU64 = AtomicU64::new(0);

/// The recorder that handled the last start or resume (its `id`).
static LAST_STARTER: AtomicUsize = AtomicUsize::new(0);

/// Ids of recorders (one per recorded thread and process).
static RECORDERS: AtomicUsize = AtomicUsize::new(0);

/// A new recorder's id (never 0).
pub(super) fn recorder_id() -> usize {
    RECORDERS.fetch_add(1, Ordering::Relaxed) + 1
}

/// An event the recording did not see (none took it, another thread's, one
/// dropped): kept frames from before it are not trusted.
#[inline]
pub fn note_unseen() {
    bump();
}

/// One more in [`UNSEEN`]. (Every caller holds the GIL, which orders them:
/// no read-modify-write needed.)
#[inline]
fn bump() {
    UNSEEN.store(UNSEEN.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Places of [`KeptTable`].
const PLACES: usize = 1024;

/// Suspended frames' kept entries by interpreter frame, direct-mapped: a
/// frame suspended where another's are evicts them (that one is encoded
/// again at its resume).
#[derive(Default)]
pub(super) struct KeptTable {
    places: Vec<Option<(usize, Box<Kept>)>>,
    used: usize,
}

impl KeptTable {
    #[inline]
    fn place(iframe: usize) -> usize {
        ((iframe >> 4) ^ (iframe >> 14)) % PLACES
    }

    /// The entries of the frame at `iframe`, taken out.
    #[inline]
    fn take(&mut self, iframe: usize) -> Option<Box<Kept>> {
        if self.used == 0 {
            return None;
        }
        let p = self.places.get_mut(Self::place(iframe))?;
        if p.as_ref().is_some_and(|(f, _)| *f == iframe) {
            self.used -= 1;
            return p.take().map(|(_, k)| k);
        }
        None
    }

    /// Puts the entries of the frame at `iframe`; returns those evicted.
    #[inline]
    fn put(&mut self, iframe: usize, k: Box<Kept>) -> Option<Box<Kept>> {
        if self.places.is_empty() {
            self.places.resize_with(PLACES, || None);
        }
        let p = self.places.get_mut(Self::place(iframe))?;
        let old = p.replace((iframe, k));
        if old.is_none() {
            self.used += 1;
        }
        old.map(|(_, k)| k)
    }
}

/// The longest encoding kept (with its variable id), in line in [`Entry`].
const ENTRY_BYTES: usize = 47;

/// One slot's kept encoding.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    obj: usize,
    len: u8,
    bytes: [u8; ENTRY_BYTES],
}

const NO_ENTRY: Entry = Entry { obj: 0, len: 0, bytes: [0; ENTRY_BYTES] };

/// The encodings a frame wrote of its fixed locals, by slot.
#[derive(Default)]
pub(super) struct Kept {
    code_idx: u32,
    /// `UNSEEN` at the yield.
    stamp: u64,
    /// The slots whose entry the frame shows (on the stack: cleared as
    /// its steps find them changed, `diff_slot`), as of its yield.
    pub(super) live: u128,
    /// By slot: the object's address and its bytes as the Call record
    /// holds them (the variable id, then the encoding).
    entries: Vec<Entry>,
    /// While `push_call` builds it: the entries it wrote.
    written: u128,
}

/// What [`Recorder::push_call`] re-uses and keeps for a frame.
pub(super) struct Keeping {
    /// The frame's entries (its own from its yield, or made at the first
    /// one kept).
    kept: Option<Box<Kept>>,
    /// The frame's code, when it keeps entries (a frame that is suspended).
    code: Option<u32>,
    nslots: usize,
    /// The entries valid for re-use (those of the frame's yield).
    old: u128,
    /// Those re-used.
    reused: u128,
}

impl Keeping {
    /// Appends slot `i`'s kept bytes to `out` when its entry (valid for
    /// re-use) is for `obj`.
    #[inline(always)]
    pub(super) fn reuse(&mut self, i: usize, obj: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
        if self.old == 0 || self.old & (1u128 << i) == 0 {
            return false;
        }
        let Some(e) = self.kept.as_ref().and_then(|k| k.entries.get(i)) else { return false };
        if e.obj != obj as usize {
            return false;
        }
        out.reserve(ENTRY_BYTES);
        // SAFETY: `out` has room for ENTRY_BYTES more bytes (reserved); the
        // first `e.len` of them are the entry's and become part of it.
        unsafe {
            std::ptr::copy_nonoverlapping(e.bytes.as_ptr(), out.as_mut_ptr().add(out.len()), ENTRY_BYTES);
            out.set_len(out.len() + usize::from(e.len));
        }
        self.reused |= 1u128 << i;
        true
    }

    /// Whether the frame may keep entries (a suspending frame's, on the
    /// fast path).
    #[inline(always)]
    pub(super) fn keeps(&self) -> bool {
        self.code.is_some()
    }

    /// The frame's entries, for its `Frame`: those re-used or written now
    /// (the slot holds each one's object from here on).
    pub(super) fn into_kept(mut self) -> Option<Box<Kept>> {
        if let Some(k) = self.kept.as_mut() {
            k.live = self.reused | k.written;
            k.written = 0;
        }
        self.kept
    }
}

impl Recorder {
    /// Keeps a kept entry's buffers for the next frame.
    pub(super) fn recycle_kept(&mut self, k: Box<Kept>) {
        if self.spare_kept.len() < 64 {
            self.spare_kept.push(k);
        }
    }

    /// A start or resume on this recorder's thread (PY_START, PY_RESUME,
    /// PY_THROW): counted when another recorder handled the last one (so
    /// the other recorders' kept entries are not trusted after it), and the
    /// kept entries of a frame at `code`'s running frame taken away (a new
    /// frame there is another; a resumed one gets them back through
    /// `push_call`).
    #[inline]
    pub(super) fn take_kept(&mut self, code: *mut ffi::PyObject) -> Option<Box<Kept>> {
        if LAST_STARTER.load(Ordering::Relaxed) != self.id {
            LAST_STARTER.store(self.id, Ordering::Relaxed);
            bump();
        }
        let stamp = UNSEEN.load(Ordering::Relaxed);
        if self.kept.used == 0 {
            return None;
        }
        let iframe = self.frame_of(code);
        let k = self.kept.take(iframe)?;
        if k.stamp == stamp {
            Some(k)
        } else {
            self.recycle_kept(k);
            None
        }
    }

    /// What `push_call` re-uses and keeps for a call of code `idx` at
    /// `iframe`: `old` (the frame's entries, from `take_kept`) when they are
    /// the same code's and no frame object was made for the frame.
    #[inline]
    pub(super) fn keeping(&mut self, idx: u32, iframe: usize, old: Option<Box<Kept>>) -> Keeping {
        let info = &self.infos[idx as usize];
        let nslots = info.slots.len();
        if !info.suspends {
            // (An entry at a frame of other code: stale, dropped.)
            if let Some(k) = old {
                self.recycle_kept(k);
            }
            return Keeping { kept: None, code: None, nslots, old: 0, reused: 0 };
        }
        // (Not with the shortcuts off, `CODETRACER_NO_TRAILS=1`: the trace
        // they must not change.)
        let wanted = info.suspends && self.cfg.trails && self.cfg.values == ValuesMode::Locals && nslots <= 128 && iframe != 0;
        let layout = self.cfg.reader.layout().filter(|_| wanted);
        let Some(layout) = layout else {
            if let Some(k) = old {
                self.recycle_kept(k);
            }
            return Keeping { kept: None, code: None, nslots, old: 0, reused: 0 };
        };
        let Some(k) = old else { return Keeping { kept: None, code: Some(idx), nslots, old: 0, reused: 0 } };
        // SAFETY: `iframe` is the event's interpreter frame, running `idx`'s code.
        let no_frame_object = unsafe { layout.frame_object(iframe) }.is_null();
        if k.code_idx == idx && no_frame_object && k.entries.len() == nslots {
            let valid = k.live;
            Keeping { kept: Some(k), code: Some(idx), nslots, old: valid, reused: 0 }
        } else {
            self.recycle_kept(k);
            Keeping { kept: None, code: Some(idx), nslots, old: 0, reused: 0 }
        }
    }

    /// Slot `i` was just written (from `from` in `scratch`) as `slot`: kept
    /// when its encoding cannot change while the object lives.
    #[inline]
    pub(super) fn keep_written(&mut self, k: &mut Keeping, i: usize, slot: &Slot, from: usize) {
        let Some(code_idx) = k.code else { return };
        let n = self.scratch.len() - from;
        if !slot.strong || n > ENTRY_BYTES || !self.enc.fixed_encoding(&self.types, slot.obj) {
            return;
        }
        let kept = k.kept.get_or_insert_with(|| {
            let mut kept = self.spare_kept.pop().unwrap_or_default();
            kept.code_idx = code_idx;
            kept.live = 0;
            kept.written = 0;
            kept.entries.clear();
            kept.entries.resize(k.nslots, NO_ENTRY);
            kept
        });
        let Some(e) = kept.entries.get_mut(i) else { return };
        e.obj = slot.obj as usize;
        e.len = n as u8;
        e.bytes[..n].copy_from_slice(&self.scratch[from..]);
        kept.written |= 1u128 << i;
    }

    /// A frame leaves the stack: at a yield, its entries go to the kept
    /// ones (by its interpreter frame); otherwise they are recycled.
    #[inline]
    pub(super) fn suspend(&mut self, f: &mut Frame, how: Exit) {
        let Some(mut k) = f.kept.take() else { return };
        if how != Exit::Yield || k.live == 0 || f.iframe == 0 {
            self.recycle_kept(k);
            return;
        }
        k.stamp = UNSEEN.load(Ordering::Relaxed);
        if let Some(old) = self.kept.put(f.iframe, k) {
            self.recycle_kept(old);
        }
    }
}
