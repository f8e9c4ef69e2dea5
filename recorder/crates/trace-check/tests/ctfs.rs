#![allow(clippy::unwrap_used, clippy::panic)]
//! The CTFS reader and writer: the spec's fixture reads back as its README
//! lists it; a trace written through `ctfs::CtfsWriter` reads back event for event
//! as the same trace in JSON, into the official schema types; a `.ct` cut
//! at any point — at every chunk boundary in particular — reads up to its
//! last complete chunk, or is refused with the reason.

use std::path::{Path, PathBuf};

use codetracer_trace_types::{TraceLowLevelEvent as E, ValueRecord};
use ctfs::events::ChunkEnd;
use ctfs::{CtfsWriter, TraceEvent, TraceMeta, TypeInfo, Value};
use trace_check::ctfs_reader::read_ct;
use trace_writer::value::{self as v, types, vtag};

mod common;
use common::finished_sample;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ct-ctfs-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_all(path: &Path) -> (Vec<E>, trace_check::ctfs_reader::CtRead) {
    let mut evs = Vec::new();
    let r = read_ct(path, |_, e| {
        evs.push(e.clone());
        Ok(())
    })
    .unwrap();
    (evs, r)
}

fn json(e: &E) -> serde_json::Value {
    serde_json::to_value(e).unwrap()
}

#[test]
fn the_spec_fixture_reads_back_as_its_readme_lists_it() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal_trace.ct");
    let (evs, r) = read_all(&fx);
    let meta = r.meta.as_ref().unwrap();
    assert_eq!(meta.program, "factorial");
    assert_eq!(meta.args, ["5"]);
    assert_eq!(meta.workdir, "/home/user/demo");
    assert_eq!(meta.paths, ["/src/main.nim", "/src/math_utils.nim"]);
    assert_eq!(r.end, ChunkEnd::Complete);
    assert_eq!(r.chunks, 1);
    let got: Vec<serde_json::Value> = evs.iter().map(json).collect();
    let want = serde_json::json!([
        {"Path": "/src/main.nim"},
        {"Path": "/src/math_utils.nim"},
        {"Function": {"path_id": 0, "line": 1, "name": "main"}},
        {"Step": {"path_id": 0, "line": 1}},
        {"Call": {"function_id": 0, "args": []}},
        {"Step": {"path_id": 0, "line": 3}},
        {"Step": {"path_id": 0, "line": 4}},
        {"Value": {"variable_id": 1, "value": {"kind": "Int", "i": 42, "type_id": 7}}},
        {"Step": {"path_id": 1, "line": 10}},
        {"Value": {"variable_id": 2, "value": {"kind": "String", "text": "hello", "type_id": 9}}},
        {"Return": {"return_value": {"kind": "None", "type_id": 0}}},
    ]);
    assert_eq!(serde_json::Value::Array(got), want);
}

/// A JSON trace folder written by the recorder's own stream + converter,
/// using every value encoding.
fn json_sample(dir: &Path) {
    finished_sample(dir, trace_writer::Format::JSON, serde_json::json!(["--flag", "é"]),
                    Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
}

#[test]
fn a_converted_trace_reads_back_as_the_json_it_came_from() {
    let dir = tmpdir("roundtrip");
    let (jd, cd) = (dir.join("json"), dir.join("ct"));
    json_sample(&jd);
    let stats = trace_convert::convert_dir(&jd, &cd).unwrap();
    let want: Vec<E> = serde_json::from_slice(&std::fs::read(jd.join("trace.json")).unwrap()).unwrap();
    let (got, r) = read_all(&cd.join("trace.ct"));
    assert!(r.complete(), "{r:?}");
    assert_eq!(stats.events, want.len() as u64);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(json(g), json(w), "event {i}");
    }
    // Spot checks beyond JSON equality: NaN and i64::MIN survive.
    let vals: Vec<&ValueRecord> = got.iter().filter_map(|e| if let E::Value(v) = e { Some(&v.value) } else { None }).collect();
    let ValueRecord::Sequence { elements, .. } = vals[1] else { panic!("{:?}", vals[1]) };
    assert!(matches!(&elements[2], ValueRecord::Float { f, .. } if f.is_nan()));
    assert!(matches!(&elements[9], ValueRecord::Int { i, .. } if *i == i64::MIN));
    let meta = r.meta.unwrap();
    assert_eq!(meta.args, ["--flag", "é"]);
    assert_eq!(meta.recording_id, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    assert_eq!(meta.paths, ["/src/app.py"]);
    let s = trace_check::check_dir(&cd).unwrap();
    assert_eq!(s.calls, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn meta() -> TraceMeta {
    TraceMeta {
        recording_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        program: "/src/loop.py".into(),
        workdir: "/src".into(),
        recorder_id: "test".into(),
        ..TraceMeta::default()
    }
}

/// Writes a looping program's trace in chunks of `chunk` events; returns
/// every event and the container size after each chunk was committed.
fn write_loop(path: &Path, steps: i64, chunk: u32, finish: bool, noise: usize) -> (Vec<E>, Vec<u64>) {
    let mut sink = CtfsWriter::create(path).unwrap();
    sink.raw().0.set_chunk_events(chunk);
    let text = "x".repeat(300); // values big enough to span blocks
    let list = Value::Sequence {
        elements: (0..20).map(|i| Value::String { text: format!("{i}{text}"), type_id: 4 }).collect(),
        is_slice: false,
        type_id: 6,
    };
    let mut evs: Vec<TraceEvent<'_>> = vec![
        TraceEvent::Type { kind: 30, lang_type: "None", info: TypeInfo::None },
        TraceEvent::Type { kind: 7, lang_type: "int", info: TypeInfo::None },
        TraceEvent::Type { kind: 8, lang_type: "float", info: TypeInfo::None },
        TraceEvent::Type { kind: 12, lang_type: "bool", info: TypeInfo::None },
        TraceEvent::Type { kind: 9, lang_type: "str", info: TypeInfo::None },
        TraceEvent::Type { kind: 6, lang_type: "P", info: TypeInfo::Struct(&[("a", 1), ("b", 4)]) },
        TraceEvent::Type { kind: 0, lang_type: "list", info: TypeInfo::None },
        TraceEvent::Path("/src/loop.py"),
        TraceEvent::Function { path_id: 0, line: 1, name: "<toplevel>" },
        TraceEvent::Call { function_id: 0, args: &[] },
        TraceEvent::VariableName("i"),
        TraceEvent::VariableName("l"),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand_text = |n: usize| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b"0123456789abcdef"[(seed & 15) as usize])
            })
            .collect::<String>()
    };
    let ints: Vec<Value> = (0..steps).map(|i| Value::Int { i, type_id: 1 }).collect();
    let noises: Vec<Value> = (0..if noise > 0 { steps } else { 0 }).map(|_| Value::String { text: rand_text(noise), type_id: 4 }).collect();
    for (i, int) in ints.iter().enumerate() {
        evs.push(TraceEvent::Step { path_id: 0, line: 2 + (i as i64 % 3) });
        evs.push(TraceEvent::Value { variable_id: 0, value: int });
        if let Some(n) = noises.get(i) {
            evs.push(TraceEvent::Value { variable_id: 1, value: n });
        }
        if i % 10 == 0 {
            evs.push(TraceEvent::Value { variable_id: 1, value: &list });
            evs.push(TraceEvent::Event { kind: 0, metadata: "", content: "out\n" });
        }
    }
    let ret = Value::Int { i: 0, type_id: 1 };
    evs.push(TraceEvent::Return { value: &ret });
    let mut marks = Vec::new();
    let mut chunks = 0;
    for e in &evs {
        sink.event(e).unwrap();
        // The compression thread may append several chunks at once: each
        // of them was committed when the container reached `len`.
        let (c, len) = sink.progress();
        for _ in chunks..c {
            marks.push(len);
        }
        chunks = c;
    }
    if finish {
        sink.finish(&meta()).unwrap();
    }
    let (all, _) = if finish { read_all(path) } else { (Vec::new(), read_all(path).1) };
    (all, marks)
}

fn cut(src: &Path, dst: &Path, len: u64) {
    let data = std::fs::read(src).unwrap();
    std::fs::write(dst, &data[..len as usize]).unwrap();
}

#[test]
fn a_ct_cut_anywhere_reads_up_to_its_last_complete_chunk_or_is_refused() {
    let dir = tmpdir("cut");
    let full = dir.join("full.ct");
    let (all, marks) = write_loop(&full, 400, 37, true, 0);
    let full_len = std::fs::metadata(&full).unwrap().len();
    assert!(marks.len() > 10, "want many chunks: {}", marks.len());
    let (_, r) = read_all(&full);
    assert!(r.complete());
    // Event counts at the end of each chunk of the whole file.
    let mut ends = vec![0u64];
    let mut n = 0;
    read_ct(&full, |_, _| Ok(())).unwrap();
    let mut c = ctfs::container::ContainerReader::open(&full).unwrap();
    let mut chunks = ctfs::events::ChunkReader::new(c.open_file("events.log").unwrap());
    while let Some(ch) = chunks.next_chunk().unwrap() {
        n += u64::from(ch.events);
        ends.push(n);
    }
    let part = dir.join("part.ct");
    // At every chunk boundary (the container as it stood when each chunk
    // was committed), at every block boundary and a little past each.
    let mut cuts: Vec<u64> = marks.clone();
    cuts.extend((1..=full_len / 4096).map(|b| b * 4096));
    cuts.extend((1..full_len / 4096).map(|b| b * 4096 + 100));
    cuts.extend([0, 10, 100, 4000]);
    for &len in &cuts {
        cut(&full, &part, len);
        let mut got = Vec::new();
        match read_ct(&part, |_, e| {
            got.push(e.clone());
            Ok(())
        }) {
            Err(msg) => {
                assert!(len < 4096 * 3, "a cut at {len} of {full_len} bytes was refused: {msg}");
                assert!(msg.contains("CTFS") || msg.contains("events.fmt") || msg.contains("events.log"), "unclear refusal: {msg}");
            }
            Ok(r) => {
                assert!(ends.contains(&r.events), "cut at {len}: {} events is not a chunk boundary", r.events);
                assert_eq!(r.events as usize, got.len());
                for (i, (g, w)) in got.iter().zip(&all).enumerate() {
                    assert_eq!(json(g), json(w), "cut at {len}: event {i}");
                }
                if len < full_len {
                    assert!(!r.complete(), "cut at {len} reads as complete");
                    assert!(trace_check::check_ct(&part).unwrap_err().starts_with("partial"));
                }
            }
        }
    }
    // Cut where the container ended when chunk k was committed: chunk k
    // and every one before it read (later chunks that rewrote the same
    // last block may read too).
    for (k, &len) in marks.iter().enumerate() {
        cut(&full, &part, len);
        let r = read_ct(&part, |_, _| Ok(())).unwrap();
        assert!(r.chunks > k as u64, "cut at the commit of chunk {k}: only {} chunks read", r.chunks);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_writer_killed_mid_trace_leaves_its_committed_chunks_readable() {
    let dir = tmpdir("killed");
    let path = dir.join("trace.ct");
    let (_, marks) = write_loop(&path, 300, 50, false, 0); // dropped without finish
    let (evs, r) = read_all(&path);
    // Every chunk committed while it wrote, and those its compression
    // thread still held, appended as the writer was dropped.
    assert!(r.chunks >= marks.len() as u64, "{} chunks read, {} committed", r.chunks, marks.len());
    assert_eq!(r.end, ChunkEnd::Complete);
    assert!(r.meta.is_none());
    assert!(r.meta_problem.as_deref().unwrap().contains("not finished"));
    assert_eq!(evs.len() as u64, r.events);
    assert!(r.events > 0 && r.events % 50 == 0);
    let err = trace_check::check_ct(&path).unwrap_err();
    assert!(err.starts_with("partial: no meta.dat"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_big_trace_crosses_mapping_levels_and_reads_back() {
    // > 511 data blocks: the file's mapping reaches level 2.
    let dir = tmpdir("big");
    let path = dir.join("trace.ct");
    let (all, _) = write_loop(&path, 60_000, 4096, true, 80);
    let mut c = ctfs::container::ContainerReader::open(&path).unwrap();
    let size = c.entry("events.log").unwrap().size;
    assert!(size > 511 * 4096, "events.log is only {size} bytes");
    let _ = c.read_file("meta.dat").unwrap();
    let (_, r) = read_all(&path);
    assert!(r.complete());
    assert_eq!(r.events as usize, all.len());
    let s = trace_check::check_dir(&dir).unwrap();
    assert_eq!(s.steps, 60_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compact_values_render_to_the_same_record_in_cbor_as_in_json() {
    use trace_writer::ctfs_sink::CtfsSink;
    use trace_writer::json_sink::JsonSink;
    use trace_writer::stream::StreamReader;
    use trace_writer::Sink;
    let mut b = Vec::new();
    v::put_none(&mut b);
    v::put_bool(&mut b, types::BOOL, false);
    v::put_int(&mut b, types::INT, i64::MIN);
    v::put_int(&mut b, types::INT, 23);
    v::put_float(&mut b, types::FLOAT, 1e300);
    v::put_float(&mut b, types::FLOAT, -0.0);
    v::put_float(&mut b, types::FLOAT, f64::INFINITY);
    v::put_float(&mut b, types::FLOAT, 0.1 + 0.2);
    v::put_string(&mut b, types::STR, b"bad \xff utf8 \xe2\x82");
    v::put_raw(&mut b, types::BYTES, b"b'\\x00'");
    v::put_error(&mut b, types::EXCEPTION, "boom ✓".as_bytes());
    v::put_bigint(&mut b, types::INT, false, &[0xff; 17]);
    v::put_container_head(&mut b, vtag::SEQ, types::DICT, 1);
    v::put_container_head(&mut b, vtag::TUPLE, types::TUPLE, 2);
    v::put_string(&mut b, types::STR, b"k");
    v::put_int(&mut b, types::INT, -1);
    v::put_container_head(&mut b, vtag::STRUCT, 15, 1);
    v::put_none(&mut b);
    let dir = tmpdir("render");
    let mut json = JsonSink::create(&dir.join("trace.json"), &dir.join("trace_paths.json"), None).unwrap();
    let mut ct = CtfsSink::create(&dir.join("trace.ct"), &dir.join("trace_paths.json"), None).unwrap();
    // Twice: the second time the CTFS sink's floats come from its cache.
    for _ in 0..2 {
        let mut r = StreamReader::records(&b);
        let mut n = 0;
        while !r.at_end() {
            let at = r.pos();
            let mut j = Vec::new();
            json.render(&mut r, &mut j).unwrap();
            let end = r.pos();
            r.set_pos(at);
            let mut c = Vec::new();
            ct.render(&mut r, &mut c).unwrap();
            assert_eq!(r.pos(), end);
            let from_json: ValueRecord = serde_json::from_slice(&j).unwrap();
            let from_cbor: ValueRecord = cbor4ii::serde::from_slice(&c).unwrap();
            // Compare through JSON (NaN-free here, so == holds) and the f text.
            assert_eq!(serde_json::to_value(&from_cbor).unwrap(), serde_json::to_value(&from_json).unwrap(), "value {n}");
            n += 1;
        }
        assert_eq!(n, 14);
    }
    drop((json, ct));
    std::fs::remove_dir_all(&dir).unwrap();
}
