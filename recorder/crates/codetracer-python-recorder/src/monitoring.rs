//! The `sys.monitoring` callbacks: plain C-ABI functions with the
//! vectorcall signature (an event costs one C call), each handing its event
//! to the recording's [`Recorder`] through the [`Host`] it is instantiated
//! for (the session; this module does not import it), and [`register`],
//! which gives them to `sys.monitoring` for our tool (`tool.rs`).

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyCFunction;
use recorder_errors::prelude::*;

use crate::recorder::{Exit, Recorder, Ret};
use crate::tool::{self, py_err};

/// `sys.monitoring.DISABLE` (held for the process's life once registered).
static DISABLE: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// The recording the callbacks serve (the session implements it): the
/// callbacks are instantiated for it, so each call is static and inlined,
/// and this module does not import the session.
pub trait Host {
    /// What `leave` needs to end an event (the host's own; the callbacks
    /// only hand it back), so ending one costs no second lookup.
    type Lease: Copy;
    /// The live recorder for one event, marked busy; None when there is
    /// none, it is detached, or an event is already being handled.
    fn enter() -> Option<(*mut Recorder, Self::Lease)>;
    /// Ends the event `enter` began.
    fn leave(lease: Self::Lease);
    /// The hot path failed (an error left in the recorder, or the one
    /// given): apply the policy. Returns the callback's result.
    ///
    /// # Safety
    /// GIL held, from a callback.
    unsafe fn failed(err: Option<RecorderError>) -> *mut ffi::PyObject;
}

type Handler = fn(&mut Recorder, *const *mut ffi::PyObject, isize) -> Ret;

/// # Safety
/// `args` holds `nargs` borrowed objects (the vectorcall convention).
#[inline(always)]
unsafe fn arg(args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t, i: isize) -> *mut ffi::PyObject {
    if i < nargs {
        // SAFETY: vectorcall convention: `args` holds `nargs` borrowed objects.
        unsafe { *args.offset(i) }
    } else {
        ptr::null_mut()
    }
}

/// Shared body of every callback: contain panics, apply the policy to
/// recorder failures, and answer `None` or `DISABLE`.
///
/// `can_disable` is false for the events `sys.monitoring` cannot disable
/// per code location (PY_THROW, PY_UNWIND, RAISE, RERAISE, ...: returning
/// `DISABLE` from them raises `ValueError` into the program and removes the
/// callback). This is the one place a handler's `Ret::Disable` becomes
/// `DISABLE`, so code skipped for any reason (`<frozen ...>`, `<string>`,
/// the recorder, a scope filter) is safe under every event.
///
/// # Safety
/// GIL held (a monitoring callback); `args` holds `nargs` borrowed objects.
#[inline(always)]
unsafe fn run<H: Host>(handler: Handler, can_disable: bool, args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(feature = "fault-injection")]
        crate::fault::maybe_panic();
        let (rec, lease) = H::enter()?;
        // SAFETY: `enter` gave the live recorder, ours until `leave`.
        let rec = unsafe { &mut *rec };
        let r = handler(rec, args, nargs);
        let failed = rec.error.is_some();
        H::leave(lease);
        Some((r, failed))
    }));
    // SAFETY: GIL held (we are a monitoring callback).
    unsafe {
        match outcome {
            Ok(Some((Ret::Disable, false))) if !can_disable => ret_object(Ret::Continue),
            Ok(Some((ret, false))) => ret_object(ret),
            Ok(None) => {
                // No recorder took it (another event in progress, none live):
                // a suspended generator may have run unseen (recorder/kept.rs).
                crate::recorder::note_unseen();
                ret_object(Ret::Continue)
            }
            Ok(Some((_, true))) => H::failed(None),
            Err(payload) => H::failed(Some(crate::ffi::panic_error("a sys.monitoring callback", payload.as_ref()))),
        }
    }
}

/// # Safety
/// GIL held.
#[inline(always)]
unsafe fn ret_object(r: Ret) -> *mut ffi::PyObject {
    // SAFETY: GIL held; both are immortal/static objects we return new references to.
    unsafe {
        let disable = DISABLE.load(Ordering::Relaxed);
        let o = match r {
            Ret::Disable if !disable.is_null() => disable,
            _ => ffi::Py_None(),
        };
        ffi::Py_INCREF(o);
        o
    }
}

fn h_start(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    h_start_at(rec, a, n, false)
}

fn h_resume(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    h_start_at(rec, a, n, true)
}

fn h_start_at(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize, resumed: bool) -> Ret {
    // SAFETY: sys.monitoring passes (code, offset[, exception]).
    let (code, offset) = unsafe { (arg(a, n, 0), arg(a, n, 1)) };
    if code.is_null() {
        return Ret::Continue;
    }
    let r = rec.on_start(code, resumed);
    if resumed && !offset.is_null() {
        rec.note_resume(code, offset);
    }
    r
}

fn h_instruction(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    // SAFETY: sys.monitoring passes (code, offset).
    let (code, offset) = unsafe { (arg(a, n, 0), arg(a, n, 1)) };
    if code.is_null() || offset.is_null() {
        return Ret::Continue;
    }
    let offset = rec.line_number(offset) as usize;
    rec.on_instruction(code, offset)
}

fn h_line(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    // SAFETY: sys.monitoring passes (code, line_number).
    let (code, line) = unsafe { (arg(a, n, 0), arg(a, n, 1)) };
    if code.is_null() || line.is_null() {
        return Ret::Continue;
    }
    let line = rec.line_number(line);
    rec.on_line(code, line)
}

fn exit_with(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize, how: Exit) -> Ret {
    // SAFETY: sys.monitoring passes (code, offset, value).
    let (code, value) = unsafe { (arg(a, n, 0), arg(a, n, 2)) };
    if code.is_null() { Ret::Continue } else { rec.on_exit(code, value, how) }
}

fn h_return(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    exit_with(rec, a, n, Exit::Return)
}

fn h_yield(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    exit_with(rec, a, n, Exit::Yield)
}

fn h_unwind(rec: &mut Recorder, a: *const *mut ffi::PyObject, n: isize) -> Ret {
    // SAFETY: sys.monitoring passes (code, offset, exception), GIL held.
    unsafe { crate::exit_seen::note_unwind(arg(a, n, 0), arg(a, n, 2)) };
    exit_with(rec, a, n, Exit::Unwind)
}

macro_rules! callback {
    ($name:ident, $handler:ident, $can_disable:expr) => {
        unsafe extern "C" fn $name<H: Host>(
            _slf: *mut ffi::PyObject,
            args: *mut *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
        ) -> *mut ffi::PyObject {
            // SAFETY: called by CPython with the GIL held and vectorcall args.
            unsafe { run::<H>($handler, $can_disable, args as *const *mut ffi::PyObject, nargs) }
        }
    };
}

callback!(cb_start, h_start, true);
callback!(cb_resume, h_resume, true);
callback!(cb_throw, h_resume, false);
callback!(cb_line, h_line, true);
callback!(cb_return, h_return, true);
callback!(cb_yield, h_yield, true);
callback!(cb_unwind, h_unwind, false);
callback!(cb_instruction, h_instruction, true);

const METH_FASTCALL: c_int = 0x0080;

macro_rules! method_def {
    ($name:literal, $f:ident) => {
        ffi::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: $f::<H> },
            ml_flags: METH_FASTCALL,
            ml_doc: ptr::null(),
        }
    };
}

/// The callbacks' method table for `H`, made once per process (leaked:
/// CPython keeps a pointer to each entry in the function objects made from
/// it, and never writes through it).
fn method_defs<H: Host>() -> *mut ffi::PyMethodDef {
    static DEFS: OnceLock<usize> = OnceLock::new();
    *DEFS.get_or_init(|| {
        let defs = Box::new([
            method_def!(c"codetracer_py_start", cb_start),
            method_def!(c"codetracer_py_resume", cb_resume),
            method_def!(c"codetracer_py_throw", cb_throw),
            method_def!(c"codetracer_line", cb_line),
            method_def!(c"codetracer_py_return", cb_return),
            method_def!(c"codetracer_py_yield", cb_yield),
            method_def!(c"codetracer_py_unwind", cb_unwind),
            method_def!(c"codetracer_instruction", cb_instruction),
        ]);
        Box::leak(defs).as_mut_ptr() as usize
    }) as *mut ffi::PyMethodDef
}

/// Registers the callbacks with `sys.monitoring` (`mon`) for tool `tool`
/// (a [`tool::Register`]).
pub fn register<H: Host>(py: Python<'_>, mon: &Bound<'_, PyAny>, tool: u8) -> RecorderResult<()> {
    let disable = mon.getattr("DISABLE").map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.DISABLE"))?;
    if DISABLE.load(Ordering::Relaxed).is_null() {
        DISABLE.store(disable.into_ptr(), Ordering::Relaxed);
    }
    let defs = method_defs::<H>();
    // SAFETY: GIL held; the table lives as long as the process.
    unsafe {
        // The table is in the order of CALLBACK_EVENTS.
        for (i, event) in tool::CALLBACK_EVENTS.into_iter().enumerate() {
            let f = ffi::PyCFunction_NewEx(defs.add(i), ptr::null_mut(), ptr::null_mut());
            if f.is_null() {
                return Err(py_err(py, PyErr::fetch(py), ErrorCode::Internal, "creating a callback"));
            }
            let f: Bound<'_, PyCFunction> = Bound::from_owned_ptr(py, f).cast_into_unchecked();
            mon.call_method1("register_callback", (tool, event, f))
                .map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.register_callback failed"))?;
        }
    }
    Ok(())
}
