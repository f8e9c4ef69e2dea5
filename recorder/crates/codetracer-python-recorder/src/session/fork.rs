//! `os.fork()` during a recording: the recording belongs to the parent.
//! The Python façade registers these as at-fork hooks.

use pyo3::prelude::*;

use super::state::{self, session_mut};
use super::os_exit;
use super::threads;
use crate::tool;

/// Before `os.fork()`: the thread writing the trace beside the run ends
/// until the stream's next flush (CPython warns on `os.fork()` in a
/// process with more than one thread: the program would print a warning
/// that plain python does not).
pub fn before_fork() {
    // (Not from inside a callback, which holds the recorder: a fork there
    // is a finaliser's, and the thread then stays.)
    let s = session_mut().as_mut().filter(|s| !s.busy);
    if let Some(live) = s.and_then(|s| s.recorder.as_mut()).and_then(|r| r.writer.observer_mut()) {
        live.pause();
    }
}

/// In a child created by `os.fork()`: stop the events and forget the
/// session without writing anything (the buffered records are the
/// parent's, and so is the stream file); the child's own `stop()` then
/// ends quietly.
pub fn after_fork_in_child(py: Python<'_>) {
    threads::forget_after_fork();
    if let Some(mut s) = session_mut().take() {
        tool::uninstall(py, s.tool);
        os_exit::unhook(py);
        state::set_handed_over(Some(s.trace_dir.dir.clone()));
        if let Some(mut r) = s.recorder.take() {
            // The parent's thread: not in this process.
            r.writer.forget_observer_after_fork();
            // Dropping the writer closes the child's copy of the file
            // descriptor and discards the buffer copy, writing nothing.
            drop(r);
        }
    }
}
