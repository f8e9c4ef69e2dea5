#![allow(dead_code)]
//! A recording sample shared by the schema and CTFS tests.

use std::path::Path;

use trace_writer::stream::{self as st, StreamWriter};
use trace_writer::value::{self as v, types, vtag};
use trace_writer::{Format, TraceDir};

/// A finished trace folder of `format` in `dir` holding [`write_sample`],
/// recorded with `args` (and `recording_id`, when given).
pub fn finished_sample(dir: &Path, format: Format, args: serde_json::Value, recording_id: Option<&str>) {
    let td = TraceDir::prepare(dir, format).unwrap();
    let mut w = StreamWriter::create(&td.events_path()).unwrap();
    write_sample(&mut w, true);
    w.finish().unwrap();
    let mut meta = td.metadata("/src", "/src/app.py", &[]);
    meta.insert("args", args);
    if let Some(id) = recording_id {
        meta.insert("recording_id", id.into());
    }
    td.finish(&meta, None, serde_json::Map::new()).unwrap();
}

/// A small recording using every value encoding (its list `y` holds ten
/// of them, `i64::MIN` last); `finish`: the calls return and the stream ends.
pub fn write_sample(w: &mut StreamWriter, finish: bool) {
    let b = w.buf();
    for (k, name) in types::PREDEFINED {
        st::put_type(b, *k, name, None);
    }
    st::put_path(b, "/src/app.py");
    st::put_function(b, 0, 1, "<toplevel>");
    st::put_call_head(b, 0, 0);
    st::put_function(b, 0, 1, "<__main__>");
    st::put_call_head(b, 1, 0);
    st::put_varname(b, "x");
    st::put_varname(b, "y");
    st::put_type(b, v::kind::STRUCT, "Point", Some(&[("a".into(), types::OBJECT), ("b".into(), types::OBJECT)]));
    st::put_step(b, 0, 2);
    st::put_set_head(b, 0);
    v::put_int(b, types::INT, -42);
    st::put_set_head(b, 1);
    v::put_container_head(b, vtag::SEQ, types::LIST, 10);
    v::put_none(b);
    v::put_bool(b, types::BOOL, true);
    v::put_float(b, types::FLOAT, f64::NAN);
    v::put_float(b, types::FLOAT, f64::NEG_INFINITY);
    v::put_float(b, types::FLOAT, 0.1);
    v::put_string(b, types::STR, "héllo \"q\"\n\u{1}".as_bytes());
    v::put_bigint(b, types::INT, true, &[1, 0, 0, 0, 0, 0, 0, 0, 0]);
    v::put_container_head(b, vtag::STRUCT, 15, 2);
    v::put_raw(b, types::BYTES, b"b'\\x00'");
    v::put_container_head(b, vtag::TUPLE, types::TUPLE, 0);
    v::put_error(b, types::EXCEPTION, b"ValueError: boom");
    v::put_int(b, types::INT, i64::MIN);
    st::put_step(b, 0, 3);
    st::put_unset(b, 0);
    st::put_function(b, 0, 5, "f");
    st::put_call_head(b, 2, 1);
    st::put_varint(b, 0);
    v::put_int(b, types::INT, 7);
    st::put_step(b, 0, 6);
    if finish {
        st::put_return_head(b);
        v::put_int(b, types::INT, 8);
        st::put_return_head(b);
        v::put_none(b);
        st::put_end(b, 3);
    }
}
