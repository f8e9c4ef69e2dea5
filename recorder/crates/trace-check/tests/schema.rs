#![allow(clippy::unwrap_used, clippy::panic)]
//! Traces written by the recorder's stream + converter deserialise into the
//! official schema types, for every kind of value, and stay replayable when
//! the stream was cut short (a recording that died).

use codetracer_trace_types::{TraceLowLevelEvent as E, ValueRecord};
use trace_writer::stream::{self as st, StreamWriter};
use trace_writer::value::vtag;
use trace_writer::{Format, TraceDir};

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ct-schema-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

mod common;
use common::{finished_sample, write_sample};

/// In both formats: the replay stage hands each sink the same events.
#[test]
fn every_value_kind_matches_the_official_schema() {
    for format in Format::ALL {
        every_value_kind_in(format);
    }
}

fn every_value_kind_in(format: Format) {
    let dir = tmpdir(&format!("kinds-{}", format.as_str()));
    finished_sample(&dir, format, serde_json::json!([]), None);

    let s = trace_check::check_dir(&dir).unwrap();
    assert_eq!(s.calls, 3);
    assert!(dir.join(format.files()[0]).is_file());
    let mut events: Vec<E> = Vec::new();
    trace_check::each_event(&dir, |e| {
        events.push(e.clone());
        Ok(())
    })
    .unwrap();
    // Snapshot after the step at line 2: both variables, in binding order.
    let values: Vec<&ValueRecord> = events.iter().filter_map(|e| if let E::Value(v) = e { Some(&v.value) } else { None }).collect();
    assert!(matches!(values[0], ValueRecord::Int { i: -42, .. }));
    let ValueRecord::Sequence { elements, .. } = values[1] else { panic!("list expected: {:?}", values[1]) };
    assert_eq!(elements.len(), 10);
    assert!(matches!(&elements[2], ValueRecord::Float { f, .. } if f.is_nan()));
    assert!(matches!(&elements[3], ValueRecord::Float { f, .. } if *f == f64::NEG_INFINITY));
    assert!(matches!(&elements[4], ValueRecord::Float { f, .. } if *f == 0.1));
    assert!(matches!(&elements[5], ValueRecord::String { text, .. } if text == "héllo \"q\"\n\u{1}"));
    assert!(matches!(&elements[6], ValueRecord::BigInt { b, negative: true, .. } if b.len() == 9 && b[0] == 1));
    assert!(matches!(&elements[7], ValueRecord::Struct { field_values, .. } if field_values.len() == 2));
    assert!(matches!(&elements[8], ValueRecord::Error { msg, .. } if msg == "ValueError: boom"));
    // After `del x` the snapshot at line 3 holds y only; the call's arg is its first value.
    let last_return = events.last().unwrap();
    assert!(matches!(last_return, E::Return(r) if matches!(r.return_value, ValueRecord::Int { i: 3, .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stream_cut_short_recovers_as_a_balanced_partial_trace() {
    let dir = tmpdir("cut");
    let td = TraceDir::prepare(&dir, Format::JSON).unwrap();
    let mut w = StreamWriter::create(&td.events_path()).unwrap();
    write_sample(&mut w, false);
    // Cut in the middle of a record, as a killed process leaves it.
    w.buf().extend_from_slice(&[st::tag::SET, 0, vtag::STR, 4, 100]);
    w.finish().unwrap();
    drop(td);
    let stats = trace_writer::recover(&dir).unwrap();
    assert!(stats.truncated);
    assert_eq!(stats.closed_open_calls, 2);
    trace_check::check_dir(&dir).unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("trace_metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["partial"], true);
    assert!(meta["reason"].as_str().unwrap().starts_with("ERR_"));
    assert!(!dir.join(".codetracer-partial").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unbalanced_traces_are_rejected() {
    let dir = tmpdir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trace_metadata.json"), r#"{"workdir":"/","program":"p","args":[]}"#).unwrap();
    std::fs::write(dir.join("trace_paths.json"), r#"["/a.py"]"#).unwrap();
    std::fs::write(
        dir.join("trace.json"),
        r#"[{"Type":{"kind":30,"lang_type":"None","specific_info":{"kind":"None"}}},{"Path":"/a.py"},{"Function":{"path_id":0,"line":1,"name":"<toplevel>"}},{"Call":{"function_id":0,"args":[]}},{"Return":{"return_value":{"kind":"None","type_id":0}}},{"Return":{"return_value":{"kind":"None","type_id":0}}}]"#,
    )
    .unwrap();
    let e = trace_check::check_dir(&dir).unwrap_err();
    assert!(e.contains("Return") || e.contains("toplevel"), "{e}");
    std::fs::write(dir.join("trace.json"), r#"[{"Step":{"path_id":0,"line":"x"}}]"#).unwrap();
    assert!(trace_check::check_dir(&dir).unwrap_err().contains("schema"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A finish told to stop (Ctrl-C) leaves no trace file of either format and
/// keeps the stream; `recover` then writes the format the run started with.
#[test]
fn a_stopped_finish_leaves_no_trace_and_recovers_in_its_format() {
    for format in Format::ALL {
        let dir = tmpdir(&format!("stop-{}", format.as_str()));
        let td = TraceDir::prepare(&dir, format).unwrap();
        let meta = td.metadata("/src", "/src/app.py", &[]);
        td.write_recording_info(&meta).unwrap();
        let mut w = StreamWriter::create(&td.events_path()).unwrap();
        write_sample(&mut w, false);
        // Enough records for the progress hook to be asked (every 16,384).
        for i in 0..40_000 {
            st::put_step(w.buf(), 0, 2 + i % 3);
        }
        st::put_end(w.buf(), 0);
        w.finish().unwrap();
        let mut asked = 0;
        let stopped = td
            .finish_with_progress(&meta, None, serde_json::Map::new(), None, &mut |_, _| {
                asked += 1;
                false
            })
            .unwrap();
        assert!(stopped.is_none() && asked == 1, "{}", format.as_str());
        let left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, [".codetracer-partial"], "{}", format.as_str());
        let staged: Vec<String> =
            std::fs::read_dir(&td.staging).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(format.files().iter().all(|f| !staged.contains(&f.to_string())), "{staged:?}");
        drop(td);
        trace_writer::recover(&dir).unwrap();
        assert!(dir.join(format.files()[0]).is_file(), "{}", format.as_str());
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("trace_metadata.json")).unwrap()).unwrap();
        assert_eq!((meta["format"].as_str(), meta["partial"].as_bool()), (Some(format.as_str()), Some(true)));
        let mut steps = 0;
        trace_check::each_event(&dir, |e| {
            steps += usize::from(matches!(e, E::Step(_)));
            Ok(())
        })
        .unwrap();
        assert!(steps > 40_000, "{steps}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
