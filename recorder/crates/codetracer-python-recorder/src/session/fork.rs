//! `os.fork()` during a recording: the recording belongs to the parent;
//! the child goes on recording into a trace of its own,
//! `processes/<pid>/` in the parent's trace folder (docs/recorder.md,
//! "Processes"), or with `--no-follow-processes` stops at once.
//! The Python façade registers these as at-fork hooks.

#[cfg(unix)]
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

use pyo3::prelude::*;
use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};
use trace_writer::{Metadata, StreamWriter, TraceDir};

use super::state::{self, session_mut};
use super::{metadata, os_exit, threads};
use crate::recorder::Recorder;
use crate::tool;

/// Before `os.fork()`: the thread writing the trace beside the run ends
/// until the stream's next flush (CPython warns on `os.fork()` in a
/// process with more than one thread: the program would print a warning
/// that plain python does not).
pub fn before_fork() {
    threads::before_fork();
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
    // (Not from inside a callback: a fork there is a finaliser's.)
    if session_mut().as_ref().is_some_and(|s| s.follow.is_some() && !s.busy) {
        match follow_child() {
            Ok(()) => return,
            Err(e) => log::warn!("the forked child (pid {}) is not recorded: {e}", std::process::id()),
        }
    }
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

/// In a child made by `os.fork()`: a fresh trace, `processes/<pid>/` in the
/// parent's folder, recorded from here on with the parent's options (the
/// frames running now are adopted at their next line); the parent's
/// buffered records and stream stay the parent's.
fn follow_child() -> RecorderResult<()> {
    let s = session_mut().as_mut().ok_or_else(|| bug!(ErrorCode::Internal, "no session to follow"))?;
    let follow = s.follow.as_mut().ok_or_else(|| bug!(ErrorCode::Internal, "not following children"))?;
    // The parent's table of code facts, as it was at the fork (its lock
    // perhaps held by a thread not in this process): the child learns anew.
    follow.cfg.facts = Default::default();
    // On two cores the child records without a conversion beside its run
    // and hands its trace to the parent at its stop ("Processes").
    let parent_staging = s.trace_dir.staging.clone();
    let hand = cfg!(unix) && trace_writer::live::few_cores() && s.trace_dir.format.streams();
    follow.hand_to = hand.then_some(parent_staging);
    let follow = &*follow;
    let pid = std::process::id();
    let dir = s.trace_dir.dir.join(threads::PROCESSES_DIR).join(pid.to_string());
    let trace_dir = TraceDir::prepare(&dir, s.trace_dir.format)?;
    let mut meta = s.meta.clone();
    meta.insert("recording_id", json!(uuid::Uuid::now_v7().to_string()));
    meta.insert("start_time", json!(metadata::now()));
    meta.insert("process", json!({"pid": pid, "parent_pid": parent_pid(), "forked": true,
        "incomplete": "a forked child: its trace begins where os.fork() returned, in the frames then running"}));
    let made = trace_dir.write_recording_info(&meta).and_then(|_| StreamWriter::create(&trace_dir.events_path())).map(|mut writer| {
        // (A thread of the child's own: the parent's converter is not in this process.)
        if follow.hand_to.is_none() {
            super::state::convert_beside_the_run(&mut writer, &trace_dir);
        }
        writer
    });
    take_children(&trace_dir.staging);
    let mut recorder = match made {
        Ok(writer) => Recorder::new(writer, &follow.start_path, follow.cfg.clone()),
        Err(e) => {
            let _ = trace_dir.discard();
            return Err(e);
        }
    };
    if let Err(e) = recorder.flush() {
        let _ = trace_dir.discard();
        return Err(e);
    }
    if let Some(mut parent) = s.recorder.take() {
        recorder.continue_active(parent.is_active());
        // The parent's thread: not in this process. Dropping the writer
        // closes the child's copy of the file and discards the buffer copy.
        parent.writer.forget_observer_after_fork();
        drop(parent);
    }
    if follow.threads {
        let template = threads::Template {
            cfg: follow.cfg.clone(),
            start_path: follow.start_path.clone(),
            out: dir,
            format: trace_dir.format,
            meta: meta.clone(),
            running: Vec::new(),
        };
        threads::begin(crate::os_thread::current(), template);
    }
    s.recorder = Some(recorder);
    s.trace_dir = trace_dir;
    s.meta = meta;
    s.started = Instant::now();
    s.detaches = 0;
    Ok(())
}

/// The lock file in a recording's staging folder under which its forked
/// children hand their traces over: there while the recording takes them.
const HANDOFF_LOCK: &str = "children.lock";

/// A recording that follows processes, at its start: its children may
/// hand their traces over (see [`hand_over`]).
pub(super) fn take_children(staging: &Path) {
    let lock = staging.join(HANDOFF_LOCK);
    if !lock.exists() {
        if let Err(e) = std::fs::OpenOptions::new().create(true).append(true).open(&lock) {
            log::info!("forked children convert their own traces ({}: {e})", lock.display());
        }
    }
}

/// At the parent's stop, before it finishes its children's traces: from
/// here on no child hands its trace over; one doing so now is waited for.
#[cfg(unix)]
pub(super) fn close_handoff(staging: &Path) {
    let lock = staging.join(HANDOFF_LOCK);
    let Ok(file) = std::fs::File::open(&lock) else { return };
    lock_exclusive(&file);
    let _ = std::fs::remove_file(&lock);
}

/// Takes `file`'s exclusive `flock` (a signal's interruption retried);
/// closing the file releases it. Whether it was taken.
#[cfg(unix)]
fn lock_exclusive(file: &std::fs::File) -> bool {
    loop {
        // SAFETY: `flock` on a descriptor `file` owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return true;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

#[cfg(not(unix))]
pub(super) fn close_handoff(_staging: &Path) {}

/// In a forked child at its stop: leaves its trace's conversion to the
/// parent whose staging folder is `parent` (its stop converts it:
/// `threads::forked_children`), if that recording still takes it; whether
/// it did. The stream is whole: the recorder finished it.
#[cfg(unix)]
pub(super) fn hand_over(parent: &Path, trace_dir: &TraceDir, meta: &Metadata, timings: Map<String, Value>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(file) = std::fs::File::open(parent.join(HANDOFF_LOCK)) else { return false };
    if !lock_exclusive(&file) {
        return false;
    }
    // (Removed by the parent's stop between the open and the lock: too late.)
    if file.metadata().map_or(true, |m| m.nlink() == 0) {
        return false;
    }
    let mut timings = timings;
    timings.insert("handed_to_parent".into(), Value::Bool(true));
    match trace_dir.hand_over(meta, timings) {
        Ok(()) => true,
        Err(e) => {
            log::info!("the forked child converts its own trace: {e}");
            false
        }
    }
}

#[cfg(not(unix))]
pub(super) fn hand_over(_parent: &Path, _trace_dir: &TraceDir, _meta: &Metadata, _timings: Map<String, Value>) -> bool {
    false
}

/// A recording of a child process started as a new interpreter (a
/// `subprocess` run of the program's python, a `multiprocessing` spawn or
/// forkserver worker; `_processes.py`): its metadata's `process` is `info`
/// from the start, so a trace recovered after the child was killed says
/// whose it is too.
///
/// On a machine of at most two cores it records from here on without a
/// conversion beside its run and hands its trace to the parent's stop, as
/// a forked child does (the conversion its start began, of the few events
/// so far, stops; the trace is converted whole from the stream).
pub fn mark_child_process(info: serde_json::Value) -> RecorderResult<()> {
    let s = session_mut().as_mut().ok_or_else(|| usage!(ErrorCode::NotTracing, "no recording is active"))?;
    s.meta.insert("process", info);
    // (`<parent>/processes/<pid>/`: the parent's staging folder, if it takes children's traces.)
    let parent = s.trace_dir.dir.parent().and_then(Path::parent).map(|p| p.join(trace_writer::trace_folder::STAGING_DIR));
    let parent = parent.filter(|p| cfg!(unix) && trace_writer::live::few_cores() && s.trace_dir.format.streams() && p.join(HANDOFF_LOCK).is_file());
    if let (Some(parent), Some(follow)) = (parent, s.follow.as_mut()) {
        if let Some(rec) = s.recorder.as_mut() {
            drop(rec.writer.take_observer());
        }
        follow.hand_to = Some(parent);
    }
    s.trace_dir.write_recording_info(&s.meta)
}

/// The process that forked this one.
#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

/// The process that forked this one.
#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}
