//! The stand-in for `os._exit` while recording: `os._exit` ends the process
//! without unwinding or atexit, so the stand-in (`lib.rs`) stops the
//! recording first (`session::before_os_exit`), then calls the program's
//! own. Here: putting it in place, giving `os._exit` back, and the real one.

use std::cell::UnsafeCell;

use pyo3::prelude::*;

use super::state::GilCell;

/// `os._exit` as the program had it, and our stand-in, while it stands in.
static REAL_OS_EXIT: GilCell<Option<(Py<PyAny>, Py<PyAny>)>> = GilCell(UnsafeCell::new(None));

/// Puts `wrapper` in place of `os._exit` for the recording.
pub(super) fn hook(py: Python<'_>, wrapper: Bound<'_, PyAny>) {
    let Ok(os) = py.import("os") else { return };
    let Ok(real) = os.getattr("_exit") else { return };
    if os.setattr("_exit", &wrapper).is_ok() {
        // SAFETY: GIL held.
        unsafe { *REAL_OS_EXIT.0.get() = Some((real.unbind(), wrapper.unbind())) };
    }
}

/// Gives `os._exit` back (unless the program replaced our stand-in itself).
pub(super) fn unhook(py: Python<'_>) {
    // SAFETY: GIL held.
    let Some((real, wrapper)) = (unsafe { (*REAL_OS_EXIT.0.get()).take() }) else { return };
    if let Ok(os) = py.import("os") {
        if os.getattr("_exit").is_ok_and(|cur| cur.is(&wrapper)) {
            let _ = os.setattr("_exit", real);
        }
    }
}

/// The `os._exit` our stand-in calls: the program's own.
pub fn real_os_exit(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: GIL held.
    match unsafe { &*REAL_OS_EXIT.0.get() } {
        Some((real, _)) => Ok(real.bind(py).clone()),
        None => py.import("posix").or_else(|_| py.import("nt"))?.getattr("_exit"),
    }
}
