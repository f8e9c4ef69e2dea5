//! Checks made before any callback is installed (docs/design/error-policy.md §8): the Python
//! version and implementation, the trace schema, and the trace directory.

use pyo3::prelude::*;
use recorder_errors::prelude::*;

/// What we learnt about the interpreter.
pub struct PythonInfo {
    pub version: String,
    pub major: u8,
    pub minor: u8,
    pub executable: String,
    pub implementation: String,
}

fn env_err(py: Python<'_>, e: PyErr) -> RecorderError {
    bug!(ErrorCode::Internal, "cannot inspect the interpreter: {}", e.value(py))
}

pub fn python_info(py: Python<'_>) -> RecorderResult<PythonInfo> {
    let sys = py.import("sys").map_err(|e| env_err(py, e))?;
    let vi = sys.getattr("version_info").map_err(|e| env_err(py, e))?;
    let major: u8 = vi.get_item(0).and_then(|x| x.extract()).map_err(|e| env_err(py, e))?;
    let minor: u8 = vi.get_item(1).and_then(|x| x.extract()).map_err(|e| env_err(py, e))?;
    let micro: u8 = vi.get_item(2).and_then(|x| x.extract()).map_err(|e| env_err(py, e))?;
    let implementation: String = sys
        .getattr("implementation")
        .and_then(|i| i.getattr("name"))
        .and_then(|n| n.extract())
        .map_err(|e| env_err(py, e))?;
    let executable: String = sys.getattr("executable").and_then(|x| x.extract()).unwrap_or_default();
    Ok(PythonInfo { version: format!("{major}.{minor}.{micro}"), major, minor, executable, implementation })
}

/// Fails with a clear `UsageError` on an interpreter we cannot record.
pub fn check_python(py: Python<'_>, info: &PythonInfo) -> RecorderResult<()> {
    ensure_usage!(
        (info.major, info.minor) >= (3, 12),
        ErrorCode::UnsupportedPython,
        "Python {} at {} is too old: the recorder needs CPython 3.12 or newer (sys.monitoring)",
        info.version,
        info.executable
    );
    ensure_usage!(
        info.implementation == "cpython",
        ErrorCode::UnsupportedImplementation,
        "the recorder supports CPython only, not {} ({})",
        info.implementation,
        info.executable
    );
    // Free-threaded builds carry "t" in their ABI flags (3.13t); reading
    // sys.abiflags avoids importing sysconfig (milliseconds of start-up).
    let free_threaded = py
        .import("sys")
        .and_then(|s| s.getattr("abiflags"))
        .and_then(|f| f.extract::<String>())
        .map(|f| f.contains('t'))
        .unwrap_or(false);
    ensure_usage!(
        !free_threaded,
        ErrorCode::UnsupportedImplementation,
        "free-threaded CPython builds ({}) are not supported by the recorder",
        info.executable
    );
    Ok(())
}

/// The trace schema this build writes must be the one the metadata names.
pub fn check_schema(requested: Option<&str>) -> RecorderResult<()> {
    if let Some(r) = requested {
        ensure_internal!(
            r == trace_writer::SCHEMA_VERSION,
            ErrorCode::SchemaVersion,
            "trace schema {} requested, this recorder writes {}",
            r,
            trace_writer::SCHEMA_VERSION
        );
    }
    Ok(())
}
