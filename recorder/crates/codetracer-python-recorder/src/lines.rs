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
//! frame's previous step. A call's first line start always steps; a frame
//! resumed (PY_RESUME, PY_THROW) compares with the line of the instruction
//! it goes on from (`Recorder::note_resume`).
//!
//! Those are the lines `sys.settrace` reports, less its repeats (a backward
//! jump that stays on one line, the line a resumed generator goes on from),
//! on 3.12 and 3.13 alike: a call's first line included — a class body's
//! `class` line, a lambda's, a one-line function's, a generator
//! expression's. Plain LINE events give the same while PY_START is on, as
//! it always is for the recorder (a global event). Without PY_START, 3.13
//! reports no LINE at a call's first line when it is the line of the
//! call's RESUME (measured on 3.13.0: `lambda q: q + 1` steps on 3.12 and
//! not on 3.13); settrace itself runs with PY_START on. So no version
//! number decides a line here. (Checked against settrace by
//! `test_long_code_objects_step_through_every_line` and the replay
//! suite's oracle, on both versions, in place, portable and as an unknown
//! version.)

use std::sync::atomic::{AtomicU32, Ordering};

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

/// Learns this interpreter's facts (once per recording, before the program
/// runs: `opcode` is then hidden from the program again). `stand_in`: the
/// INSTRUCTION stand-in follows CPython's rules of a version this recorder
/// knows (3.12, 3.13); on any other, LINE events are used as they are.
pub fn configure(py: Python<'_>, stand_in: bool) {
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
