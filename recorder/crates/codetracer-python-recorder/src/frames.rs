//! Reading the running frame without creating frame objects.
//!
//! `sys.monitoring` hands callbacks the code object, not the frame. The
//! frame that runs it is the thread's current interpreter frame. On the
//! CPython versions whose layouts we know we read it straight from the
//! thread state — no `PyFrameObject` is materialised (which would cost an
//! allocation per call) — and take the fast locals (`localsplus`) and the
//! namespace of module/class bodies (`f_locals`) in place. Offsets come from
//! each version's headers:
//!
//! | version | current frame | `_PyInterpreterFrame` |
//! | --- | --- | --- |
//! | 3.12 | `tstate->cframe` (56) `->current_frame` (0) | code 0, `f_locals` 40, `localsplus` 72 |
//! | 3.13 | `tstate->current_frame` (72) | executable 0, `f_locals` 40, `localsplus` 72 |
//!
//! Every read is checked against the code object the event came with; on a
//! mismatch (or another version) values are skipped and counted, never
//! guessed.

use pyo3::ffi;

/// Offsets for one CPython minor version.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    tstate_frame: usize,
    via_cframe: bool,
}

const IFRAME_F_LOCALS: usize = 40;
const IFRAME_LOCALSPLUS: usize = 72;

impl Layout {
    /// The layout for `(major, minor)`, if known.
    pub fn for_version(major: u8, minor: u8) -> Option<Self> {
        match (major, minor) {
            (3, 12) => Some(Self { tstate_frame: 56, via_cframe: true }),
            (3, 13) => Some(Self { tstate_frame: 72, via_cframe: false }),
            _ => None,
        }
    }
}

/// The thread's current interpreter frame if it runs `code`, else null.
#[inline]
pub fn current(layout: Option<Layout>, tstate: usize, code: *mut ffi::PyObject) -> usize {
    let Some(l) = layout else { return 0 };
    if tstate == 0 {
        return 0;
    }
    // SAFETY: `tstate` is this thread's live PyThreadState and the offsets
    // are those of this interpreter version; the frame pointer is checked
    // against the code object before use.
    unsafe {
        let mut p = *((tstate + l.tstate_frame) as *const usize);
        if l.via_cframe && p != 0 {
            p = *(p as *const usize);
        }
        if p != 0 && *(p as *const *mut ffi::PyObject) == code {
            p
        } else {
            0
        }
    }
}

/// Pointer to the first fast local of a frame returned by [`current`].
#[inline]
pub fn localsplus(iframe: usize) -> *const *mut ffi::PyObject {
    (iframe + IFRAME_LOCALSPLUS) as *const *mut ffi::PyObject
}

/// The namespace dict of a module or class body frame (borrowed; may be null).
#[inline]
pub fn namespace(iframe: usize) -> *mut ffi::PyObject {
    // SAFETY: `iframe` was validated by [`current`].
    unsafe { *((iframe + IFRAME_F_LOCALS) as *const *mut ffi::PyObject) }
}

/// The object a cell holds (borrowed; null when empty).
#[inline]
pub fn cell_contents(cell: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `PyCellObject` is `{PyObject_HEAD; PyObject *ob_ref}` on every
    // CPython version; the caller checked the type is `cell`.
    unsafe { *((cell as *const u8).add(std::mem::size_of::<ffi::PyObject>()) as *const *mut ffi::PyObject) }
}
