//! The program's output as trace events: what it writes to `sys.stdout`
//! and `sys.stderr` (print, `write`, logging, tracebacks) becomes an `Event`
//! on the step that wrote it, the terminal CodeTracer shows.
//!
//! The streams stay the program's own objects (same type, same buffer,
//! same `isatty`, `sys.stdout is sys.__stdout__` still true): only their
//! `write` is shadowed by an instance attribute, a native callable that
//! calls the original bound method and, once it succeeded, records the
//! text. So the bytes, their buffering and their interleaving are exactly
//! what they would be without the recorder, and no Python frame of ours
//! appears in a traceback of a failing write. Writes that bypass the text
//! layer (`sys.stdout.buffer.write`, `os.write(1, ...)`) are not events.

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};


/// EventLogKind of the trace format: Write (stdout) and WriteOther (stderr).
pub const STDOUT: u8 = 0;
pub const STDERR: u8 = 2;
/// EventLogKind Error: how a run that failed ends (flagged by CodeTracer).
pub const ERROR: u8 = 11;

/// A stream whose `write` we shadowed, and the callable that shadows it.
pub struct Installed {
    stream: Py<PyAny>,
    wrapper: Py<PyAny>,
}

/// Shadows `write` of `sys.stdout` and `sys.stderr` where the stream object
/// takes instance attributes (text files do), calling `record` with each
/// text written (kind, UTF-8); others are left alone.
pub fn install(py: Python<'_>, record: fn(u8, &[u8])) -> Vec<Installed> {
    let mut done = Vec::new();
    let Ok(sys) = py.import("sys") else { return done };
    for (name, kind) in [("stdout", STDOUT), ("stderr", STDERR)] {
        let Ok(stream) = sys.getattr(name) else { continue };
        if stream.is_none() || !stream.hasattr("__dict__").unwrap_or(false) {
            log::info!("sys.{name} takes no attributes: its output is not recorded");
            continue;
        }
        let Ok(original) = stream.getattr("write") else { continue };
        let original: Py<PyAny> = original.unbind();
        let wrapper = PyCFunction::new_closure(py, Some(c"write"), None, move |args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let py = args.py();
            let written = original.call(py, args.clone(), kwargs)?;
            if let Ok(first) = args.get_item(0) {
                if let Ok(text) = first.cast::<PyString>() {
                    if let Ok(s) = text.to_str() {
                        if !s.is_empty() {
                            record(kind, s.as_bytes());
                        }
                    }
                }
            }
            Ok(written)
        });
        let Ok(wrapper) = wrapper else { continue };
        if stream.setattr("write", &wrapper).is_ok() {
            done.push(Installed { stream: stream.unbind(), wrapper: wrapper.into_any().unbind() });
        }
    }
    done
}

/// Removes the shadowing attributes that are still ours.
pub fn uninstall(py: Python<'_>, installed: Vec<Installed>) {
    for i in installed {
        let stream = i.stream.bind(py);
        let ours = stream
            .getattr("__dict__")
            .ok()
            .and_then(|d| d.get_item("write").ok())
            .is_some_and(|w| w.is(i.wrapper.bind(py)));
        if ours {
            let _ = stream.delattr("write");
        }
    }
}
