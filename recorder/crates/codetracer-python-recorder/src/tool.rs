//! Our `sys.monitoring` tool: its id, the events it asks for, claiming
//! and releasing it, and the code objects given local events.
//!
//! Tool ids 0, 1, 2 and 5 are the ones CPython names for debuggers,
//! coverage.py, profilers and optimizers; we take 3 (`CODETRACER_TOOL_ID`,
//! resolved by `_config.py`, may choose 3 or 4) and fail with `ERR_TOOL_ID_IN_USE` when it is taken.
//! The callbacks themselves are `monitoring.rs`'s.

use pyo3::prelude::*;
use recorder_errors::prelude::*;

pub const TOOL_NAME: &str = "codetracer";

// sys.monitoring.events bits.
pub const PY_START: u32 = 1 << 0;
pub const PY_RESUME: u32 = 1 << 1;
pub const PY_RETURN: u32 = 1 << 2;
pub const PY_YIELD: u32 = 1 << 3;
pub const LINE: u32 = 1 << 5;
pub const INSTRUCTION: u32 = 1 << 6;
pub const PY_UNWIND: u32 = 1 << 12;
pub const PY_THROW: u32 = 1 << 13;

/// Global events. Line events (LINE, or INSTRUCTION standing in for them
/// in long code) are local: requested for each recorded code object as the
/// recorder first meets it (`lines.rs`), so unrecorded code has none.
pub const EVENTS: u32 = PY_START | PY_RESUME | PY_RETURN | PY_YIELD | PY_UNWIND | PY_THROW;

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

/// The events the callbacks are registered for (unregistered at uninstall).
pub const CALLBACK_EVENTS: [u32; 8] = [PY_START, PY_RESUME, PY_THROW, LINE, PY_RETURN, PY_YIELD, PY_UNWIND, INSTRUCTION];

/// Registers the callbacks of tool `tool` with `sys.monitoring` (`mon`).
pub type Register = fn(Python<'_>, &Bound<'_, PyAny>, u8) -> RecorderResult<()>;

/// A tool id the recorder may take: 3 or 4 (`_config.py` resolves
/// `CODETRACER_TOOL_ID` and checks it; the native `start` takes the number).
pub fn parse_tool_id(s: &str) -> Option<u8> {
    match s {
        "3" => Some(3),
        "4" => Some(4),
        _ => None,
    }
}

pub(crate) fn py_err(py: Python<'_>, e: PyErr, code: ErrorCode, what: &str) -> RecorderError {
    bug!(code, "{}: {}", what, e.value(py)).with_context("python_error", e.value(py).to_string())
}

/// Claims the tool id, has `register` register the callbacks with
/// `sys.monitoring`, and turns the global events on.
pub fn install(py: Python<'_>, tool: u8, register: Register) -> RecorderResult<()> {
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
    register(py, &mon, tool)?;
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
    for event in CALLBACK_EVENTS {
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
