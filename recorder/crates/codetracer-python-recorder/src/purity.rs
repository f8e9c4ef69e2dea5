//! Lines that cannot change any value the recorder shows.
//!
//! Between two LINE events of one frame, with no other event in between, the
//! interpreter ran only the instructions of the earlier line (and
//! instructions without a line number). Python code run from any of them —
//! a dunder method, a property, a finaliser, another thread — would have
//! sent an event of its own (code the recorder never records keeps its
//! PY_START events for this reason). So when every such instruction is one that can
//! only read objects, build new ones or rebind fast locals, no container or
//! instance visible in the frame can have changed in place: comparing the
//! fast locals by identity is then exact, and walking their trails can be
//! skipped (issue 8: most lines of numeric code only read containers).
//!
//! Instructions that call C code able to mutate (calls, stores into
//! containers and attributes, in-place operators, anything that may consume
//! an arbitrary iterator — `for`, unpacking, `in`, `[*it]` — imports,
//! exception handling, `with`) make a line impure: an iterator such as
//! `iter(stack.pop, None)` mutates through C calls that send no event. The
//! allow-list is written by name and resolved through `opcode.opmap`, so an
//! opcode this table does not know is impure.

use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

/// Instructions that read, build or rebind, and call no C code that could
/// mutate an existing container or instance.
const PURE: &[&str] = &[
    "CACHE", "NOP", "RESUME", "EXTENDED_ARG", "POP_TOP", "PUSH_NULL", "COPY", "SWAP", "END_FOR",
    "LOAD_CONST", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_LOAD_FAST",
    "STORE_FAST", "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST", "DELETE_FAST",
    "LOAD_GLOBAL", "LOAD_DEREF", "STORE_DEREF", "LOAD_CLOSURE", "MAKE_CELL", "COPY_FREE_VARS", "LOAD_ATTR",
    "BINARY_SUBSCR", "BINARY_SLICE", "COMPARE_OP", "IS_OP",
    "UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT", "TO_BOOL",
    "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE",
    "JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT",
    "BUILD_TUPLE", "BUILD_LIST", "BUILD_MAP", "BUILD_SET", "BUILD_CONST_KEY_MAP", "BUILD_SLICE", "BUILD_STRING",
    "LIST_APPEND", "SET_ADD", "MAP_ADD",
    "FORMAT_VALUE", "FORMAT_SIMPLE", "FORMAT_WITH_SPEC", "CONVERT_VALUE",
    "MAKE_FUNCTION", "SET_FUNCTION_ATTRIBUTE", "LOAD_ASSERTION_ERROR",
    "RETURN_VALUE", "RETURN_CONST", "GET_ITER",
];

/// `BINARY_OP` arguments from this one on are the in-place operators
/// (`+=` ... `^=`, the same numbering on 3.12 and 3.13), which may mutate
/// their left operand.
const NB_INPLACE_FIRST: u32 = 13;
const NB_INPLACE_LAST: u32 = 25;

/// The interpreter's opcodes classified once per recording.
pub struct OpTable {
    pure: [bool; 256],
    binary_op: u8,
    extended_arg: u8,
}

impl OpTable {
    /// Reads `opcode.opmap`; None when it is unavailable (every line is then impure).
    pub fn load(py: Python<'_>) -> Option<Self> {
        let opmap = py.import("opcode").ok()?.getattr("opmap").ok()?;
        let opmap = opmap.cast::<PyDict>().ok()?;
        let code = |name: &str| -> Option<u8> { opmap.get_item(name).ok().flatten()?.extract::<u8>().ok() };
        let mut pure = [false; 256];
        for name in PURE {
            if let Some(op) = code(name) {
                pure[op as usize] = true;
            }
        }
        Some(Self { pure, binary_op: code("BINARY_OP")?, extended_arg: code("EXTENDED_ARG")? })
    }
}

/// The set of a code object's lines after which nothing visible can have
/// changed in place.
#[derive(Default)]
pub struct PureLines {
    base: u32,
    bits: Vec<u64>,
}

impl PureLines {
    #[inline]
    pub fn contains(&self, line: u32) -> bool {
        let Some(i) = line.checked_sub(self.base) else { return false };
        let i = i as usize;
        self.bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Classifies the lines of `code` (a code object). Lines without any
    /// instruction, and every line of code whose instructions without a line
    /// number are not all pure, are impure.
    pub fn of(py: Python<'_>, table: &OpTable, code: *mut ffi::PyObject) -> Self {
        // SAFETY: GIL held (callers); `code` is a live code object.
        let code = unsafe { Bound::from_borrowed_ptr(py, code) };
        Self::read(table, &code).unwrap_or_default()
    }

    fn read(table: &OpTable, code: &Bound<'_, PyAny>) -> Option<Self> {
        let bytecode = code.getattr("co_code").ok()?;
        let bytecode = bytecode.cast::<PyBytes>().ok()?.as_bytes();
        let pure = instruction_purity(table, bytecode);
        // (start, end, line) ranges of byte offsets; line None for instructions without one.
        let mut ranges: Vec<(usize, usize, Option<u32>)> = Vec::new();
        for item in code.call_method0("co_lines").ok()?.try_iter().ok()? {
            let item = item.ok()?;
            let t = item.cast::<PyTuple>().ok()?;
            let start: usize = t.get_item(0).ok()?.extract().ok()?;
            let end: usize = t.get_item(1).ok()?.extract().ok()?;
            let line: Option<u32> = t.get_item(2).ok()?.extract().ok()?;
            ranges.push((start, end, line));
        }
        let (mut lo, mut hi) = (u32::MAX, 0u32);
        for (_, _, line) in &ranges {
            if let Some(l) = line {
                lo = lo.min(*l);
                hi = hi.max(*l);
            }
        }
        if lo > hi {
            return None;
        }
        let all_pure = |s: usize, e: usize| (s / 2..(e / 2).min(pure.len())).all(|i| pure[i]);
        if ranges.iter().any(|(s, e, line)| line.is_none() && !all_pure(*s, *e)) {
            return None;
        }
        let n = (hi - lo + 1) as usize;
        let mut seen = vec![false; n];
        let mut impure = vec![false; n];
        for (s, e, line) in &ranges {
            if let Some(l) = line {
                let i = (l - lo) as usize;
                seen[i] = true;
                impure[i] |= !all_pure(*s, *e);
            }
        }
        let mut bits = vec![0u64; n.div_ceil(64)];
        for i in 0..n {
            if seen[i] && !impure[i] {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        Some(Self { base: lo, bits })
    }
}

/// Per 2-byte code unit: whether the instruction starting there is pure
/// (cache entries are `CACHE`, pure).
fn instruction_purity(table: &OpTable, bytecode: &[u8]) -> Vec<bool> {
    let mut out = Vec::with_capacity(bytecode.len() / 2);
    let mut ext: u32 = 0;
    for unit in bytecode.chunks_exact(2) {
        let (op, arg) = (unit[0], u32::from(unit[1]) | (ext << 8));
        ext = if op == table.extended_arg { arg } else { 0 };
        let pure = if op == table.binary_op {
            !(NB_INPLACE_FIRST..=NB_INPLACE_LAST).contains(&arg)
        } else {
            table.pure[op as usize]
        };
        out.push(pure);
    }
    out
}

/// Advanced whenever something may have run code able to mutate values:
/// every monitoring event but a LINE after a pure line of the same frame, and
/// every reference the recorder drops that may run a finaliser. Only touched
/// with the GIL held.
static EPOCH: AtomicU64 = AtomicU64::new(1);

#[inline]
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

#[inline]
pub fn advance() {
    EPOCH.store(EPOCH.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Takes back the advance of the event being handled (a LINE after a pure line).
#[inline]
pub fn retract() {
    EPOCH.store(EPOCH.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
}

/// Drops a reference the recorder owns. Dropping the last reference to
/// anything but a str, int, float or bytes may run a finaliser (Python code
/// whose events do not reach a callback that is running), so it advances the
/// epoch.
///
/// # Safety
/// GIL held; the caller owns the reference.
#[inline]
pub unsafe fn release(obj: *mut ffi::PyObject) {
    // SAFETY: see the function's contract.
    unsafe {
        if ffi::Py_REFCNT(obj) == 1 {
            let tp = ffi::Py_TYPE(obj);
            let plain = tp == addr_of_mut!(ffi::PyFloat_Type)
                || tp == addr_of_mut!(ffi::PyLong_Type)
                || tp == addr_of_mut!(ffi::PyUnicode_Type)
                || tp == addr_of_mut!(ffi::PyBytes_Type);
            if !plain {
                advance();
            }
        }
        crate::rc::decref(obj);
    }
}
