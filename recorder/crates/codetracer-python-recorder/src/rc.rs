//! Reference counting in line on the interpreters whose object header we
//! know (release builds of CPython 3.12 and 3.13 on 64-bit: the low 32 bits
//! of `ob_refcnt` at offset 0, saturated for immortal objects). Under the
//! stable ABI `Py_INCREF`/`Py_DECREF` are calls into the interpreter, which
//! the recorder's hot path makes several times per value; these are the
//! same operations as the headers' inline versions.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

static DIRECT: AtomicBool = AtomicBool::new(false);

extern "C" {
    fn _Py_Dealloc(op: *mut ffi::PyObject);
}

/// Turns the inline versions on (known layout, not a debug build) or off.
pub fn enable(on: bool) {
    DIRECT.store(on && cfg!(all(target_pointer_width = "64", target_endian = "little")), Ordering::Relaxed);
}

/// `Py_INCREF`.
///
/// # Safety
/// GIL held; `op` is a live object.
#[inline(always)]
pub unsafe fn incref(op: *mut ffi::PyObject) {
    // SAFETY: see the function's contract; the layout is the enabled one.
    unsafe {
        if DIRECT.load(Ordering::Relaxed) {
            let low = op as *mut u32;
            let new = (*low).wrapping_add(1);
            if new != 0 {
                *low = new;
            }
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
    // SAFETY: see the function's contract; the layout is the enabled one.
    unsafe {
        if DIRECT.load(Ordering::Relaxed) {
            if *(op as *const i32) < 0 {
                return; // immortal
            }
            let rc = op as *mut isize;
            *rc -= 1;
            if *rc == 0 {
                _Py_Dealloc(op);
            }
        } else {
            ffi::Py_DECREF(op);
        }
    }
}
