//! The exit status a `SystemExit` carries as it leaves a module's code: the
//! program's `sys.exit(n)` at the end of a script or `python -c`, or
//! `multiprocessing`'s `spawn_main` ending a worker. The interpreter tells
//! no one its exit status; a recording stopped at interpreter exit (a child
//! process's, `_processes.py`; docs/recorder.md, "Processes") writes this
//! one. Noted from the PY_UNWIND callback (`monitoring.rs`), which runs
//! for every unwinding frame: a type check, and more only for a `SystemExit`.

use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::ffi;

/// None seen.
const NONE: i64 = i64::MIN;
static SEEN: AtomicI64 = AtomicI64::new(NONE);

/// `exc` unwinds a frame of `code`: a `SystemExit` leaving a module's code
/// is noted, with the status the interpreter exits with (`None`: 0; an
/// int: that int; anything else: 1, its message printed).
///
/// # Safety
/// The GIL is held; `code` and `exc` are null or valid objects.
pub unsafe fn note_unwind(code: *mut ffi::PyObject, exc: *mut ffi::PyObject) {
    // SAFETY: the caller's contract: GIL held, valid or null objects.
    unsafe {
        if code.is_null() || exc.is_null() || ffi::PyObject_TypeCheck(exc, ffi::PyExc_SystemExit.cast()) == 0 {
            return;
        }
        let name = ffi::PyObject_GetAttrString(code, c"co_name".as_ptr());
        if name.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        let module = ffi::PyUnicode_CompareWithASCIIString(name, c"<module>".as_ptr()) == 0;
        ffi::Py_DecRef(name);
        if !module {
            return;
        }
        let value = ffi::PyObject_GetAttrString(exc, c"code".as_ptr());
        let status = if value.is_null() {
            ffi::PyErr_Clear();
            1
        } else if value == ffi::Py_None() {
            0
        } else if ffi::PyLong_Check(value) != 0 {
            let n = ffi::PyLong_AsLongLong(value);
            if n == -1 && !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                1
            } else {
                n
            }
        } else {
            1
        };
        if !value.is_null() {
            ffi::Py_DecRef(value);
        }
        SEEN.store(status, Ordering::Relaxed);
    }
}

/// A new recording: nothing seen yet.
pub fn clear() {
    SEEN.store(NONE, Ordering::Relaxed);
}

/// The status of the last `SystemExit` that left a module's code, if any.
pub fn seen() -> Option<i64> {
    Some(SEEN.load(Ordering::Relaxed)).filter(|&s| s != NONE)
}
