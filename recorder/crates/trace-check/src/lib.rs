//! Reads a trace folder with CodeTracer's official schema types
//! (`codetracer_trace_types` 0.16.3) and checks what replay relies on:
//! every id is defined before use, TypeId 0 is `None`, every `Call` has one
//! `Return`, the first call is `<toplevel>` and the last event returns it.

use std::fs;
use std::path::{Path, PathBuf};

use codetracer_trace_types::{TraceLowLevelEvent as E, TraceMetadata, TypeKind, ValueRecord};

/// What a valid trace holds.
#[derive(Debug, Default)]
pub struct Summary {
    pub events: usize,
    pub calls: usize,
    pub steps: usize,
    pub values: usize,
    pub functions: Vec<String>,
    pub variables: Vec<String>,
}

fn check_value(v: &ValueRecord, types: usize) -> Result<(), String> {
    let tid = match v {
        ValueRecord::Int { type_id, .. }
        | ValueRecord::Float { type_id, .. }
        | ValueRecord::Bool { type_id, .. }
        | ValueRecord::String { type_id, .. }
        | ValueRecord::Raw { type_id, .. }
        | ValueRecord::Error { type_id, .. }
        | ValueRecord::None { type_id }
        | ValueRecord::BigInt { type_id, .. }
        | ValueRecord::Char { type_id, .. } => *type_id,
        ValueRecord::Sequence { elements, type_id, .. } | ValueRecord::Tuple { elements, type_id } => {
            for e in elements {
                check_value(e, types)?;
            }
            *type_id
        }
        ValueRecord::Struct { field_values, type_id } => {
            for e in field_values {
                check_value(e, types)?;
            }
            *type_id
        }
        ValueRecord::Variant { contents, type_id, .. } => {
            check_value(contents, types)?;
            *type_id
        }
        ValueRecord::Reference { dereferenced, type_id, .. } => {
            check_value(dereferenced, types)?;
            *type_id
        }
        ValueRecord::Cell { .. } => return Ok(()),
    };
    if tid.0 >= types {
        return Err(format!("value uses type id {} before it is defined", tid.0));
    }
    Ok(())
}

/// Checks the folder; `Err` names the first problem.
pub fn check_dir(dir: &Path) -> Result<Summary, String> {
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let events: Vec<E> = serde_json::from_slice(&read("trace.json")?).map_err(|e| format!("trace.json does not match the schema: {e}"))?;
    let _meta: TraceMetadata =
        serde_json::from_slice(&read("trace_metadata.json")?).map_err(|e| format!("trace_metadata.json does not match the schema: {e}"))?;
    let paths: Vec<PathBuf> =
        serde_json::from_slice(&read("trace_paths.json")?).map_err(|e| format!("trace_paths.json does not match the schema: {e}"))?;
    if dir.join("trace.bin").exists() {
        return Err("a stale trace.bin sits beside trace.json".into());
    }
    let mut s = Summary { events: events.len(), ..Summary::default() };
    let (mut npaths, mut types, mut depth) = (0usize, 0usize, 0i64);
    for (i, ev) in events.iter().enumerate() {
        let at = |m: String| format!("event {i}: {m}");
        match ev {
            E::Path(_) => npaths += 1,
            E::Function(f) => {
                if f.path_id.0 >= npaths {
                    return Err(at(format!("function uses path id {} before it is defined", f.path_id.0)));
                }
                s.functions.push(f.name.clone());
            }
            E::Type(t) => {
                if types == 0 && t.kind != TypeKind::None {
                    return Err(at("type id 0 must be None".into()));
                }
                types += 1;
            }
            E::VariableName(n) | E::Variable(n) => s.variables.push(n.clone()),
            E::Step(st) => {
                if st.path_id.0 >= npaths {
                    return Err(at(format!("step uses path id {} before it is defined", st.path_id.0)));
                }
                s.steps += 1;
            }
            E::Value(v) => {
                if v.variable_id.0 >= s.variables.len() {
                    return Err(at(format!("value uses variable id {} before it is defined", v.variable_id.0)));
                }
                check_value(&v.value, types).map_err(at)?;
                s.values += 1;
            }
            E::Call(c) => {
                if c.function_id.0 >= s.functions.len() {
                    return Err(at(format!("call uses function id {} before it is defined", c.function_id.0)));
                }
                if s.calls == 0 && c.function_id.0 != 0 {
                    return Err(at("the first call must be <toplevel> (function 0)".into()));
                }
                for a in &c.args {
                    check_value(&a.value, types).map_err(at)?;
                }
                depth += 1;
                s.calls += 1;
            }
            E::Return(r) => {
                check_value(&r.return_value, types).map_err(at)?;
                depth -= 1;
                if depth < 0 {
                    return Err(at("Return with no open Call".into()));
                }
                if depth == 0 && i + 1 != events.len() {
                    return Err(at("<toplevel> returned before the end of the trace".into()));
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{depth} Call(s) never returned"));
    }
    if npaths != paths.len() {
        return Err(format!("trace_paths.json has {} paths, trace.json defines {}", paths.len(), npaths));
    }
    Ok(s)
}
