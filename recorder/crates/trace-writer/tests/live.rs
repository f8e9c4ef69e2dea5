#![allow(clippy::unwrap_used, clippy::panic)]
//! The `.ct` written beside the recording (`trace_writer::live`): the same
//! trace the conversion after the run writes, whatever the flushes' timing;
//! a live conversion that fails or is abandoned costs only its head start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};
use trace_writer::json_sink::JsonSink;
use trace_writer::stream::{self as st, FlushObserver, StreamWriter};
use trace_writer::trace_folder::TRACE_METADATA;
use trace_writer::value::{self as v, types};
use trace_writer::{Format, LiveConvert, Metadata, Sink, TraceDir};

const TRACE_CT: &str = "trace.ct";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ct-live-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn meta(td: &TraceDir) -> Metadata {
    let mut meta = td.metadata("/src", "app.py", &[]);
    meta.insert("recording_id", json!("live-test"));
    meta
}

/// Writes a recording of `steps` loop iterations into `w`, flushing every
/// `every` iterations and pausing now and then, as a running program would.
fn record<O: FlushObserver>(w: &mut StreamWriter<O>, steps: u32, every: u32) {
    for (k, name) in types::PREDEFINED {
        st::put_type(w.buf(), *k, name, None);
    }
    st::put_path(w.buf(), "/src/app.py");
    st::put_function(w.buf(), 0, 1, "<toplevel>");
    st::put_function(w.buf(), 0, 5, "work");
    st::put_call_head(w.buf(), 0, 0);
    st::put_varname(w.buf(), "i");
    st::put_varname(w.buf(), "text");
    for i in 0..steps {
        st::put_step(w.buf(), 0, 2);
        st::put_set_head(w.buf(), 0);
        v::put_int(w.buf(), types::INT, i64::from(i));
        st::put_call_head(w.buf(), 1, 1);
        st::put_varint(w.buf(), 1);
        v::put_string(w.buf(), types::STR, format!("item {i}").as_bytes());
        st::put_step(w.buf(), 0, 6);
        st::put_event(w.buf(), 0, "", format!("line {i}\n").as_bytes());
        st::put_return_head(w.buf());
        v::put_none(w.buf());
        if i % every == every - 1 {
            w.flush().unwrap();
            if i % (every * 8) == every * 8 - 1 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    st::put_step(w.buf(), 0, 3);
    st::put_end(w.buf(), 0);
}

/// A staged recording in `dir`, with its live conversion when asked.
fn staged(dir: &Path, live: bool) -> (TraceDir, StreamWriter<LiveConvert>) {
    let td = TraceDir::prepare(dir, Format::CTFS).unwrap();
    let mut w = StreamWriter::create(&td.events_path()).unwrap();
    if live {
        w.follow(Format::CTFS.start_live(&td.events_path(), &td.staging).unwrap().unwrap());
    }
    (td, w)
}

fn metadata(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(TRACE_METADATA)).unwrap()).unwrap()
}

#[test]
fn the_live_trace_is_the_trace_converted_after_the_run() {
    for (steps, every) in [(1, 1), (3_000, 7), (40_000, 1_000)] {
        let a = tmp(&format!("live-{steps}"));
        let (td, mut w) = staged(&a, true);
        record(&mut w, steps, every);
        let (_, live) = w.finish_observed().unwrap();
        let live_stats = td.finish_with_progress(&meta(&td), None, Map::new(), live, &mut |_, _| true).unwrap().unwrap();

        let b = tmp(&format!("after-{steps}"));
        let (td, mut w) = staged(&b, false);
        record(&mut w, steps, every);
        let (_, none) = w.finish_observed().unwrap();
        assert!(none.is_none());
        let after_stats = td.finish(&meta(&td), None, Map::new()).unwrap();

        assert_eq!(std::fs::read(a.join(TRACE_CT)).unwrap(), std::fs::read(b.join(TRACE_CT)).unwrap(), "{steps} steps");
        assert_eq!((live_stats.steps, live_stats.calls, live_stats.events), (after_stats.steps, after_stats.calls, after_stats.events));
        // Two steps an iteration, and the one the replay gives the caller after each return.
        assert_eq!(live_stats.steps, u64::from(steps) * 3 + 1);
        assert_eq!(metadata(&a)["timings"]["convert_streamed"], json!(true), "{}", metadata(&a)["timings"]);
        assert_eq!(metadata(&b)["timings"].get("convert_streamed"), None);
        assert!(!a.join(".codetracer-partial").exists());
    }
}

#[test]
fn a_failed_live_conversion_falls_back_to_converting_after_the_run() {
    let dir = tmp("failed");
    let td = TraceDir::prepare(&dir, Format::CTFS).unwrap();
    let mut w = StreamWriter::create(&td.events_path()).unwrap();
    let mut live = Format::CTFS.start_live(&td.events_path(), &td.staging).unwrap().unwrap();
    // What a failed write of the stream tells the thread.
    live.failed();
    w.follow(live);
    record(&mut w, 500, 50);
    let (_, live) = w.finish_observed().unwrap();
    let stats = td.finish_with_progress(&meta(&td), None, Map::new(), live, &mut |_, _| true).unwrap().unwrap();
    assert_eq!(stats.steps, 1501);
    let m = metadata(&dir);
    assert_eq!(m["timings"]["convert_streamed"], json!(false));
    assert!(m["timings"]["convert_streamed_error"].as_str().unwrap().contains("write of the event stream failed"));
    assert_eq!(m["partial"], json!(false));
}

#[test]
fn an_abandoned_live_conversion_stops_without_the_stream_ending() {
    let dir = tmp("abandoned");
    let (td, mut w) = staged(&dir, true);
    st::put_path(w.buf(), "/src/app.py");
    w.flush().unwrap();
    // The recording failed and never finished its stream: dropping the live
    // conversion must not wait for an end that never comes.
    drop(w);
    td.discard().unwrap();
    assert!(!dir.exists());
}

#[test]
fn stopping_the_finish_leaves_the_stream_to_recover() {
    let dir = tmp("stopped");
    let (td, mut w) = staged(&dir, true);
    record(&mut w, 20_000, 100);
    // The END record is not flushed yet (the last step and it stay in the
    // writer's buffer): the thread is waiting for them when the finish is
    // told to stop (Ctrl-C while the trace is written).
    let live = w.take_observer();
    let mut asked = 0;
    let none = td.finish_with_progress(&meta(&td), None, Map::new(), live, &mut |_, _| {
        asked += 1;
        false
    });
    assert!(none.unwrap().is_none());
    assert_eq!(asked, 1);
    assert!(td.events_path().exists() && !dir.join(TRACE_CT).exists() && !dir.join(TRACE_METADATA).exists());
    assert!(!td.staging.join(TRACE_CT).exists());
    w.finish().unwrap();
    let stats = trace_writer::recover(&dir).unwrap();
    assert_eq!(stats.steps, 60_001);
    assert_eq!(metadata(&dir)["partial"], json!(true));
}

#[test]
fn pausing_around_forks_gives_the_same_trace() {
    let a = tmp("paused");
    let (td, mut w) = staged(&a, true);
    // Each piece of the recording is followed by what a fork does to the
    // thread: it ends (keeping the replay where it got to) and starts again.
    let whole_path = std::env::temp_dir().join(format!("ct-live-whole-{}", std::process::id()));
    let mut whole: StreamWriter = StreamWriter::create(&whole_path).unwrap();
    record(&mut whole, 5_000, 10);
    whole.finish().unwrap();
    let bytes = std::fs::read(&whole_path).unwrap()[st::MAGIC.len()..].to_vec();
    for piece in bytes.chunks(7_777) {
        w.buf().extend_from_slice(piece);
        w.flush().unwrap();
        // (twice: a nested fork hook, or none between two forks).
        w.observer_mut().unwrap().pause();
        w.observer_mut().unwrap().pause();
    }
    let (_, live) = w.finish_observed().unwrap();
    td.finish_with_progress(&meta(&td), None, Map::new(), live, &mut |_, _| true).unwrap().unwrap();
    assert_eq!(metadata(&a)["timings"]["convert_streamed"], json!(true));

    let b = tmp("unpaused");
    let (td, mut w) = staged(&b, false);
    w.buf().extend_from_slice(&bytes);
    w.finish().unwrap();
    td.finish(&meta(&td), None, Map::new()).unwrap();
    assert_eq!(std::fs::read(a.join(TRACE_CT)).unwrap(), std::fs::read(b.join(TRACE_CT)).unwrap());
}

#[test]
fn the_live_conversion_takes_any_sink() {
    // The live conversion knows no format: into a JSON sink, started by hand
    // or by the format table (trace.json streams too), it writes the
    // trace.json converting after the run writes.
    for by_table in [false, true] {
        the_live_json_is_the_after_run_json(by_table);
    }
}

fn the_live_json_is_the_after_run_json(by_table: bool) {
    let a = tmp(if by_table { "json-live-table" } else { "json-live" });
    let td = TraceDir::prepare(&a, Format::JSON).unwrap();
    let mut w = StreamWriter::create(&td.events_path()).unwrap();
    let live = if by_table {
        Format::JSON.start_live(&td.events_path(), &td.staging).unwrap().unwrap()
    } else {
        let sink = JsonSink::create(&td.staging.join("trace.json"), &td.staging.join("trace_paths.json"), None).unwrap();
        LiveConvert::start(sink, &td.events_path()).unwrap()
    };
    w.follow(live);
    record(&mut w, 3_000, 7);
    let (_, live) = w.finish_observed().unwrap();
    td.finish_with_progress(&meta(&td), None, Map::new(), live, &mut |_, _| true).unwrap().unwrap();
    assert_eq!(metadata(&a)["timings"]["convert_streamed"], json!(true));

    let b = tmp(if by_table { "json-after-table" } else { "json-after" });
    let td = TraceDir::prepare(&b, Format::JSON).unwrap();
    let mut w: StreamWriter = StreamWriter::create(&td.events_path()).unwrap();
    record(&mut w, 3_000, 7);
    w.finish().unwrap();
    td.finish(&meta(&td), None, Map::new()).unwrap();
    for file in Format::JSON.files() {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{file}");
    }
}

#[test]
fn a_deferred_conversion_caught_up_in_pieces_is_the_trace_converted_after_the_run() {
    use std::sync::atomic::AtomicBool;
    for (steps, every, stop_first) in [(1, 1, false), (3_000, 7, false), (40_000, 1_000, true)] {
        // As a thread trace is replayed beside the run: the stream written
        // (not ended) while nothing follows it, caught up by its owner (the
        // first time told to stop at once), then ended and finished.
        let a = tmp(&format!("deferred-{steps}"));
        let td = TraceDir::prepare(&a, Format::CTFS).unwrap();
        let mut w: StreamWriter<LiveConvert> = StreamWriter::create(&td.events_path()).unwrap();
        record(&mut w, steps, every);
        // (The END record, 2 bytes, comes at the stop.)
        let at = w.buf().len() - 2;
        let end = w.buf().split_off(at);
        w.flush().unwrap();
        let mut live = Format::CTFS.start_deferred(&td.events_path(), &td.staging).unwrap().unwrap();
        live.flushed(w.len());
        if stop_first {
            live.catch_up(&AtomicBool::new(true));
        }
        live.catch_up(&AtomicBool::new(false));
        live.catch_up(&AtomicBool::new(false));
        w.follow(live);
        w.buf().extend_from_slice(&end);
        let (_, live) = w.finish_observed().unwrap();
        let deferred = td.finish_beside_the_run(&meta(&td), None, Map::new(), live).unwrap();

        let b = tmp(&format!("deferred-after-{steps}"));
        let (td, mut w) = staged(&b, false);
        record(&mut w, steps, every);
        w.finish_observed().unwrap();
        let after = td.finish(&meta(&td), None, Map::new()).unwrap();

        assert_eq!(std::fs::read(a.join(TRACE_CT)).unwrap(), std::fs::read(b.join(TRACE_CT)).unwrap(), "{steps} steps");
        assert_eq!((deferred.steps, deferred.calls, deferred.events), (after.steps, after.calls, after.events));
        assert_eq!(metadata(&a)["timings"]["convert_streamed"], json!(true), "{}", metadata(&a)["timings"]);
    }
}
