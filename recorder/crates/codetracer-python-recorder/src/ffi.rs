//! The FFI boundary (docs/design/error-policy.md §3): every entry point from Python — the
//! `#[pyfunction]`s and the monitoring callbacks — runs through [`dispatch`],
//! which contains panics (they become `InternalError`/`ERR_PANIC`, logged
//! with their payload) and turns [`RecorderError`] into the Python exception
//! hierarchy of `codetracer_python_recorder.errors`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use recorder_errors::prelude::*;

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
/// Panics caught at the boundary in this process (`metrics.panics_caught`).
static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many panics the boundary caught in this process.
pub fn panics_caught() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Runs `f`, containing any panic as an `ERR_PANIC` error.
pub fn dispatch<T>(what: &'static str, f: impl FnOnce() -> RecorderResult<T>) -> RecorderResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_error(what, payload.as_ref())),
    }
}

/// The error for a caught panic; counted and logged.
pub fn panic_error(what: &'static str, payload: &(dyn std::any::Any + Send)) -> RecorderError {
    PANICS.fetch_add(1, Ordering::Relaxed);
    let msg = panic_payload_message(payload);
    let err = RecorderError::new(ErrorCode::Panic, format!("internal error (panic) in {what}: {msg}"))
        .with_context("entry_point", what);
    crate::logging::log_error(log::Level::Error, &err);
    err
}

/// Runs a `#[pyfunction]` body: panics contained, errors mapped.
pub fn py_dispatch<T>(py: Python<'_>, what: &'static str, f: impl FnOnce() -> RecorderResult<T>) -> PyResult<T> {
    dispatch(what, f).map_err(|e| to_pyerr(py, &e))
}

/// The Python exception for `err` (an instance of the class for its kind,
/// with `code`, `kind`, `context` and `exit_code` attributes).
pub fn to_pyerr(py: Python<'_>, err: &RecorderError) -> PyErr {
    match build_exception(py, err) {
        Ok(e) => e,
        Err(e) => e,
    }
}

/// The errors module whose classes the recorder raises: the first one
/// imported, found at the extension's first import (the command line hides
/// the package from the program it records, which may import it afresh).
pub fn errors_module(py: Python<'_>) -> PyResult<&Py<PyModule>> {
    ERRORS_MODULE.get_or_try_init(py, || -> PyResult<Py<PyModule>> {
        Ok(py.import("codetracer_python_recorder.errors")?.unbind())
    })
}

fn build_exception(py: Python<'_>, err: &RecorderError) -> PyResult<PyErr> {
    let module = errors_module(py)?.bind(py);
    let class_name = match err.kind() {
        ErrorKind::Usage => "UsageError",
        ErrorKind::Environment => "EnvironmentError",
        ErrorKind::Target => "TargetError",
        ErrorKind::Internal => "InternalError",
    };
    let context = PyDict::new(py);
    for (k, v) in err.context() {
        context.set_item(*k, v)?;
    }
    let cls = module.getattr(class_name)?;
    let exc = cls.call1((err.message(), err.code().as_str(), context))?;
    Ok(PyErr::from_value(exc))
}
