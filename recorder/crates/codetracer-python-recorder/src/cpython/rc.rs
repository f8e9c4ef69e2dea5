//! Reference counting in line on the layouts the recorder knows (release
//! builds of CPython 3.12 and 3.13 on 64-bit: the low 32 bits of
//! `ob_refcnt` at offset 0, saturated for immortal objects). Under the
//! stable ABI `Py_INCREF`/`Py_DECREF` are calls into the interpreter, which
//! the recorder's hot path makes several times per value; these are the
//! same operations as the headers' inline versions, turned on by
//! [`super::activate`] once the self-check counted with them.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

static DIRECT: AtomicBool = AtomicBool::new(false);

extern "C" {
    fn _Py_Dealloc(op: *mut ffi::PyObject);
}

/// Whether this target can count in line at all.
pub const INLINE_TARGET: bool = cfg!(all(target_pointer_width = "64", target_endian = "little"));

/// Turns the inline versions on (known layout, not a debug build) or off.
pub fn enable(on: bool) {
    DIRECT.store(on && INLINE_TARGET, Ordering::Relaxed);
}

/// `Py_INCREF` as the 3.12/3.13 headers do it.
///
/// # Safety
/// GIL held; `op` is a live object; the layout is a known one.
#[inline(always)]
pub unsafe fn incref_inline(op: *mut ffi::PyObject) {
    // SAFETY: see the function's contract.
    unsafe {
        let low = op as *mut u32;
        let new = (*low).wrapping_add(1);
        if new != 0 {
            *low = new;
        }
    }
}

/// `Py_DECREF` as the 3.12/3.13 headers do it.
///
/// # Safety
/// GIL held; the caller owns a reference to `op`; the layout is a known one.
#[inline(always)]
pub unsafe fn decref_inline(op: *mut ffi::PyObject) {
    // SAFETY: see the function's contract.
    unsafe {
        if *(op as *const i32) < 0 {
            return; // immortal
        }
        let rc = op as *mut isize;
        *rc -= 1;
        if *rc == 0 {
            _Py_Dealloc(op);
        }
    }
}

/// `Py_INCREF`.
///
/// # Safety
/// GIL held; `op` is a live object.
#[inline(always)]
pub unsafe fn incref(op: *mut ffi::PyObject) {
    // SAFETY: see the function's contract; in line only on the enabled layout.
    unsafe {
        if DIRECT.load(Ordering::Relaxed) {
            incref_inline(op);
        } else {
            ffi::Py_INCREF(op);
        }
    }
}

/// `Py_DECREF`.
///
/// # Safety
/// GIL held; the caller owns a reference to `op`.
#[inline(always)]
pub unsafe fn decref(op: *mut ffi::PyObject) {
    // SAFETY: see the function's contract; in line only on the enabled layout.
    unsafe {
        if DIRECT.load(Ordering::Relaxed) {
            decref_inline(op);
        } else {
            ffi::Py_DECREF(op);
        }
    }
}
