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
//!
//! The terminal is what reached the process's original stdout and stderr.
//! A stream replaced by another object (`contextlib.redirect_stdout`,
//! pytest's capture) is not the one whose `write` is shadowed, so what the
//! program writes there is not recorded. A stream whose file descriptor
//! was pointed elsewhere (`os.dup2` onto it, as pytest's fd capture does)
//! still calls our `write`: its text is then a `WriteFile` event, out of
//! the terminal, whose metadata says where it went. Telling the two apart
//! costs nothing per write: our stand-ins of `os.dup2`, `os.close` and
//! `os.closerange` (how Python code points a descriptor elsewhere) advance
//! an epoch, and only the first write of a stream after that compares the
//! descriptor's file (`os.fstat`: device and inode) with the one it had when
//! the recording started; the answer holds until the epoch moves again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};

/// EventLogKind of the trace format: Write (stdout) and WriteOther (stderr).
pub const STDOUT: u8 = 0;
pub const STDERR: u8 = 2;
/// EventLogKind WriteFile: text written to a stream whose descriptor no
/// longer reaches the original stdout or stderr.
pub const WRITE_FILE: u8 = 1;
/// EventLogKind Error: how a run that failed ends (flagged by CodeTracer).
pub const ERROR: u8 = 11;

/// The `os` functions whose stand-ins advance [`FD_EPOCH`].
const FD_CHANGERS: [(&str, &std::ffi::CStr); 3] = [("dup2", c"dup2"), ("close", c"close"), ("closerange", c"closerange")];

/// Advanced after every call of `os.dup2`, `os.close`, `os.closerange`: a
/// stream found writing to its original file at this epoch still does.
static FD_EPOCH: AtomicU64 = AtomicU64::new(1);

/// Where a stream's descriptor pointed when the recording started, and
/// whether it still does.
struct Target {
    fd: i32,
    /// `(st_dev, st_ino)` of the descriptor at the start.
    original: Py<PyAny>,
    /// `os.fstat` as the program had it at the start.
    fstat: Py<PyAny>,
    /// The epoch at which the descriptor was last seen on its original file.
    verified: AtomicU64,
    /// The epoch at which it was last seen open on another file, and the
    /// name of that file.
    elsewhere: Mutex<Option<(u64, String)>>,
}

impl Target {
    /// Reads `stream`'s descriptor and its file; `None` when it has none
    /// (then every write counts as terminal output).
    fn of(py: Python<'_>, stream: &Bound<'_, PyAny>) -> Option<Self> {
        let fd: i32 = stream.call_method0("fileno").ok()?.extract().ok()?;
        let fstat = py.import("os").ok()?.getattr("fstat").ok()?;
        let original = identity(&fstat, fd)?.unbind();
        let epoch = FD_EPOCH.load(Ordering::Relaxed);
        Some(Self { fd, original, fstat: fstat.unbind(), verified: AtomicU64::new(epoch), elsewhere: Mutex::new(None) })
    }

    /// `None` while the descriptor reaches its original file; else the
    /// name of where it points now (a WriteFile event's metadata). Both
    /// answers hold until the epoch moves, except a closed descriptor's:
    /// any file opened next may take its number, so it is looked at again.
    fn redirected(&self, py: Python<'_>) -> Option<String> {
        let epoch = FD_EPOCH.load(Ordering::Relaxed);
        if self.verified.load(Ordering::Relaxed) == epoch {
            return None;
        }
        let Ok(mut seen) = self.elsewhere.lock() else { return Some(format!("fd {}", self.fd)) };
        if let Some((at, name)) = seen.as_ref() {
            if *at == epoch {
                return Some(name.clone());
            }
        }
        match identity(self.fstat.bind(py), self.fd) {
            Some(now) if now.eq(self.original.bind(py)).unwrap_or(false) => {
                self.verified.store(epoch, Ordering::Relaxed);
                *seen = None;
                None
            }
            Some(_) => {
                let name = self.name();
                *seen = Some((epoch, name.clone()));
                Some(name)
            }
            None => Some(format!("fd {} (closed)", self.fd)),
        }
    }

    /// What the descriptor points at: the path the system gives for it
    /// where it gives one (`/proc/self/fd`), else `fd N`.
    fn name(&self) -> String {
        match std::fs::read_link(format!("/proc/self/fd/{}", self.fd)) {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(_) => format!("fd {}", self.fd),
        }
    }
}

/// `(st_dev, st_ino)` of descriptor `fd`, or `None` when it is closed.
fn identity<'py>(fstat: &Bound<'py, PyAny>, fd: i32) -> Option<Bound<'py, PyAny>> {
    let st = fstat.call1((fd,)).ok()?;
    let pair = (st.getattr("st_dev").ok()?, st.getattr("st_ino").ok()?);
    PyTuple::new(fstat.py(), [pair.0, pair.1]).ok().map(Bound::into_any)
}

/// What we put in place for the recording, and how to take it back.
pub enum Installed {
    /// A stream's `write`, shadowed by an instance attribute.
    Stream { stream: Py<PyAny>, wrapper: Py<PyAny> },
    /// A function of `os`, with the program's own to put back.
    Os { name: &'static str, original: Py<PyAny>, wrapper: Py<PyAny> },
}

/// Shadows `write` of `sys.stdout` and `sys.stderr` where the stream object
/// takes instance attributes (text files do), calling `record` with each
/// text written (kind, metadata, UTF-8); others are left alone. Puts the
/// stand-ins of the `os` functions that move descriptors in place.
pub fn install(py: Python<'_>, record: fn(u8, &str, &[u8])) -> Vec<Installed> {
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
        let target = Target::of(py, &stream).map(Arc::new);
        let wrapper = PyCFunction::new_closure(py, Some(c"write"), None, move |args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let py = args.py();
            let written = original.call(py, args.clone(), kwargs)?;
            if let Ok(first) = args.get_item(0) {
                if let Ok(text) = first.cast::<PyString>() {
                    if let Ok(s) = text.to_str() {
                        if !s.is_empty() {
                            match target.as_ref().and_then(|t| t.redirected(py)) {
                                None => record(kind, "", s.as_bytes()),
                                Some(to) => record(WRITE_FILE, &to, s.as_bytes()),
                            }
                        }
                    }
                }
            }
            Ok(written)
        });
        let Ok(wrapper) = wrapper else { continue };
        if stream.setattr("write", &wrapper).is_ok() {
            done.push(Installed::Stream { stream: stream.unbind(), wrapper: wrapper.into_any().unbind() });
        }
    }
    if let Ok(os) = py.import("os") {
        for (name, cname) in FD_CHANGERS {
            let Ok(real) = os.getattr(name) else { continue };
            let original = real.clone().unbind();
            let real = real.unbind();
            let wrapper = PyCFunction::new_closure(py, Some(cname), None, move |args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
                let result = real.call(args.py(), args.clone(), kwargs);
                FD_EPOCH.fetch_add(1, Ordering::Relaxed);
                result
            });
            let Ok(wrapper) = wrapper else { continue };
            if os.setattr(name, &wrapper).is_ok() {
                done.push(Installed::Os { name, original, wrapper: wrapper.into_any().unbind() });
            }
        }
    }
    done
}

/// Removes the shadowing attributes and stand-ins that are still ours.
pub fn uninstall(py: Python<'_>, installed: Vec<Installed>) {
    let os = py.import("os").ok();
    for i in installed {
        match i {
            Installed::Stream { stream, wrapper } => {
                let stream = stream.bind(py);
                let ours = stream
                    .getattr("__dict__")
                    .ok()
                    .and_then(|d| d.get_item("write").ok())
                    .is_some_and(|w| w.is(wrapper.bind(py)));
                if ours {
                    let _ = stream.delattr("write");
                }
            }
            Installed::Os { name, original, wrapper } => {
                let Some(os) = &os else { continue };
                if os.getattr(name).is_ok_and(|cur| cur.is(wrapper.bind(py))) {
                    let _ = os.setattr(name, original);
                }
            }
        }
    }
}
