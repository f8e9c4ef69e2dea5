//! The recording state and what each monitoring event does to it.
//!
//! Hot path rules: no allocation in the common case, per-code facts computed
//! once and kept in a table keyed by the code object, `DISABLE` returned for
//! code that will never be recorded, values written only when they changed
//! since the frame's previous step (the converter rebuilds full snapshots).

use std::ptr;

use pyo3::ffi;
use recorder_errors::prelude::*;
use rustc_hash::FxHashMap;
use trace_writer::stream::{self as st, StreamWriter};
use trace_writer::value::{self as v, types};

use crate::capture::{Compare, class_name, exception_text, str_lossy, Builtins, Encoder, Identity, Trail, TypeTable};
use crate::cpython::{DictVersions, FrameReader};
use crate::purity::{self, OpTable, PureLines};
use crate::scope::{self, Filter, ValueAction};

/// How many values to capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValuesMode {
    None,
    Args,
    Locals,
}

impl ValuesMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "args" => Some(Self::Args),
            "locals" => Some(Self::Locals),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Args => "args",
            Self::Locals => "locals",
        }
    }
}

/// What a callback tells `sys.monitoring`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ret {
    Continue,
    Disable,
}

/// How a frame ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    Return,
    Yield,
    Unwind,
}

struct SlotInfo {
    var: u32,
    cell: bool,
    /// Shown as `<redacted>` (the trace filter's value patterns).
    redact: bool,
}

struct CodeInfo {
    ignored: bool,
    path_id: u32,
    function_id: u32,
    /// Locals live in a dict (module and class bodies).
    dict_locals: bool,
    slots: Vec<SlotInfo>,
    nargs: usize,
    /// `co_stacksize`: the value stack's slots after the fast locals.
    stacksize: usize,
    /// This code belongs to the activation path.
    activates: bool,
    /// Lines after which nothing visible can have changed in place.
    pure: PureLines,
    /// The return value is shown as `<redacted>` (or dropped: None).
    ret: ValueAction,
    /// Dict-locals code (module and class bodies): what the filter decided
    /// for the code, and for each name met so far.
    decision: Option<Box<scope::Decision>>,
    named_actions: Vec<(u32, ValueAction)>,
    /// Long code: its lines come from INSTRUCTION events through this table.
    lines: Option<Box<crate::lines::LineTable>>,
    /// 3.13: the line of the RESUME a call starts at (ENTRY: not read yet).
    entry_line: u32,
    /// The portable path: the slots' names (held), to look their values up.
    names: Vec<*mut ffi::PyObject>,
}

#[derive(Clone, Copy)]
struct Slot {
    obj: *mut ffi::PyObject,
    strong: bool,
    /// Hash of the encoding last written for the variable (values without
    /// a state: trails off).
    hash: u64,
    /// Index of the value's state in `Recorder::states`, or NO_STATE.
    state: u32,
    /// The state's generation the variable last showed.
    gen: u32,
}

const NO_STATE: u32 = u32::MAX;

/// States kept while no variable shows them (the same objects are passed
/// down call after call and bound again by loops); past this many the
/// oldest are forgotten.
const IDLE_STATES: usize = 256;

/// What the recorder knows of a container or instance that variables show:
/// the trail that proves its encoding as last compared. Keyed by address and
/// not held: a later object at the same address is only accepted when its
/// walk proves the same encoding. One state serves every frame showing the
/// object, so a change is found (walked) and written once however many
/// frames show it: the state's index is its object id in the stream, whose
/// `OBJ` / `OBJ_PATCH` records carry the encoding and its changes, and a
/// variable showing it is written as a reference (`vtag::OBJ`).
#[derive(Default)]
struct ObjState {
    obj: usize,
    trail: Trail,
    /// Hash of the encoding last written whole (an OBJ record): encoding
    /// anew to the same bytes writes nothing.
    hash: u64,
    /// Bumped whenever the encoding changes.
    gen: u32,
    /// Slots showing it; an idle state (none) may be forgotten.
    users: u32,
    idle_stamp: u64,
}

/// What comparing a variable with its previous state found.
enum Diff {
    Unchanged,
    /// Same value, fresher bookkeeping (no record written).
    Refresh(Slot),
    /// A SET record was written.
    Changed(Slot),
}

/// `Frame::last_line` of a frame that has not stepped yet.
const ENTRY: u32 = u32::MAX;

/// `SlotInfo::var` of a slot that is never shown.
const HIDDEN: u32 = u32::MAX;

const EMPTY: Slot = Slot { obj: ptr::null_mut(), strong: false, hash: 0, state: NO_STATE, gen: 0 };

/// What a redacted value is shown as.
const REDACTED: &[u8] = b"<redacted>";
/// `Slot::hash` of a slot showing `<redacted>`.
const REDACTED_HASH: u64 = 2;

struct Frame {
    code_idx: u32,
    iframe: usize,
    slots: Vec<Slot>,
    /// For dict-locals frames: (variable id, slot, generation seen).
    named: Vec<(u32, Slot, u32)>,
    generation: u32,
    /// The line of the frame's previous step (`ENTRY` before its first).
    last_line: u32,
    /// `purity::epoch()` when the frame's values were last compared.
    epoch: u64,
    /// The previous step re-entered a `for` header over an iterator that
    /// mutates nothing: its interval was pure although its line is not.
    loop_pure: bool,
    /// Long code: the line a line start must differ from to step (the
    /// previous step's; before it, on 3.13, the line the frame started or
    /// resumed at: `lines.rs`).
    line_prev: u32,
    /// The portable path: a module or class body's namespace (borrowed; the
    /// frame holds it), as first read.
    ns: usize,
}

/// Counters surfaced in the metadata and the logs (ADR 0004 §9).
#[derive(Default, Debug, Clone, Copy)]
pub struct Metrics {
    pub dropped_events: u64,
    pub other_thread_events: u64,
    pub unreadable_frames: u64,
    /// Code objects the trace filter (or the recorder's own rules) left out.
    pub skipped_code: u64,
    pub recorded_code: u64,
    /// Values written as `<redacted>`.
    pub redacted_values: u64,
}

/// Options fixed for one recording.
pub struct RecorderConfig {
    pub values: ValuesMode,
    pub activation: Option<String>,
    /// Code whose file starts with one of these is never recorded.
    pub skip_prefixes: Vec<String>,
    /// Where frames and their locals are read.
    pub reader: FrameReader,
    pub builtins: Builtins,
    pub bounds: crate::capture::Bounds,
    /// Compare containers through their trails instead of re-encoding them
    /// (`CODETRACER_NO_TRAILS=1` turns it off, to check it changes nothing).
    pub trails: bool,
    /// Opcode classes for skipping comparisons after pure lines (None: never skip).
    pub ops: Option<OpTable>,
    /// Which dict version tags may vouch for unchanged contents.
    pub versions: DictVersions,
    /// What is recorded and which values are hidden.
    pub filter: std::rc::Rc<Filter>,
}

pub struct Recorder {
    pub writer: StreamWriter,
    scratch: Vec<u8>,
    codes: FxHashMap<usize, u32>,
    last_code: usize,
    last_idx: u32,
    infos: Vec<CodeInfo>,
    held_codes: Vec<*mut ffi::PyObject>,
    paths: FxHashMap<String, u32>,
    next_function: u32,
    varnames: FxHashMap<String, u32>,
    /// str object -> variable id, or None for names never shown (dunders).
    var_by_str: FxHashMap<usize, Option<u32>>,
    types: TypeTable,
    enc: Encoder,
    stack: Vec<Frame>,
    pool: Vec<Vec<Slot>>,
    states: Vec<ObjState>,
    /// An object's encoding on its way into an OBJ record (encoding writes
    /// the TYPE records it needs to the stream first).
    obj_buf: Vec<u8>,
    /// The portable path: the locals of the frame being read (borrowed).
    portable_locals: Vec<*mut ffi::PyObject>,
    state_of: FxHashMap<usize, u32>,
    free_states: Vec<u32>,
    /// States no slot uses, oldest first, with the stamp they went idle at.
    idle: std::collections::VecDeque<(u32, u64)>,
    idle_clock: u64,
    thread: usize,
    /// The OS thread running `thread`.
    os_thread: usize,
    cfg: RecorderConfig,
    active: bool,
    activation_depth: usize,
    pub recorded_anything: bool,
    pub metrics: Metrics,
    /// The first error the hot path hit; the session acts on it.
    pub error: Option<RecorderError>,
}

fn is_dunder(name: &[u8]) -> bool {
    name.len() > 4 && name.starts_with(b"__") && name.ends_with(b"__")
}

impl Recorder {
    /// A recorder writing to `writer`; `start_path` is the program (PathId 0),
    /// under which `<toplevel>` (FunctionId 0) is called.
    pub fn new(mut writer: StreamWriter, start_path: &str, cfg: RecorderConfig) -> Self {
        let buf = writer.buf();
        let types = TypeTable::new(buf, cfg.builtins, cfg.reader.layout());
        st::put_path(buf, start_path);
        st::put_function(buf, 0, 1, "<toplevel>");
        st::put_call_head(buf, 0, 0);
        let mut paths = FxHashMap::default();
        paths.insert(start_path.to_string(), 0);
        let active = cfg.activation.is_none();
        Self {
            writer,
            scratch: Vec::with_capacity(4096),
            codes: FxHashMap::default(),
            last_code: 0,
            last_idx: 0,
            infos: Vec::new(),
            held_codes: Vec::new(),
            paths,
            next_function: 1,
            varnames: FxHashMap::default(),
            var_by_str: FxHashMap::default(),
            enc: Encoder::new(cfg.bounds, cfg.versions, cfg.reader.layout(), cfg.filter.has_attr_rules().then(|| std::rc::Rc::clone(&cfg.filter))),
            types,
            stack: Vec::with_capacity(256),
            pool: Vec::new(),
            states: Vec::new(),
            obj_buf: Vec::with_capacity(4096),
            portable_locals: Vec::new(),
            state_of: FxHashMap::default(),
            free_states: Vec::new(),
            idle: std::collections::VecDeque::new(),
            idle_clock: 0,
            // SAFETY: the GIL is held by the caller.
            thread: unsafe { ffi::PyThreadState_Get() } as usize,
            os_thread: crate::os_thread::current(),
            cfg,
            active,
            activation_depth: 0,
            recorded_anything: false,
            metrics: Metrics::default(),
            error: None,
        }
    }

    /// Whether the current thread is the recorded one.
    #[inline]
    fn on_recorded_thread(&mut self) -> bool {
        purity::advance();
        // The OS thread (one per Python thread state on GIL builds) is read
        // from the thread pointer, cheaper than asking CPython for its tstate.
        if crate::os_thread::current() == self.os_thread {
            true
        } else {
            self.metrics.other_thread_events += 1;
            false
        }
    }

    /// The running interpreter frame of `code` (0 when it cannot be read).
    #[inline]
    fn frame_of(&self, code: *mut ffi::PyObject) -> usize {
        // SAFETY: GIL held (callbacks); `thread` is this thread's state.
        unsafe { self.cfg.reader.current(self.thread, code) }
    }

    fn path_id(&mut self, path: &str) -> u32 {
        if let Some(id) = self.paths.get(path) {
            return *id;
        }
        let id = self.paths.len() as u32;
        st::put_path(self.writer.buf(), path);
        self.paths.insert(path.to_string(), id);
        id
    }

    fn var_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.varnames.get(name) {
            return *id;
        }
        let id = self.varnames.len() as u32;
        st::put_varname(self.writer.buf(), name);
        self.varnames.insert(name.to_string(), id);
        id
    }

    /// Variable id for a str object (dict keys), None for dunder names;
    /// cached by identity.
    fn var_id_of_str(&mut self, s: *mut ffi::PyObject) -> Option<u32> {
        if let Some(id) = self.var_by_str.get(&(s as usize)) {
            return *id;
        }
        let name = str_lossy(s);
        let id = if is_dunder(name.as_bytes()) { None } else { Some(self.var_id(&name)) };
        // SAFETY: GIL held; keep the key alive so its address stays unique.
        unsafe { crate::cpython::rc::incref(s) };
        self.var_by_str.insert(s as usize, id);
        id
    }

    /// Index of the per-code facts, computed on first sight.
    #[inline]
    fn code_idx(&mut self, code: *mut ffi::PyObject) -> u32 {
        if code as usize == self.last_code {
            return self.last_idx;
        }
        let idx = match self.codes.get(&(code as usize)) {
            Some(i) => *i,
            None => self.describe_code(code),
        };
        self.last_code = code as usize;
        self.last_idx = idx;
        idx
    }

    #[cold]
    fn describe_code(&mut self, code: *mut ffi::PyObject) -> u32 {
        let info = self.code_info(code);
        let idx = self.infos.len() as u32;
        self.infos.push(info);
        // SAFETY: GIL held; keep the code object alive so its address stays a unique key.
        unsafe { crate::cpython::rc::incref(code) };
        self.held_codes.push(code);
        self.codes.insert(code as usize, idx);
        idx
    }

    fn code_info(&mut self, code: *mut ffi::PyObject) -> CodeInfo {
        let filename = get_str_attr(code, c"co_filename").unwrap_or_default();
        let mut ignored = filename.starts_with('<') || self.cfg.skip_prefixes.iter().any(|p| filename.starts_with(p.as_str()));
        let name = get_str_attr(code, c"co_name").unwrap_or_default();
        let qualname = get_str_attr(code, c"co_qualname").unwrap_or_else(|| name.clone());
        let path = absolute(&filename);
        // SAFETY: GIL held; the running frame is the code's (its first event).
        let module = unsafe { module_name() }.unwrap_or_default();
        let decision = if ignored { scope::Decision::default() } else { self.cfg.filter.classify(&path, &module, &qualname) };
        ignored |= decision.skip;
        if ignored {
            self.metrics.skipped_code += 1;
        } else {
            self.metrics.recorded_code += 1;
        }
        let mut info = CodeInfo {
            ignored,
            path_id: 0,
            function_id: 0,
            dict_locals: false,
            slots: Vec::new(),
            nargs: 0,
            stacksize: 0,
            activates: false,
            pure: PureLines::default(),
            ret: ValueAction::Allow,
            decision: None,
            named_actions: Vec::new(),
            lines: None,
            entry_line: ENTRY,
            names: Vec::new(),
        };
        if ignored {
            return info;
        }
        // SAFETY: GIL held (callbacks); `code` is a live code object.
        let code_obj = unsafe { pyo3::Bound::from_borrowed_ptr(pyo3::Python::assume_attached(), code) };
        match crate::lines::request(&code_obj) {
            Ok(table) => info.lines = table.map(Box::new),
            Err(e) => self.fail(e),
        }
        let flags = get_int_attr(code, c"co_flags").unwrap_or(0);
        let optimized = flags & 0x1 != 0;
        let line = get_int_attr(code, c"co_firstlineno").unwrap_or(1).max(1) as u32;
        let filter = std::rc::Rc::clone(&self.cfg.filter);
        info.ret = filter.value_action(&decision, scope::Kind::Ret, &qualname);
        let display = if name == "<module>" {
            format!("<{}>", if module.is_empty() { "__main__" } else { module.as_str() })
        } else {
            qualname
        };
        info.activates = self.cfg.activation.as_deref().is_some_and(|a| a == path);
        info.path_id = self.path_id(&path);
        info.function_id = self.next_function;
        self.next_function += 1;
        st::put_function(self.writer.buf(), info.path_id, line, &display);
        info.dict_locals = !optimized;
        if optimized {
            let argcount = get_int_attr(code, c"co_argcount").unwrap_or(0);
            let kwonly = get_int_attr(code, c"co_kwonlyargcount").unwrap_or(0);
            let varargs = i64::from(flags & 0x4 != 0) + i64::from(flags & 0x8 != 0);
            info.nargs = (argcount + kwonly + varargs).max(0) as usize;
            info.stacksize = get_int_attr(code, c"co_stacksize").unwrap_or(0).max(0) as usize;
            let cells = get_names(code, c"co_cellvars");
            let frees = get_names(code, c"co_freevars");
            for (i, name) in local_names(code).into_iter().enumerate() {
                let cell = cells.contains(&name) || frees.contains(&name);
                let kind = if i < info.nargs { scope::Kind::Arg } else { scope::Kind::Local };
                let action = filter.value_action(&decision, kind, &name);
                // Implicit slots (`__class__`, a comprehension's `.0`) are not the program's variables.
                let hidden = is_dunder(name.as_bytes()) || name.starts_with('.') || action == ValueAction::Drop;
                let var = if hidden { HIDDEN } else { self.var_id(&name) };
                info.slots.push(SlotInfo { var, cell, redact: action == ValueAction::Redact });
                if matches!(self.cfg.reader, FrameReader::Api(_)) {
                    // A hidden slot is never looked up (null).
                    // SAFETY: GIL held; a new str we hold until `drop_refs`.
                    let s = if hidden { ptr::null_mut() } else { unsafe { new_str(&name) } };
                    info.names.push(s);
                }
            }
            if let Some(ops) = &self.cfg.ops {
                // SAFETY: GIL held (callbacks).
                info.pure = PureLines::of(unsafe { pyo3::Python::assume_attached() }, ops, code);
            }
        } else {
            info.decision = Some(Box::new(decision));
        }
        info
    }

    /// Writes the stand-in of a redacted value (typed by its class): as a
    /// SET record of `set_var`, or into `scratch` (arguments, returns).
    fn put_redacted(&mut self, obj: *mut ffi::PyObject, set_var: Option<u32>) {
        self.metrics.redacted_values += 1;
        // The value's type may need defining first (a TYPE record).
        let type_id = self.enc.raw_type_of(&mut self.types, self.writer.buf(), obj);
        match set_var {
            Some(var) => {
                let buf = self.writer.buf();
                st::put_set_head(buf, var);
                v::put_raw(buf, type_id, REDACTED);
            }
            None => v::put_raw(&mut self.scratch, type_id, REDACTED),
        }
    }

    /// What the filter says of the module-level (or class-body) name `var`
    /// of the dict-locals code `idx`; decided once per name.
    fn named_action(&mut self, idx: u32, var: u32) -> ValueAction {
        let info = &self.infos[idx as usize];
        if let Some(&(_, a)) = info.named_actions.iter().find(|(v, _)| *v == var) {
            return a;
        }
        let Some(d) = info.decision.as_deref() else { return ValueAction::Allow };
        let name = self.varnames.iter().find(|(_, id)| **id == var).map(|(n, _)| n.as_str()).unwrap_or("");
        let action = self.cfg.filter.value_action(d, scope::Kind::Global, name);
        self.infos[idx as usize].named_actions.push((var, action));
        action
    }

    #[inline]
    fn maybe_flush(&mut self) {
        if self.writer.wants_flush() {
            if let Err(e) = self.writer.flush() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: RecorderError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn take_slots(&mut self, n: usize) -> Vec<Slot> {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.resize(n, EMPTY);
        v
    }

    fn release(&mut self, mut frame: Frame) {
        for i in 0..frame.slots.len() {
            self.drop_slot(frame.slots[i]);
        }
        for i in 0..frame.named.len() {
            self.drop_slot(frame.named[i].1);
        }
        frame.slots.clear();
        if frame.slots.capacity() > 0 && self.pool.len() < 1024 {
            self.pool.push(frame.slots);
        }
    }

    /// The code's index for an event on the recorded thread, or what to
    /// answer at once (another thread: continue; never-recorded code: DISABLE).
    #[inline]
    fn event_code(&mut self, code: *mut ffi::PyObject) -> Result<u32, Ret> {
        if !self.on_recorded_thread() {
            return Err(Ret::Continue);
        }
        let idx = self.code_idx(code);
        if self.infos[idx as usize].ignored {
            return Err(Ret::Disable);
        }
        Ok(idx)
    }

    /// PY_START (resumed = false), PY_RESUME / PY_THROW (resumed = true).
    pub fn on_start(&mut self, code: *mut ffi::PyObject, resumed: bool) -> Ret {
        let idx = match self.event_code(code) {
            Ok(idx) => idx,
            // Code never recorded (`<frozen ...>`, `<string>`, the recorder)
            // still reports its starts, so the epoch advances when it runs: a
            // property or dunder there (say, one caching into `self`) could
            // mutate values from a line the purity table calls pure. Its
            // lines and returns are disabled.
            Err(Ret::Disable) if self.cfg.ops.is_some() => return Ret::Continue,
            Err(r) => return r,
        };
        if !self.active {
            if !self.infos[idx as usize].activates {
                return Ret::Continue;
            }
            self.active = true;
            self.activation_depth = self.stack.len();
        }
        let iframe = self.frame_of(code);
        self.push_call(idx, iframe, resumed);
        self.maybe_flush();
        Ret::Continue
    }

    /// The first `n` fast locals of `frame` (running code `idx`): in place,
    /// or looked up into `portable_locals`; None when they cannot be read.
    fn read_locals(&mut self, idx: u32, frame: usize, n: usize) -> Option<*const *mut ffi::PyObject> {
        if frame == 0 {
            return None;
        }
        match self.cfg.reader {
            FrameReader::InPlace(l) => Some(l.localsplus(frame)),
            FrameReader::Api(f) => {
                let names = &self.infos[idx as usize].names;
                let names = &names[..n.min(names.len())];
                // SAFETY: GIL held; `frame` is the event's, running code `idx`.
                unsafe { f.fast_locals(frame, names, &mut self.portable_locals) }.then_some(self.portable_locals.as_ptr())
            }
        }
    }

    /// What a cell variable's slot shows: the cell's contents (read in
    /// place: the portable path's lookups dereference cells themselves).
    #[inline]
    fn cell_value(&self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        match self.cfg.reader {
            // SAFETY: GIL held; `obj` is a live object of the frame, checked to be a cell.
            FrameReader::InPlace(l) if unsafe { ffi::Py_TYPE(obj) } == self.types.builtins.cell => unsafe { l.cell_contents(obj) },
            _ => obj,
        }
    }

    fn push_call(&mut self, idx: u32, iframe: usize, resumed: bool) {
        self.recorded_anything = true;
        let info = &self.infos[idx as usize];
        let nslots = info.slots.len();
        let function_id = info.function_id;
        // A fresh call shows its arguments; a resumed generator or coroutine
        // (or a frame adopted mid-run) shows every local it holds, so its
        // entry step is not empty.
        let nargs = match (resumed, self.cfg.values) {
            (_, ValuesMode::None) | (true, ValuesMode::Args) => 0,
            (true, ValuesMode::Locals) => nslots,
            (false, _) => info.nargs.min(nslots),
        };
        // Per-variable state is only needed to diff locals at each step.
        let track_locals = self.cfg.values == ValuesMode::Locals;
        let mut slots = if track_locals { self.take_slots(nslots) } else { Vec::new() };
        self.scratch.clear();
        let mut written = 0u32;
        if nargs > 0 {
            match self.read_locals(idx, iframe, nargs) {
                Some(locals) => {
                    #[allow(clippy::needless_range_loop)] // `i` indexes the frame's slots too
                    for i in 0..nargs {
                        // SAFETY: `i` < the code's localsplus count; the frame is live.
                        let mut obj = unsafe { *locals.add(i) };
                        if obj.is_null() || self.infos[idx as usize].slots[i].var == HIDDEN {
                            continue;
                        }
                        if self.infos[idx as usize].slots[i].cell {
                            obj = self.cell_value(obj);
                            if obj.is_null() {
                                continue;
                            }
                        }
                        let var = self.infos[idx as usize].slots[i].var;
                        st::put_varint(&mut self.scratch, u64::from(var));
                        if self.infos[idx as usize].slots[i].redact {
                            self.put_redacted(obj, None);
                            if track_locals {
                                slots[i] = Slot { obj, hash: REDACTED_HASH, ..EMPTY };
                            }
                        } else if track_locals {
                            slots[i] = self.encode_slot(obj);
                        } else if self.cfg.trails {
                            // `--values=args`: no slots to keep, but an object
                            // passed call after call is still compared through
                            // its (then idle) state and written as a reference.
                            let slot = self.encode_slot(obj);
                            self.drop_slot(slot);
                        } else {
                            self.enc.encode(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
                        }
                        written += 1;
                    }
                }
                None => self.metrics.unreadable_frames += 1,
            }
        }
        let buf = self.writer.buf();
        st::put_call_head(buf, function_id, written);
        buf.extend_from_slice(&self.scratch);
        // The arguments were just compared (or encoded); until the first line
        // only the frame's prologue runs, which mutates nothing.
        self.stack.push(Frame { code_idx: idx, iframe, slots, named: Vec::new(), generation: 0, last_line: ENTRY, epoch: purity::epoch(), loop_pure: false, line_prev: ENTRY, ns: 0 });
    }

    /// Brings state `s` up to date with `obj` (the object at its address):
    /// compared through its trail, its change written as an OBJ_PATCH
    /// record, or encoded anew.
    fn refresh(&mut self, s: u32, obj: *mut ffi::PyObject) {
        let st = &mut self.states[s as usize];
        match self.enc.compare(&mut self.types, self.writer.buf(), obj, &mut st.trail) {
            Compare::Same => {}
            Compare::Patched => {
                let (n, edits) = self.enc.patches();
                let buf = self.writer.buf();
                st::put_obj_patch_head(buf, s, n);
                buf.extend_from_slice(edits);
                st.gen = st.gen.wrapping_add(1);
                st.hash = 0;
            }
            Compare::Different => self.encode_state(s, obj),
        }
    }

    /// Encodes `obj` into state `s` anew and writes it (an OBJ record)
    /// unless it encodes to the bytes last written. A value no trail
    /// vouches for leaves an empty trail: it is encoded anew at every
    /// comparison.
    fn encode_state(&mut self, s: u32, obj: *mut ffi::PyObject) {
        let st = &mut self.states[s as usize];
        self.obj_buf.clear();
        if !self.enc.encode_tracked(&mut self.types, self.writer.buf(), obj, &mut self.obj_buf, &mut st.trail) {
            st.trail.release();
        }
        st.obj = obj as usize;
        let hash = hash_bytes(&self.obj_buf);
        if hash == st.hash {
            return;
        }
        st.hash = hash;
        st.gen = st.gen.wrapping_add(1);
        let buf = self.writer.buf();
        st::put_obj_head(buf, s);
        buf.extend_from_slice(&self.obj_buf);
    }

    /// A slot for a container or instance through its state (found by
    /// address and brought up to date, or made); a reference to it goes to
    /// `scratch`.
    fn state_slot(&mut self, obj: *mut ffi::PyObject) -> Slot {
        let s = match self.state_of.get(&(obj as usize)) {
            // Builtin containers bound anew (a loop over a list of lists) are
            // usually small and changed since: encoding is cheaper than a walk.
            Some(&s) if self.types.builtins.is_container(obj) => {
                self.encode_state(s, obj);
                s
            }
            Some(&s) => {
                self.refresh(s, obj);
                s
            }
            None => {
                let s = self.free_states.pop().unwrap_or_else(|| {
                    self.states.push(ObjState::default());
                    (self.states.len() - 1) as u32
                });
                self.state_of.insert(obj as usize, s);
                self.encode_state(s, obj);
                s
            }
        };
        let st = &mut self.states[s as usize];
        st.users += 1;
        v::put_obj_ref(&mut self.scratch, s);
        Slot { obj, strong: false, hash: 0, state: s, gen: st.gen }
    }

    /// A slot no longer shows state `s`; an idle state is kept for the
    /// object's next binding until `IDLE_STATES` newer ones went idle.
    fn leave_state(&mut self, s: u32) {
        let st = &mut self.states[s as usize];
        st.users -= 1;
        if st.users > 0 {
            return;
        }
        self.idle_clock += 1;
        st.idle_stamp = self.idle_clock;
        self.idle.push_back((s, self.idle_clock));
        while self.idle.len() > IDLE_STATES {
            let Some((old, stamp)) = self.idle.pop_front() else { break };
            let st = &mut self.states[old as usize];
            if st.users == 0 && st.idle_stamp == stamp {
                self.state_of.remove(&st.obj);
                st.trail.release();
                st.obj = 0;
                self.free_states.push(old);
            }
        }
    }

    /// [`Recorder::encode_slot`] for the commonest values, a float or a small
    /// int (the same bytes the encoder writes, without its dispatch).
    #[inline]
    fn encode_scalar(&mut self, obj: *mut ffi::PyObject) -> Option<Slot> {
        if !self.encode_number(obj) {
            return None;
        }
        // SAFETY: GIL held; the slot owns this reference until replaced.
        unsafe { crate::cpython::rc::incref(obj) };
        Some(Slot { obj, strong: true, hash: 0, state: NO_STATE, gen: 0 })
    }

    /// Appends the encoding of an exact float or small int to `scratch`;
    /// false (nothing written) for anything else.
    #[inline]
    fn encode_number(&mut self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if tp == self.types.builtins.float {
            v::put_float(&mut self.scratch, types::FLOAT, self.enc.float(obj));
        } else if tp == self.types.builtins.int {
            let Some(i) = self.enc.small_int(obj) else { return false };
            v::put_int(&mut self.scratch, types::INT, i);
        } else {
            return false;
        }
        true
    }

    /// Appends the encoding of `obj` to `scratch` and returns what a slot
    /// keeps to compare it at later steps: a reference (values compared by
    /// identity), its state (with trails on), or the encoding's hash.
    fn encode_slot(&mut self, obj: *mut ffi::PyObject) -> Slot {
        if let Some(slot) = self.encode_scalar(obj) {
            return slot;
        }
        let start = self.scratch.len();
        match self.enc.identity(&self.types, obj) {
            Identity::Stable => {
                self.enc.encode(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
                // SAFETY: GIL held; the slot owns this reference until replaced.
                unsafe { crate::cpython::rc::incref(obj) };
                Slot { obj, strong: true, hash: 0, state: NO_STATE, gen: 0 }
            }
            Identity::Mutable if self.cfg.trails => self.state_slot(obj),
            Identity::Mutable => {
                self.enc.encode(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
                Slot { obj, strong: false, hash: hash_bytes(&self.scratch[start..]), state: NO_STATE, gen: 0 }
            }
        }
    }

    /// A LINE event's line number (an int; read in place when small).
    #[inline]
    pub fn line_number(&self, line: *mut ffi::PyObject) -> u32 {
        // SAFETY: GIL held; sys.monitoring passes the line number as an int.
        unsafe {
            if ffi::Py_TYPE(line) == self.types.builtins.int {
                if let Some(i) = self.enc.small_int(line) {
                    return i.max(0) as u32;
                }
            }
            ffi::PyLong_AsLong(line).max(0) as u32
        }
    }

    /// LINE.
    /// An INSTRUCTION event of long code (`lines.rs`): a step when the
    /// instruction starts a line other than the frame's previous step's;
    /// DISABLE for the instructions that start no line.
    pub fn on_instruction(&mut self, code: *mut ffi::PyObject, offset: usize) -> Ret {
        if crate::os_thread::current() != self.os_thread {
            self.on_recorded_thread(); // counts it (and advances the epoch)
            return Ret::Continue;
        }
        let idx = self.code_idx(code);
        let info = &self.infos[idx as usize];
        if info.ignored {
            return Ret::Disable;
        }
        let Some(line) = info.lines.as_ref().and_then(|t| t.line_start(offset)) else { return Ret::Disable };
        let iframe = self.frame_of(code);
        if let Some(f) = self.stack.last_mut().filter(|f| f.iframe == iframe && f.code_idx == idx) {
            if f.line_prev == line {
                return Ret::Continue;
            }
            f.line_prev = line;
        }
        let r = self.on_line(code, line);
        // A frame adopted by this step (the recording began inside it).
        if let Some(f) = self.stack.last_mut().filter(|f| f.iframe == iframe && f.code_idx == idx) {
            f.line_prev = line;
        }
        r
    }

    /// PY_START / PY_RESUME at byte `offset` on 3.13: in long code the
    /// frame's first line start steps only when its line differs from the
    /// entry's; in other code a first LINE event at the function's entry
    /// line is dropped (`lines.rs`).
    pub fn note_entry(&mut self, code: *mut ffi::PyObject, offset: *mut ffi::PyObject, resumed: bool) {
        let Some(&idx) = self.codes.get(&(code as usize)) else { return };
        let offset = self.line_number(offset) as usize;
        let info = &mut self.infos[idx as usize];
        if info.ignored {
            return;
        }
        let line = match info.lines.as_ref() {
            Some(table) => table.line_at(offset),
            None if resumed => return,
            None => {
                if info.entry_line == ENTRY {
                    // SAFETY: GIL held (callback); `code` is a live code object.
                    let code = unsafe { pyo3::Bound::from_borrowed_ptr(pyo3::Python::assume_attached(), code) };
                    info.entry_line = crate::lines::line_of(&code, offset);
                }
                info.entry_line
            }
        };
        if let Some(top) = self.stack.last_mut().filter(|f| f.code_idx == idx) {
            top.line_prev = line;
        }
    }

    pub fn on_line(&mut self, code: *mut ffi::PyObject, line: u32) -> Ret {
        let idx = match self.event_code(code) {
            Ok(idx) => idx,
            Err(r) => return r,
        };
        if !self.active {
            return Ret::Continue;
        }
        let path_id = self.infos[idx as usize].path_id;
        let iframe = self.frame_of(code);
        if self.stack.last().is_none_or(|f| f.iframe != iframe || f.code_idx != idx) {
            // A frame we did not see start (recording began inside it): adopt it.
            self.push_call(idx, iframe, true);
        } else if self.infos[idx as usize].lines.is_none() {
            if let Some(top) = self.stack.last_mut().filter(|f| f.line_prev != ENTRY) {
                // 3.13: a LINE event at the entry line is not plain
                // python's (the code's LINE events were turned on during
                // its PY_START: `lines.rs`).
                let entry = std::mem::replace(&mut top.line_prev, ENTRY);
                if entry == line {
                    return Ret::Continue;
                }
            }
        }
        st::put_step(self.writer.buf(), path_id, line);
        if self.cfg.values == ValuesMode::Locals {
            if iframe == 0 {
                self.metrics.unreadable_frames += 1;
            } else if self.infos[idx as usize].dict_locals {
                self.diff_dict_locals(idx, iframe);
            } else {
                self.diff_fast_locals(code, idx, iframe, line);
            }
        }
        self.maybe_flush();
        Ret::Continue
    }

    fn diff_fast_locals(&mut self, code: *mut ffi::PyObject, idx: u32, iframe: usize, line: u32) {
        let nslots = self.infos[idx as usize].slots.len();
        let Some(locals) = self.read_locals(idx, iframe, nslots) else {
            self.metrics.unreadable_frames += 1;
            return;
        };
        let Some(mut top) = self.stack.pop() else { return };
        // The event that brought us here advanced the epoch by one; nothing
        // else ran since the frame's previous step, and that step's line was
        // pure: the values it compared are unchanged in place.
        let info = &self.infos[idx as usize];
        let in_place_unchanged = self.cfg.ops.is_some()
            && top.epoch + 1 == purity::epoch()
            && (top.last_line == ENTRY || top.loop_pure || info.pure.contains(top.last_line));
        if in_place_unchanged {
            purity::retract();
        }
        // Locals the previous line rebound keep no object alive: one at the
        // same address may be another object.
        let rebound = if in_place_unchanged && top.last_line != ENTRY { info.pure.stores(top.last_line) } else { 0 };
        top.epoch = purity::epoch();
        top.last_line = line;
        // Whether this step's interval will be pure although its line is not:
        // a `for` header run again from its FOR_ITER (not its iterable).
        // (Not in long code: its INSTRUCTION events may not save the stack pointer.)
        // (Only in place: the portable path cannot see the value stack.)
        top.loop_pure = match (&self.cfg.ops, info.pure.loop_head(line).filter(|_| info.lines.is_none()), self.cfg.reader.layout()) {
            // SAFETY: GIL held; `iframe` is the live interpreter frame running
            // `code`, whose counts these are.
            (Some(ops), Some(head), Some(layout)) => unsafe { ops.loop_reentry_is_pure(layout, iframe, code, head, info.slots.len(), info.stacksize) },
            _ => false,
        };
        let n = self.infos[idx as usize].slots.len().min(top.slots.len());
        for i in 0..n {
            // SAFETY: `i` < the code's localsplus count; the frame is live.
            let mut obj = unsafe { *locals.add(i) };
            let info = &self.infos[idx as usize].slots[i];
            let var = info.var;
            if var == HIDDEN {
                continue;
            }
            if info.cell && !obj.is_null() {
                obj = self.cell_value(obj);
            }
            let old = top.slots[i];
            if info.redact {
                // Shown as `<redacted>` while bound, whatever it holds.
                if obj.is_null() != old.obj.is_null() || (!obj.is_null() && old.hash != REDACTED_HASH) {
                    if obj.is_null() {
                        st::put_unset(self.writer.buf(), var);
                    } else {
                        self.put_redacted(obj, Some(var));
                    }
                    self.drop_slot(old);
                }
                top.slots[i] = if obj.is_null() { EMPTY } else { Slot { obj, hash: REDACTED_HASH, ..EMPTY } };
                continue;
            }
            if obj == old.obj && (old.strong || (in_place_unchanged && !purity::has_slot(rebound, i))) {
                continue;
            }
            if obj.is_null() {
                if !old.obj.is_null() {
                    st::put_unset(self.writer.buf(), var);
                    self.drop_slot(old);
                    top.slots[i] = EMPTY;
                }
                continue;
            }
            match self.diff(var, obj, old) {
                Diff::Unchanged => {}
                Diff::Refresh(new) | Diff::Changed(new) => top.slots[i] = new,
            }
        }
        self.stack.push(top);
    }

    /// Compares `obj` with a variable's previous state `old`, writing a SET
    /// record when the value changed. `old` is consumed unless Unchanged.
    #[inline]
    fn diff(&mut self, var: u32, obj: *mut ffi::PyObject, old: Slot) -> Diff {
        if obj == old.obj && old.strong {
            return Diff::Unchanged;
        }
        if obj == old.obj && old.state != NO_STATE {
            let s = old.state;
            self.refresh(s, obj);
            let gen = self.states[s as usize].gen;
            if gen == old.gen {
                return Diff::Unchanged;
            }
            let buf = self.writer.buf();
            st::put_set_head(buf, var);
            v::put_obj_ref(buf, s);
            return Diff::Changed(Slot { gen, ..old });
        }
        self.scratch.clear();
        let new = self.encode_slot(obj);
        self.drop_slot(old);
        if obj == old.obj && !new.strong && new.hash == old.hash {
            return Diff::Refresh(new);
        }
        let buf = self.writer.buf();
        st::put_set_head(buf, var);
        buf.extend_from_slice(&self.scratch);
        Diff::Changed(new)
    }

    /// Releases what a slot holds (its reference, its trail).
    fn drop_slot(&mut self, s: Slot) {
        if s.strong && !s.obj.is_null() {
            // SAFETY: GIL held; the slot owned this reference.
            unsafe { purity::release(s.obj) };
        }
        if s.state != NO_STATE {
            self.leave_state(s.state);
        }
    }

    /// The namespace of the module or class body frame on top of the stack
    /// (borrowed; null when unreadable).
    fn namespace(&mut self, frame: usize) -> *mut ffi::PyObject {
        match self.cfg.reader {
            // SAFETY: `frame` is the event's interpreter frame.
            FrameReader::InPlace(l) => unsafe { l.namespace(frame) },
            FrameReader::Api(f) => {
                let Some(top) = self.stack.last_mut() else { return ptr::null_mut() };
                if top.ns != 0 {
                    return top.ns as *mut ffi::PyObject;
                }
                // SAFETY: GIL held; `frame` is the event's frame object.
                let ns = unsafe { f.namespace(frame) };
                // SAFETY: GIL held; a non-null result is live.
                if !ns.is_null() && unsafe { ffi::PyDict_Check(ns) } != 0 {
                    top.ns = ns as usize;
                }
                ns
            }
        }
    }

    fn diff_dict_locals(&mut self, idx: u32, iframe: usize) {
        let ns = self.namespace(iframe);
        if ns.is_null() {
            self.metrics.unreadable_frames += 1;
            return;
        }
        // SAFETY: GIL held; keep the namespace alive while we read it.
        unsafe { crate::cpython::rc::incref(ns) };
        let Some(mut top) = self.stack.pop() else {
            // SAFETY: GIL held; we own this reference.
            unsafe { crate::cpython::rc::decref(ns) };
            return;
        };
        top.generation = top.generation.wrapping_add(1);
        let generation = top.generation;
        // SAFETY: GIL held; PyDict_Next on an exact dict runs no user code.
        unsafe {
            if ffi::PyDict_CheckExact(ns) != 0 {
                let mut pos: ffi::Py_ssize_t = 0;
                let mut key: *mut ffi::PyObject = ptr::null_mut();
                let mut val: *mut ffi::PyObject = ptr::null_mut();
                while ffi::PyDict_Next(ns, &mut pos, &mut key, &mut val) != 0 {
                    // A namespace's own data: not modules, and not the functions and
                    // classes it defines (they would repeat in every snapshot).
                    let vt = ffi::Py_TYPE(val);
                    let b = &self.types.builtins;
                    if ffi::PyUnicode_CheckExact(key) == 0
                        || vt == b.module
                        || vt == b.function
                        || vt == b.cfunction
                        || ffi::PyType_Check(val) != 0
                    {
                        continue;
                    }
                    let Some(var) = self.var_id_of_str(key) else { continue };
                    let action = self.named_action(idx, var);
                    if action == ValueAction::Drop {
                        continue;
                    }
                    let pos_in = top.named.iter().position(|(v, _, _)| *v == var);
                    let old = pos_in.map(|p| top.named[p].1).unwrap_or(EMPTY);
                    if let Some(p) = pos_in {
                        top.named[p].2 = generation;
                    }
                    let new = if action == ValueAction::Redact {
                        if old.hash == REDACTED_HASH {
                            continue;
                        }
                        self.put_redacted(val, Some(var));
                        self.drop_slot(old);
                        Slot { obj: val, hash: REDACTED_HASH, ..EMPTY }
                    } else {
                        match self.diff(var, val, old) {
                            Diff::Unchanged => continue,
                            Diff::Refresh(new) | Diff::Changed(new) => new,
                        }
                    };
                    match pos_in {
                        Some(p) => top.named[p].1 = new,
                        None => top.named.push((var, new, generation)),
                    }
                }
            }
            crate::cpython::rc::decref(ns);
        }
        // Names no longer bound.
        let mut i = 0;
        while i < top.named.len() {
            if top.named[i].2 != generation {
                let (var, old, _) = top.named.swap_remove(i);
                st::put_unset(self.writer.buf(), var);
                self.drop_slot(old);
            } else {
                i += 1;
            }
        }
        self.stack.push(top);
    }

    /// PY_RETURN, PY_YIELD (value = the returned/yielded object), PY_UNWIND (value = the exception).
    pub fn on_exit(&mut self, code: *mut ffi::PyObject, value: *mut ffi::PyObject, how: Exit) -> Ret {
        if !self.on_recorded_thread() {
            return Ret::Continue;
        }
        let idx = self.code_idx(code);
        if self.infos[idx as usize].ignored {
            return if how == Exit::Unwind { Ret::Continue } else { Ret::Disable };
        }
        if !self.active || self.stack.is_empty() {
            return Ret::Continue;
        }
        let iframe = self.frame_of(code);
        let Some(depth) = self.stack.iter().rposition(|f| f.iframe == iframe && f.code_idx == idx) else {
            return Ret::Continue;
        };
        // Frames above it that never reported their end (cannot normally happen).
        while self.stack.len() > depth + 1 {
            st::put_return_head(self.writer.buf());
            v::put_none(self.writer.buf());
            if let Some(f) = self.stack.pop() {
                self.release(f);
            }
        }
        self.scratch.clear();
        let ret = self.infos[idx as usize].ret;
        if self.cfg.values == ValuesMode::None || value.is_null() || (ret == ValueAction::Drop && how != Exit::Unwind) {
            v::put_none(&mut self.scratch);
        } else if ret == ValueAction::Redact && how != Exit::Unwind {
            self.put_redacted(value, None);
        } else if how == Exit::Unwind {
            let text = exception_text(value, &class_name(value), self.enc.bounds.max_str);
            v::put_error(&mut self.scratch, types::EXCEPTION, text.as_bytes());
        } else if !self.encode_number(value) {
            self.enc.encode(&mut self.types, self.writer.buf(), value, &mut self.scratch);
        }
        let buf = self.writer.buf();
        st::put_return_head(buf);
        buf.extend_from_slice(&self.scratch);
        if let Some(f) = self.stack.pop() {
            self.release(f);
        }
        if self.cfg.activation.is_some() && self.stack.len() <= self.activation_depth {
            self.active = false;
        }
        self.maybe_flush();
        Ret::Continue
    }

    /// Text the program wrote to stdout or stderr (`kind`: the trace's
    /// EventLogKind), an event of the step that wrote it.
    pub fn on_output(&mut self, kind: u8, text: &[u8]) {
        if !self.on_recorded_thread() || !self.active {
            return;
        }
        st::put_event(self.writer.buf(), kind, "", text);
        self.maybe_flush();
    }

    /// The counters, the encoder's included.
    pub fn metrics(&self) -> Metrics {
        Metrics { redacted_values: self.metrics.redacted_values + self.enc.redacted, ..self.metrics }
    }

    /// Ends the stream: the frames still open get a Return, then END.
    pub fn finish(mut self, exit_status: i64) -> RecorderResult<u64> {
        while let Some(f) = self.stack.pop() {
            st::put_return_head(self.writer.buf());
            v::put_none(self.writer.buf());
            self.release(f);
        }
        st::put_end(self.writer.buf(), exit_status);
        self.drop_refs();
        let Recorder { writer, .. } = self;
        writer.finish()
    }

    /// Flushes buffered records to disk.
    pub fn flush(&mut self) -> RecorderResult<()> {
        self.writer.flush()
    }

    /// Drops every reference the recorder holds (stack, code objects).
    pub fn drop_refs(&mut self) {
        while let Some(f) = self.stack.pop() {
            self.release(f);
        }
        for st in &mut self.states {
            st.trail.release();
        }
        self.state_of.clear();
        for code in self.held_codes.drain(..) {
            // SAFETY: GIL held; we own these references.
            unsafe { crate::cpython::rc::decref(code) };
        }
        for info in &mut self.infos {
            for name in info.names.drain(..).filter(|n| !n.is_null()) {
                // SAFETY: GIL held; we own these references.
                unsafe { crate::cpython::rc::decref(name) };
            }
        }
        self.codes.clear();
    }
}

#[inline]
fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(b);
    h.write_usize(b.len());
    h.finish() | 1
}

fn absolute(path: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => path.to_string(),
    }
}

fn get_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<*mut ffi::PyObject> {
    // SAFETY: GIL held (callers); attributes of code objects are C getters.
    unsafe {
        let a = ffi::PyObject_GetAttrString(obj, name.as_ptr());
        if a.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(a)
        }
    }
}

fn get_str_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<String> {
    let a = get_attr(obj, name)?;
    // SAFETY: GIL held; we own `a`.
    unsafe {
        let s = if ffi::PyUnicode_Check(a) != 0 { Some(str_lossy(a)) } else { None };
        crate::cpython::rc::decref(a);
        s
    }
}

fn get_int_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<i64> {
    let a = get_attr(obj, name)?;
    // SAFETY: GIL held; we own `a`.
    unsafe {
        let i = ffi::PyLong_AsLongLong(a);
        crate::cpython::rc::decref(a);
        if i == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(i)
    }
}

fn get_names(code: *mut ffi::PyObject, name: &std::ffi::CStr) -> Vec<String> {
    let Some(t) = get_attr(code, name) else { return Vec::new() };
    let mut out = Vec::new();
    // SAFETY: GIL held; `t` is a tuple of str we own.
    unsafe {
        if ffi::PyTuple_Check(t) != 0 {
            for i in 0..ffi::PyTuple_Size(t) {
                let s = ffi::PyTuple_GetItem(t, i);
                if !s.is_null() && ffi::PyUnicode_Check(s) != 0 {
                    out.push(str_lossy(s));
                }
            }
        }
        crate::cpython::rc::decref(t);
    }
    out
}

/// Names of the fast-locals slots in order (`code._varname_from_oparg(i)`,
/// which exists on 3.12 and 3.13; elsewhere varnames + cellvars + freevars).
fn local_names(code: *mut ffi::PyObject) -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: GIL held; calls a C method of the code object.
    unsafe {
        let meth = ffi::PyObject_GetAttrString(code, c"_varname_from_oparg".as_ptr());
        if meth.is_null() {
            ffi::PyErr_Clear();
            let mut names = get_names(code, c"co_varnames");
            for n in get_names(code, c"co_cellvars").into_iter().chain(get_names(code, c"co_freevars")) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            return names;
        }
        for i in 0..100_000i64 {
            let arg = ffi::PyLong_FromLongLong(i);
            let name = ffi::PyObject_CallFunctionObjArgs(meth, arg, ptr::null_mut::<ffi::PyObject>());
            crate::cpython::rc::decref(arg);
            if name.is_null() {
                ffi::PyErr_Clear();
                break;
            }
            out.push(str_lossy(name));
            crate::cpython::rc::decref(name);
        }
        crate::cpython::rc::decref(meth);
    }
    out
}

/// A new str (null when it cannot be made).
///
/// # Safety
/// GIL held.
unsafe fn new_str(s: &str) -> *mut ffi::PyObject {
    // SAFETY: see the function's contract; UTF-8 bytes with their length.
    unsafe {
        let o = ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t);
        if o.is_null() {
            ffi::PyErr_Clear();
        }
        o
    }
}

/// `__name__` of the running frame's globals.
///
/// # Safety
/// GIL held, inside a monitoring callback (the running frame is the event's).
unsafe fn module_name() -> Option<String> {
    // SAFETY: GIL held (caller).
    unsafe {
        let g = ffi::PyEval_GetGlobals();
        if g.is_null() {
            return None;
        }
        let n = ffi::PyDict_GetItemString(g, c"__name__".as_ptr());
        if n.is_null() || ffi::PyUnicode_Check(n) == 0 {
            return None;
        }
        Some(str_lossy(n))
    }
}
