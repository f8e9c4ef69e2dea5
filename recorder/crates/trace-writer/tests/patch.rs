#![allow(clippy::unwrap_used, clippy::panic)]
//! PATCH records: leaves of a variable's value changed in place are written
//! as edits, and the converter rebuilds exactly the full snapshot a SET of the
//! whole new value would give.

use serde_json::Map;
use trace_writer::stream::{self as st, StreamWriter};
use trace_writer::Format;
use trace_writer::value::{self as v, types, vtag};

/// Converts `events` into trace.json in `dir`.
fn convert(events: &std::path::Path, dir: &std::path::Path) -> recorder_errors::RecorderResult<()> {
    Format::JSON.convert(events, dir, None, None, &Map::new(), &mut |_, _| true).map(|_| ())
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ct-patch-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `points = [[1.0, 2.0], {"k": 3}]` (a dict is encoded as a list of pairs).
fn put_points(b: &mut Vec<u8>, x: f64, k: i64, key: &[u8]) {
    v::put_container_head(b, vtag::SEQ, types::LIST, 2);
    v::put_container_head(b, vtag::SEQ, types::LIST, 2);
    v::put_float(b, types::FLOAT, x);
    v::put_float(b, types::FLOAT, 2.0);
    v::put_container_head(b, vtag::SEQ, types::DICT, 1);
    v::put_container_head(b, vtag::TUPLE, types::TUPLE, 2);
    v::put_string(b, types::STR, key);
    v::put_int(b, types::INT, k);
}

fn head(b: &mut Vec<u8>) {
    for (k, name) in types::PREDEFINED {
        st::put_type(b, *k, name, None);
    }
    st::put_path(b, "/src/app.py");
    st::put_function(b, 0, 1, "<toplevel>");
    st::put_call_head(b, 0, 0);
    st::put_varname(b, "points");
    st::put_step(b, 0, 2);
    st::put_set_head(b, 0);
    put_points(b, 1.0, 3, b"k");
    st::put_step(b, 0, 3);
}

fn path(b: &mut Vec<u8>, p: &[u64]) {
    st::put_varint(b, p.len() as u64);
    for i in p {
        st::put_varint(b, *i);
    }
}

fn converted(name: &str, body: impl FnOnce(&mut Vec<u8>)) -> Result<String, String> {
    let dir = tmp(name);
    let events = dir.join("events.bin");
    let mut w: StreamWriter = StreamWriter::create(&events).unwrap();
    head(w.buf());
    body(w.buf());
    st::put_step(w.buf(), 0, 4);
    st::put_end(w.buf(), 0);
    w.finish().unwrap();
    convert(&events, &dir).map_err(|e| e.to_string())?;
    Ok(std::fs::read_to_string(dir.join("trace.json")).unwrap())
}

#[test]
fn patches_give_the_snapshot_a_whole_set_gives() {
    let patched = converted("patched", |b| {
        st::put_patch_head(b, 0, 3);
        path(b, &[0, 0]);
        v::put_float(b, types::FLOAT, 1.5);
        path(b, &[1, 0, 1]);
        v::put_string(b, types::STR, b"now a str");
        path(b, &[1, 0, 0]);
        v::put_string(b, types::STR, b"key");
    })
    .unwrap();
    let set = converted("set", |b| {
        st::put_set_head(b, 0);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_container_head(b, vtag::SEQ, types::LIST, 2);
        v::put_float(b, types::FLOAT, 1.5);
        v::put_float(b, types::FLOAT, 2.0);
        v::put_container_head(b, vtag::SEQ, types::DICT, 1);
        v::put_container_head(b, vtag::TUPLE, types::TUPLE, 2);
        v::put_string(b, types::STR, b"key");
        v::put_string(b, types::STR, b"now a str");
    })
    .unwrap();
    assert_eq!(patched, set);
    assert!(patched.contains("\"f\":\"1.5\"") && patched.contains("now a str"));
}

#[test]
fn an_empty_path_replaces_the_whole_value() {
    let patched = converted("root", |b| {
        st::put_patch_head(b, 0, 1);
        path(b, &[]);
        v::put_int(b, types::INT, 9);
    })
    .unwrap();
    let set = converted("root-set", |b| {
        st::put_set_head(b, 0);
        v::put_int(b, types::INT, 9);
    })
    .unwrap();
    assert_eq!(patched, set);
}

#[test]
fn a_patch_outside_the_value_is_reported_as_corrupt() {
    // (variable, path): a child the value does not have; a variable never bound.
    for (name, var, at) in [("outside", 0, 5), ("unbound", 7, 0)] {
        let err = converted(name, |b| {
            st::put_patch_head(b, var, 1);
            path(b, &[at]);
            v::put_none(b);
        })
        .unwrap_err();
        assert!(err.contains("corrupt"), "{name}: {err}");
    }
}

#[test]
fn an_object_reference_shows_the_object_as_of_the_reference() {
    // One object shown by a variable; patched, then shown again: the step
    // between still shows the value the variable was last given.
    let by_ref = converted("objects", |b| {
        st::put_obj_head(b, 0);
        put_points(b, 1.0, 3, b"k");
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_step(b, 0, 4);
        st::put_obj_patch_head(b, 0, 1);
        path(b, &[0, 0]);
        v::put_float(b, types::FLOAT, 1.5);
        st::put_step(b, 0, 5);
        st::put_set_head(b, 0);
        v::put_obj_ref(b, 0);
        st::put_obj_head(b, 0);
        v::put_int(b, types::INT, 9);
        st::put_step(b, 0, 6);
    })
    .unwrap();
    let whole = converted("objects-set", |b| {
        st::put_set_head(b, 0);
        put_points(b, 1.0, 3, b"k");
        st::put_step(b, 0, 4);
        st::put_step(b, 0, 5);
        st::put_set_head(b, 0);
        put_points(b, 1.5, 3, b"k");
        st::put_step(b, 0, 6);
    })
    .unwrap();
    assert_eq!(by_ref, whole);
}

#[test]
fn a_reference_to_an_object_never_defined_is_reported_as_corrupt() {
    type Body = fn(&mut Vec<u8>);
    let cases: [(&str, Body); 3] = [
        ("ref", |b| {
            st::put_set_head(b, 0);
            v::put_obj_ref(b, 0);
        }),
        ("obj-patch", |b| {
            st::put_obj_patch_head(b, 0, 1);
            path(b, &[]);
            v::put_none(b);
        }),
        ("obj-gap", |b| {
            st::put_obj_head(b, 3);
            v::put_none(b);
        }),
    ];
    for (name, body) in cases {
        let err = converted(name, body).unwrap_err();
        assert!(err.contains("corrupt"), "{name}: {err}");
    }
}

#[test]
fn a_format_2_stream_still_converts() {
    let dir = tmp("format2");
    let events = dir.join("events.bin");
    let mut b = b"CTPYEV02".to_vec();
    head(&mut b);
    st::put_end(&mut b, 0);
    std::fs::write(&events, &b).unwrap();
    convert(&events, &dir).unwrap();
    assert!(std::fs::read_to_string(dir.join("trace.json")).unwrap().contains("\"f\":\"1.0\""));
}
