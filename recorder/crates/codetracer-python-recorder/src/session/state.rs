//! The process's one live recording, and the trace folder of one it handed
//! away (to the parent, in a forked child; to a later `stop()`, when Ctrl-C
//! stopped the finish `os._exit` began). Touched only with the GIL held.

use std::cell::UnsafeCell;
use std::path::PathBuf;
use std::time::Instant;

use pyo3::prelude::*;
use recorder_errors::prelude::*;
use trace_writer::{LiveConvert, Metadata, StreamWriter, TraceDir};

use crate::program_output;
use crate::policy::Policy;
use crate::recorder::{Recorder, RecorderConfig};

/// State only touched with the GIL held.
pub(super) struct GilCell<T>(pub(super) UnsafeCell<T>);
// SAFETY: every access happens with the GIL held (callbacks and pyfunctions).
unsafe impl<T> Sync for GilCell<T> {}

/// One recording, from `start()` to `stop()`.
pub(super) struct Session {
    pub(super) recorder: Option<Recorder>,
    /// The callbacks record (not yet started, stopped, or detached after a
    /// recorder failure: they do not).
    pub(super) attached: bool,
    /// An event is being handled (the recorder is lent out).
    pub(super) busy: bool,
    pub(super) tool: u8,
    pub(super) trace_dir: TraceDir,
    pub(super) meta: Metadata,
    pub(super) policy: Policy,
    pub(super) failure: Option<RecorderError>,
    pub(super) detaches: u64,
    pub(super) started: Instant,
    /// The streams whose writes become events.
    pub(super) output: Vec<program_output::Installed>,
    /// While other threads or forked children are recorded (`threads.rs`,
    /// `fork.rs`): the writer of the folder's `threads.json` and `session.toml`.
    pub(super) index_writer: Option<Py<PyAny>>,
    /// A child made by `os.fork()` goes on recording into a trace of its own
    /// (`fork.rs`), made from these.
    pub(super) follow: Option<Follow>,
}

/// What a forked child's recorder is made from.
pub(super) struct Follow {
    pub(super) cfg: RecorderConfig,
    /// The program (PathId 0).
    pub(super) start_path: String,
    /// Its other threads are recorded too.
    pub(super) threads: bool,
    /// In a forked child that records without converting beside its run
    /// (`fork.rs`): the staging folder of the parent's recording, which its
    /// stop hands the trace's conversion to while that recording takes it.
    pub(super) hand_to: Option<PathBuf>,
}

static SESSION: GilCell<Option<Box<Session>>> = GilCell(UnsafeCell::new(None));
static HANDED_OVER: GilCell<Option<PathBuf>> = GilCell(UnsafeCell::new(None));

/// The live recording, if any.
pub(super) fn session_mut() -> &'static mut Option<Box<Session>> {
    // SAFETY: GIL held by every caller; no two borrows are live at once
    // (callbacks check `busy`, pyfunctions never run inside a callback).
    unsafe { &mut *SESSION.0.get() }
}

/// Records that the recording in `dir` was handed away (`None`: this
/// process records on its own): the next `stop()` without a recording then
/// ends quietly.
pub(super) fn set_handed_over(dir: Option<PathBuf>) {
    // SAFETY: GIL held by every caller.
    unsafe { *HANDED_OVER.0.get() = dir };
}

/// The trace folder of a recording handed away, once.
pub(super) fn take_handed_over() -> Option<PathBuf> {
    // SAFETY: GIL held by every caller.
    unsafe { (*HANDED_OVER.0.get()).take() }
}

/// A format that streams is written beside the run, on another core
/// (`CODETRACER_LIVE_CONVERT=0`: after it, a diagnostic and the baseline
/// the live conversion is tested against): a recording's start, and a
/// forked child's (`fork.rs`), whose trace would otherwise be converted
/// whole at its exit, inside the parent's wait for it.
pub(super) fn convert_beside_the_run(writer: &mut StreamWriter<LiveConvert>, trace_dir: &TraceDir) {
    let live = if crate::env::is(&crate::env::LIVE_CONVERT, "0") {
        Ok(None)
    } else {
        trace_dir.format.start_live(&trace_dir.events_path(), &trace_dir.staging)
    };
    match live {
        Ok(Some(live)) => writer.follow(live),
        Ok(None) => {}
        // Not even the container's start fits (a full disk): the run goes
        // on, and the trace is converted after it, as for any format.
        Err(e) => log::info!("the trace is written after the run, not beside it: {e}"),
    }
}
