//! Atomic, truthful trace folders (docs/design/error-policy.md §6).
//!
//! While recording, everything lives in `DIR/.codetracer-partial/`: the event
//! stream and `recording.json` (what is known at start, the format included).
//! Finishing converts the stream into the files of the trace's format
//! (`trace.json` and `trace_paths.json`, or `trace.ct`) inside that staging folder,
//! writes `trace_metadata.json`, then renames the files into `DIR` —
//! `trace_metadata.json` last, after any previous one was removed — and
//! deletes the staging folder. So `DIR/trace_metadata.json` exists only next to
//! a complete trace (or one it marks `"partial": true`), and a recording that
//! died leaves only the recognisably partial staging folder, which
//! [`recover`] can turn into a partial trace.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recorder_errors::prelude::*;
use serde_json::{json, Map, Value};

use crate::format::Format;
use crate::live::LiveConvert;
use crate::metadata::Metadata;
use crate::replay::{ConvertStats, Progress};

pub const STAGING_DIR: &str = ".codetracer-partial";
pub const EVENTS_FILE: &str = "events.bin";
pub const RECORDING_FILE: &str = "recording.json";
pub const TRACE_METADATA: &str = "trace_metadata.json";
/// Written last, in the staging folder, by a recording that ended and left
/// its conversion to another process ([`TraceDir::hand_over`]): its stream
/// is whole, `recording.json` holds its final metadata, this file its
/// timings.
pub const HANDED_FILE: &str = "handed.json";
/// A trace file of older recorders; removed before a new trace lands.
const OLD_TRACE: &str = "trace.bin";

/// Room made for the files written after trace.json (paths, metadata)
/// when they did not fit on a full disk.
const CUT_ROOM: u64 = 16 * 1024;
/// Below this, not even the start of a trace fits: nothing is kept.
const MIN_CUT: u64 = 256;
/// Below this, the in-run stream is not shortened further to make room.
const MIN_STREAM: u64 = 1024;

fn io(code: ErrorCode, path: &Path) -> impl FnOnce(std::io::Error) -> RecorderError + '_ {
    move |e| RecorderError::from_io(code, e, path)
}

/// The trace folder being written.
#[derive(Debug, Clone)]
pub struct TraceDir {
    pub dir: PathBuf,
    pub staging: PathBuf,
    /// We created `dir` (so a failed recording removes it again when empty).
    pub created_dir: bool,
    /// What the trace is written as.
    pub format: Format,
}

impl TraceDir {
    /// Creates `dir` (if needed) and a fresh staging folder in it.
    pub fn prepare(dir: &Path, format: Format) -> RecorderResult<Self> {
        // A caller's mistake (docs/design/error-policy.md §2: usage): the path, or the nearest
        // parent of it that exists, is a file.
        if let Some(taken) = dir.ancestors().find(|p| p.exists()).filter(|p| !p.is_dir()) {
            let message = if taken == dir {
                format!("the trace path '{}' exists and is not a directory", dir.display())
            } else {
                format!("cannot write the trace to '{}': '{}' exists and is not a directory", dir.display(), taken.display())
            };
            return Err(usage!(ErrorCode::TracePathNotDir, "{}", message)
                .with_context("path", dir.display())
                .with_context("not_a_directory", taken.display()));
        }
        let created_dir = !dir.exists();
        if created_dir {
            fs::create_dir_all(dir).map_err(io(ErrorCode::TraceDirCreate, dir))?;
        }
        let staging = dir.join(STAGING_DIR);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(ErrorCode::Io, &staging))?;
        }
        fs::create_dir(&staging).map_err(io(ErrorCode::TraceDirCreate, &staging))?;
        Ok(Self { dir: dir.to_path_buf(), staging, created_dir, format })
    }

    pub fn events_path(&self) -> PathBuf {
        self.staging.join(EVENTS_FILE)
    }

    /// The start of this trace's metadata: the keys every trace has, in
    /// this folder's format; the recorder adds what it knows of the run.
    pub fn metadata(&self, workdir: &str, program: &str, args: &[String]) -> Metadata {
        Metadata::new(self.format, workdir, program, args)
    }

    /// Writes what is known at start, so a recording that dies can be recovered.
    pub fn write_recording_info(&self, meta: &Metadata) -> RecorderResult<()> {
        write_json(&self.staging.join(RECORDING_FILE), meta.fields())
    }

    /// Converts the staged stream and moves the trace into place.
    /// `partial`: `Some(reason)` marks the trace as partial.
    pub fn finish(&self, meta: &Metadata, partial: Option<ErrorCode>, timings: Map<String, Value>) -> RecorderResult<ConvertStats> {
        self.finish_beside_the_run(meta, partial, timings, None)
    }

    /// [`TraceDir::finish`] of a trace replayed beside the run (`live`,
    /// when it was), completed here.
    pub fn finish_beside_the_run(
        &self,
        meta: &Metadata,
        partial: Option<ErrorCode>,
        timings: Map<String, Value>,
        live: Option<LiveConvert>,
    ) -> RecorderResult<ConvertStats> {
        self.finish_with_progress(meta, partial, timings, live, &mut |_, _| true)?
            .ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to"))
    }

    /// [`TraceDir::finish`] telling `progress` how far the conversion got;
    /// `Ok(None)` when `progress` answered stop: nothing is moved into place
    /// and the staging folder keeps the stream, so [`recover`] can still
    /// convert it. `live`: the conversion that ran beside the recording
    /// ([`LiveConvert`]); its trace is completed here, and should it have
    /// failed, the stream is converted afresh.
    pub fn finish_with_progress(
        &self,
        meta: &Metadata,
        partial: Option<ErrorCode>,
        mut timings: Map<String, Value>,
        mut live: Option<LiveConvert>,
        progress: Progress<'_>,
    ) -> RecorderResult<Option<ConvertStats>> {
        let started = Instant::now();
        let format = self.format;
        let trace_file = self.staging.join(format.trace_file());
        let remove_trace = || {
            for f in format.files() {
                let _ = fs::remove_file(self.staging.join(f));
            }
        };
        let stream_bytes = fs::metadata(self.events_path()).map(|m| m.len()).unwrap_or(0);
        // A partial trace that does not fit (a full disk, a file size limit)
        // is cut to the last whole event that does: docs/design/error-policy.md §6, "complete,
        // marked partial, or absent", never a broken file.
        let mut limit = None;
        let mut attempts = 0;
        let stats = loop {
            let streamed = match live.take() {
                None => None,
                Some(l) => {
                    let outcome = l.finish(&mut *progress);
                    timings.insert("convert_streamed".into(), Value::Bool(outcome.is_ok()));
                    match outcome {
                        Ok(Some(replayed)) => Some(replayed.complete(partial, meta.fields())),
                        Ok(None) => {
                            remove_trace();
                            return Ok(None);
                        }
                        Err(e) => {
                            // Only the head start is lost: convert afresh.
                            timings.insert("convert_streamed_error".into(), Value::String(e.to_string()));
                            remove_trace();
                            None
                        }
                    }
                }
            };
            let attempt = match (streamed, limit) {
                (Some(done), _) => done,
                (None, None) => match format.convert(&self.events_path(), &self.staging, None, partial, meta.fields(), &mut *progress) {
                    Ok(Some(stats)) => Ok(stats),
                    // Told to stop (Ctrl-C): the staging folder keeps the stream.
                    Ok(None) => {
                        remove_trace();
                        return Ok(None);
                    }
                    Err(e) => Err(e),
                },
                (None, Some(l)) => format.convert(&self.events_path(), &self.staging, Some(l), partial, meta.fields(), &mut |_, _| true)
                    .and_then(|s| s.ok_or_else(|| bug!(ErrorCode::Internal, "conversion stopped without being asked to"))),
            }
            .and_then(|stats| {
                if stats.calls == 0 {
                    // Not even the program's entry reached the stream (the process
                    // ended before the recorder's first write): a trace without a
                    // call would crash a reader, so none is written.
                    remove_trace();
                    return Err(target!(
                        ErrorCode::NothingTraced,
                        "the event stream holds no recorded event (the process ended before the recorder wrote anything); no trace was written"
                    )
                    .with_context("path", self.events_path().display()));
                }
                let mut timings = timings.clone();
                timings.insert("convert_seconds".into(), json!(started.elapsed().as_secs_f64()));
                for (stage, seconds) in &stats.stage_seconds {
                    timings.insert((*stage).into(), json!(seconds));
                }
                write_json(&self.staging.join(TRACE_METADATA), &meta.finished(&stats, partial, stream_bytes, timings))?;
                Ok(stats)
            });
            match attempt {
                // A trace without a single step is no trace to replay.
                Ok(stats) if stats.cut_to_fit.is_some() && stats.steps == 0 => {
                    return Err(enverr!(
                        ErrorCode::DiskFull,
                        "not even the first step of a partial trace fits in the space left; no trace was kept"
                    )
                    .with_context("path", self.dir.display()));
                }
                Ok(done) => break done,
                Err(e) if e.code() == ErrorCode::DiskFull && partial.is_some() && attempts < 16 => {
                    attempts += 1;
                    let on_disk = fs::metadata(&trace_file).map(|m| m.len()).unwrap_or(0);
                    let trace_json_failed = e.context().iter().any(|(k, v)| *k == "path" && Path::new(v) == trace_file);
                    let next = match limit {
                        // A format that cannot be cut: shorten the stream below.
                        _ if !format.cuts_to_fit() => 0,
                        // trace.json itself stopped at the limit: that much fits.
                        None => on_disk,
                        Some(l) if trace_json_failed => on_disk.min(l.saturating_sub(1)),
                        // A smaller file after it did not fit: make room for it.
                        Some(l) => on_disk.min(l).saturating_sub(CUT_ROOM),
                    };
                    if next >= MIN_CUT {
                        limit = Some(next);
                        continue;
                    }
                    // The in-run stream itself fills the disk: give up the
                    // later half of it (the trace stays a prefix of the run).
                    let stream_len = fs::metadata(self.events_path()).map(|m| m.len()).unwrap_or(0);
                    if stream_len > MIN_STREAM {
                        let events = self.events_path();
                        fs::OpenOptions::new()
                            .write(true)
                            .open(&events)
                            .and_then(|f| f.set_len(stream_len / 2))
                            .map_err(io(ErrorCode::Io, &events))?;
                        remove_trace();
                        limit = None;
                        continue;
                    }
                    return Err(e.with_context("partial_trace", "not even the start of a trace fits: no trace was kept"));
                }
                Err(e) => return Err(e),
            }
        };

        // Files a reader might take for a trace, the metadata first.
        let stale = Format::ALL.iter().flat_map(|f| f.files());
        for name in [TRACE_METADATA].iter().chain(stale).chain([&OLD_TRACE]) {
            let p = self.dir.join(name);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecorderError::from_io(ErrorCode::Io, e, &p)),
            }
        }
        for name in format.files().iter().chain([&TRACE_METADATA]) {
            let dest = self.dir.join(name);
            fs::rename(self.staging.join(name), &dest).map_err(io(ErrorCode::Io, &dest))?;
        }
        fs::remove_dir_all(&self.staging).map_err(io(ErrorCode::Io, &self.staging))?;
        Ok(Some(stats))
    }

    /// Leaves the trace to be converted by another process (the one that
    /// started this one: docs/recorder.md, "Processes"), which calls
    /// [`recover`] on the folder: the stream is whole (its writer
    /// finished), `recording.json` gets the final `meta`, [`HANDED_FILE`]
    /// the `timings`, written last so that its presence means both are.
    pub fn hand_over(&self, meta: &Metadata, timings: Map<String, Value>) -> RecorderResult<()> {
        self.write_recording_info(meta)?;
        let unfinished = self.staging.join(format!("{HANDED_FILE}.part"));
        write_json(&unfinished, &timings)?;
        let handed = self.staging.join(HANDED_FILE);
        fs::rename(&unfinished, &handed).map_err(io(ErrorCode::Io, &handed))
    }

    /// Removes everything this recording wrote (a failed recording without
    /// `--keep-partial-trace`).
    pub fn discard(&self) -> RecorderResult<()> {
        if self.staging.exists() {
            fs::remove_dir_all(&self.staging).map_err(io(ErrorCode::Io, &self.staging))?;
        }
        if self.created_dir {
            // Only if empty: never delete what someone else put there.
            let _ = fs::remove_dir(&self.dir);
        }
        Ok(())
    }
}

/// Writes the metadata `value` to `path` ([`crate::metadata::metadata_text`]).
fn write_json(path: &Path, value: &Map<String, Value>) -> RecorderResult<()> {
    fs::write(path, crate::metadata::metadata_text(value)).map_err(io(ErrorCode::Io, path))
}

/// Turns the staging folder a dead recording left in `dir` into a trace
/// marked partial, or the one a recording handed over
/// ([`TraceDir::hand_over`]) into its complete trace. Returns the stats of
/// the trace.
pub fn recover(dir: &Path) -> RecorderResult<ConvertStats> {
    let staging = dir.join(STAGING_DIR);
    if !staging.join(EVENTS_FILE).is_file() {
        return Err(usage!(ErrorCode::InvalidOption, "no partial recording to recover in this directory")
            .with_context("path", dir.display()));
    }
    let handed = staging.join(HANDED_FILE);
    if handed.is_file() {
        let meta = Metadata::handed(&staging.join(RECORDING_FILE), dir)?;
        let timings = fs::read(&handed).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let td = TraceDir { dir: dir.to_path_buf(), staging, created_dir: false, format: meta.format() };
        return td.finish(&meta, None, timings);
    }
    let meta = Metadata::recovered(&staging.join(RECORDING_FILE), dir)?;
    let td = TraceDir { dir: dir.to_path_buf(), staging, created_dir: false, format: meta.format() };
    td.finish(&meta, Some(ErrorCode::TraceStreamCorrupt), Map::new())
}
