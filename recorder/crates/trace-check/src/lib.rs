//! Reads a trace folder with CodeTracer's official schema types
//! (`codetracer_trace_types` 0.16.3) and checks what replay relies on:
//! every id is defined before use, TypeId 0 is `None`, every `Call` has one
//! `Return`, the first call is `<toplevel>` and the last event returns it.
//!
//! Both formats are read: `trace.json` (+ `trace_metadata.json`,
//! `trace_paths.json`) and the CTFS container `trace.ct` ([`ct`]); the
//! same [`Checker`] sees the events of either.

pub mod ctfs_reader;

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
    pub paths: usize,
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

/// The replay invariants, checked one event at a time.
#[derive(Debug, Default)]
pub struct Checker {
    s: Summary,
    types: usize,
    depth: i64,
    toplevel_returned: bool,
}

impl Checker {
    /// Checks the next event (`i`: its index, for messages).
    pub fn event(&mut self, i: usize, ev: &E) -> Result<(), String> {
        let at = |m: String| format!("event {i}: {m}");
        if self.toplevel_returned {
            return Err(at("<toplevel> returned before the end of the trace".into()));
        }
        let s = &mut self.s;
        s.events += 1;
        match ev {
            E::Path(_) => s.paths += 1,
            E::Function(f) => {
                if f.path_id.0 >= s.paths {
                    return Err(at(format!("function uses path id {} before it is defined", f.path_id.0)));
                }
                s.functions.push(f.name.clone());
            }
            E::Type(t) => {
                if self.types == 0 && t.kind != TypeKind::None {
                    return Err(at("type id 0 must be None".into()));
                }
                self.types += 1;
            }
            E::VariableName(n) | E::Variable(n) => s.variables.push(n.clone()),
            E::Step(st) => {
                if st.path_id.0 >= s.paths {
                    return Err(at(format!("step uses path id {} before it is defined", st.path_id.0)));
                }
                s.steps += 1;
            }
            E::Value(v) => {
                if v.variable_id.0 >= s.variables.len() {
                    return Err(at(format!("value uses variable id {} before it is defined", v.variable_id.0)));
                }
                check_value(&v.value, self.types).map_err(at)?;
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
                    check_value(&a.value, self.types).map_err(at)?;
                }
                self.depth += 1;
                s.calls += 1;
            }
            E::Return(r) => {
                check_value(&r.return_value, self.types).map_err(at)?;
                self.depth -= 1;
                if self.depth < 0 {
                    return Err(at("Return with no open Call".into()));
                }
                if self.depth == 0 {
                    self.toplevel_returned = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the trace: every call must have returned.
    pub fn finish(self) -> Result<Summary, String> {
        if self.depth != 0 {
            return Err(format!("{} Call(s) never returned", self.depth));
        }
        Ok(self.s)
    }
}

/// Checks the trace.json of a folder; `Err` names the first problem.
pub fn check_json_dir(dir: &Path) -> Result<Summary, String> {
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let events: Vec<E> = serde_json::from_slice(&read("trace.json")?).map_err(|e| format!("trace.json does not match the schema: {e}"))?;
    let _meta: TraceMetadata =
        serde_json::from_slice(&read("trace_metadata.json")?).map_err(|e| format!("trace_metadata.json does not match the schema: {e}"))?;
    let paths: Vec<PathBuf> =
        serde_json::from_slice(&read("trace_paths.json")?).map_err(|e| format!("trace_paths.json does not match the schema: {e}"))?;
    if dir.join("trace.bin").exists() {
        return Err("a stale trace.bin sits beside trace.json".into());
    }
    let mut c = Checker::default();
    for (i, ev) in events.iter().enumerate() {
        c.event(i, ev)?;
    }
    let s = c.finish()?;
    if s.paths != paths.len() {
        return Err(format!("trace_paths.json has {} paths, trace.json defines {}", paths.len(), s.paths));
    }
    Ok(s)
}

/// Checks a `trace.ct`: it must be whole, finished, not marked partial,
/// and its events must pass the same checks as trace.json's. A trace cut
/// short is refused with how far it reads.
pub fn check_ct(path: &Path) -> Result<Summary, String> {
    let mut c = Checker::default();
    let read = ctfs_reader::read_ct(path, |i, ev| c.event(usize::try_from(i).unwrap_or(usize::MAX), ev))?;
    if let ctfs::events::ChunkEnd::CutShort { at } = read.end {
        return Err(format!(
            "partial: the container ends inside events.log at byte {at}; {} events in {} whole chunks read",
            read.events, read.chunks
        ));
    }
    let meta = read.meta.ok_or_else(|| format!("partial: {}", read.meta_problem.unwrap_or_default()))?;
    if let Some(reason) = read.partial {
        return Err(format!("partial: the recorder marked this trace partial: {reason}"));
    }
    let s = c.finish()?;
    if !meta.paths.is_empty() && meta.paths.len() != s.paths {
        return Err(format!("meta.dat lists {} paths, events.log defines {}", meta.paths.len(), s.paths));
    }
    Ok(s)
}

/// Hands every event of a folder's trace (its `trace.ct` when it has one,
/// else its `trace.json`) to `on_event`, as the official schema types, in
/// trace order: the same events from either format compare equal. A `.ct`
/// cut short gives the events of its whole chunks.
pub fn each_event(dir: &Path, mut on_event: impl FnMut(&E) -> Result<(), String>) -> Result<(), String> {
    let ct = dir.join("trace.ct");
    if ct.exists() {
        ctfs_reader::read_ct(&ct, |_, ev| on_event(ev)).map(|_| ())
    } else {
        let bytes = fs::read(dir.join("trace.json")).map_err(|e| format!("trace.json: {e}"))?;
        let events: Vec<E> = serde_json::from_slice(&bytes).map_err(|e| format!("trace.json does not match the schema: {e}"))?;
        events.iter().try_for_each(on_event)
    }
}

/// Checks a trace folder: its `trace.ct` and/or its `trace.json`.
pub fn check_dir(dir: &Path) -> Result<Summary, String> {
    let ct = dir.join("trace.ct");
    let has_json = dir.join("trace.json").exists();
    if ct.exists() {
        let s = check_ct(&ct).map_err(|e| format!("trace.ct: {e}"))?;
        if has_json {
            return check_json_dir(dir);
        }
        return Ok(s);
    }
    check_json_dir(dir)
}
