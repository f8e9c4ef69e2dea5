//! Reading the running frame's locals without building dicts.
//!
//! `sys.monitoring` hands LINE callbacks only `(code, line)`. The frame that
//! runs `code` is the thread's current frame (`PyEval_GetFrame`). On the
//! CPython versions whose frame layout we know (3.12, 3.13: both keep the
//! code object first and `localsplus` at offset 72 of `_PyInterpreterFrame`,
//! and the interpreter frame pointer at offset 24 of `PyFrameObject`) we read
//! the fast locals in place, which is what makes per-line capture cheap. Each
//! read is checked against the code object the event came with; on a
//! mismatch, or on any other version, callers fall back to `frame.f_locals`.

use std::os::raw::c_void;

use pyo3::ffi;

/// Offsets for one CPython minor version.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// `PyFrameObject.f_frame`.
    frame_obj_iframe: usize,
    /// `_PyInterpreterFrame.localsplus`.
    iframe_localsplus: usize,
}

impl Layout {
    /// The layout for `(major, minor)`, if known.
    pub fn for_version(major: u8, minor: u8) -> Option<Self> {
        match (major, minor) {
            (3, 12) | (3, 13) => Some(Self { frame_obj_iframe: 24, iframe_localsplus: 72 }),
            _ => None,
        }
    }
}

/// The current frame object of this thread (borrowed), or null.
#[inline]
pub fn current_frame() -> *mut ffi::PyFrameObject {
    // SAFETY: called with the GIL held from a monitoring callback.
    unsafe { ffi::PyEval_GetFrame() }
}

/// The interpreter frame behind a frame object: a stable identity for the
/// activation (generators keep theirs across resumes).
#[inline]
pub fn iframe_of(layout: Option<Layout>, frame: *mut ffi::PyFrameObject) -> usize {
    match layout {
        // SAFETY: `frame` is a live frame object and the offset is that of
        // `f_frame` on this interpreter version.
        Some(l) if !frame.is_null() => unsafe { *((frame as *const u8).add(l.frame_obj_iframe) as *const usize) },
        _ => frame as usize,
    }
}

/// Pointer to the first fast local of `frame` if it runs `code`.
#[inline]
pub fn localsplus(layout: Option<Layout>, frame: *mut ffi::PyFrameObject, code: *mut ffi::PyObject) -> Option<*const *mut ffi::PyObject> {
    let l = layout?;
    if frame.is_null() {
        return None;
    }
    // SAFETY: as in `iframe_of`; the first word of the interpreter frame is
    // its code object (`f_code` in 3.12, `f_executable` in 3.13).
    unsafe {
        let iframe = *((frame as *const u8).add(l.frame_obj_iframe) as *const *const c_void);
        if iframe.is_null() || *(iframe as *const *mut ffi::PyObject) != code {
            return None;
        }
        Some((iframe as *const u8).add(l.iframe_localsplus) as *const *mut ffi::PyObject)
    }
}

/// The object a cell holds (borrowed; null when empty).
#[inline]
pub fn cell_contents(cell: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `PyCellObject` is `{PyObject_HEAD; PyObject *ob_ref}` on every
    // CPython version; the caller checked the type is `cell`.
    unsafe { *((cell as *const u8).add(std::mem::size_of::<ffi::PyObject>()) as *const *mut ffi::PyObject) }
}
