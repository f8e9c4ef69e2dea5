//! Line events of each recorded code object, requested as the recorder
//! first meets the code (`sys.monitoring.set_local_events`): LINE events,
//! or for a long code object INSTRUCTION events that stand in for them.
//!
//! Why: CPython 3.12 and 3.13 keep a LINE event's line as an 8-bit delta
//! from `co_firstlineno`; a line further than 127 lines from it is looked up
//! in the line table from its start (`PyCode_Addr2Line`) at every LINE
//! event, twice. A function whose dict literal spans 3,720 lines recorded
//! in 0.5 s, 14,880 lines in 7.6 s: the time grew with the square of the
//! code's length. INSTRUCTION events carry the instruction's offset
//! instead; the recorder maps offsets to lines with a table computed once
//! per code object, so the work stays linear.
//!
//! The stand-in follows CPython's own rules exactly: the instructions that
//! start a line are the ones CPython instruments with `INSTRUMENTED_LINE`
//! (read from `_co_code_adaptive` while LINE events are briefly on for the
//! code); every other instruction answers DISABLE at its first event. A
//! line start reports a step when its line differs from the line of the
//! frame's previous step; before the frame's first step, 3.12 compares with
//! nothing (a LINE event always follows RESUME) and 3.13 with the line of
//! the instruction the frame started or resumed at. (Checked against plain
//! LINE events by `test_long_code_objects_step_through_every_line`.)
//!
//! 3.13 also reports a LINE event at the entry line itself (a lambda's, a
//! one-line function's body), at every call, when the code's LINE events
//! were turned on during its own PY_START, as the recorder does on first
//! meeting it (measured): a call's first LINE event at the line of its
//! RESUME is dropped (`Recorder::note_entry`), so the steps are those of
//! plain python.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use recorder_errors::prelude::*;

use crate::tool;

/// Code objects spanning more lines than this (from `co_firstlineno`) get
/// INSTRUCTION events; below, LINE events cost at most a short lookup.
pub const LONG_SPAN: i64 = 255;

/// A unit's line when it has none (artificial instructions).
pub const NO_LINE: u32 = u32::MAX - 1;

/// `INSTRUMENTED_LINE`'s opcode (0: unknown, no stand-in).
static INSTRUMENTED_LINE: AtomicU32 = AtomicU32::new(0);
/// 3.12: the first line start after RESUME always reports a step.
static ENTRY_ALWAYS_STEPS: AtomicBool = AtomicBool::new(true);

/// Learns this interpreter's facts (once per recording, before the program
/// runs: `opcode` is then hidden from the program again). `stand_in`: the
/// INSTRUCTION stand-in follows CPython's rules of a version this recorder
/// knows (3.12, 3.13); on any other, LINE events are used as they are.
pub fn configure(py: Python<'_>, minor: u32, stand_in: bool) {
    ENTRY_ALWAYS_STEPS.store(minor <= 12, Ordering::Relaxed);
    if !stand_in {
        INSTRUMENTED_LINE.store(0, Ordering::Relaxed);
        return;
    }
    let op = py.import("opcode").ok().and_then(|m| {
        ["_specialized_opmap", "opmap"]
            .iter()
            .find_map(|map| m.getattr(*map).ok()?.get_item("INSTRUMENTED_LINE").ok()?.extract::<u32>().ok())
    });
    INSTRUMENTED_LINE.store(op.unwrap_or(0), Ordering::Relaxed);
}

/// Whether a frame's first line start compares with the line it started at.
#[inline]
pub fn entry_compares() -> bool {
    !ENTRY_ALWAYS_STEPS.load(Ordering::Relaxed)
}

/// Per code unit (2 bytes of bytecode): its line and whether it starts one.
pub struct LineTable {
    lines: Vec<u32>,
    starts: Vec<bool>,
}

impl LineTable {
    /// The line of the instruction at byte `offset`, when it starts a line.
    #[inline]
    pub fn line_start(&self, offset: usize) -> Option<u32> {
        let unit = offset / 2;
        match (self.starts.get(unit), self.lines.get(unit)) {
            (Some(true), Some(&line)) if line != NO_LINE => Some(line),
            _ => None,
        }
    }

    /// The line of the instruction at byte `offset` (NO_LINE if none).
    #[inline]
    pub fn line_at(&self, offset: usize) -> u32 {
        self.lines.get(offset / 2).copied().unwrap_or(NO_LINE)
    }
}

/// Turns on the line events of `code` (a code object about to be
/// recorded): LINE, or INSTRUCTION with the table that maps them to lines
/// when the code is long.
pub fn request(code: &Bound<'_, PyAny>) -> RecorderResult<Option<LineTable>> {
    let py = code.py();
    let il = INSTRUMENTED_LINE.load(Ordering::Relaxed);
    let lines = if il == 0 { None } else { long_lines(code).map_err(|e| bug!(ErrorCode::Internal, "reading co_lines(): {}", e.value(py)))? };
    tool::set_local_events(py, code, tool::LINE)?;
    let Some(lines) = lines else { return Ok(None) };
    // Without the instrumented bytecode, LINE events as they are: slower
    // for long code, the same steps.
    let Ok(raw) = code.getattr("_co_code_adaptive").and_then(|b| b.cast_into::<PyBytes>().map_err(PyErr::from)) else {
        log::debug!("no _co_code_adaptive: LINE events for a long code object");
        return Ok(None);
    };
    let raw = raw.as_bytes();
    let starts: Vec<bool> = (0..lines.len()).map(|u| raw.get(2 * u).is_some_and(|&op| u32::from(op) == il)).collect();
    tool::set_local_events(py, code, tool::INSTRUCTION)?;
    Ok(Some(LineTable { lines, starts }))
}

/// The line of the instruction at byte `offset` of `code` (NO_LINE if none).
pub fn line_of(code: &Bound<'_, PyAny>, offset: usize) -> u32 {
    let found = || -> PyResult<u32> {
        for item in code.call_method0("co_lines")?.try_iter()? {
            let item = item?;
            let t = item.cast::<PyTuple>()?;
            let (start, end): (usize, usize) = (t.get_item(0)?.extract()?, t.get_item(1)?.extract()?);
            if (start..end).contains(&offset) {
                let line: Option<i64> = t.get_item(2)?.extract()?;
                return Ok(line.filter(|l| *l >= 0).map_or(NO_LINE, |l| l as u32));
            }
        }
        Ok(NO_LINE)
    };
    found().unwrap_or(NO_LINE)
}

/// The line of each code unit, when some line lies further than
/// [`LONG_SPAN`] from `co_firstlineno`; None for shorter code.
fn long_lines(code: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u32>>> {
    let first: i64 = code.getattr("co_firstlineno")?.extract()?;
    let units = code.getattr("co_code")?.len()? / 2;
    let mut lines = vec![NO_LINE; units];
    let mut long = false;
    for item in code.call_method0("co_lines")?.try_iter()? {
        let item = item?;
        let t = item.cast::<PyTuple>()?;
        let (start, end): (usize, usize) = (t.get_item(0)?.extract()?, t.get_item(1)?.extract()?);
        let line: Option<i64> = t.get_item(2)?.extract()?;
        let Some(line) = line.filter(|l| *l >= 0) else { continue };
        long |= (line - first).abs() > LONG_SPAN;
        for unit in lines.iter_mut().take(end / 2).skip(start / 2) {
            *unit = line as u32;
        }
    }
    Ok(long.then_some(lines))
}
