//! The traces of the program's other threads (docs/recorder.md, "Threads"):
//! every thread that runs recorded code, other than the one that started
//! the recording (whose trace is the folder's own), records into a trace of
//! its own in `threads/<n>-<name>/`, through a recorder of its own.
//!
//! The hot path of the main thread reads one atomic ([`main_thread`]) and
//! compares it with its own OS thread: no lock. Another thread finds its
//! recorder in a [`Slot`] held in thread-local storage (one lookup an
//! event: the slot is the lease that ends it), made on its first event (the
//! one time it takes the registry's lock) and marked busy for each event by
//! an atomic state only that thread and `stop()` change, so no
//! two threads share a recorder, buffer or stream, and nothing here leans on
//! the GIL beyond what CPython does for the Python objects each recorder
//! reads. The recording's one converter thread replays each thread's
//! stream into its trace beside the run ([`converter`]): as its flushes
//! reach the disk, and the rest when the thread ends (its thread-local
//! storage is destroyed: its stream is flushed then). `stop()` takes every slot
//! ([`end`]) and finishes each trace ([`finish_all`]): what is left to
//! replay (the end, or a thread's whole stream when it was still running);
//! a thread still running then gets a trace that says so.

use std::cell::{RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};
use trace_writer::{ConvertStats, Format, LiveConvert, Metadata, StreamWriter, TraceDir};

use super::metadata;
use crate::recorder::{Recorder, RecorderConfig};

/// The folder of the thread traces, inside the trace folder.
pub(super) const THREADS_DIR: &str = "threads";
/// The folder of the traces of forked children (`processes/<pid>/`).
pub(super) const PROCESSES_DIR: &str = "processes";
/// Their index, beside the folder's own trace (written by the façade).
pub(super) const THREADS_INDEX: &str = "threads.json";
/// CodeTracer's multi-trace manifest (written by the façade).
const SESSION_MANIFEST: &str = "session.toml";

/// The OS thread of the folder's own trace while other threads are recorded
/// (0: they are not; every event then goes to the one recorder, as with
/// `--no-threads`).
static MAIN: AtomicUsize = AtomicUsize::new(0);
/// The recording other threads record into (0: none); each start takes the
/// next number, so a slot of an earlier recording is never used again.
static GEN: AtomicU64 = AtomicU64::new(0);
static NEXT_GEN: AtomicU64 = AtomicU64::new(1);
/// Events of other threads that no thread trace recorded (their trace could
/// not be made): the folder's `metrics.other_thread_events`.
static LOST: AtomicU64 = AtomicU64::new(0);

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { gen: 0, template: None, slots: Vec::new() });

struct Registry {
    gen: u64,
    template: Option<Template>,
    slots: Vec<Arc<Slot>>,
}

/// What a thread's recorder is made from: the main recorder's options.
pub(super) struct Template {
    pub(super) cfg: RecorderConfig,
    /// The program (PathId 0 of every trace).
    pub(super) start_path: String,
    /// The trace folder.
    pub(super) out: PathBuf,
    pub(super) format: Format,
    /// The main trace's metadata at start.
    pub(super) meta: Metadata,
    /// The threads already running when the recording started.
    pub(super) running: Vec<u64>,
}

// SAFETY: the template's Python objects (type objects, the frame reader's
// layout) are immortal or held for the process's life, and only read with
// the GIL held, by the thread making its recorder.
unsafe impl Send for Template {}

/// One thread's recording.
pub(super) struct ThreadTrace {
    pub(super) recorder: Recorder,
    pub(super) staging: PathBuf,
    pub(super) meta: Metadata,
    pub(super) ident: u64,
    pub(super) name: String,
    /// Events left to find the thread's name in (`threading` registers a
    /// thread once its bootstrap code ran); 0: found, or given up.
    pub(super) name_tries: u8,
    pub(super) started_before: bool,
    pub(super) format: Format,
    /// Replayed beside the run once the thread ended (a format that
    /// streams, unless `CODETRACER_LIVE_CONVERT=0`: see [`converter`]).
    pub(super) beside: bool,
    /// Seconds its first event spent making the trace.
    pub(super) made_seconds: f64,
}

impl ThreadTrace {
    /// Looks the thread's name up, if it is still unknown.
    #[inline]
    fn find_name(&mut self) {
        if self.name_tries != 0 {
            self.look_up_name();
        }
    }

    #[cold]
    #[inline(never)]
    fn look_up_name(&mut self) {
        self.name_tries -= 1;
        // SAFETY: called from a monitoring callback: the GIL is held.
        if let Some(name) = thread_name(unsafe { Python::assume_attached() }, self.ident) {
            self.name = name;
            self.name_tries = 0;
            self.meta.insert("thread", self.facts());
            // Once per thread: what `recover` names the trace of a killed recording by.
            let info = self.staging.join(trace_writer::trace_folder::RECORDING_FILE);
            if let Err(e) = std::fs::write(&info, trace_writer::metadata::metadata_text(self.meta.fields())) {
                log::info!("the thread's name is not in {}: {e}", info.display());
            }
        }
    }

    /// The thread, as its recording's `recording.json` says it.
    fn facts(&self) -> Value {
        json!({"ident": self.ident, "name": self.name, "main": false, "started_before_recording": self.started_before})
    }
}

/// [`Slot::state`]: free, lent to its thread for one event, taken by
/// `stop()` (for good), or lent to its thread's end ([`thread_ended`]).
const IDLE: u8 = 0;
const IN_EVENT: u8 = 1;
const TAKEN: u8 = 2;
const ENDING: u8 = 3;

/// A thread's recorder, lent to that thread for one event at a time.
pub(super) struct Slot {
    /// [`IDLE`], [`IN_EVENT`] or [`TAKEN`].
    state: AtomicU8,
    /// Events that came while lent (a finaliser run inside an event).
    dropped: AtomicU64,
    gen: u64,
    trace: UnsafeCell<Option<ThreadTrace>>,
    /// Its trace as far as the converter replayed it (only the converter
    /// and `stop()` touch it, never an event).
    converted: Mutex<Option<LiveConvert>>,
    /// Its staging folder and format, when the converter follows its stream.
    follow: Option<(PathBuf, Format)>,
    /// Bytes of its stream handed to the converter so far.
    handed: AtomicU64,
    /// Its thread ended: its whole stream is handed.
    ended: AtomicBool,
}

// SAFETY: `trace` is only touched by whoever set `state` (the slot's thread
// for one event, or `stop()`), and a recorder's Python objects only with
// the GIL held: the slot moves between threads, its contents are never
// shared.
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

/// The calling thread's slot; dropped when the OS thread ends.
struct Mine(Option<Arc<Slot>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            thread_ended(&slot);
        }
    }
}

thread_local! {
    static MINE: RefCell<Mine> = const { RefCell::new(Mine(None)) };
}

/// The OS thread whose events go to the folder's own trace, while other
/// threads are recorded; 0 otherwise.
#[inline(always)]
pub(super) fn main_thread() -> usize {
    MAIN.load(Ordering::Relaxed)
}

/// A new recording into `out`: the thread traces of an earlier one there,
/// their index and the manifest that listed them are removed (only when
/// the index says they are a recording's: a test run's manifest, or a
/// `threads/` folder of anyone else, stays).
pub(super) fn clear_stale(out: &Path) {
    if out.join(THREADS_INDEX).exists() {
        let _ = std::fs::remove_file(out.join(SESSION_MANIFEST));
        let _ = std::fs::remove_dir_all(out.join(THREADS_DIR));
        let _ = std::fs::remove_dir_all(out.join(PROCESSES_DIR));
        let _ = std::fs::remove_file(out.join(THREADS_INDEX));
    }
}

/// Other threads record from now on, into traces made from `template`; the
/// folder's own trace is `main`'s (an OS thread).
pub(super) fn begin(main: usize, template: Template) {
    let gen = NEXT_GEN.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut reg) = REGISTRY.lock() {
        *reg = Registry { gen, template: Some(template), slots: Vec::new() };
    }
    LOST.store(0, Ordering::Relaxed);
    MAIN.store(main, Ordering::Release);
    GEN.store(gen, Ordering::Release);
}

/// The recorder of the calling thread (not the main one) for one event,
/// marked busy, and the slot [`leave`] ends the event with; None when other
/// threads are not recorded, its trace could not be made, or an event of
/// it is being handled already. One thread-local lookup an event (in a
/// cdylib each is a call to `__tls_get_addr`): `leave` gets the slot back.
#[inline]
pub(super) fn enter() -> Option<(*mut Recorder, *const Slot)> {
    let gen = GEN.load(Ordering::Acquire);
    if gen == 0 {
        return None;
    }
    MINE.try_with(|mine| {
        let mut mine = mine.try_borrow_mut().ok()?;
        let mine = &mut mine.0;
        if mine.as_ref().is_none_or(|s| s.gen != gen) {
            // Inside an event of an earlier recording's slot (a finaliser
            // there, while another thread stopped and started): that event
            // still uses it, so it stays.
            if mine.as_ref().is_some_and(|s| s.state.load(Ordering::Acquire) == IN_EVENT) {
                return None;
            }
            replace_slot(mine, gen);
        }
        let slot = mine.as_ref()?;
        if slot.state.compare_exchange(IDLE, IN_EVENT, Ordering::Acquire, Ordering::Relaxed).is_err() {
            slot.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // SAFETY: the slot is lent to this event until `leave`.
        match unsafe { (*slot.trace.get()).as_mut() } {
            Some(t) => {
                t.find_name();
                // The thread-local's `Arc` keeps the slot alive until the
                // event ends: it is not replaced while IN_EVENT.
                Some((&mut t.recorder as *mut Recorder, Arc::as_ptr(slot)))
            }
            None => {
                LOST.fetch_add(1, Ordering::Relaxed);
                slot.state.store(IDLE, Ordering::Release);
                None
            }
        }
    })
    .ok()
    .flatten()
}

/// Ends the event [`enter`] began on the calling thread.
///
/// # Safety
/// `slot` is what `enter` gave for this event.
#[inline]
pub(super) unsafe fn leave(slot: *const Slot) {
    // SAFETY: see the function's contract: the slot lives while lent.
    unsafe { (*slot).state.store(IDLE, Ordering::Release) };
}

/// The error the calling thread's recorder hit, ending its event (after
/// `leave`, or after a panic that left the slot lent).
pub(super) fn take_error() -> Option<RecorderError> {
    MINE.try_with(|mine| {
        let mine = mine.try_borrow().ok()?;
        let slot = mine.0.as_ref()?;
        let lent = slot.state.load(Ordering::Acquire) == IN_EVENT;
        if !lent && slot.state.compare_exchange(IDLE, IN_EVENT, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return None;
        }
        // SAFETY: the slot is lent to this thread (by its event, or just now).
        let err = unsafe { (*slot.trace.get()).as_mut() }.and_then(|t| t.recorder.error.take());
        slot.state.store(IDLE, Ordering::Release);
        err
    })
    .ok()
    .flatten()
}

/// The calling thread's slot becomes one for recording `gen` (the one it
/// had, of an earlier recording, dropped here: out of line, as
/// [`make_slot`]).
#[cold]
#[inline(never)]
fn replace_slot(mine: &mut Option<Arc<Slot>>, gen: u64) {
    *mine = Some(make_slot(gen));
}

/// The calling thread's slot for recording `gen`, registered: with a
/// recorder, or without one when its trace could not be made. (Once a
/// thread: kept out of line, so that the event path's stack frame stays
/// small — inlined, its frame made every event's entry probe 9 KB of stack.)
#[cold]
#[inline(never)]
fn make_slot(gen: u64) -> Arc<Slot> {
    let mut reg = match REGISTRY.lock() {
        Ok(r) => r,
        Err(p) => p.into_inner(),
    };
    let trace = match reg.template.as_ref().filter(|_| reg.gen == gen) {
        Some(t) => match make_trace(t, reg.slots.len() + 1) {
            Ok(trace) => Some(trace),
            Err(e) => {
                log::warn!("a thread's events are not recorded: its trace could not be made: {e}");
                None
            }
        },
        None => None,
    };
    let follow = trace.as_ref().filter(|t| t.beside).map(|t| (t.staging.clone(), t.format));
    let handed = trace.as_ref().map_or(0, |t| t.recorder.writer.len());
    let slot = Arc::new(Slot {
        state: AtomicU8::new(IDLE),
        dropped: AtomicU64::new(0),
        gen,
        trace: UnsafeCell::new(trace),
        converted: Mutex::new(None),
        follow,
        handed: AtomicU64::new(handed),
        ended: AtomicBool::new(false),
    });
    if reg.gen == gen {
        reg.slots.push(Arc::clone(&slot));
    }
    slot
}

/// A recorder for the calling thread, the `seq`th to record, writing into
/// a staging folder of its own.
fn make_trace(t: &Template, seq: usize) -> RecorderResult<ThreadTrace> {
    let started = Instant::now();
    let beside = t.format.streams() && !crate::env::is(&crate::env::LIVE_CONVERT, "0");
    if beside {
        converter::run();
    }
    // SAFETY: called from a monitoring callback: the GIL is held.
    let py = unsafe { Python::assume_attached() };
    let ident = crate::os_thread::current() as u64;
    let name = thread_name(py, ident);
    let name_tries = if name.is_some() { 0 } else { NAME_TRIES };
    let name = name.unwrap_or_else(|| format!("thread-{ident}"));
    let staging = t.out.join(THREADS_DIR).join(format!("{}-{seq}", trace_writer::trace_folder::STAGING_DIR));
    std::fs::create_dir_all(&staging).map_err(|e| RecorderError::from_io(ErrorCode::TraceDirCreate, e, &staging))?;
    let dir = TraceDir { dir: staging.clone(), staging: staging.clone(), created_dir: false, format: t.format };
    // A thread that ran before the start (its ident may since belong to a
    // new thread: one that ended gives its ident away) is inside a call; a
    // new thread's first event is in its bootstrap's frame, which has none.
    let started_before = t.running.contains(&ident) && has_caller(py);
    let mut meta = t.meta.clone();
    meta.insert("recording_id", json!(uuid::Uuid::now_v7().to_string()));
    let mut writer = StreamWriter::create(&dir.events_path())?;
    if beside {
        // The converter follows what is flushed (docs/recorder.md, "Writing
        // trace.ct beside the run").
        writer.flush_often();
    }
    let recorder = Recorder::new(writer, &t.start_path, t.cfg.clone());
    let format = t.format;
    let mut trace = ThreadTrace { recorder, staging, meta, ident, name, name_tries, started_before, format, beside, made_seconds: 0.0 };
    // (The name as known now: what `recover` names a killed recording's trace by.)
    trace.meta.insert("thread", trace.facts());
    dir.write_recording_info(&trace.meta)?;
    trace.recorder.flush()?;
    trace.made_seconds = started.elapsed().as_secs_f64();
    Ok(trace)
}

/// The OS thread of `slot` ends (its thread-local storage is destroyed,
/// after CPython let go of it: no GIL, no Python object touched): its
/// stream is flushed and handed to the recording's converter, which
/// replays it into its trace beside the run; `stop()` then replays only
/// the stream's end. A thread `stop()` took already (or of an earlier
/// recording) is left alone.
fn thread_ended(slot: &Arc<Slot>) {
    if slot.gen != GEN.load(Ordering::Acquire) || slot.state.compare_exchange(IDLE, ENDING, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return;
    }
    // SAFETY: the slot is lent to this thread until its state is set back.
    if let Some(t) = unsafe { (*slot.trace.get()).as_mut() }.filter(|t| t.beside) {
        slot.ended.store(true, Ordering::Release);
        match t.recorder.flush() {
            Ok(()) => converter::queue(converter::Job {
                slot: Arc::clone(slot),
                staging: t.staging.clone(),
                format: t.format,
                bytes: t.recorder.writer.len(),
            }),
            Err(e) => {
                t.recorder.error.get_or_insert(e);
            }
        }
    }
    slot.state.store(IDLE, Ordering::Release);
}

/// The recording's one thread replaying the streams of threads into their
/// traces, as they are flushed and once their thread ended (docs/recorder.md,
/// "Threads"): started by the first
/// thread trace made (a recording without other threads starts none),
/// ended around `os.fork()` ([`converter::hold`]: CPython warns of a fork
/// in a process with threads; its current replay stops where it got to)
/// and at `stop()` ([`converter::finish`], which replays jobs beside it).
mod converter {
    use std::collections::VecDeque;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::thread::JoinHandle;
    use std::time::Duration;

    use trace_writer::stream::FlushObserver;
    use trace_writer::Format;

    // (The parent module by name: `session/mod.rs`'s test reads `super::`
    // as a use of a sibling file.)
    use crate::session::threads::{Slot, REGISTRY, TAKEN};

    /// A thread's stream to replay: `bytes` of it are on disk.
    pub(super) struct Job {
        pub(super) slot: Arc<Slot>,
        pub(super) staging: PathBuf,
        pub(super) format: Format,
        pub(super) bytes: u64,
    }

    struct Converter {
        jobs: VecDeque<Job>,
        thread: Option<JoinHandle<()>>,
        /// Ends the thread once no job is left.
        quit: bool,
    }

    static CONVERTER: Mutex<Converter> = Mutex::new(Converter { jobs: VecDeque::new(), thread: None, quit: false });
    static WORK: Condvar = Condvar::new();
    /// Ends the thread at once (a replay under way stops where it got to).
    static HOLD: AtomicBool = AtomicBool::new(false);

    fn lock() -> MutexGuard<'static, Converter> {
        CONVERTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the thread, unless it runs.
    pub(super) fn run() {
        let mut c = lock();
        if c.thread.is_some() {
            return;
        }
        c.quit = false;
        match std::thread::Builder::new().name("codetracer-thread-convert".into()).spawn(serve) {
            Ok(handle) => c.thread = Some(handle),
            Err(e) => log::info!("thread traces are converted at stop, not beside the run: {e}"),
        }
    }

    /// Hands a thread's stream to the thread (left for `stop()` when none runs).
    pub(super) fn queue(job: Job) {
        lock().jobs.push_back(job);
        WORK.notify_all();
    }

    fn serve() {
        trace_writer::live::block_signals();
        loop {
            let job = {
                let mut c = lock();
                loop {
                    if HOLD.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(job) = c.jobs.pop_front() {
                        break Some(job);
                    }
                    if c.quit {
                        return;
                    }
                    let (guard, waited) = WORK.wait_timeout(c, FOLLOW_EVERY).unwrap_or_else(std::sync::PoisonError::into_inner);
                    c = guard;
                    if waited.timed_out() {
                        break None;
                    }
                }
            };
            match job {
                Some(job) => replay(job),
                None => follow_running(),
            }
        }
    }

    /// How often the streams of running threads are looked at.
    const FOLLOW_EVERY: Duration = Duration::from_millis(50);

    /// The streams of threads still running, replayed as far as they are on
    /// disk (they grow a flush, 64 KiB, at a time), so that a long thread's
    /// end, or the stop, leaves little to replay. (The registry's lock is
    /// taken without the converter's: a thread's first event takes both,
    /// that one first.)
    fn follow_running() {
        let Ok(slots) = REGISTRY.try_lock().map(|r| r.slots.clone()) else { return };
        for slot in slots {
            if HOLD.load(Ordering::Relaxed) {
                return;
            }
            let Some((staging, format)) = slot.follow.clone() else { continue };
            if slot.ended.load(Ordering::Acquire) || slot.state.load(Ordering::Acquire) == TAKEN {
                continue;
            }
            let events = staging.join(trace_writer::trace_folder::EVENTS_FILE);
            let Ok(bytes) = std::fs::metadata(&events).map(|m| m.len()) else { continue };
            if bytes > slot.handed.load(Ordering::Relaxed) {
                replay(Job { slot, staging, format, bytes });
            }
        }
    }

    /// Thread traces replayed beside the run at most at once: each holds,
    /// until the stop completes it, its sink (trace.ct open, the chunk it
    /// fills, a zstd context) and its stream open, 0.4-1.6 MB and two
    /// files; the threads beyond (a program starting hundreds) are
    /// converted at stop, as before.
    const PARKED_MAX: usize = 8;
    static PARKED: AtomicUsize = AtomicUsize::new(0);

    /// Replays a thread's stream as far as it is on disk, into the trace
    /// its slot keeps for `stop()`.
    fn replay(job: Job) {
        let mut converted = job.slot.converted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = match converted.take() {
            Some(live) => Ok(Some(live)),
            None if PARKED.load(Ordering::Relaxed) >= PARKED_MAX => Ok(None),
            None => {
                PARKED.fetch_add(1, Ordering::Relaxed);
                job.format.start_deferred(&job.staging.join(trace_writer::trace_folder::EVENTS_FILE), &job.staging)
            }
        };
        match live {
            Ok(Some(mut live)) => {
                // (A look at a running thread's file may come after its end's job.)
                let bytes = job.slot.handed.fetch_max(job.bytes, Ordering::Relaxed).max(job.bytes);
                live.flushed(bytes);
                live.catch_up(&HOLD);
                *converted = Some(live);
            }
            Ok(None) => {}
            // (Converted at stop from the stream instead.)
            Err(e) => log::info!("a thread's trace is converted at stop, not beside the run: {e}"),
        }
    }

    /// Before `os.fork()`: the thread ends, its jobs kept; the next thread
    /// trace made starts it again.
    pub(super) fn hold() {
        let thread = {
            let mut c = lock();
            HOLD.store(true, Ordering::Relaxed);
            WORK.notify_all();
            c.thread.take()
        };
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        HOLD.store(false, Ordering::Relaxed);
    }

    /// At `stop()`: the jobs left are replayed by the thread and by the
    /// caller at once (threads that ended together, at the program's end,
    /// convert on two cores), then the thread ends.
    pub(super) fn finish() {
        let thread = {
            let mut c = lock();
            c.quit = true;
            WORK.notify_all();
            c.thread.take()
        };
        loop {
            let job = lock().jobs.pop_front();
            match job {
                Some(job) => replay(job),
                None => break,
            }
        }
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        lock().quit = false;
        // (`stop()` takes the parked traces next.)
        PARKED.store(0, Ordering::Relaxed);
    }

    /// In a child of `os.fork()`: the parent's jobs, and the traces they
    /// hold, are forgotten untouched (their files are the parent's).
    pub(super) fn forget_after_fork() {
        if let Ok(mut c) = CONVERTER.try_lock() {
            std::mem::forget(std::mem::take(&mut c.jobs));
            std::mem::forget(c.thread.take());
            c.quit = false;
        }
        PARKED.store(0, Ordering::Relaxed);
    }
}

/// Before `os.fork()`: the converter of ended threads' traces stops (see
/// [`converter`]).
pub(super) fn before_fork() {
    converter::hold();
}

/// Whether the calling thread's current frame was called by another.
fn has_caller(py: Python<'_>) -> bool {
    // SAFETY: GIL held; a borrowed frame or null.
    let frame = unsafe { Bound::from_borrowed_ptr_or_opt(py, pyo3::ffi::PyEval_GetFrame().cast::<pyo3::ffi::PyObject>()) };
    frame.and_then(|f| f.getattr("f_back").ok()).is_some_and(|b| !b.is_none())
}

/// The name `threading` gives the thread `ident` (None for a thread it does
/// not know), read without running Python code: `threading._active[ident]._name`.
fn thread_name(py: Python<'_>, ident: u64) -> Option<String> {
    let t = threading_active(py)?.get_item(ident).ok().flatten()?;
    t.getattr("_name").ok()?.extract::<String>().ok()
}

/// `threading._active` (ident -> Thread), when `threading` was imported.
fn threading_active(py: Python<'_>) -> Option<Bound<'_, PyDict>> {
    // SAFETY: GIL held; a new reference or null (not imported), without
    // running the import machinery.
    let module = unsafe { Bound::from_owned_ptr_or_opt(py, pyo3::ffi::PyImport_GetModule(pyo3::intern!(py, "threading").as_ptr())) };
    if module.is_none() {
        // SAFETY: GIL held; PyImport_GetModule may leave an error set.
        unsafe { pyo3::ffi::PyErr_Clear() };
    }
    module?.getattr("_active").ok()?.cast_into::<PyDict>().ok()
}

/// How many events of a thread look for its name before giving up (a
/// thread `threading` does not know: `_thread.start_new_thread`).
const NAME_TRIES: u8 = 64;

/// The threads running now other than the calling one (their idents).
pub(super) fn running_threads(py: Python<'_>) -> Vec<u64> {
    let me = crate::os_thread::current() as u64;
    let frames = py.import("sys").and_then(|s| s.call_method0("_current_frames"));
    let Ok(frames) = frames.and_then(|f| f.cast_into::<PyDict>().map_err(PyErr::from)) else { return Vec::new() };
    frames.keys().iter().filter_map(|k| k.extract::<u64>().ok()).filter(|&i| i != me).collect()
}

/// A thread trace `stop()` took, and the events it dropped.
pub(super) struct Taken {
    trace: ThreadTrace,
    dropped: u64,
    slot: Arc<Slot>,
}

/// Other threads record no more (the monitoring callbacks are already
/// gone): their traces, in the order they first ran. A thread inside an
/// event now (a finaliser there gave the GIL away) keeps its recorder; its
/// trace is left out, and said so.
pub(super) fn end() -> Vec<Taken> {
    GEN.store(0, Ordering::Release);
    MAIN.store(0, Ordering::Release);
    let slots = match REGISTRY.lock() {
        Ok(mut r) => {
            r.template = None;
            std::mem::take(&mut r.slots)
        }
        Err(p) => std::mem::take(&mut p.into_inner().slots),
    };
    let mut out = Vec::new();
    for slot in slots {
        // A thread ending now hands its stream on without the GIL: waited for.
        let taken = loop {
            match slot.state.compare_exchange(IDLE, TAKEN, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break true,
                Err(ENDING) => std::thread::yield_now(),
                Err(_) => break false,
            }
        };
        if !taken {
            log::warn!("a thread was inside a recorder event when the recording stopped: its trace is not written");
            continue;
        }
        // SAFETY: the slot is ours, never released: it is done.
        if let Some(trace) = unsafe { (*slot.trace.get()).take() } {
            out.push(Taken { trace, dropped: slot.dropped.load(Ordering::Relaxed), slot });
        }
    }
    out
}

/// In a child made by `os.fork()`: the parent's threads are not here, and
/// their traces are the parent's; forgotten without writing anything.
pub(super) fn forget_after_fork() {
    GEN.store(0, Ordering::Release);
    MAIN.store(0, Ordering::Release);
    // (The lock may have been held by a thread of the parent: left alone then.)
    if let Ok(mut r) = REGISTRY.try_lock() {
        r.template = None;
        for slot in std::mem::take(&mut r.slots) {
            if slot.state.compare_exchange(IDLE, TAKEN, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // SAFETY: the slot is ours. Dropping a writer closes the child's
                // copy of its file and discards its buffer, writing nothing.
                drop(unsafe { (*slot.trace.get()).take() });
            }
            if let Ok(mut converted) = slot.converted.try_lock() {
                std::mem::forget(converted.take());
            }
        }
    }
    converter::forget_after_fork();
}

/// Events of other threads no thread trace holds.
pub(super) fn lost_events() -> u64 {
    LOST.load(Ordering::Relaxed)
}

/// The thread traces' rows of `threads.json`, each trace finished into
/// `out/threads/<n>-<name>/` (`n` counting the threads that recorded
/// anything, in the order they first did); a thread that recorded nothing
/// leaves nothing.
pub(super) fn finish_all(py: Python<'_>, out: &Path, format: Format, taken: Vec<Taken>, exit_status: i64) -> Vec<Value> {
    converter::finish();
    let active = threading_active(py);
    let alive = |ident: u64| active.as_ref().is_some_and(|a| a.contains(ident).unwrap_or(false));
    let idents: Vec<u64> = taken.iter().map(|t| t.trace.ident).collect();
    // With the GIL: each recorder ends (its END, its references) and says
    // what its trace is; the traces are then completed at once, off it.
    let mut ended = Vec::new();
    for (i, Taken { trace, dropped, slot }) in taken.into_iter().enumerate() {
        let ThreadTrace { mut recorder, staging, mut meta, ident, mut name, started_before, made_seconds, .. } = trace;
        // What the converter replayed of it beside the run: the rest follows.
        if let Some(live) = slot.converted.lock().ok().and_then(|mut c| c.take()) {
            recorder.writer.follow(live);
        }
        let failure = recorder.error.take();
        let mut metrics = recorder.metrics();
        metrics.dropped_events += dropped;
        let recorded = recorder.recorded_anything;
        let live = match recorder.finish(exit_status) {
            Ok(live) if recorded => live,
            finished => {
                if let Err(e) = finished {
                    crate::logging::log_error(log::Level::Error, &e);
                }
                let _ = std::fs::remove_dir_all(&staging);
                continue;
            }
        };
        // The last thread of this ident is the one `threading` knows now.
        let running = alive(ident) && !idents[i + 1..].contains(&ident);
        if running {
            name = thread_name(py, ident).unwrap_or(name);
        }
        // (A trace that then fails to complete leaves its number unused.)
        let n = ended.len() + 1;
        let folder = format!("{THREADS_DIR}/{n}-{}", folder_name(&name));
        let mut thread = json!({"name": name, "ident": ident, "main": false, "index": n,
            "started_before_recording": started_before, "running_at_stop": running});
        if let Some(why) = incomplete(started_before, running) {
            thread["incomplete"] = json!(why);
        }
        meta.insert("thread", thread.clone());
        metadata::at_stop(&mut meta, None, metadata::metrics_json(&metrics, 0));
        let dir = TraceDir { dir: out.join(&folder), staging, created_dir: true, format };
        let mut timings = Map::new();
        timings.insert("trace_made_seconds".into(), json!(made_seconds));
        // A failed recording's trace is converted afresh, marked partial.
        let live = live.filter(|_| failure.is_none());
        ended.push(Ended { dir, meta, partial: failure.map(|e| e.code()), timings, live, folder, thread });
    }
    let mut rows = Vec::new();
    for (trace, done) in complete_all(ended) {
        match done {
            Ok(stats) => {
                let Ended { meta, partial, folder, thread: mut row, .. } = trace;
                row["folder"] = json!(folder);
                row["prefix"] = json!(folder.trim_start_matches(&format!("{THREADS_DIR}/")));
                row["recording_id"] = meta.fields().get("recording_id").cloned().unwrap_or(Value::Null);
                row["partial"] = json!(partial.is_some());
                row["stats"] = json!({"events": stats.events, "steps": stats.steps, "calls": stats.calls});
                rows.push(row);
            }
            Err(e) => {
                crate::logging::log_error(log::Level::Error, &e);
                let _ = trace.dir.discard();
                let _ = std::fs::remove_dir_all(&trace.dir.staging);
            }
        }
    }
    let _ = std::fs::remove_dir(out.join(THREADS_DIR));
    rows
}

/// A thread trace whose recorder ended, to be completed into `dir.dir`.
struct Ended {
    dir: TraceDir,
    meta: Metadata,
    partial: Option<ErrorCode>,
    timings: Map<String, Value>,
    live: Option<LiveConvert>,
    folder: String,
    thread: Value,
}

/// Threads completing thread traces at stop, the caller one of them: each
/// trace's last records replayed, its container written out and synced to
/// disk, its files moved into place — mostly waiting on the disk, which
/// several traces do at once.
const COMPLETERS: usize = 4;

/// Completes every trace (`TraceDir::finish_beside_the_run`), on up to
/// [`COMPLETERS`] threads taking them in turn; the results in the order given.
fn complete_all(ended: Vec<Ended>) -> Vec<(Ended, RecorderResult<ConvertStats>)> {
    let count = ended.len();
    let todo = Mutex::new(ended.into_iter().enumerate().collect::<VecDeque<_>>());
    let done = Mutex::new(Vec::with_capacity(count));
    let work = || loop {
        let Some((i, mut t)) = todo.lock().ok().and_then(|mut q| q.pop_front()) else { break };
        let made = std::fs::create_dir_all(&t.dir.dir).map_err(|e| RecorderError::from_io(ErrorCode::TraceDirCreate, e, &t.dir.dir));
        let timings = std::mem::take(&mut t.timings);
        let result = made.and_then(|_| t.dir.finish_beside_the_run(&t.meta, t.partial, timings, t.live.take()));
        if let Ok(mut d) = done.lock() {
            d.push((i, (t, result)));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..COMPLETERS.min(count) {
            let spawned = std::thread::Builder::new().name("codetracer-thread-finish".into()).spawn_scoped(scope, || {
                trace_writer::live::block_signals();
                work();
            });
            // (No thread to be had: the others take its share.)
            if let Err(e) = spawned {
                log::info!("thread traces are completed by fewer threads: {e}");
                break;
            }
        }
        work();
    });
    let mut done = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, d)| d).collect()
}

/// Why a thread's trace does not hold its whole run, if it does not.
fn incomplete(started_before: bool, running: bool) -> Option<&'static str> {
    match (started_before, running) {
        (true, true) => Some("the thread was running before the recording started and still running when it stopped"),
        (true, false) => Some("the thread was running before the recording started: its trace begins in the frames it was running then"),
        (false, true) => Some(
            "the thread was still running when the recording stopped (a daemon thread at exit; in a test run, a thread that outlived its test): its trace ends there",
        ),
        (false, false) => None,
    }
}

/// A thread name as a folder name: letters, digits, `-`, `_` and `.` kept,
/// anything else `_`; at most 40 characters.
pub(super) fn folder_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).take(40).collect();
    if s.is_empty() || s.starts_with('.') { format!("_{s}") } else { s }
}

/// The main thread's part of `threads.json`, and the index written by the
/// façade's `_manifest.write_threads` (`writer`), with `session.toml`.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_index(py: Python<'_>, writer: &Py<PyAny>, out: &Path, main_meta: &Metadata, main_ident: u64, rows: Vec<Value>, processes: Vec<Value>) {
    let name = threading_active(py)
        .and_then(|a| a.get_item(main_ident).ok().flatten())
        .and_then(|t| t.getattr("_name").ok()?.extract::<String>().ok())
        .unwrap_or_else(|| "MainThread".into());
    let main = json!({"name": name, "ident": main_ident, "main": true, "folder": ".", "prefix": "main",
        "recording_id": main_meta.fields().get("recording_id").cloned().unwrap_or(Value::Null)});
    write_doc(py, writer, out, &json!({"main": main, "threads": rows, "processes": processes}));
}

/// `threads.json` (`doc`) and `session.toml` in `out`, by the façade's `writer`.
pub(super) fn write_doc(py: Python<'_>, writer: &Py<PyAny>, out: &Path, doc: &Value) {
    if let Err(e) = writer.call1(py, (out.to_string_lossy().into_owned(), doc.to_string())) {
        log::warn!("threads.json and session.toml were not written: {}", e.value(py));
    }
}

/// The rows of `threads.json`'s `processes`: the forked children whose
/// trace is written (`processes/<pid>/`, by the child itself, `fork.rs`),
/// in the order they started. A child still running has none yet; one that
/// died without writing it (killed by a signal: a pool's `terminate()`)
/// left its stream, converted here into a trace marked partial.
pub(super) fn forked_children(out: &Path) -> Vec<Value> {
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(out.join(PROCESSES_DIR)).into_iter().flatten().flatten().collect();
    let handed: Vec<PathBuf> = entries
        .iter()
        .map(std::fs::DirEntry::path)
        .filter(|p| p.join(trace_writer::trace_folder::STAGING_DIR).join(trace_writer::trace_folder::HANDED_FILE).is_file())
        .collect();
    finish_handed(&handed);
    let mut found: Vec<(String, Value)> = Vec::new();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let staged = entry.path().join(trace_writer::trace_folder::STAGING_DIR).join(trace_writer::trace_folder::EVENTS_FILE);
        let dead = name.parse::<u32>().is_ok_and(|pid| !process_alive(pid));
        if dead && staged.is_file() && !entry.path().join(trace_writer::trace_folder::TRACE_METADATA).exists() {
            if let Err(e) = trace_writer::recover(&entry.path()) {
                log::warn!("the trace of the forked child {name}, which died, could not be recovered: {e}");
            }
        }
        let Ok(text) = std::fs::read_to_string(entry.path().join(trace_writer::trace_folder::TRACE_METADATA)) else { continue };
        let Ok(meta) = serde_json::from_str::<Value>(&text) else { continue };
        let start = meta.get("start_time").and_then(Value::as_str).unwrap_or_default().to_owned();
        found.push((
            start,
            json!({"name": format!("process {name}"), "pid": meta["process"]["pid"], "folder": format!("{PROCESSES_DIR}/{name}"),
                "prefix": format!("process-{name}"), "recording_id": meta["recording_id"], "partial": meta["partial"],
                "exit_status": meta["exit_status"]}),
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.into_iter().map(|(_, row)| row).collect()
}

/// The traces forked children handed over at their stop (`fork.rs`),
/// converted here, as many at once as there are cores.
fn finish_handed(dirs: &[PathBuf]) {
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(dir) = dirs.get(next.fetch_add(1, Ordering::Relaxed)) {
            if let Err(e) = trace_writer::recover(dir) {
                log::warn!("the trace a forked child handed over in {} could not be written: {e}", dir.display());
            }
        }
    };
    let helpers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(dirs.len()).saturating_sub(1);
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            if std::thread::Builder::new().name("codetracer-child-finish".into()).spawn_scoped(scope, work).is_err() {
                break;
            }
        }
        work();
    });
}

/// Whether process `pid` still runs (or is a zombie not yet waited for).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) }
}

/// Whether process `pid` still runs (no `os.fork()` here: never asked).
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// The façade's writer of `threads.json` and `session.toml`, looked up at
/// start (while the recorder's modules are importable as the program left
/// them).
/// Looked up once per process: a test run starts a recording per test,
/// after the command line took its modules out of the program's
/// `sys.modules` (a lookup then would import them again).
pub(super) fn index_writer(py: Python<'_>) -> RecorderResult<Py<PyAny>> {
    static WRITER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    WRITER
        .get_or_try_init(py, || py.import("codetracer_python_recorder._manifest").and_then(|m| m.getattr("write_threads")).map(Bound::unbind))
        .map(|w| w.clone_ref(py))
        .map_err(|e| bug!(ErrorCode::Internal, "cannot load the threads index writer: {}", e.value(py)))
}

#[cfg(test)]
mod tests {
    use super::{folder_name, incomplete};

    #[test]
    fn folder_names_are_plain() {
        assert_eq!(folder_name("Thread-1 (worker)"), "Thread-1__worker_");
        assert_eq!(folder_name("a/b\\c"), "a_b_c");
        assert_eq!(folder_name(""), "_");
        assert_eq!(folder_name(".hidden"), "_.hidden");
        assert_eq!(folder_name(&"x".repeat(100)).len(), 40);
    }

    #[test]
    fn only_whole_runs_are_complete() {
        assert!(incomplete(false, false).is_none());
        assert!(incomplete(true, false).is_some());
        assert!(incomplete(false, true).is_some());
    }
}
