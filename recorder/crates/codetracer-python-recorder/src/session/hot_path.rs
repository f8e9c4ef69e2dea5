//! The session as the callbacks see it: the live recorder lent out for one
//! event ([`Host`]) — the main recorder, or on another thread while threads
//! are recorded, that thread's own (`threads.rs`) — and the policy applied
//! when the hot path fails (docs/design/error-policy.md §5: detach and go on, or under `abort`
//! raise into the program).

use pyo3::ffi;
use pyo3::prelude::*;
use recorder_errors::prelude::*;

use super::state::session_mut;
use super::threads;
use crate::policy::OnError;
use crate::recorder::Recorder;
use crate::{logging, monitoring, tool};

/// What ends an event: the other thread's slot it was lent from, or null
/// for the main recorder (`threads.rs`).
type Lease = *const threads::Slot;

/// The live recorder for one event, marked busy, and its lease; None when
/// there is none, it is detached, or an event is being handled already
/// (then counted as dropped). A panic leaves it busy until [`hot_path_failed`].
#[inline]
fn enter_event() -> Option<(*mut Recorder, Lease)> {
    let main = threads::main_thread();
    if main != 0 && crate::os_thread::current() != main {
        return threads::enter();
    }
    let s = session_mut().as_mut()?;
    if !s.attached || s.busy {
        if let Some(rec) = s.recorder.as_mut() {
            if s.busy {
                rec.metrics.dropped_events += 1;
            }
        }
        return None;
    }
    let rec = s.recorder.as_mut()? as *mut Recorder;
    s.busy = true;
    Some((rec, std::ptr::null()))
}

/// Ends the event [`enter_event`] began.
#[inline]
fn leave_event(lease: Lease) {
    if !lease.is_null() {
        // SAFETY: the lease `threads::enter` gave for this event.
        return unsafe { threads::leave(lease) };
    }
    if let Some(s) = session_mut().as_mut() {
        s.busy = false;
    }
}

/// What the callbacks are instantiated for: this session.
pub(super) struct Host;

impl monitoring::Host for Host {
    type Lease = Lease;

    #[inline(always)]
    fn enter() -> Option<(*mut Recorder, Lease)> {
        enter_event()
    }

    #[inline(always)]
    fn leave(lease: Lease) {
        leave_event(lease)
    }

    unsafe fn failed(err: Option<RecorderError>) -> *mut ffi::PyObject {
        // SAFETY: see the trait's contract.
        unsafe { hot_path_failed(err) }
    }
}

/// Runs `f` on the live recorder, unless detached or re-entered.
#[inline]
pub fn with_recorder<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    let (rec, lease) = enter_event()?;
    // SAFETY: the live recorder, ours until `leave_event`.
    let r = f(unsafe { &mut *rec });
    leave_event(lease);
    Some(r)
}

/// The hot path hit `err` (or left one in the recorder): detach, and under
/// `abort` raise it into the program. Returns the callback's result.
///
/// # Safety
/// GIL held (called from a monitoring callback).
unsafe fn hot_path_failed(err: Option<RecorderError>) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held by our caller.
    let py = unsafe { Python::assume_attached() };
    let Some(s) = session_mut().as_mut() else {
        // SAFETY: GIL held.
        return unsafe { none() };
    };
    let main = threads::main_thread();
    let err = if main != 0 && crate::os_thread::current() != main {
        // Another thread's recorder failed: the recording detaches as a whole.
        let own = threads::take_error();
        err.or(own)
    } else {
        s.busy = false;
        err.or_else(|| s.recorder.as_mut().and_then(|r| r.error.take()))
    };
    let Some(err) = err else {
        // SAFETY: GIL held.
        return unsafe { none() };
    };
    tool::detach_events(py, s.tool);
    s.attached = false;
    s.detaches += 1;
    let abort = s.policy.on_error == OnError::Abort;
    if abort {
        logging::log_error(log::Level::Error, &err);
    } else {
        logging::write_line(&format!(
            "codetracer-python-recorder: warning: recording disabled after a recorder error; the program continues untraced: {} [{}]",
            err.message(),
            err.code().as_str()
        ));
    }
    let pyerr = if abort { Some(crate::ffi::to_pyerr(py, &err)) } else { None };
    if s.failure.is_none() {
        s.failure = Some(err);
    }
    match pyerr {
        Some(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        // SAFETY: GIL held.
        None => unsafe { none() },
    }
}

/// # Safety
/// GIL held.
unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: GIL held (caller).
    unsafe {
        let n = ffi::Py_None();
        ffi::Py_INCREF(n);
        n
    }
}
