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
//! | 3.12 | `tstate->cframe` (56) `->current_frame` (0) | code 0, `f_locals` 40, `prev_instr` 56, `stacktop` 64, `localsplus` 72 |
//! | 3.13 | `tstate->current_frame` (72) | executable 0, `f_locals` 40, `instr_ptr` 56, `stacktop` 64, `localsplus` 72 |
//!
//! During a LINE event the instruction pointer is the instruction about to
//! run (the line's first, or the one a backward jump landed on: what
//! `frame.f_lasti` reports) and `stacktop` is saved (the value stack is
//! `localsplus[nlocalsplus..stacktop]`).
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
const IFRAME_INSTR: usize = 56;
const IFRAME_STACKTOP: usize = 64;
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

/// The code unit `iframe` is about to run (its offset / 2), given where its
/// code object's instructions start; None when the pointer is not inside them.
///
/// # Safety
/// `iframe` was returned by [`current`] during an event.
#[inline]
pub unsafe fn instruction(iframe: usize, code_start: usize) -> Option<usize> {
    // SAFETY: see the function's contract.
    let p = unsafe { *((iframe + IFRAME_INSTR) as *const usize) };
    p.checked_sub(code_start).map(|d| d / 2)
}

/// The object on top of `iframe`'s value stack (borrowed), if the stack
/// holds one: `stacktop` must lie within the frame's stack slots.
///
/// # Safety
/// `iframe` was returned by [`current`] during an event, for a code object
/// with `nlocalsplus` fast locals and `stacksize` stack slots.
#[inline]
pub unsafe fn stack_top(iframe: usize, nlocalsplus: usize, stacksize: usize) -> Option<*mut ffi::PyObject> {
    // SAFETY: see the function's contract; the index is checked against the frame's size.
    unsafe {
        let top = usize::try_from(*((iframe + IFRAME_STACKTOP) as *const i32)).ok()?;
        if top <= nlocalsplus || top > nlocalsplus + stacksize {
            return None;
        }
        let obj = *localsplus(iframe).add(top - 1);
        (!obj.is_null()).then_some(obj)
    }
}
