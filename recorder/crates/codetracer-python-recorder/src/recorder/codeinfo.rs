//! Per-code facts, computed once per code object and kept in a table
//! keyed by it: whether it is recorded, its ids, its slots' variables and
//! what the filter says of them, its pure lines, its line table.
//!
//! What does not depend on the trace being written ([`CodeFacts`]: all but
//! the path, function and variable ids of its stream) is worked out once per
//! recording and shared by the recorders of its threads ([`SharedCodeFacts`]).

use std::sync::{Arc, Mutex, PoisonError};

use super::*;

pub(super) struct SlotInfo {
    pub(super) var: u32,
    pub(super) cell: bool,
    /// Shown as `<redacted>` (the trace filter's value patterns).
    pub(super) redact: bool,
}

pub(super) struct CodeInfo {
    pub(super) ignored: bool,
    pub(super) path_id: u32,
    pub(super) function_id: u32,
    /// Locals live in a dict (module and class bodies).
    pub(super) dict_locals: bool,
    pub(super) slots: Vec<SlotInfo>,
    pub(super) nargs: usize,
    /// `co_stacksize`: the value stack's slots after the fast locals.
    pub(super) stacksize: usize,
    /// This code belongs to the activation path.
    pub(super) activates: bool,
    /// Lines after which nothing visible can have changed in place.
    pub(super) pure: Arc<PureLines>,
    /// The return value is shown as `<redacted>` (or dropped: None).
    pub(super) ret: ValueAction,
    /// Dict-locals code (module and class bodies): what the filter decided
    /// for the code, and for each name met so far.
    pub(super) decision: Option<Arc<filters::Decision>>,
    pub(super) named_actions: Vec<(u32, ValueAction)>,
    /// Long code: its lines come from INSTRUCTION events through this table.
    pub(super) lines: Option<Arc<crate::lines::LineTable>>,
    /// The portable path: the slots' names (held), to look their values up.
    pub(super) names: Vec<*mut ffi::PyObject>,
    /// The slots compared at every step even after a pure line that did not
    /// store into them (cells, whose contents a line can rebind; redacted
    /// values); `u128::MAX` when a slot past the 128th needs it.
    pub(super) always: u128,
    /// A generator's, coroutine's or async generator's code: its frames
    /// are suspended and resumed (`kept.rs`).
    pub(super) suspends: bool,
}

/// A fast-local slot as [`CodeFacts`] knows it: its name, not yet a
/// variable id of a stream.
struct SlotFacts {
    name: String,
    cell: bool,
    /// Never shown (implicit slots, dunders, the filter's `drop`).
    hidden: bool,
    redact: bool,
}

/// What a code object is, whichever thread's recorder meets it: every fact
/// of [`CodeInfo`] but the ids of the stream it is written to.
pub struct CodeFacts {
    ignored: bool,
    path: String,
    line: u32,
    /// The function's name in the trace.
    display: String,
    dict_locals: bool,
    nargs: usize,
    stacksize: usize,
    activates: bool,
    pure: Arc<PureLines>,
    ret: ValueAction,
    decision: Option<Arc<filters::Decision>>,
    lines: Option<Arc<crate::lines::LineTable>>,
    slots: Vec<SlotFacts>,
    always: u128,
    suspends: bool,
}

/// The [`CodeFacts`] of one recording, keyed by code object, shared by the
/// recorders of its threads (each `RecorderConfig` clone holds the same
/// table). The lock is taken only when a recorder meets a code object for
/// the first time (its own table answers every later event of it), and
/// never held while Python code runs. A key stays that code object's while
/// the recording runs: the recorder that put it in holds the code object
/// until the recording stops.
#[derive(Clone, Default)]
pub struct SharedCodeFacts(Arc<Mutex<FxHashMap<usize, Arc<CodeFacts>>>>);

impl SharedCodeFacts {
    fn get(&self, code: *mut ffi::PyObject) -> Option<Arc<CodeFacts>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&(code as usize)).cloned()
    }

    fn insert(&self, code: *mut ffi::PyObject, facts: &Arc<CodeFacts>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(code as usize).or_insert_with(|| Arc::clone(facts));
    }
}

pub(super) fn is_dunder(name: &[u8]) -> bool {
    name.len() > 4 && name.starts_with(b"__") && name.ends_with(b"__")
}

pub(super) fn absolute(path: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => path.to_string(),
    }
}

pub(super) fn get_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<*mut ffi::PyObject> {
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

pub(super) fn get_str_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<String> {
    let a = get_attr(obj, name)?;
    // SAFETY: GIL held; we own `a`.
    unsafe {
        let s = if ffi::PyUnicode_Check(a) != 0 { Some(str_lossy(a)) } else { None };
        crate::cpython::rc::decref(a);
        s
    }
}

pub(super) fn get_int_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<i64> {
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

pub(super) fn get_names(code: *mut ffi::PyObject, name: &std::ffi::CStr) -> Vec<String> {
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
pub(super) fn local_names(code: *mut ffi::PyObject) -> Vec<String> {
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

/// The code's own name object of fast-local slot `i` (a new reference),
/// else a new str `name`: the frame's lookups by name (`PyFrame_GetVar`, the
/// `f_locals` proxy of 3.13) find the code's own object by identity before
/// comparing strings.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn slot_name(code: *mut ffi::PyObject, i: usize, name: &str) -> *mut ffi::PyObject {
    // SAFETY: see the function's contract; a C method of the code object.
    unsafe {
        let meth = ffi::PyObject_GetAttrString(code, c"_varname_from_oparg".as_ptr());
        if meth.is_null() {
            ffi::PyErr_Clear();
            return new_str(name);
        }
        let arg = ffi::PyLong_FromLongLong(i as i64);
        let own = if arg.is_null() { ptr::null_mut() } else { ffi::PyObject_CallFunctionObjArgs(meth, arg, ptr::null_mut::<ffi::PyObject>()) };
        crate::cpython::rc::decref(meth);
        if !arg.is_null() {
            crate::cpython::rc::decref(arg);
        }
        if own.is_null() {
            ffi::PyErr_Clear();
            return new_str(name);
        }
        if ffi::PyUnicode_CheckExact(own) != 0 && str_lossy(own) == name {
            return own;
        }
        crate::cpython::rc::decref(own);
        new_str(name)
    }
}

/// A new str (null when it cannot be made).
///
/// # Safety
/// GIL held.
pub(super) unsafe fn new_str(s: &str) -> *mut ffi::PyObject {
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
pub(super) unsafe fn module_name() -> Option<String> {
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

impl Recorder {
    pub(super) fn path_id(&mut self, path: &str) -> u32 {
        if let Some(id) = self.paths.get(path) {
            return *id;
        }
        let id = self.paths.len() as u32;
        st::put_path(self.writer.buf(), path);
        self.paths.insert(path.to_string(), id);
        id
    }

    pub(super) fn var_id(&mut self, name: &str) -> u32 {
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
    pub(super) fn var_id_of_str(&mut self, s: *mut ffi::PyObject) -> Option<u32> {
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
    pub(super) fn code_idx(&mut self, code: *mut ffi::PyObject) -> u32 {
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
    pub(super) fn describe_code(&mut self, code: *mut ffi::PyObject) -> u32 {
        let info = self.code_info(code);
        let idx = self.infos.len() as u32;
        self.infos.push(info);
        // SAFETY: GIL held; keep the code object alive so its address stays a unique key.
        unsafe { crate::cpython::rc::incref(code) };
        self.held_codes.push(code);
        self.codes.insert(code as usize, idx);
        idx
    }

    /// The code's facts: another thread's recorder's, or worked out now
    /// (and shared).
    pub(super) fn code_info(&mut self, code: *mut ffi::PyObject) -> CodeInfo {
        let facts = match self.cfg.facts.get(code) {
            Some(f) => f,
            None => {
                let (facts, complete) = self.code_facts(code);
                let facts = Arc::new(facts);
                if complete {
                    self.cfg.facts.insert(code, &facts);
                }
                facts
            }
        };
        self.info_of(code, &facts)
    }

    /// The stream's ids for the code's `facts`: its path and function (their
    /// records written on first use) and its slots' variables.
    fn info_of(&mut self, code: *mut ffi::PyObject, facts: &CodeFacts) -> CodeInfo {
        if facts.ignored {
            self.metrics.skipped_code += 1;
        } else {
            self.metrics.recorded_code += 1;
        }
        let mut info = CodeInfo {
            ignored: facts.ignored,
            path_id: 0,
            function_id: 0,
            dict_locals: facts.dict_locals,
            slots: Vec::with_capacity(facts.slots.len()),
            nargs: facts.nargs,
            stacksize: facts.stacksize,
            activates: facts.activates,
            pure: Arc::clone(&facts.pure),
            ret: facts.ret,
            decision: facts.decision.clone(),
            named_actions: Vec::new(),
            lines: facts.lines.clone(),
            names: Vec::new(),
            always: facts.always,
            suspends: facts.suspends,
        };
        if facts.ignored {
            return info;
        }
        info.path_id = self.path_id(&facts.path);
        info.function_id = self.next_function;
        self.next_function += 1;
        st::put_function(self.writer.buf(), info.path_id, facts.line, &facts.display);
        let api = matches!(self.cfg.reader, FrameReader::Api(_));
        for (i, slot) in facts.slots.iter().enumerate() {
            let var = if slot.hidden { HIDDEN } else { self.var_id(&slot.name) };
            info.slots.push(SlotInfo { var, cell: slot.cell, redact: slot.redact });
            if api {
                // A hidden slot is never looked up (null).
                // SAFETY: GIL held; a new str we hold until `drop_refs`.
                let s = if slot.hidden { ptr::null_mut() } else { unsafe { slot_name(code, i, &slot.name) } };
                info.names.push(s);
            }
        }
        info
    }

    /// Works out the code's facts (and turns its line events on); false
    /// with them when that failed part way (the recorder's error says why):
    /// they are not shared then.
    fn code_facts(&mut self, code: *mut ffi::PyObject) -> (CodeFacts, bool) {
        let filename = get_str_attr(code, c"co_filename").unwrap_or_default();
        let mut ignored = filename.starts_with('<') || self.cfg.skip_prefixes.iter().any(|p| filename.starts_with(p.as_str()));
        let name = get_str_attr(code, c"co_name").unwrap_or_default();
        let qualname = get_str_attr(code, c"co_qualname").unwrap_or_else(|| name.clone());
        let path = absolute(&filename);
        // SAFETY: GIL held; the running frame is the code's (its first event).
        let module = unsafe { module_name() }.unwrap_or_default();
        let decision = if ignored { filters::Decision::default() } else { self.cfg.filter.classify(&path, &module, &qualname) };
        ignored |= decision.skip;
        let mut facts = CodeFacts {
            ignored,
            path: String::new(),
            line: 0,
            display: String::new(),
            dict_locals: false,
            nargs: 0,
            stacksize: 0,
            activates: false,
            pure: Arc::default(),
            ret: ValueAction::Allow,
            decision: None,
            lines: None,
            slots: Vec::new(),
            always: 0,
            suspends: false,
        };
        if ignored {
            return (facts, true);
        }
        let mut complete = true;
        // SAFETY: GIL held (callbacks); `code` is a live code object.
        let code_obj = unsafe { pyo3::Bound::from_borrowed_ptr(pyo3::Python::assume_attached(), code) };
        match crate::lines::request(&code_obj) {
            Ok(table) => facts.lines = table.map(Arc::new),
            Err(e) => {
                complete = false;
                self.fail(e);
            }
        }
        let flags = get_int_attr(code, c"co_flags").unwrap_or(0);
        let optimized = flags & 0x1 != 0;
        facts.line = get_int_attr(code, c"co_firstlineno").unwrap_or(1).max(1) as u32;
        let filter = std::sync::Arc::clone(&self.cfg.filter);
        facts.ret = filter.value_action(&decision, filters::Kind::Ret, &qualname);
        facts.display = if name == "<module>" {
            format!("<{}>", if module.is_empty() { "__main__" } else { module.as_str() })
        } else {
            qualname
        };
        facts.activates = self.cfg.activation.as_deref().is_some_and(|a| a == path);
        facts.path = path;
        facts.dict_locals = !optimized;
        // CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR (Include/cpython/code.h).
        facts.suspends = flags & (0x20 | 0x80 | 0x200) != 0;
        if optimized {
            let argcount = get_int_attr(code, c"co_argcount").unwrap_or(0);
            let kwonly = get_int_attr(code, c"co_kwonlyargcount").unwrap_or(0);
            let varargs = i64::from(flags & 0x4 != 0) + i64::from(flags & 0x8 != 0);
            facts.nargs = (argcount + kwonly + varargs).max(0) as usize;
            facts.stacksize = get_int_attr(code, c"co_stacksize").unwrap_or(0).max(0) as usize;
            let cells = get_names(code, c"co_cellvars");
            let frees = get_names(code, c"co_freevars");
            for (i, name) in local_names(code).into_iter().enumerate() {
                let cell = cells.contains(&name) || frees.contains(&name);
                let kind = if i < facts.nargs { filters::Kind::Arg } else { filters::Kind::Local };
                let action = filter.value_action(&decision, kind, &name);
                // Implicit slots (`__class__`, a comprehension's `.0`) are not the program's variables.
                let hidden = is_dunder(name.as_bytes()) || name.starts_with('.') || action == ValueAction::Drop;
                let redact = action == ValueAction::Redact;
                if !hidden && (cell || redact) {
                    facts.always |= if i < 128 { 1u128 << i } else { u128::MAX };
                }
                facts.slots.push(SlotFacts { name, cell, hidden, redact });
            }
            if let Some(ops) = &self.cfg.ops {
                // SAFETY: GIL held (callbacks).
                facts.pure = Arc::new(PureLines::of(unsafe { pyo3::Python::assume_attached() }, ops, code));
            }
        } else {
            facts.decision = Some(Arc::new(decision));
        }
        (facts, complete)
    }

    /// What the filter says of the module-level (or class-body) name `var`
    /// of the dict-locals code `idx`; decided once per name.
    pub(super) fn named_action(&mut self, idx: u32, var: u32) -> ValueAction {
        let info = &self.infos[idx as usize];
        if let Some(&(_, a)) = info.named_actions.iter().find(|(v, _)| *v == var) {
            return a;
        }
        let Some(d) = info.decision.as_deref() else { return ValueAction::Allow };
        let name = self.varnames.iter().find(|(_, id)| **id == var).map(|(n, _)| n.as_str()).unwrap_or("");
        let action = self.cfg.filter.value_action(d, filters::Kind::Global, name);
        self.infos[idx as usize].named_actions.push((var, action));
        action
    }
}
