//! The recording state and what each monitoring event does to it.
//!
//! Hot path rules: no allocation in the common case, per-code facts computed
//! once and kept in a table keyed by the code object, `DISABLE` returned for
//! code that will never be recorded, values written only when they changed
//! since the frame's previous step (the converter rebuilds full snapshots).
//!
//! Files: `mod.rs` (the recorder and what each event does), `codeinfo.rs`
//! (per-code facts), `locals.rs` (reading and diffing a frame's locals),
//! `states.rs` (object states).

mod codeinfo;
mod kept;
mod locals;
mod states;

use std::ptr;

use pyo3::ffi;
use recorder_errors::prelude::*;
use rustc_hash::FxHashMap;
use trace_writer::stream::{self as st, StreamWriter};
use trace_writer::LiveConvert;
use trace_writer::value::{self as v, types};

use crate::capture::{Compare, class_name, exception_text, str_lossy, Builtins, Encoder, Identity, Trail, TypeTable};
use crate::cpython::{DictVersions, FrameReader};
use crate::purity::{self, OpTable, PureLines};
use crate::filters::{self, Filter, ValueAction};

use codeinfo::*;
pub use codeinfo::SharedCodeFacts;
pub use kept::note_unseen;
use kept::Kept;
use states::*;

/// How many values to capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValuesMode {
    None,
    Args,
    Locals,
}

impl ValuesMode {
    /// Every mode, in the order `--help` names them.
    pub const ALL: [ValuesMode; 3] = [Self::None, Self::Args, Self::Locals];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
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

/// `Frame::last_line` of a frame called but not stepped yet: only its
/// prologue ran since its arguments were read.
const ENTRY: u32 = u32::MAX;

/// `Frame::last_line` of a resumed (or adopted) frame that has not stepped
/// yet: the rest of the line it resumes in runs before its next step (the
/// value `send()` gave is stored, an `x.append((yield))` appends), so the
/// values read at the resume prove nothing about that step. No line's.
const RESUMED: u32 = u32::MAX - 1;

/// `SlotInfo::var` of a slot that is never shown.
const HIDDEN: u32 = u32::MAX;

const EMPTY: Slot = Slot { obj: ptr::null_mut(), strong: false, hash: 0, state: NO_STATE, gen: 0 };

struct Frame {
    code_idx: u32,
    iframe: usize,
    slots: Vec<Slot>,
    /// For dict-locals frames: (variable id, slot, generation seen).
    named: Vec<(u32, Slot, u32)>,
    generation: u32,
    /// The line of the frame's previous step (`ENTRY` or `RESUMED` before its first).
    last_line: u32,
    /// `purity::epoch()` when the frame's values were last compared.
    epoch: u64,
    /// The previous step re-entered a `for` header over an iterator that
    /// mutates nothing: its interval was pure although its line is not.
    loop_pure: bool,
    /// Long code: the line a line start must differ from to step (the
    /// previous step's; `ENTRY` at a call, so its first line start steps;
    /// the line a resumed frame goes on from: `lines.rs`).
    line_prev: u32,
    /// The portable path: a module or class body's namespace (borrowed; the
    /// frame holds it), as first read.
    ns: usize,
    /// A generator's frame: the encodings of its fixed locals, for its
    /// next resume (`kept.rs`).
    kept: Option<Box<Kept>>,
}

/// Counters surfaced in the metadata and the logs (docs/design/error-policy.md §9).
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
#[derive(Clone)]
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
    pub filter: std::sync::Arc<Filter>,
    /// The code facts of the recording, shared by its threads' recorders.
    pub facts: SharedCodeFacts,
}

pub struct Recorder {
    pub writer: StreamWriter<LiveConvert>,
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
    /// Suspended generators' kept encodings, by interpreter frame (`kept.rs`).
    kept: kept::KeptTable,
    /// (Boxed: they move between frames and `kept` whole.)
    #[allow(clippy::vec_box)]
    spare_kept: Vec<Box<Kept>>,
    /// This recorder's id among the process's (`kept.rs`).
    id: usize,
}

impl Recorder {
    /// A recorder writing to `writer`; `start_path` is the program (PathId 0),
    /// under which `<toplevel>` (FunctionId 0) is called.
    pub fn new(mut writer: StreamWriter<LiveConvert>, start_path: &str, cfg: RecorderConfig) -> Self {
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
            enc: Encoder::new(cfg.bounds, cfg.versions, cfg.reader.layout(), cfg.filter.has_attr_rules().then(|| std::sync::Arc::clone(&cfg.filter))),
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
            kept: kept::KeptTable::default(),
            spare_kept: Vec::new(),
            id: kept::recorder_id(),
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
            Err(r) => {
                if r == Ret::Continue {
                    // Another thread's: a generator may run there unseen.
                    note_unseen();
                }
                return r;
            }
        };
        let kept = self.take_kept(code);
        if !self.active {
            if !self.infos[idx as usize].activates {
                return Ret::Continue;
            }
            self.active = true;
            self.activation_depth = self.stack.len();
        }
        let iframe = self.frame_of(code);
        self.push_call(idx, iframe, resumed, if resumed { kept } else { None });
        self.maybe_flush();
        Ret::Continue
    }

    /// `kept`: the frame's kept encodings from its yield (`kept.rs`).
    fn push_call(&mut self, idx: u32, iframe: usize, resumed: bool, kept: Option<Box<Kept>>) {
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
        let mut keeping = self.keeping(idx, iframe, kept);
        self.scratch.clear();
        let mut written = 0u32;
        if nargs > 0 {
            match self.read_locals(idx, iframe, nargs, u128::MAX, false) {
                Some(locals) => {
                    #[allow(clippy::needless_range_loop)] // `i` indexes the frame's slots too
                    for i in 0..nargs {
                        // SAFETY: `i` < the code's localsplus count; the frame is live.
                        let mut obj = unsafe { *locals.add(i) };
                        if obj.is_null() {
                            continue;
                        }
                        // (Entries are kept for shown slots only, never cells.)
                        if keeping.reuse(i, obj, &mut self.scratch) {
                            // SAFETY: GIL held; the slot owns this reference until replaced.
                            unsafe { crate::cpython::rc::incref(obj) };
                            slots[i] = Slot { obj, strong: true, hash: 0, state: NO_STATE, gen: 0 };
                            written += 1;
                            continue;
                        }
                        let (var, cell, redact) = match self.infos[idx as usize].slots.get(i) {
                            Some(s) => (s.var, s.cell, s.redact),
                            None => continue,
                        };
                        if var == HIDDEN {
                            continue;
                        }
                        if cell {
                            obj = self.cell_value(obj);
                            if obj.is_null() {
                                continue;
                            }
                        }
                        let from = self.scratch.len();
                        st::put_varint(&mut self.scratch, u64::from(var));
                        if redact {
                            let slot = self.secret_slot(obj);
                            if track_locals {
                                slots[i] = slot;
                            }
                        } else if track_locals {
                            let slot = self.encode_slot(obj);
                            if !cell && keeping.keeps() {
                                self.keep_written(&mut keeping, i, &slot, from);
                            }
                            slots[i] = slot;
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
        // The arguments were just compared (or encoded); until a fresh call's
        // first line only its prologue runs, which mutates nothing.
        let last_line = if resumed { RESUMED } else { ENTRY };
        self.stack.push(Frame {
            code_idx: idx,
            iframe,
            slots,
            named: Vec::new(),
            generation: 0,
            last_line,
            epoch: purity::epoch(),
            loop_pure: false,
            line_prev: ENTRY,
            ns: 0,
            kept: keeping.into_kept(),
        });
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

    /// PY_RESUME / PY_THROW at byte `offset`: in long code the frame's
    /// first line start after it steps only when its line differs from the
    /// line the frame goes on from (`lines.rs`). Other code needs nothing:
    /// its LINE events already follow that rule.
    pub fn note_resume(&mut self, code: *mut ffi::PyObject, offset: *mut ffi::PyObject) {
        let Some(&idx) = self.codes.get(&(code as usize)) else { return };
        let Some(table) = self.infos[idx as usize].lines.as_ref() else { return };
        let line = table.line_at(self.line_number(offset) as usize);
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
            self.push_call(idx, iframe, true, None);
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
            self.secret_slot(value);
        } else if how == Exit::Unwind {
            let text = exception_text(value, &class_name(value), self.enc.bounds.max_str);
            v::put_error(&mut self.scratch, types::EXCEPTION, text.as_bytes());
        } else if !self.encode_number(value) {
            self.enc.encode(&mut self.types, self.writer.buf(), value, &mut self.scratch);
        }
        let buf = self.writer.buf();
        st::put_return_head(buf);
        buf.extend_from_slice(&self.scratch);
        if let Some(mut f) = self.stack.pop() {
            self.suspend(&mut f, how);
            self.release(f);
        }
        if self.cfg.activation.is_some() && self.stack.len() <= self.activation_depth {
            self.active = false;
        }
        self.maybe_flush();
        Ret::Continue
    }

    /// Text the program wrote to stdout or stderr (`kind`: the trace's
    /// EventLogKind; `metadata`: where a WriteFile went), an event of the
    /// step that wrote it.
    pub fn on_output(&mut self, kind: u8, metadata: &str, text: &[u8]) {
        if !self.on_recorded_thread() || !self.active {
            return;
        }
        st::put_event(self.writer.buf(), kind, metadata, text);
        self.maybe_flush();
    }

    /// Whether events are recorded now (`--activation-path`: only while the
    /// activating code runs).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Goes on recording from where another recorder was (a forked child's
    /// recorder, after the parent's): active when it was, the frames then
    /// running adopted at their next line.
    pub fn continue_active(&mut self, active: bool) {
        self.active = active;
        self.activation_depth = 0;
    }

    /// The counters, the encoder's included.
    pub fn metrics(&self) -> Metrics {
        Metrics { redacted_values: self.metrics.redacted_values + self.enc.redacted, ..self.metrics }
    }

    /// Ends the stream: the frames still open get a Return, then END.
    /// Returns the conversion that followed the stream live, if one did.
    pub fn finish(mut self, exit_status: i64) -> RecorderResult<Option<LiveConvert>> {
        while let Some(f) = self.stack.pop() {
            st::put_return_head(self.writer.buf());
            v::put_none(self.writer.buf());
            self.release(f);
        }
        st::put_end(self.writer.buf(), exit_status);
        self.drop_refs();
        let Recorder { writer, .. } = self;
        writer.finish_observed().map(|(_, live)| live)
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
