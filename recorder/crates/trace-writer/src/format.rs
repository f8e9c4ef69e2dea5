//! The format table: every trace format the recorder writes, one row each —
//! its name, its files, its `schema_version`, the name of its size in the
//! metadata's `stats`, whether it is written beside the run, and its sink.
//! This is the one place a format is chosen: converting a stream
//! ([`Format::convert`]) and starting the live conversion
//! ([`Format::start_live`]) go through the row's sink, so a new format is
//! one file with a [`Sink`] and one row here.

use std::fmt;
use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::{Map, Value};

use crate::ctfs_sink::CtfsSink;
use crate::json_sink::JsonSink;
use crate::live::LiveConvert;
use crate::replay::{replay, ConvertStats, Progress};
use crate::sink::Sink;

/// The paths of the trace, in the folder of every format (for tools that
/// copy the sources).
pub const TRACE_PATHS: &str = "trace_paths.json";

/// Version of the JSON trace files we write (the JSON flavour of
/// CodeTracer's `runtime_tracing` schema, checked against
/// `codetracer_trace_types` 0.16.3): the JSON row's.
pub const SCHEMA_VERSION: &str = Format::JSON.schema_version();

/// A trace format: a row of the format table ([`Format::ALL`]).
#[derive(Clone, Copy)]
pub struct Format(&'static Row);

impl Format {
    /// `trace.json` + `trace_paths.json`: docs/design/trace-formats.md §1-§4;
    /// written beside the run.
    pub const JSON: Format = Format(&Row {
        name: "json",
        files: ["trace.json", TRACE_PATHS],
        schema_version: "codetracer_trace_types-0.16.3/json",
        bytes_key: "trace_json_bytes",
        streams: true,
        sink: SinkType::of::<JsonSink>(),
    });

    /// `trace.ct`, CodeTracer's CTFS container (`docs/ctfs.md`), +
    /// `trace_paths.json`; written beside the run.
    pub const CTFS: Format = Format(&Row {
        name: "ctfs",
        files: ["trace.ct", TRACE_PATHS],
        schema_version: "codetracer_trace_types-0.16.3/ctfs-split-binary",
        bytes_key: "trace_ct_bytes",
        streams: true,
        sink: SinkType::of::<CtfsSink>(),
    });

    /// The format table.
    pub const ALL: [Format; 2] = [Format::JSON, Format::CTFS];

    /// The format when none is named (`--format`, `CODETRACER_FORMAT`, the API's `format=`).
    pub const DEFAULT: Format = Format::JSON;

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The name of `--format`, `CODETRACER_FORMAT` and the metadata's `format`.
    pub const fn as_str(self) -> &'static str {
        self.0.name
    }

    /// The files a trace of this format adds to its folder (the first is
    /// the trace itself).
    pub fn files(self) -> &'static [&'static str] {
        &self.0.files
    }

    /// The file the trace itself is.
    pub fn trace_file(self) -> &'static str {
        self.0.files[0]
    }

    /// `schema_version` of the metadata.
    pub const fn schema_version(self) -> &'static str {
        self.0.schema_version
    }

    /// The metadata's `stats` key for the trace's size.
    pub fn bytes_key(self) -> &'static str {
        self.0.bytes_key
    }

    /// Whether the trace is written while the program runs
    /// ([`Format::start_live`]), rather than converted after it.
    pub fn streams(self) -> bool {
        self.0.streams
    }

    /// Whether a trace that does not fit (a full disk) can be cut to the
    /// events that do (otherwise it is not kept): [`Sink::CUTS_TO_FIT`].
    pub fn cuts_to_fit(self) -> bool {
        self.0.sink.cuts_to_fit
    }

    /// Replays the stream at `events` into a trace of this format in `dir`
    /// (the files of [`Format::files`]). `limit`: the size the trace file
    /// must keep to (a format that [cuts to fit](Format::cuts_to_fit)).
    /// `Ok(None)` when `progress` answered stop.
    pub fn convert(
        self,
        events: &Path,
        dir: &Path,
        limit: Option<u64>,
        partial: Option<ErrorCode>,
        meta: &Map<String, Value>,
        progress: Progress<'_>,
    ) -> RecorderResult<Option<ConvertStats>> {
        let [trace, paths] = self.0.files.map(|f| dir.join(f));
        (self.0.sink.convert)(events, &trace, &paths, limit, partial, meta, progress)
    }

    /// Starts replaying `events` (created, not necessarily written yet) into
    /// the trace files of this format in `dir` while the program runs. `None`
    /// when the format does not [stream](Format::streams) (the recorder
    /// does not call it when `CODETRACER_LIVE_CONVERT=0`).
    pub fn start_live(self, events: &Path, dir: &Path) -> RecorderResult<Option<LiveConvert>> {
        if !self.streams() {
            return Ok(None);
        }
        let [trace, paths] = self.0.files.map(|f| dir.join(f));
        (self.0.sink.start_live)(events, &trace, &paths, false).map(Some)
    }

    /// [`Format::start_live`] without a thread of its own: its owner
    /// replays what is flushed ([`LiveConvert::deferred`]).
    pub fn start_deferred(self, events: &Path, dir: &Path) -> RecorderResult<Option<LiveConvert>> {
        if !self.streams() {
            return Ok(None);
        }
        let [trace, paths] = self.0.files.map(|f| dir.join(f));
        (self.0.sink.start_live)(events, &trace, &paths, true).map(Some)
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Format) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Format {}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({})", self.as_str())
    }
}

/// A row of the format table.
struct Row {
    name: &'static str,
    /// The trace file, then `trace_paths.json`.
    files: [&'static str; 2],
    schema_version: &'static str,
    bytes_key: &'static str,
    streams: bool,
    sink: SinkType,
}

/// A row's sink, as the functions its type is used through.
struct SinkType {
    cuts_to_fit: bool,
    convert: ConvertFn,
    /// `(events, trace, trace_paths, deferred)`.
    start_live: fn(&Path, &Path, &Path, bool) -> RecorderResult<LiveConvert>,
}

/// `(events, trace, trace_paths, limit, partial, meta, progress)`: see
/// [`Format::convert`].
type ConvertFn =
    fn(&Path, &Path, &Path, Option<u64>, Option<ErrorCode>, &Map<String, Value>, Progress<'_>) -> RecorderResult<Option<ConvertStats>>;

impl SinkType {
    const fn of<S: Sink + Send + 'static>() -> SinkType {
        SinkType { cuts_to_fit: S::CUTS_TO_FIT, convert: convert_into::<S>, start_live: live_into::<S> }
    }
}

fn convert_into<S: Sink>(
    events: &Path,
    trace: &Path,
    trace_paths: &Path,
    limit: Option<u64>,
    partial: Option<ErrorCode>,
    meta: &Map<String, Value>,
    progress: Progress<'_>,
) -> RecorderResult<Option<ConvertStats>> {
    replay(events, S::create(trace, trace_paths, limit)?, partial, meta, progress)
}

fn live_into<S: Sink + Send + 'static>(events: &Path, trace: &Path, trace_paths: &Path, deferred: bool) -> RecorderResult<LiveConvert> {
    let sink = S::create(trace, trace_paths, None)?;
    if deferred { LiveConvert::deferred(sink, events) } else { LiveConvert::start(sink, events) }
}

#[cfg(test)]
mod tests {
    //! The JSON sink through the replay: records straddling read chunks,
    //! cuts to fit at every size.
    use std::path::PathBuf;

    use super::*;
    use crate::replay::replay_in_chunks;
    use crate::stream::{self as st, StreamWriter};
    use crate::value::{self as v, types, vtag};

    /// The JSON conversion of `events` into `dir`, reading `chunk` bytes at
    /// a time, within `limit`.
    fn json_in_chunks(events: &Path, dir: &Path, chunk: usize, limit: Option<u64>) -> Result<ConvertStats, Box<dyn std::error::Error>> {
        let [trace, paths] = Format::JSON.0.files.map(|f| dir.join(f));
        let sink = JsonSink::create(&trace, &paths, limit)?;
        Ok(replay_in_chunks(events, sink, chunk, None, &Map::new(), &mut |_, _| true)?.ok_or("stopped")?)
    }

    fn convert(events: &Path, dir: &Path) -> Result<ConvertStats, Box<dyn std::error::Error>> {
        Ok(Format::JSON.convert(events, dir, None, None, &Map::new(), &mut |_, _| true)?.ok_or("stopped")?)
    }

    /// Every kind of record, objects and their patches included.
    fn stream(b: &mut Vec<u8>) {
        for (k, name) in types::PREDEFINED {
            st::put_type(b, *k, name, None);
        }
        st::put_path(b, "/src/app.py");
        st::put_function(b, 0, 1, "<toplevel>");
        st::put_function(b, 0, 5, "f");
        st::put_call_head(b, 0, 0);
        st::put_varname(b, "xs");
        st::put_step(b, 0, 2);
        st::put_obj_head(b, 0);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_float(b, types::FLOAT, 1.25);
        v::put_string(b, types::STR, b"a longer string than a chunk");
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        // A variable patched in place: its first patch renders it whole,
        // the next splices; the last record's edits change a node and then
        // its parent (read again from its start if cut, it must not be
        // applied in part).
        st::put_varname(b, "ys");
        st::put_set_head(b, 1);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_float(b, types::FLOAT, 1.0);
        v::put_float(b, types::FLOAT, 2.0);
        v::put_int(b, types::INT, 3);
        st::put_step(b, 0, 3);
        st::put_patch_head(b, 1, 1);
        st::put_varint(b, 1);
        st::put_varint(b, 1);
        v::put_int(b, types::INT, 4);
        st::put_step(b, 0, 3);
        st::put_patch_head(b, 1, 3);
        for (path, value) in [(&[0u64, 1][..], 0u8), (&[0], 1), (&[1], 2)] {
            st::put_varint(b, path.len() as u64);
            for i in path {
                st::put_varint(b, *i);
            }
            match value {
                0 => v::put_float(b, types::FLOAT, 2.5),
                1 => v::put_string(b, types::STR, b"gone"),
                _ => v::put_int(b, types::INT, 5),
            }
        }
        st::put_step(b, 0, 3);
        st::put_call_head(b, 1, 1);
        st::put_varint(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 6);
        st::put_obj_patch_head(b, 0, 2);
        for (i, x) in [(0u64, 2.5f64), (1, 7.0)] {
            st::put_varint(b, 1);
            st::put_varint(b, i);
            v::put_float(b, types::FLOAT, x);
        }
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 7);
        st::put_event(b, 0, "", b"out\n");
        st::put_return_head(b);
        v::put_none(b);
        st::put_step(b, 0, 4);
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 5);
        st::put_end(b, 0);
    }

    /// A folder `name-<pid>` holding [`stream`] as `events.bin`; its
    /// (folder, events.bin, trace.json, trace_paths.json).
    fn sample(name: &str) -> std::io::Result<(PathBuf, PathBuf, PathBuf, PathBuf)> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let events = dir.join("events.bin");
        let mut w: StreamWriter = StreamWriter::create(&events).map_err(|e| std::io::Error::other(e.to_string()))?;
        stream(w.buf());
        w.finish().map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok((dir.clone(), events, dir.join("trace.json"), dir.join("trace_paths.json")))
    }

    #[test]
    #[allow(clippy::panic_in_result_fn)] // a test's assertions
    fn records_cut_by_a_chunk_end_are_read_again_whole() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, events, json, _) = sample("ct-chunks")?;
        convert(&events, &dir)?;
        let whole = std::fs::read_to_string(&json)?;
        assert!(whole.contains("\"f\":\"2.5\"") && whole.contains("\"f\":\"7.0\""), "{whole}");
        assert!(whole.contains(r#"{"kind":"Sequence","elements":[{"kind":"String","text":"gone","type_id":4},{"kind":"Int","i":5,"type_id":1}],"is_slice":false,"type_id":6}"#), "{whole}");
        for chunk in 1..48 {
            let stats = json_in_chunks(&events, &dir, chunk, None)?;
            assert!(stats.ended && !stats.truncated);
            assert_eq!(stats.trace_bytes, std::fs::metadata(&json)?.len(), "chunk {chunk}");
            assert_eq!(std::fs::read_to_string(&json)?, whole, "chunk {chunk}");
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Cut at every size: always valid JSON within the limit, every Call
    /// returned, the paths file in step, each cut a prefix of the whole.
    #[test]
    #[allow(clippy::panic_in_result_fn)] // a test's assertions
    fn a_trace_cut_to_fit_is_valid_balanced_and_within_the_limit() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, events, json, paths) = sample("ct-cut")?;
        let whole_stats = convert(&events, &dir)?;
        let whole: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&json)?)?;
        let size = std::fs::metadata(&json)?.len();
        let mut seen_cut = 0;
        for limit in (0..size + 300).step_by(7) {
            let stats = json_in_chunks(&events, &dir, 4096, Some(limit))?;
            let bytes = std::fs::read(&json)?;
            let events_cut: Vec<serde_json::Value> = serde_json::from_slice(&bytes)?;
            if stats.cut_to_fit.is_none() {
                assert_eq!(events_cut, whole, "limit {limit}");
                assert_eq!(stats.events, whole_stats.events);
                continue;
            }
            seen_cut += 1;
            assert!(bytes.len() as u64 <= limit.max(4), "limit {limit}: {} bytes", bytes.len());
            let mut depth = 0i64;
            for (i, e) in events_cut.iter().enumerate() {
                if e.get("Call").is_some() {
                    depth += 1;
                } else if e.get("Return").is_some() {
                    depth -= 1;
                    assert!(depth >= 0 && (depth > 0 || i + 1 == events_cut.len()), "limit {limit}");
                } else {
                    // Everything but the closing Returns is the whole trace's prefix.
                    assert_eq!(e, &whole[i], "limit {limit}, event {i}");
                }
            }
            assert_eq!(depth, 0, "limit {limit}");
            let npaths = events_cut.iter().filter(|e| e.get("Path").is_some()).count();
            let listed: Vec<String> = serde_json::from_slice(&std::fs::read(&paths)?)?;
            assert_eq!(listed.len(), npaths, "limit {limit}");
            assert_eq!(stats.steps as usize, events_cut.iter().filter(|e| e.get("Step").is_some()).count());
        }
        assert!(seen_cut > 10);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
