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
//! skipped (measured on the bench workloads: most lines of numeric code only
//! read containers).
//!
//! Instructions that call C code able to mutate (calls, stores into
//! containers and attributes, in-place operators, anything that may consume
//! an arbitrary iterator — `for`, unpacking, `in`, `[*it]` — imports,
//! `raise`, `with`) make a line impure: an iterator such as
//! `iter(stack.pop, None)` mutates through C calls that send no event. The
//! allow-list is written by name and resolved through `opcode.opmap`, so an
//! opcode this table does not know is impure.
//!
//! Instructions without a line number run after whichever line jumped to
//! them — mostly exception handlers, entered from any line of their `try`:
//! when one of them is impure no line of the code is pure. The handlers'
//! own bookkeeping (swapping the current exception, matching it, raising
//! it again, a generator's turning StopIteration into RuntimeError) is
//! pure, so functions with `try`/`except`/`finally` and generators keep
//! their pure lines; the locals handlers rebind (`e = None; del e`) count as
//! rebound by every line.

use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::cpython::Layout;

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
    // Exception bookkeeping (the handler code the compiler emits, mostly
    // without a line number): the thread's current exception swapped,
    // matched against a class (a subtype check, no `__instancecheck__`) or
    // raised again. Where control goes then sends an event of its own
    // (PY_UNWIND) or reaches a line (LINE).
    "PUSH_EXC_INFO", "POP_EXCEPT", "CHECK_EXC_MATCH", "RERAISE",
];

/// `BINARY_OP` arguments from this one on are the in-place operators
/// (`+=` ... `^=`, the same numbering on 3.12 and 3.13), which may mutate
/// their left operand.
const NB_INPLACE_FIRST: u32 = 13;
const NB_INPLACE_LAST: u32 = 25;

/// `CALL_INTRINSIC_1` arguments that only build new objects (the same
/// numbering on 3.12 and 3.13): `INTRINSIC_STOPITERATION_ERROR` (every
/// generator's implicit handler, without a line number),
/// `INTRINSIC_UNARY_POSITIVE` (as `UNARY_NEGATIVE`), `INTRINSIC_LIST_TO_TUPLE`.
const PURE_INTRINSICS_1: [u32; 3] = [3, 5, 6];

/// The interpreter's opcodes classified once per process.
#[derive(Clone)]
pub struct OpTable {
    pure: [bool; 256],
    binary_op: u8,
    call_intrinsic_1: Option<u8>,
    extended_arg: u8,
    for_iter: u8,
    unpack_sequence: u8,
    jumps_back: [u8; 2],
    /// Instructions that rebind or clear a fast local (or a cell's
    /// contents) named by their argument; the 3.13 pairs name two in nibbles.
    stores: [Option<u8>; 5],
    store_pairs: [Option<u8>; 2],
    /// Iterator types whose `__next__` is C code that reads its container
    /// and mutates nothing visible (list, tuple, range, dict, set, str and
    /// bytes iterators), by address; and those that yield exact tuples
    /// (dict items), which a `for a, b in ...` may unpack without running
    /// code.
    safe_iters: Vec<usize>,
    tuple_iters: Vec<usize>,
    enumerate: usize,
    /// `types.CodeType.__basicsize__`: where a code object's instructions
    /// start (`co_code_adaptive`).
    code_base: usize,
    /// What each instruction does to the value stack, for finding the lines
    /// impure only by storing into an item of a fast local's container
    /// (see [`PureLines::item_stores`]).
    sim: [Sim; 256],
}

/// An instruction's effect on the value stack, as far as
/// [`item_store_targets`] follows it: where the values come from (a fast
/// local, an item read from one, an in-place operation on such an item).
/// `No`: an instruction a line stored into this way may not hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sim {
    No,
    Nop,
    /// Pushes fast local `arg` (`LOAD_FAST`, `LOAD_FAST_CHECK`).
    Local,
    /// Pushes the two fast locals named in `arg`'s nibbles (3.13).
    LocalPair,
    /// Pops `.0`, pushes `.1` other values.
    Other(u8, u8),
    /// Pops `arg` values, pushes one (`BUILD_TUPLE` ...).
    Build,
    /// Pushes one value, and a second when `arg & 1` (`LOAD_GLOBAL`).
    LoadGlobal,
    /// Pops one, pushes one, and a second when `arg & 1` (`LOAD_ATTR`).
    LoadAttr,
    Copy,
    Swap,
    BinarySubscr,
    BinaryOp,
    StoreSubscr,
    /// Stores `arg`'s high nibble, pushes the local of its low one (3.13).
    StoreLoadFast,
    /// An unconditional jump: the line's last instruction (a loop body's
    /// last line jumps back to its header).
    Jump,
}

impl OpTable {
    /// Reads `opcode.opmap` at the process's first recording; None when it
    /// is unavailable (every line is then impure).
    pub fn load(py: Python<'_>) -> Option<Self> {
        static READ: crate::memo::Memo<(), Option<OpTable>> = crate::memo::Memo::new();
        READ.get((), |_| Self::read(py))
    }

    fn read(py: Python<'_>) -> Option<Self> {
        let opmap = py.import("opcode").ok()?.getattr("opmap").ok()?;
        let opmap = opmap.cast::<PyDict>().ok()?;
        let code = |name: &str| -> Option<u8> { opmap.get_item(name).ok().flatten()?.extract::<u8>().ok() };
        let mut pure = [false; 256];
        for name in PURE {
            if let Some(op) = code(name) {
                pure[op as usize] = true;
            }
        }
        let type_of = |expr: &str| -> Option<usize> {
            let c = std::ffi::CString::new(expr).ok()?;
            Some(py.eval(&c, None, None).ok()?.get_type().as_ptr() as usize)
        };
        let mut safe_iters = Vec::new();
        for expr in ["iter([])", "reversed([])", "iter(())", "iter(range(0))", "iter(range(1 << 64))", "iter({})",
                     "iter({}.values())", "iter(set())", "iter('')", "iter('\\u20ac')", "iter(b'')"] {
            safe_iters.push(type_of(expr)?);
        }
        let tuple_iters = vec![type_of("iter({}.items())")?];
        let mut sim = [Sim::No; 256];
        let mut set = |name: &str, e: Sim| {
            if let Some(op) = code(name) {
                sim[op as usize] = e;
            }
        };
        for name in ["CACHE", "NOP", "RESUME", "EXTENDED_ARG"] {
            set(name, Sim::Nop);
        }
        set("LOAD_FAST", Sim::Local);
        set("LOAD_FAST_CHECK", Sim::Local);
        set("LOAD_FAST_LOAD_FAST", Sim::LocalPair);
        set("LOAD_CONST", Sim::Other(0, 1));
        set("LOAD_DEREF", Sim::Other(0, 1));
        set("LOAD_GLOBAL", Sim::LoadGlobal);
        set("LOAD_ATTR", Sim::LoadAttr);
        set("POP_TOP", Sim::Other(1, 0));
        set("STORE_FAST", Sim::Other(1, 0));
        set("STORE_FAST_STORE_FAST", Sim::Other(2, 0));
        set("STORE_FAST_LOAD_FAST", Sim::StoreLoadFast);
        for name in ["UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT", "TO_BOOL"] {
            set(name, Sim::Other(1, 1));
        }
        for name in ["COMPARE_OP", "IS_OP"] {
            set(name, Sim::Other(2, 1));
        }
        set("BINARY_SLICE", Sim::Other(3, 1));
        for name in ["BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_STRING"] {
            set(name, Sim::Build);
        }
        set("COPY", Sim::Copy);
        set("SWAP", Sim::Swap);
        set("BINARY_SUBSCR", Sim::BinarySubscr);
        set("BINARY_OP", Sim::BinaryOp);
        set("STORE_SUBSCR", Sim::StoreSubscr);
        for name in ["JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"] {
            set(name, Sim::Jump);
        }
        let code_base = py.import("types").ok()?.getattr("CodeType").ok()?.getattr("__basicsize__").ok()?.extract().ok()?;
        Some(Self {
            pure,
            binary_op: code("BINARY_OP")?,
            call_intrinsic_1: code("CALL_INTRINSIC_1"),
            extended_arg: code("EXTENDED_ARG")?,
            for_iter: code("FOR_ITER")?,
            unpack_sequence: code("UNPACK_SEQUENCE")?,
            jumps_back: [code("JUMP_BACKWARD")?, code("JUMP_BACKWARD_NO_INTERRUPT")?],
            stores: [code("STORE_FAST"), code("DELETE_FAST"), code("LOAD_FAST_AND_CLEAR"), code("STORE_DEREF"), code("DELETE_DEREF")],
            store_pairs: [code("STORE_FAST_LOAD_FAST"), code("STORE_FAST_STORE_FAST")],
            safe_iters,
            tuple_iters,
            enumerate: type_of("enumerate(())")?,
            code_base,
            sim,
        })
    }

    /// Whether the `for` header `head`, entered at `iframe`'s current
    /// instruction, runs only pure instructions until the frame's next event:
    /// the frame is about to run its `FOR_ITER` again (not the iterable's
    /// expression), and the iterator on top of its stack is one whose
    /// `__next__` mutates nothing visible and runs no code of the program.
    ///
    /// # Safety
    /// GIL held; `iframe` is the live interpreter frame running `code` (a
    /// code object with `nlocalsplus` fast locals and `stacksize` stack
    /// slots), found through `layout`.
    pub unsafe fn loop_reentry_is_pure(&self, layout: &Layout, iframe: usize, code: *mut ffi::PyObject, head: &LoopHead, nlocalsplus: usize, stacksize: usize) -> bool {
        // SAFETY: see the function's contract.
        unsafe {
            let Some(unit) = layout.instruction(iframe, code as usize + self.code_base) else { return false };
            if unit != head.start && unit != head.for_iter {
                return false;
            }
            let Some(tos) = layout.stack_top(iframe, nlocalsplus, stacksize) else { return false };
            let mut tp = ffi::Py_TYPE(tos) as usize;
            let mut tuples = false;
            if tp == self.enumerate {
                // enumerate: (index, item) tuples from the iterator it wraps.
                let inner = layout.enumerate_iter(tos);
                if inner.is_null() {
                    return false;
                }
                tp = ffi::Py_TYPE(inner) as usize;
                tuples = true;
            }
            if self.tuple_iters.contains(&tp) {
                tuples = true;
            } else if !self.safe_iters.contains(&tp) {
                return false;
            }
            !head.unpacks || tuples
        }
    }
}

/// A `for` loop's header line: where the frame re-enters it on every
/// iteration (the `FOR_ITER`, with any `EXTENDED_ARG` before it), and
/// whether what follows it unpacks the item.
#[derive(Clone, Copy, Debug)]
pub struct LoopHead {
    line: u32,
    /// Code units of the instruction (its first `EXTENDED_ARG`) and of the `FOR_ITER`.
    start: usize,
    for_iter: usize,
    unpacks: bool,
}

/// The set of a code object's lines after which nothing visible can have
/// changed in place.
#[derive(Default)]
pub struct PureLines {
    base: u32,
    bits: Vec<u64>,
    /// Per line from `base`: 0, or 1 + the index in `facts` of what its
    /// instructions do (every step asks: a direct look-up, not a search).
    index: Vec<u32>,
    facts: Vec<LineFacts>,
    /// The fast locals the instructions without a line number (an exception
    /// handler's `e = None; del e`) may rebind or clear: they may run after
    /// any line.
    unlined_stores: u128,
}

/// What one line's instructions do, of what a step after it asks.
#[derive(Default, Clone, Copy)]
struct LineFacts {
    /// The fast locals its instructions may rebind or clear (bit per slot;
    /// all bits when a slot past 127 is).
    stores: u128,
    /// On a line impure only by storing into items of containers held by
    /// fast locals (`b[3] -= dx * m`, `row[j] = v`): those locals.
    item_stores: u128,
    /// Its `for` header, when its only impure instruction is the
    /// `FOR_ITER` (and an unpacking of the item) once the iterable was
    /// evaluated.
    loop_head: Option<LoopHead>,
}

impl PureLines {
    #[inline]
    pub fn contains(&self, line: u32) -> bool {
        let Some(i) = line.checked_sub(self.base) else { return false };
        let i = i as usize;
        self.bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    #[inline]
    fn facts_of(&self, line: u32) -> Option<&LineFacts> {
        let k = *self.index.get(line.checked_sub(self.base)? as usize)?;
        self.facts.get((k as usize).checked_sub(1)?)
    }

    /// The fast locals `line` may rebind or clear: an object such a slot held
    /// may have been freed and another made at its address, so the slot is
    /// not compared by identity after it.
    #[inline]
    pub fn stores(&self, line: u32) -> u128 {
        self.facts_of(line).map_or(0, |f| f.stores) | self.unlined_stores
    }

    /// The fast locals into whose containers `line` stores an item, when
    /// that is all it does besides pure instructions (the item's new value
    /// may come from an in-place operator on the item it replaces); 0 for
    /// any other line. After it, only those containers may have changed in
    /// place, if they are exact lists whose items are now all leaves (a
    /// list's `__setitem__` runs no code; an in-place operator that mutated
    /// the old item, a container, stored that container back).
    #[inline]
    pub fn item_stores(&self, line: u32) -> u128 {
        self.facts_of(line).map_or(0, |f| f.item_stores)
    }

    /// The `for` header on `line`, when it has one that is pure on re-entry.
    #[inline]
    pub fn loop_head(&self, line: u32) -> Option<&LoopHead> {
        self.facts_of(line)?.loop_head.as_ref()
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
        let loops = loop_heads(table, bytecode, &pure, &ranges);
        let (stores, unlined_stores) = line_stores(table, bytecode, &ranges);
        let mut item_stores: Vec<(u32, u128)> = Vec::new();
        for (i, (s, e, line)) in ranges.iter().enumerate() {
            let Some(line) = *line else { continue };
            // One range per line: its instructions run in order.
            let single = ranges.iter().enumerate().all(|(j, r)| j == i || r.2 != Some(line));
            if !single || !impure.get((line - lo) as usize).copied().unwrap_or(false) {
                continue;
            }
            if let Some(mask) = item_store_targets(table, bytecode.get(*s..*e).unwrap_or(&[])) {
                item_stores.push((line, mask));
            }
        }
        let mut index = vec![0u32; n];
        let mut facts: Vec<LineFacts> = Vec::new();
        fn of<'a>(index: &mut [u32], facts: &'a mut Vec<LineFacts>, i: usize) -> &'a mut LineFacts {
            if index[i] == 0 {
                facts.push(LineFacts::default());
                index[i] = facts.len() as u32;
            }
            &mut facts[index[i] as usize - 1]
        }
        for (line, mask) in stores {
            of(&mut index, &mut facts, (line - lo) as usize).stores = mask;
        }
        for (line, mask) in item_stores {
            of(&mut index, &mut facts, (line - lo) as usize).item_stores = mask;
        }
        for head in loops {
            // (The first header of a line, as a search would find.)
            of(&mut index, &mut facts, (head.line - lo) as usize).loop_head.get_or_insert(head);
        }
        Some(Self { base: lo, bits, index, facts, unlined_stores })
    }
}

/// The `for` headers of a code object that are pure when re-entered: the
/// line's one `FOR_ITER` starts its range, or follows only the iterable's
/// instructions (which run once, on entry); every instruction of the line
/// from the `FOR_ITER` on and in its other ranges (the `END_FOR` reached on
/// exhaustion) is pure but for an `UNPACK_SEQUENCE` of the item, and the
/// line jumps back nowhere (an inlined comprehension would loop through
/// instructions before the `FOR_ITER`).
fn loop_heads(table: &OpTable, bytecode: &[u8], pure: &[bool], ranges: &[(usize, usize, Option<u32>)]) -> Vec<LoopHead> {
    let op = |u: usize| bytecode.get(2 * u).copied();
    let mut out: Vec<LoopHead> = Vec::new();
    let mut doubled: Vec<u32> = Vec::new();
    for (s, e, line) in ranges {
        let Some(line) = *line else { continue };
        for u in s / 2..e / 2 {
            if op(u) != Some(table.for_iter) || !is_instruction_start(bytecode, u) {
                continue;
            }
            if out.iter().any(|h| h.line == line) {
                doubled.push(line);
                continue;
            }
            let mut start = u;
            while start > s / 2 && op(start - 1) == Some(table.extended_arg) {
                start -= 1;
            }
            let prefix = s / 2..start;
            let mut unpacks = false;
            let mut ok = true;
            for (rs, re, rl) in ranges {
                if *rl != Some(line) {
                    continue;
                }
                for i in rs / 2..(re / 2).min(pure.len()) {
                    if prefix.contains(&i) || (start..=u).contains(&i) || !is_instruction_start(bytecode, i) {
                        continue;
                    }
                    let o = op(i).unwrap_or(0);
                    if table.jumps_back.contains(&o) {
                        // An outer loop's jump back, run on exhaustion, leaves
                        // the line; one into it may loop its instructions.
                        ok &= jumps_out_of(bytecode, i, table.extended_arg, ranges, line);
                    } else if o == table.unpack_sequence {
                        unpacks = true;
                    } else if pure.get(i) != Some(&true) {
                        ok = false;
                    }
                }
            }
            if ok {
                out.push(LoopHead { line, start, for_iter: u, unpacks });
            }
        }
    }
    out.retain(|h| !doubled.contains(&h.line));
    out
}

/// Whether the jump back at code unit `u` (its `EXTENDED_ARG`s before it)
/// lands outside every range of `line`, with or without the cache entry
/// it has on some versions.
fn jumps_out_of(bytecode: &[u8], u: usize, extended_arg: u8, ranges: &[(usize, usize, Option<u32>)], line: u32) -> bool {
    let mut arg = 0usize;
    let mut shift = 0;
    let mut at = u;
    loop {
        let Some(&b) = bytecode.get(2 * at + 1) else { return false };
        arg |= usize::from(b) << shift;
        shift += 8;
        if at == 0 || bytecode.get(2 * (at - 1)) != Some(&extended_arg) || shift > 24 {
            break;
        }
        at -= 1;
    }
    (0..=1).all(|caches| {
        let Some(target) = (u + 1 + caches).checked_sub(arg) else { return false };
        !ranges.iter().any(|(s, e, l)| *l == Some(line) && (s / 2..e / 2).contains(&target))
    })
}

/// Whether a mask of [`PureLines::stores`] names slot `i`.
#[inline]
pub fn has_slot(mask: u128, i: usize) -> bool {
    mask == u128::MAX || (i < 128 && mask & (1 << i) != 0)
}

/// Per line, the fast-local slots its instructions store into or clear.
fn line_stores(table: &OpTable, bytecode: &[u8], ranges: &[(usize, usize, Option<u32>)]) -> (Vec<(u32, u128)>, u128) {
    let bit = |slot: u32| if slot < 128 { 1u128 << slot } else { u128::MAX };
    let mut out: Vec<(u32, u128)> = Vec::new();
    let mut unlined = 0u128;
    for (s, e, line) in ranges {
        let mut mask = 0u128;
        let mut ext: u32 = 0;
        for u in s / 2..e / 2 {
            let (Some(&op), Some(&arg)) = (bytecode.get(2 * u), bytecode.get(2 * u + 1)) else { break };
            let arg = u32::from(arg) | (ext << 8);
            ext = if op == table.extended_arg { arg } else { 0 };
            if table.stores.contains(&Some(op)) {
                mask |= bit(arg);
            } else if table.store_pairs.contains(&Some(op)) {
                mask |= bit(arg >> 4) | bit(arg & 15);
            }
        }
        match *line {
            _ if mask == 0 => {}
            None => unlined |= mask,
            Some(line) => match out.iter_mut().find(|(l, _)| *l == line) {
                Some((_, m)) => *m |= mask,
                None => out.push((line, mask)),
            },
        }
    }
    (out, unlined)
}

/// Where a value on the simulated stack came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Val {
    Other,
    Local(u32),
    /// An item read from fast local `.0`'s container.
    ItemOf(u32),
    /// An in-place operator's result on such an item, to be stored back.
    Inplace(u32),
}

/// The fast locals (bit per slot) into whose containers the instructions
/// `code` (one line's, run straight through) store items, when they do
/// nothing else impure: every instruction is in `OpTable::sim`, every
/// `STORE_SUBSCR` stores into a container loaded from a fast local, and
/// every in-place `BINARY_OP` applies to an item read from one, its result
/// stored back into that container (an augmented assignment). None
/// otherwise (or when nothing is stored so).
fn item_store_targets(table: &OpTable, code: &[u8]) -> Option<u128> {
    let mut stack: Vec<Val> = Vec::new();
    let mut mask = 0u128;
    let mut ext: u32 = 0;
    // An in-place result used in any other way.
    let mut stray = false;
    let mut pop = |stack: &mut Vec<Val>| {
        let v = stack.pop().unwrap_or(Val::Other);
        stray |= matches!(v, Val::Inplace(_));
        v
    };
    let mut jumped = false;
    for unit in code.chunks_exact(2) {
        let (op, arg) = (unit[0], u32::from(unit[1]) | (ext << 8));
        ext = if op == table.extended_arg { arg } else { 0 };
        let sim = table.sim[op as usize];
        if jumped && sim != Sim::Nop {
            return None;
        }
        match sim {
            Sim::No => return None,
            Sim::Nop => {}
            Sim::Jump => jumped = true,
            Sim::Local => stack.push(Val::Local(arg)),
            Sim::LocalPair => stack.extend([Val::Local(arg >> 4), Val::Local(arg & 15)]),
            Sim::Other(pops, pushes) => {
                for _ in 0..pops {
                    pop(&mut stack);
                }
                stack.extend(std::iter::repeat_n(Val::Other, pushes as usize));
            }
            Sim::Build => {
                for _ in 0..arg {
                    pop(&mut stack);
                }
                stack.push(Val::Other);
            }
            Sim::LoadGlobal => stack.extend(std::iter::repeat_n(Val::Other, 1 + (arg & 1) as usize)),
            Sim::LoadAttr => {
                pop(&mut stack);
                stack.extend(std::iter::repeat_n(Val::Other, 1 + (arg & 1) as usize));
            }
            Sim::Copy => {
                let at = stack.len().checked_sub(arg as usize)?;
                stack.push(*stack.get(at)?);
            }
            Sim::Swap => {
                let at = stack.len().checked_sub(arg as usize)?;
                let top = stack.len().checked_sub(1)?;
                stack.swap(at, top);
            }
            Sim::BinarySubscr => {
                pop(&mut stack);
                let item = match pop(&mut stack) {
                    Val::Local(k) => Val::ItemOf(k),
                    _ => Val::Other,
                };
                stack.push(item);
            }
            Sim::BinaryOp => {
                pop(&mut stack);
                let lhs = pop(&mut stack);
                let result = match lhs {
                    _ if !(NB_INPLACE_FIRST..=NB_INPLACE_LAST).contains(&arg) => Val::Other,
                    Val::ItemOf(k) => Val::Inplace(k),
                    _ => return None,
                };
                stack.push(result);
            }
            Sim::StoreSubscr => {
                pop(&mut stack);
                let Val::Local(k) = pop(&mut stack) else { return None };
                match stack.pop() {
                    Some(Val::Inplace(j)) if j != k => return None,
                    _ => {}
                }
                mask |= if k < 128 { 1u128 << k } else { return None };
            }
            Sim::StoreLoadFast => {
                pop(&mut stack);
                stack.push(Val::Local(arg & 15));
            }
        }
    }
    (mask != 0 && !stray && !stack.iter().any(|v| matches!(v, Val::Inplace(_)))).then_some(mask)
}

/// Whether code unit `u` starts an instruction (is not a CACHE entry):
/// co_code's cache entries are zero bytes, and opcode 0 (`CACHE`) starts no
/// instruction that matters here.
fn is_instruction_start(bytecode: &[u8], u: usize) -> bool {
    bytecode.get(2 * u).is_some_and(|o| *o != 0)
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
        } else if Some(op) == table.call_intrinsic_1 {
            PURE_INTRINSICS_1.contains(&arg)
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
        crate::cpython::rc::decref(obj);
    }
}
