//! `sys.monitoring` plumbing: the tool id, the callbacks (plain C-ABI
//! functions with the vectorcall signature, so an event costs one C call),
//! and their installation and removal.
//!
//! Tool ids 0, 1, 2 and 5 are the ones CPython names for debuggers,
//! coverage.py, profilers and optimizers; we take 3 (`CODETRACER_TOOL_ID`
//! may choose 3 or 4) and fail with `ERR_TOOL_ID_IN_USE` when it is taken.

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyCFunction;
use recorder_errors::prelude::*;

use crate::recorder::{Exit, Recorder, Ret};
use crate::session;

pub const DEFAULT_TOOL_ID: u8 = 3;
pub const TOOL_NAME: &str = "codetracer";

// sys.monitoring.events bits.
const PY_START: u32 = 1 << 0;
const PY_RESUME: u32 = 1 << 1;
const PY_RETURN: u32 = 1 << 2;
const PY_YIELD: u32 = 1 << 3;
pub const LINE: u32 = 1 << 5;
pub const INSTRUCTION: u32 = 1 << 6;
const PY_UNWIND: u32 = 1 << 12;
const PY_THROW: u32 = 1 << 13;

/// Global events. Line events (LINE, or INSTRUCTION standing in for them
/// in long code) are local: requested for each recorded code object as the
/// recorder first meets it (`lines.rs`), so unrecorded code has none.
pub const EVENTS: u32 = PY_START | PY_RESUME | PY_RETURN | PY_YIELD | PY_UNWIND | PY_THROW;

/// `sys.monitoring.DISABLE` (held for the process's life once installed).
static DISABLE: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// The installed tool: `sys.monitoring`, its id, and the code objects given
/// local events (cleared again at uninstall; the recorder holds them).
struct Installed {
    mon: Py<PyAny>,
    tool: u8,
    local: Vec<Py<PyAny>>,
}

struct GilCell<T>(std::cell::UnsafeCell<T>);
// SAFETY: only touched with the GIL held (install, callbacks, uninstall).
unsafe impl<T> Sync for GilCell<T> {}

static INSTALLED: GilCell<Option<Installed>> = GilCell(std::cell::UnsafeCell::new(None));

fn installed() -> &'static mut Option<Installed> {
    // SAFETY: GIL held by every caller; no borrow outlives a call.
    unsafe { &mut *INSTALLED.0.get() }
}

/// `sys.monitoring.set_local_events(tool, code, events)` for our tool.
pub fn set_local_events(py: Python<'_>, code: &Bound<'_, PyAny>, events: u32) -> RecorderResult<()> {
    let Some(inst) = installed().as_mut() else { return Ok(()) };
    inst.mon
        .bind(py)
        .call_method1("set_local_events", (inst.tool, code, events))
        .map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.set_local_events failed"))?;
    if !inst.local.last().is_some_and(|c| c.is(code)) {
        inst.local.push(code.clone().unbind());
    }
    Ok(())
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
unsafe fn run(handler: Handler, can_disable: bool, args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(feature = "fault-injection")]
        crate::fault::maybe_panic();
        session::with_recorder(|rec| {
            let r = handler(rec, args, nargs);
            (r, rec.error.is_some())
        })
    }));
    // SAFETY: GIL held (we are a monitoring callback).
    unsafe {
        match outcome {
            Ok(Some((Ret::Disable, false))) if !can_disable => ret_object(Ret::Continue),
            Ok(Some((ret, false))) => ret_object(ret),
            Ok(None) => ret_object(Ret::Continue),
            Ok(Some((_, true))) => session::hot_path_failed(None),
            Err(payload) => {
                let err = crate::ffi::panic_error("a sys.monitoring callback", payload.as_ref());
                session::hot_path_failed(Some(err))
            }
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
    if crate::lines::entry_compares() && !offset.is_null() {
        rec.note_entry(code, offset, resumed);
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
    exit_with(rec, a, n, Exit::Unwind)
}

macro_rules! callback {
    ($name:ident, $handler:ident, $can_disable:expr) => {
        unsafe extern "C" fn $name(
            _slf: *mut ffi::PyObject,
            args: *mut *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
        ) -> *mut ffi::PyObject {
            // SAFETY: called by CPython with the GIL held and vectorcall args.
            unsafe { run($handler, $can_disable, args as *const *mut ffi::PyObject, nargs) }
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
            ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: $f },
            ml_flags: METH_FASTCALL,
            ml_doc: ptr::null(),
        }
    };
}

/// The callbacks' method table: CPython keeps a pointer to each entry in
/// the function objects made from it, and never writes through it.
static DEFS: GilCell<[ffi::PyMethodDef; 8]> = GilCell(std::cell::UnsafeCell::new([
    method_def!(c"codetracer_py_start", cb_start),
    method_def!(c"codetracer_py_resume", cb_resume),
    method_def!(c"codetracer_py_throw", cb_throw),
    method_def!(c"codetracer_line", cb_line),
    method_def!(c"codetracer_py_return", cb_return),
    method_def!(c"codetracer_py_yield", cb_yield),
    method_def!(c"codetracer_py_unwind", cb_unwind),
    method_def!(c"codetracer_instruction", cb_instruction),
]));

/// (event bit, index into DEFS).
const BINDINGS: [(u32, usize); 8] =
    [(PY_START, 0), (PY_RESUME, 1), (PY_THROW, 2), (LINE, 3), (PY_RETURN, 4), (PY_YIELD, 5), (PY_UNWIND, 6), (INSTRUCTION, 7)];

/// The tool id to use: `CODETRACER_TOOL_ID` (3 or 4) or 3.
pub fn tool_id_from_env() -> RecorderResult<u8> {
    match std::env::var("CODETRACER_TOOL_ID") {
        Err(_) => Ok(DEFAULT_TOOL_ID),
        Ok(v) => match v.trim() {
            "3" => Ok(3),
            "4" => Ok(4),
            _ => Err(usage!(ErrorCode::InvalidOption, "invalid value {:?} for CODETRACER_TOOL_ID: expected 3 or 4", v)
                .with_context("option", "CODETRACER_TOOL_ID")),
        },
    }
}

fn py_err(py: Python<'_>, e: PyErr, code: ErrorCode, what: &str) -> RecorderError {
    bug!(code, "{}: {}", what, e.value(py)).with_context("python_error", e.value(py).to_string())
}

/// Claims the tool id and installs the callbacks for every event.
pub fn install(py: Python<'_>, tool: u8) -> RecorderResult<()> {
    let mon = py
        .import("sys")
        .and_then(|s| s.getattr("monitoring"))
        .map_err(|e| py_err(py, e, ErrorCode::UnsupportedPython, "sys.monitoring is not available"))?;
    let holder = mon.call_method1("get_tool", (tool,)).map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.get_tool failed"))?;
    if !holder.is_none() {
        return Err(enverr!(
            ErrorCode::ToolIdInUse,
            "sys.monitoring tool id {} is already used by {:?}; another debugger, profiler or tracer is active (set CODETRACER_TOOL_ID=4 to use the other free id)",
            tool,
            holder.to_string()
        )
        .with_context("tool_id", tool)
        .with_context("holder", holder.to_string()));
    }
    mon.call_method1("use_tool_id", (tool, TOOL_NAME))
        .map_err(|e| py_err(py, e, ErrorCode::ToolIdInUse, "sys.monitoring.use_tool_id failed").with_kind(ErrorKind::Environment))?;
    let disable = mon.getattr("DISABLE").map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.DISABLE"))?;
    if DISABLE.load(Ordering::Relaxed).is_null() {
        DISABLE.store(disable.into_ptr(), Ordering::Relaxed);
    }
    // SAFETY: GIL held; DEFS is a static table that outlives the functions.
    unsafe {
        let defs = DEFS.0.get() as *mut ffi::PyMethodDef;
        for (event, i) in BINDINGS {
            let f = ffi::PyCFunction_NewEx(defs.add(i), ptr::null_mut(), ptr::null_mut());
            if f.is_null() {
                return Err(py_err(py, PyErr::fetch(py), ErrorCode::Internal, "creating a callback"));
            }
            let f: Bound<'_, PyCFunction> = Bound::from_owned_ptr(py, f).cast_into_unchecked();
            mon.call_method1("register_callback", (tool, event, f))
                .map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.register_callback failed"))?;
        }
    }
    *installed() = Some(Installed { mon: mon.clone().unbind(), tool, local: Vec::new() });
    mon.call_method1("set_events", (tool, EVENTS)).map_err(|e| py_err(py, e, ErrorCode::Internal, "sys.monitoring.set_events failed"))?;
    Ok(())
}

/// Stops event delivery and releases the tool id; tolerant of a tool id the
/// program already freed (reported as `false`).
pub fn uninstall(py: Python<'_>, tool: u8) -> bool {
    let Ok(mon) = py.import("sys").and_then(|s| s.getattr("monitoring")) else { return false };
    let ours = mon
        .call_method1("get_tool", (tool,))
        .map(|h| h.extract::<String>().map(|s| s == TOOL_NAME).unwrap_or(false))
        .unwrap_or(false);
    let inst = installed().take();
    if !ours {
        return false;
    }
    let _ = mon.call_method1("set_events", (tool, 0));
    for code in inst.into_iter().flat_map(|i| i.local) {
        let _ = mon.call_method1("set_local_events", (tool, code, 0));
    }
    for (event, _) in BINDINGS {
        let _ = mon.call_method1("register_callback", (tool, event, py.None()));
    }
    let _ = mon.call_method1("free_tool_id", (tool,));
    true
}

/// Stops event delivery only (a detach from inside a callback).
pub fn detach_events(py: Python<'_>, tool: u8) {
    if let Ok(mon) = py.import("sys").and_then(|s| s.getattr("monitoring")) {
        let _ = mon.call_method1("set_events", (tool, 0));
    }
}
