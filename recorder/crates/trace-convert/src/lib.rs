//! trace.json → trace.ct: reads the JSON trace with CodeTracer's official
//! schema types one event at a time (memory bounded by one event, not the
//! trace) and feeds each to a [`ctfs::CtfsWriter`].

use std::fmt;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use codetracer_trace_types::{TraceLowLevelEvent as E, TypeSpecificInfo, ValueRecord};
use ctfs::{CtfsWriter, TraceEvent, TypeInfo, Value, WriteStats};
use recorder_errors::prelude::*;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};

/// The official value as a sink value; `Err` for variants a Python
/// recording never holds.
pub fn to_value(v: &ValueRecord) -> Result<Value, String> {
    let all = |xs: &[ValueRecord]| xs.iter().map(to_value).collect::<Result<Vec<_>, _>>();
    Ok(match v {
        ValueRecord::Int { i, type_id } => Value::Int { i: *i, type_id: type_id.0 as u64 },
        ValueRecord::Float { f, type_id } => Value::Float { f: *f, type_id: type_id.0 as u64 },
        ValueRecord::Bool { b, type_id } => Value::Bool { b: *b, type_id: type_id.0 as u64 },
        ValueRecord::String { text, type_id } => Value::String { text: text.clone(), type_id: type_id.0 as u64 },
        ValueRecord::Raw { r, type_id } => Value::Raw { r: r.clone(), type_id: type_id.0 as u64 },
        ValueRecord::Error { msg, type_id } => Value::Error { msg: msg.clone(), type_id: type_id.0 as u64 },
        ValueRecord::None { type_id } => Value::None { type_id: type_id.0 as u64 },
        ValueRecord::BigInt { b, negative, type_id } => {
            Value::BigInt { magnitude: b.clone(), negative: *negative, type_id: type_id.0 as u64 }
        }
        ValueRecord::Sequence { elements, is_slice, type_id } => {
            Value::Sequence { elements: all(elements)?, is_slice: *is_slice, type_id: type_id.0 as u64 }
        }
        ValueRecord::Tuple { elements, type_id } => Value::Tuple { elements: all(elements)?, type_id: type_id.0 as u64 },
        ValueRecord::Struct { field_values, type_id } => {
            Value::Struct { field_values: all(field_values)?, type_id: type_id.0 as u64 }
        }
        other => return Err(format!("value kind not supported by the CTFS writer: {other:?}")),
    })
}

/// Writes one official event to a sink.
pub fn feed(sink: &mut CtfsWriter, ev: &E) -> Result<(), String> {
    let err = |e: RecorderError| e.to_string();
    match ev {
        E::Path(p) => sink.event(&TraceEvent::Path(&p.to_string_lossy())).map_err(err),
        E::Function(f) => sink
            .event(&TraceEvent::Function { path_id: f.path_id.0 as u64, line: f.line.0, name: &f.name })
            .map_err(err),
        E::Type(t) => {
            let fields: Vec<(&str, u64)>;
            let info = match &t.specific_info {
                TypeSpecificInfo::Struct { fields: fs } => {
                    fields = fs.iter().map(|f| (f.name.as_str(), f.type_id.0 as u64)).collect();
                    TypeInfo::Struct(&fields)
                }
                TypeSpecificInfo::None => TypeInfo::None,
                TypeSpecificInfo::Pointer { .. } => return Err("Pointer types are not supported by the CTFS writer".into()),
            };
            sink.event(&TraceEvent::Type { kind: t.kind as u8, lang_type: &t.lang_type, info }).map_err(err)
        }
        E::VariableName(n) | E::Variable(n) => sink.event(&TraceEvent::VariableName(n)).map_err(err),
        E::Step(s) => sink.event(&TraceEvent::Step { path_id: s.path_id.0 as u64, line: s.line.0 }).map_err(err),
        E::Call(c) => {
            let args = c
                .args
                .iter()
                .map(|a| Ok((a.variable_id.0 as u64, to_value(&a.value)?)))
                .collect::<Result<Vec<_>, String>>()?;
            sink.event(&TraceEvent::Call { function_id: c.function_id.0 as u64, args: &args }).map_err(err)
        }
        E::Return(r) => sink.event(&TraceEvent::Return { value: &to_value(&r.return_value)? }).map_err(err),
        E::Value(v) => sink
            .event(&TraceEvent::Value { variable_id: v.variable_id.0 as u64, value: &to_value(&v.value)? })
            .map_err(err),
        E::Event(e) => sink
            .event(&TraceEvent::Event { kind: e.kind as u8, metadata: &e.metadata, content: &e.content })
            .map_err(err),
        other => Err(format!("event not supported by the CTFS writer: {other:?}")),
    }
}

/// Streams the elements of a JSON array of events into a sink.
struct Feeder<'a> {
    sink: &'a mut CtfsWriter,
}

impl<'de> DeserializeSeed<'de> for Feeder<'_> {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Feeder<'_> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of trace events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        while let Some(ev) = seq.next_element::<E>()? {
            feed(self.sink, &ev).map_err(|m| serde::de::Error::custom(format!("event {n}: {m}")))?;
            n += 1;
        }
        Ok(n)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RecorderError + '_ {
    move |e| RecorderError::from_io(ErrorCode::Io, e, path)
}

/// Reads `in_dir` (trace.json + trace_metadata.json) and writes
/// `out_dir/trace.ct`.
pub fn convert_dir(in_dir: &Path, out_dir: &Path) -> RecorderResult<WriteStats> {
    let meta_path = in_dir.join("trace_metadata.json");
    let meta_json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&fs::read(&meta_path).map_err(io(&meta_path))?)
            .map_err(|e| usage!(ErrorCode::InvalidOption, "{}: not a JSON object: {}", meta_path.display(), e))?;
    // meta.dat's fields as the recorder's own CTFS sink takes them.
    let meta = trace_writer::ctfs_sink::trace_meta(&meta_json, &[]);
    fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let trace_path = in_dir.join("trace.json");
    let file = File::open(&trace_path).map_err(io(&trace_path))?;
    let out = out_dir.join("trace.ct");
    let mut sink = CtfsWriter::create(&out)?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    Feeder { sink: &mut sink }
        .deserialize(&mut de)
        .map_err(|e| usage!(ErrorCode::InvalidOption, "{}: {}", trace_path.display(), e))?;
    de.end().map_err(|e| usage!(ErrorCode::InvalidOption, "{}: {}", trace_path.display(), e))?;
    sink.finish(&meta)
}
