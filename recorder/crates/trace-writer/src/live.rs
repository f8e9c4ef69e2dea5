//! Writing the trace while the program runs, into any [`Sink`].
//!
//! For a format that streams (the format table says which: `trace.ct`), a
//! thread replays `events.bin` as the recording flushes it, so the trace
//! grows alongside the run instead of being converted after it: the work
//! moves to a second core, and a recording killed outright still leaves, in
//! its staging folder, a trace readable up to its last complete chunk.
//!
//! The recorder's [`StreamWriter`](crate::stream::StreamWriter) holds the
//! [`LiveConvert`] as its [`FlushObserver`] and tells it how far the file is
//! flushed and when it is finished; the thread never reads past that point.
//! When the recording stops, [`LiveConvert::finish`] waits for the thread to
//! reach the stream's end and hands back the replay, which the trace folder
//! completes with the final metadata. Anything that goes wrong in the thread
//! only costs the head start: the trace is then converted from `events.bin`
//! after the run, as for any other format.
//!
//! On a machine of at most two cores the sink starts no thread of its own
//! (trace.ct's compression thread) until the stream's writer is done: the
//! program, the replay and the compression would otherwise share two cores
//! three ways, and the program would lose a third of its own. Its chunks are
//! compressed on the replay thread meanwhile; once the program stopped,
//! both threads work on the rest (docs/recorder.md, "Writing trace.ct beside
//! the run").
//!
//! A [deferred](LiveConvert::deferred) conversion has no thread of its own:
//! its owner replays what is flushed when it chooses ([`LiveConvert::catch_up`];
//! a thread trace's, on the one converter thread its recording shares).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use std::time::Duration;

use recorder_errors::prelude::*;

use crate::replay::{Progress, Replayed, Replaying, Source, READ_CHUNK};
use crate::sink::Sink;
use crate::stream::FlushObserver;

/// What the writer has told the thread.
#[derive(Default)]
struct Flushed {
    /// Bytes of `events.bin` on disk.
    bytes: u64,
    /// The writer finished the file (no byte will follow).
    done: bool,
    /// A write failed: the file is not the stream the writer holds.
    failed: bool,
}

#[derive(Default)]
struct Shared {
    flushed: Mutex<Flushed>,
    changed: Condvar,
    /// Set by the recording side: the thread returns at its next look.
    pause: AtomicBool,
    /// Stream bytes the thread has replayed (for progress).
    consumed: AtomicU64,
    /// Replayed by its owner's calls ([`LiveConvert::deferred`]), not by a
    /// thread of its own: reading returns when it has caught up with the
    /// writer, instead of waiting for more.
    deferred: bool,
    /// Set when the writer is done: the sink may start its own threads.
    writer_done: Arc<AtomicBool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Flushed> {
        // A panic while holding this lock leaves plain numbers: still usable.
        self.flushed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Flushed)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// The stream file as far as the writer flushed it; reading waits for more
/// until the writer is done, or until the thread is asked to pause.
struct FollowedFile {
    file: File,
    path: PathBuf,
    pos: u64,
    shared: Arc<Shared>,
}

impl Source for FollowedFile {
    fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<usize>> {
        let available = {
            let mut f = self.shared.lock();
            loop {
                if self.shared.pause.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                if f.failed {
                    return Err(std::io::Error::other("a write of the event stream failed"));
                }
                if f.bytes > self.pos || f.done {
                    break f.bytes - self.pos.min(f.bytes);
                }
                if self.shared.deferred {
                    return Ok(None);
                }
                f = self.shared.changed.wait(f).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let want = available.min(max as u64);
        let n = (&mut self.file).take(want).read_to_end(buf)?;
        if (n as u64) < want {
            return Err(std::io::Error::other("the event stream is shorter than its writer flushed"));
        }
        self.pos += n as u64;
        Ok(Some(n))
    }

    fn total(&self) -> u64 {
        self.shared.lock().bytes
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// The replay and the file it reads, between two runs of the thread.
struct Work {
    replayed: Box<dyn Replaying>,
    source: FollowedFile,
}

enum State {
    /// The thread replays; it says on `done` when it returns.
    Running { thread: JoinHandle<(Work, RecorderResult<bool>)>, done: Receiver<()> },
    /// No thread (around a `fork()`); the replay goes on from here.
    Paused(Work),
    /// The whole stream is replayed.
    Done(Box<dyn Replaying>),
    Failed(RecorderError),
    /// Taken by `finish`.
    Gone,
}

/// A conversion running beside the recording.
pub struct LiveConvert {
    shared: Arc<Shared>,
    state: State,
}

impl LiveConvert {
    /// Starts replaying `events` (created, not necessarily written yet) into
    /// `sink`.
    pub fn start<S: Sink + Send + 'static>(sink: S, events: &Path) -> RecorderResult<LiveConvert> {
        let mut live = Self::paused(sink, events, false)?;
        live.resume();
        if matches!(live.state, State::Failed(_)) {
            if let State::Failed(e) = std::mem::replace(&mut live.state, State::Gone) {
                return Err(e);
            }
        }
        Ok(live)
    }

    /// A conversion of `events` into `sink` that runs no thread of its
    /// own: its owner replays what is flushed with [`LiveConvert::catch_up`]
    /// (a thread trace's, on the converter its recording shares, once the
    /// thread ended: docs/recorder.md, "Threads"), and
    /// [`LiveConvert::finish`] replays the rest on the calling thread.
    pub fn deferred<S: Sink + Send + 'static>(sink: S, events: &Path) -> RecorderResult<LiveConvert> {
        Self::paused(sink, events, true)
    }

    fn paused<S: Sink + Send + 'static>(mut sink: S, events: &Path, deferred: bool) -> RecorderResult<LiveConvert> {
        let file = File::open(events).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, events))?;
        let shared = Arc::new(Shared { deferred, ..Shared::default() });
        if few_cores() {
            sink.no_threads_until(shared.writer_done.clone());
        }
        let source = FollowedFile { file, path: events.to_path_buf(), pos: 0, shared: shared.clone() };
        let replayed: Box<dyn Replaying> = Box::new(Replayed::new(sink));
        Ok(LiveConvert { shared, state: State::Paused(Work { replayed, source }) })
    }

    /// A [deferred](LiveConvert::deferred) conversion replays, on the
    /// calling thread, what the writer has flushed, or until `stop` is set
    /// (checked every few thousand records); the sink's own threads end
    /// before it returns, so nothing runs between two calls.
    pub fn catch_up(&mut self, stop: &AtomicBool) {
        if !self.shared.deferred {
            return;
        }
        let State::Paused(mut work) = std::mem::replace(&mut self.state, State::Gone) else { return };
        let outcome = work.replayed.run(&mut work.source, READ_CHUNK, &mut |_, _| !stop.load(Ordering::Relaxed));
        self.state = Self::settled(work, outcome);
    }

    /// Where a run of the replay left it, its sink's threads ended.
    fn settled(mut work: Work, outcome: RecorderResult<bool>) -> State {
        match outcome {
            Ok(done) => match work.replayed.stop_threads() {
                Ok(()) if done => State::Done(work.replayed),
                Ok(()) => State::Paused(work),
                Err(e) => State::Failed(e),
            },
            Err(e) => State::Failed(e),
        }
    }

    /// Before a `fork()`: the thread ends (a process with threads makes
    /// CPython warn on `os.fork()`, and the child would inherit a lock
    /// its thread might hold), keeping the replay where it got to; the
    /// next flush ([`FlushObserver::flushed`]) starts it again — not as soon as the
    /// fork returns: CPython 3.13 counts the threads after the fork hooks.
    pub fn pause(&mut self) {
        if !matches!(self.state, State::Running { .. }) {
            return;
        }
        let State::Running { thread, .. } = std::mem::replace(&mut self.state, State::Gone) else { return };
        self.shared.pause.store(true, Ordering::Relaxed);
        self.shared.update(|_| {});
        // The sink's own thread ends too (compression: see `Sink::stop_threads`).
        self.state = match thread.join() {
            Ok((work, outcome)) => Self::settled(work, outcome),
            Err(_) => State::Failed(bug!(ErrorCode::Internal, "the live trace conversion panicked")),
        };
        self.shared.pause.store(false, Ordering::Relaxed);
    }

    /// The thread goes on from where [`LiveConvert::pause`] left it. Should
    /// no thread start, the conversion has failed (and
    /// [`LiveConvert::finish`] says so).
    fn resume(&mut self) {
        if self.shared.deferred || !matches!(self.state, State::Paused(_)) {
            return;
        }
        let State::Paused(mut work) = std::mem::replace(&mut self.state, State::Gone) else { return };
        let shared = self.shared.clone();
        let (send, done) = mpsc::channel();
        let path = work.source.path.clone();
        let spawned = std::thread::Builder::new().name("codetracer-live-convert".into()).spawn(move || {
            block_signals();
            let pause = shared.clone();
            let outcome = work.replayed.run(&mut work.source, READ_CHUNK, &mut |done, _| {
                pause.consumed.store(done, Ordering::Relaxed);
                !pause.pause.load(Ordering::Relaxed)
            });
            let _ = send.send(());
            (work, outcome)
        });
        self.state = match spawned {
            Ok(thread) => State::Running { thread, done },
            Err(e) => State::Failed(RecorderError::from_io(ErrorCode::Io, e, &path)),
        };
    }

    /// Waits for the thread to replay the whole stream (the writer must be
    /// done), telling `progress` how far it got (stream bytes replayed,
    /// stream size) every few milliseconds. `Ok(None)` when `progress`
    /// answered stop; `Err` when the thread failed (its trace file is then
    /// not to be used).
    pub(crate) fn finish(mut self, progress: Progress<'_>) -> Outcome {
        self.shared.writer_done.store(true, Ordering::Release);
        if self.shared.deferred {
            if let State::Paused(mut work) = std::mem::replace(&mut self.state, State::Gone) {
                let outcome = work.replayed.run(&mut work.source, READ_CHUNK, progress);
                if matches!(outcome, Ok(false)) && !self.shared.lock().done {
                    return Err(bug!(ErrorCode::Internal, "the trace conversion was finished before its stream"));
                }
                self.state = Self::settled(work, outcome);
                if matches!(self.state, State::Paused(_)) {
                    return Ok(None);
                }
            }
        }
        self.resume();
        if let State::Running { done, .. } = &self.state {
            loop {
                match done.recv_timeout(Duration::from_millis(50)) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        let total = self.shared.lock().bytes;
                        if !progress(self.shared.consumed.load(Ordering::Relaxed), total) {
                            self.pause();
                            return Ok(None);
                        }
                    }
                }
            }
            self.pause();
        }
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Done(replayed) => Ok(Some(replayed)),
            State::Failed(e) => Err(e),
            // Paused before the end although the writer was done: cannot be.
            _ => Err(bug!(ErrorCode::Internal, "the live trace conversion stopped before the end of the stream")),
        }
    }

}

/// The stream writer tells the thread how far it may read. (In a child of
/// `fork()` the writer forgets its observer untouched: the thread, if one
/// ran at the fork, is not there, and nothing of its state may be touched.)
impl FlushObserver for LiveConvert {
    /// `bytes` of the stream are on disk (the thread, if paused, starts again).
    fn flushed(&mut self, bytes: u64) {
        self.resume();
        self.shared.update(|f| f.bytes = bytes);
    }

    /// A write of the stream failed: the thread gives up (the trace is then
    /// converted after the run, which knows how to deal with a full disk).
    fn failed(&mut self) {
        self.shared.update(|f| f.failed = true);
    }

    /// The stream is complete at `bytes`.
    fn done(&mut self, bytes: u64) {
        self.shared.writer_done.store(true, Ordering::Release);
        self.resume();
        self.shared.update(|f| {
            f.bytes = bytes;
            f.done = true;
        });
    }
}

/// At most two cores for this process (its affinity and cgroup quota
/// counted): the program keeps one to itself while it runs.
pub fn few_cores() -> bool {
    static FEW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FEW.get_or_init(|| std::thread::available_parallelism().map_or(true, |n| n.get() <= 2))
}

type Outcome = RecorderResult<Option<Box<dyn Replaying>>>;

/// Signals are the program's: a signal sent to the process must reach a
/// thread of the program (Ctrl-C must interrupt its `time.sleep` at once),
/// never a thread of the recorder's (called by it).
pub fn block_signals() {
    #[cfg(unix)]
    // SAFETY: `set` is a local signal set filled by sigfillset before use;
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

impl Drop for LiveConvert {
    /// A recording that ends without finishing its trace (it failed, or its
    /// start did) stops the thread.
    fn drop(&mut self) {
        self.pause();
    }
}
