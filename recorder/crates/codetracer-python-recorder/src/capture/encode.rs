//! A value's encoding: containers, instances, scalars and their text.

use super::*;

impl Encoder {
    /// Appends the encoding of `obj` to `out`; type definitions go to `defs`.
    pub fn encode(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>) {
        self.active.clear();
        self.budget = self.bounds.max_nodes.max(1);
        self.value(t, defs, obj, out, 0);
    }

    pub(super) fn value(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32) {
        if self.budget == 0 {
            return v::put_raw(out, types::ELIDED, ELLIPSIS);
        }
        self.budget -= 1;
        // SAFETY: GIL held; `obj` is a live object (borrowed for the call).
        unsafe {
            if self.secret && self.redacted_text(t, defs, obj, out) {
                return;
            }
            let tp = ffi::Py_TYPE(obj);
            let b = t.builtins;
            if self.recording {
                self.track(&b, obj, tp);
            }
            if tp == b.none {
                return v::put_none(out);
            }
            if tp == b.bool_ {
                return v::put_bool(out, types::BOOL, obj == ffi::Py_True());
            }
            if tp == b.int {
                if let Some(i) = self.small_int(obj) {
                    if self.recording {
                        self.trail.data.push(TAG_INT);
                        self.trail.data.push(i as u64);
                    }
                    return v::put_int(out, types::INT, i);
                }
                if self.recording {
                    self.hold_leaf(obj);
                }
                return int_value(obj, types::INT, out);
            }
            if tp == b.float {
                let d = self.float(obj);
                if self.recording {
                    self.trail.data.push(TAG_FLOAT);
                    self.trail.data.push(d.to_bits());
                }
                return v::put_float(out, types::FLOAT, d);
            }
            if tp == b.str_ {
                v::put_string(out, types::STR, b"");
                return rewrite_str_tail(out, obj, self.bounds.max_str);
            }
            if tp == b.tuple && self.recording {
                return self.tuple(t, defs, obj, out, depth);
            }
            if tp == b.list || tp == b.tuple {
                return self.sequence(t, defs, obj, out, depth, tp == b.list);
            }
            if tp == b.dict {
                return self.dict(t, defs, obj, out, depth, types::DICT);
            }
            if tp == b.set || tp == b.frozenset {
                return self.set(t, defs, obj, out, depth, if tp == b.set { types::SET } else { types::FROZENSET });
            }
            if tp == b.bytes {
                let mut text = Vec::new();
                bytes_repr(obj, self.bounds.max_str, &mut text);
                return v::put_raw(out, types::BYTES, &text);
            }
            if tp == b.function || tp == b.cfunction {
                if tp == b.cfunction {
                    // (Built in a kept buffer: a bound method held by a
                    // generator is shown again at every resume.)
                    let mut text = std::mem::take(&mut self.text);
                    text.clear();
                    text.extend_from_slice(b"<function ");
                    let done = self.cfunction_qualname(obj, &mut text);
                    if done {
                        text.push(b'>');
                        let id = t.class(defs, tp).raw_type;
                        v::put_raw(out, id, &text);
                    }
                    self.text = text;
                    if done {
                        return;
                    }
                }
                let mut text = b"<function ".to_vec();
                let q = ffi::PyObject_GetAttrString(obj, c"__qualname__".as_ptr());
                if q.is_null() || ffi::PyUnicode_Check(q) == 0 {
                    ffi::PyErr_Clear();
                    text.extend_from_slice(b"?");
                } else {
                    str_bytes(q, self.bounds.max_str, &mut text);
                }
                if !q.is_null() {
                    crate::cpython::rc::decref(q);
                }
                text.push(b'>');
                let id = t.class(defs, tp).raw_type;
                return v::put_raw(out, id, &text);
            }
            if tp == b.module {
                let mut text = b"<module '".to_vec();
                let name = ffi::PyModule_GetNameObject(obj);
                if name.is_null() {
                    ffi::PyErr_Clear();
                } else {
                    str_bytes(name, self.bounds.max_str, &mut text);
                    crate::cpython::rc::decref(name);
                }
                text.extend_from_slice(b"'>");
                let id = t.class(defs, tp).raw_type;
                return v::put_raw(out, id, &text);
            }
            if ffi::PyType_Check(obj) != 0 {
                let mut text = b"<class '".to_vec();
                text.extend_from_slice(type_qualname(obj as *mut ffi::PyTypeObject).as_bytes());
                text.extend_from_slice(b"'>");
                let id = t.class(defs, tp).raw_type;
                return v::put_raw(out, id, &text);
            }
            // Subclasses and user classes.
            let info = t.class(defs, tp);
            if let Some(std) = info.std {
                let (id, name) = (info.raw_type, Rc::clone(&info.qualname));
                let at = out.len();
                let mut text = Vec::new();
                match t.std.render(obj, &std, &name, self.bounds.max_str, &mut text) {
                    Shown::No => {}
                    shown => {
                        if shown == Shown::Leaf && self.recording {
                            self.hold_leaf(obj);
                        } else if shown == Shown::Volatile {
                            self.untrailable();
                        }
                        debug_assert_eq!(at, out.len());
                        return v::put_raw(out, id, &text);
                    }
                }
            }
            let info = t.class(defs, tp);
            if info.scalar_type.is_some() || info.exception {
                self.untrailable();
            }
            if let Some(scalar) = info.scalar_type {
                if ffi::PyLong_Check(obj) != 0 {
                    return int_value(obj, scalar, out);
                }
                if ffi::PyFloat_Check(obj) != 0 {
                    return v::put_float(out, scalar, ffi::PyFloat_AsDouble(obj));
                }
                v::put_string(out, scalar, b"");
                return rewrite_str_tail(out, obj, self.bounds.max_str);
            }
            if info.exception {
                let id = info.raw_type;
                let text = exception_text(obj, &info.qualname, self.bounds.max_str);
                return v::put_raw(out, id, text.as_bytes());
            }
            if info.generic_getattr && (info.has_dict || !info.slots.is_empty()) {
                return self.object(t, defs, obj, tp, out, depth);
            }
            if self.recording {
                // Shown by its class name only.
                self.trail.data.push(TAG_RAW);
                self.trail.data.push(tp as u64);
                // Its class could be reassigned without touching a dict.
                self.opened += 1;
            }
            let mut text = b"<".to_vec();
            text.extend_from_slice(info.qualname.as_bytes());
            text.extend_from_slice(b" object>");
            v::put_raw(out, info.raw_type, &text)
        }
    }

    /// Appends a builtin function's `__qualname__` (cut as `str_bytes` cuts
    /// it) without calling its getter, which formats a new str each time:
    /// read in place by CPython's rules (methodobject.c,
    /// `meth_get__qualname__`): a function of a module (or of none) is named
    /// by its definition alone; any other is its class's `__qualname__`, a
    /// dot and its name — the class being `m_self` when that is a class (a
    /// class's method, or a `METH_STATIC` one, which keeps its class there)
    /// and `m_self`'s class otherwise. False (nothing appended) when that
    /// needs Python: a class whose metaclass is not `type` (it may define
    /// `__qualname__`), a name that is not UTF-8, or no known layout.
    ///
    /// A static class's name cannot change (nor the class go away): the
    /// text is kept, by definition and class, and given again while the
    /// definition's name is the same bytes (a bound method held by a
    /// generator is shown again at every resume).
    ///
    /// # Safety
    /// GIL held; `obj` is a live exact `builtin_function_or_method`.
    unsafe fn cfunction_qualname(&mut self, obj: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
        let Some(layout) = self.layout else { return false };
        // SAFETY: see the function's contract; a definition outlives its functions.
        unsafe {
            let (def, owner) = layout.cfunction_parts(obj);
            if def.is_null() || (*def).ml_name.is_null() {
                return false;
            }
            let name = std::ffi::CStr::from_ptr((*def).ml_name).to_bytes();
            let class = if owner.is_null() || ffi::PyModule_Check(owner) != 0 {
                std::ptr::null_mut()
            } else if ffi::PyType_Check(owner) != 0 {
                owner as *mut ffi::PyTypeObject
            } else {
                ffi::Py_TYPE(owner)
            };
            let key = (def as usize, class as usize);
            if let Some((kept_name, text)) = self.cfunction_texts.get(&key) {
                if **kept_name == *name {
                    out.extend_from_slice(text);
                    return true;
                }
            }
            if std::str::from_utf8(name).is_err() {
                return false;
            }
            let start = out.len();
            if class.is_null() {
                push_cut(name, self.bounds.max_str, out);
            } else {
                if ffi::Py_TYPE(class as *mut ffi::PyObject) != addr_of_mut!(ffi::PyType_Type) {
                    return false;
                }
                // (A str subclass would be formatted through its own `__str__`.)
                let q = ffi::PyType_GetQualName(class);
                if q.is_null() || ffi::PyUnicode_CheckExact(q) == 0 {
                    ffi::PyErr_Clear();
                    if !q.is_null() {
                        crate::cpython::rc::decref(q);
                    }
                    return false;
                }
                str_bytes(q, u32::MAX, out);
                crate::cpython::rc::decref(q);
                out.push(b'.');
                out.extend_from_slice(name);
                if out.len() - start > self.bounds.max_str as usize {
                    let full = out.split_off(start);
                    push_cut(&full, self.bounds.max_str, out);
                }
            }
            if class.is_null() || ffi::PyType_GetFlags(class) & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
                self.cfunction_texts.insert(key, (name.into(), out[start..].into()));
            }
            true
        }
    }

    /// Returns true (and writes the cut marker) when `obj` may not be expanded.
    pub(super) fn cut(&mut self, obj: *mut ffi::PyObject, depth: u32, out: &mut Vec<u8>, marker: &[u8]) -> bool {
        if self.active.contains(&obj) || depth >= self.bounds.max_depth {
            v::put_raw(out, types::ELIDED, marker);
            return true;
        }
        false
    }

    /// # Safety
    /// GIL held; `obj` is a live exact list (`is_list`) or tuple.
    pub(super) unsafe fn sequence(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, is_list: bool) {
        if self.cut(obj, depth, out, if is_list { b"[...]" } else { b"(...)" }) {
            return;
        }
        // SAFETY: GIL held; exact list/tuple; no user code runs while we read.
        unsafe {
            let n = self.seq_len(obj, is_list).max(0) as u32;
            let (vt, id) = if is_list { (vtag::SEQ, types::LIST) } else { (vtag::TUPLE, types::TUPLE) };
            let shown = self.open_container(obj, n, vt, id, out);
            for i in 0..shown {
                let item = self.seq_item(obj, is_list, i as isize);
                if item.is_null() {
                    ffi::PyErr_Clear();
                    v::put_none(out);
                } else {
                    self.value(t, defs, item, out, depth + 1);
                }
            }
            self.close_container(n, shown, out);
        }
    }

    /// A tuple while recording: encoded as any sequence, then, when it is
    /// small, shown whole and made only of leaves (no container, instance or
    /// by-name value below it), its trail entries are replaced by one frozen
    /// leaf `[TAG_FROZEN, tuple, nodes]` holding the tuple itself: a tuple
    /// cannot change, and a held one cannot be freed for another to take its
    /// address, so a walk compares its address alone (and spends the nodes
    /// its encoding used). It keeps its items alive, so theirs are let go.
    ///
    /// # Safety
    /// GIL held; `obj` is a live exact tuple, whose address `track` has just
    /// written to the trail being recorded.
    pub(super) unsafe fn tuple(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32) {
        let start = self.trail.data.len().wrapping_sub(1);
        let (opened, held, budget) = (self.opened, self.trail.held.len(), self.budget);
        // SAFETY: see the function's contract.
        unsafe { self.sequence(t, defs, obj, out, depth, false) };
        let whole = self.opened == opened + 1 && self.budget > 0;
        let small = self.seq_len(obj, false) <= FROZEN_MAX_ITEMS;
        if !(self.recording && whole && small && self.trail.data.get(start) == Some(&(obj as u64))
            && only_leaves(self.trail.data.get(start + 2..).unwrap_or(&[])))
        {
            return;
        }
        self.trail.data.truncate(start);
        // The value's own node (taken by `value`) and its items'.
        let nodes = u64::from(budget - self.budget) + 1;
        self.trail.data.extend_from_slice(&[TAG_FROZEN, obj as u64, nodes]);
        self.opened = opened;
        // SAFETY: GIL held; the trail keeps the tuple alive until released,
        // and the tuple its items, whose own references go.
        unsafe {
            crate::cpython::rc::incref(obj);
            for item in self.trail.held.drain(held..) {
                crate::cpython::rc::decref(item);
            }
        }
        self.trail.held.push(obj);
    }

    /// Starts a container of `n` elements: records its length in the trail,
    /// writes the head (counting the `… N more` marker) and marks it active.
    /// Returns how many elements are shown.
    pub(super) fn open_container(&mut self, obj: *mut ffi::PyObject, n: u32, vt: u8, type_id: u32, out: &mut Vec<u8>) -> u32 {
        if self.recording {
            self.trail.data.push(u64::from(n));
            self.opened += 1;
        }
        let shown = n.min(self.bounds.max_items);
        v::put_container_head(out, vt, type_id, shown + u32::from(n > shown));
        self.active.push(obj);
        shown
    }

    /// Ends a container opened by `open_container`.
    pub(super) fn close_container(&mut self, n: u32, shown: u32, out: &mut Vec<u8>) {
        self.active.pop();
        if n > shown {
            more_marker(out, n - shown);
        }
    }

    /// # Safety
    /// GIL held; `obj` is a live dict.
    pub(super) unsafe fn dict(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, type_id: u32) {
        if self.cut(obj, depth, out, b"{...}") {
            return;
        }
        // SAFETY: GIL held; exact dict; PyDict_Next runs no user code.
        unsafe {
            let n = ffi::PyDict_Size(obj).max(0) as u32;
            let shown = self.open_container(obj, n, vtag::SEQ, type_id, out);
            let mark = self.version_mark(obj, false);
            let mut pos: ffi::Py_ssize_t = 0;
            let mut key: *mut ffi::PyObject = std::ptr::null_mut();
            let mut val: *mut ffi::PyObject = std::ptr::null_mut();
            let mut k = 0;
            while k < shown && ffi::PyDict_Next(obj, &mut pos, &mut key, &mut val) != 0 {
                v::put_container_head(out, vtag::TUPLE, types::TUPLE, 2);
                self.value(t, defs, key, out, depth + 1);
                if self.fields.is_some() && self.hidden(key) {
                    self.secret_field(t, defs, val, out, depth + 1);
                } else {
                    self.value(t, defs, val, out, depth + 1);
                }
                k += 1;
            }
            while k < shown {
                // The dict shrank under us (cannot happen without user code); keep the count true.
                v::put_none(out);
                k += 1;
            }
            self.version_end(mark);
            self.close_container(n, shown, out);
        }
    }

    /// # Safety
    /// GIL held; `obj` is a live set or frozenset.
    pub(super) unsafe fn set(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, type_id: u32) {
        if self.cut(obj, depth, out, b"{...}") {
            return;
        }
        // SAFETY: GIL held; exact set/frozenset: iterating runs no user code.
        unsafe {
            let n = ffi::PySet_Size(obj).max(0) as u32;
            let shown = self.open_container(obj, n, vtag::SEQ, type_id, out);
            let it = ffi::PyObject_GetIter(obj);
            let mut k = 0;
            if it.is_null() {
                ffi::PyErr_Clear();
            } else {
                while k < shown {
                    let item = ffi::PyIter_Next(it);
                    if item.is_null() {
                        ffi::PyErr_Clear();
                        break;
                    }
                    self.value(t, defs, item, out, depth + 1);
                    crate::cpython::rc::decref(item);
                    k += 1;
                }
                crate::cpython::rc::decref(it);
            }
            while k < shown {
                v::put_none(out);
                k += 1;
            }
            self.close_container(n, shown, out);
        }
    }

    /// # Safety
    /// GIL held; `obj` is a live instance of `tp`.
    pub(super) unsafe fn object(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tp: *mut ffi::PyTypeObject, out: &mut Vec<u8>, depth: u32) {
        if self.recording {
            // By address, not held (see `track`); its class is held by the type table.
            self.trail.data.push(TAG_OBJ);
            self.trail.data.push(obj as u64);
            self.trail.data.push(tp as u64);
        }
        if self.cut(obj, depth, out, b"<...>") {
            return;
        }
        // SAFETY: GIL held; the class uses the default attribute lookup, so
        // reading `__dict__` and slot members runs no user code.
        unsafe {
            let (has_dict, slots, qualname) = {
                let info = t.class(defs, tp);
                (info.has_dict, Rc::clone(&info.slots), Rc::clone(&info.qualname))
            };
            let (base, dict) = self.gather_fields(obj, has_dict, &slots);
            let type_id = t.struct_type(defs, tp, &self.names[base..], &qualname);
            let n = self.names.len() - base;
            if self.recording {
                self.trail.data.push(n as u64);
                // The type table holds these names (`struct_type`, just above).
                self.trail.data.extend(self.names[base..].iter().map(|n| *n as u64));
                self.opened += 1;
            }
            // Slot values live outside the dict: only a dict-only instance's dict vouches.
            let mark = self.version_mark(if slots.is_empty() { dict } else { std::ptr::null_mut() }, true);
            if let Some(m) = &mark {
                if self.versions.fingerprints(self.trail.data[m.at]) {
                    for k in 0..n {
                        self.hold_scalar(self.vals[base + k]);
                    }
                }
            }
            v::put_container_head(out, vtag::STRUCT, type_id, n as u32);
            self.active.push(obj);
            for k in 0..n {
                let val = self.vals[base + k];
                if self.fields.is_some() && self.hidden(self.names[base + k]) {
                    self.secret_field(t, defs, val, out, depth + 1);
                } else {
                    self.value(t, defs, val, out, depth + 1);
                }
            }
            self.active.pop();
            self.version_end(mark);
            self.release_fields(base, dict);
        }
    }
}

/// Whether trail entries are leaves only: no container or instance, not
/// even one cut at the depth limit (holding the tuple would keep it alive).
fn only_leaves(mut entries: &[u64]) -> bool {
    loop {
        entries = match entries {
            [] => return true,
            [TAG_INT | TAG_FLOAT | TAG_LEAF, _, rest @ ..] => rest,
            [TAG_FROZEN, _, _, rest @ ..] => rest,
            _ => return false,
        };
    }
}

pub(super) fn more_marker(out: &mut Vec<u8>, hidden: u32) {
    let text = format!("… {hidden} more");
    v::put_raw(out, types::ELIDED, text.as_bytes());
}

/// Completes a STR value whose (empty) text was just written: replaces the
/// zero length with `obj`'s UTF-8, cut at `max` bytes. No temporary buffer
/// on the common path (the str's cached UTF-8 is copied once).
pub(super) fn rewrite_str_tail(out: &mut Vec<u8>, obj: *mut ffi::PyObject, max: u32) {
    out.truncate(out.len() - 1);
    // SAFETY: GIL held; `obj` is a str.
    unsafe {
        let mut size: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(obj, &mut size);
        if !p.is_null() {
            let bytes = std::slice::from_raw_parts(p as *const u8, size as usize);
            if bytes.len() <= max as usize {
                trace_writer::stream::put_str(out, bytes);
                return;
            }
        } else {
            ffi::PyErr_Clear();
        }
    }
    let mut text = Vec::new();
    str_bytes(obj, max, &mut text);
    trace_writer::stream::put_str(out, &text);
}

/// An int as Int (i64) or BigInt (magnitude bytes).
///
/// # Safety
/// GIL held; `obj` is a live int.
pub(super) unsafe fn int_value(obj: *mut ffi::PyObject, type_id: u32, out: &mut Vec<u8>) {
    // SAFETY: GIL held; `obj` is an int.
    unsafe {
        let mut overflow: c_int = 0;
        let i = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
        if overflow == 0 && (i != -1 || ffi::PyErr_Occurred().is_null()) {
            return v::put_int(out, type_id, i);
        }
        ffi::PyErr_Clear();
        // Magnitude through int.to_bytes on the exact int type (C code).
        let negative = overflow < 0;
        let abs = ffi::PyNumber_Absolute(obj);
        let mut done = false;
        if !abs.is_null() {
            let nbits = ffi::PyObject_CallMethod(abs, c"bit_length".as_ptr(), std::ptr::null());
            if !nbits.is_null() {
                let bits = ffi::PyLong_AsLongLong(nbits);
                crate::cpython::rc::decref(nbits);
                let nbytes = (bits + 7) / 8;
                let bytes = ffi::PyObject_CallMethod(abs, c"to_bytes".as_ptr(), c"(Ls)".as_ptr(), nbytes, c"big".as_ptr());
                if !bytes.is_null() {
                    let mut p: *mut std::os::raw::c_char = std::ptr::null_mut();
                    let mut n: ffi::Py_ssize_t = 0;
                    if ffi::PyBytes_AsStringAndSize(bytes, &mut p, &mut n) == 0 {
                        v::put_bigint(out, type_id, negative, std::slice::from_raw_parts(p as *const u8, n as usize));
                        done = true;
                    }
                    crate::cpython::rc::decref(bytes);
                }
            }
            crate::cpython::rc::decref(abs);
        }
        if !done {
            ffi::PyErr_Clear();
            v::put_error(out, types::ERROR, b"<int not readable>");
        }
    }
}

/// `b'...'` like Python's repr, cut at `max` bytes of input.
///
/// # Safety
/// GIL held; `obj` is a live bytes object.
pub(super) unsafe fn bytes_repr(obj: *mut ffi::PyObject, max: u32, out: &mut Vec<u8>) {
    // SAFETY: GIL held; `obj` is bytes.
    let data = unsafe {
        let mut p: *mut std::os::raw::c_char = std::ptr::null_mut();
        let mut n: ffi::Py_ssize_t = 0;
        if ffi::PyBytes_AsStringAndSize(obj, &mut p, &mut n) != 0 {
            ffi::PyErr_Clear();
            return;
        }
        std::slice::from_raw_parts(p as *const u8, n as usize)
    };
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') { b'"' } else { b'\'' };
    out.push(b'b');
    out.push(quote);
    let shown = &data[..data.len().min(max as usize)];
    for &c in shown {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c == quote => {
                out.push(b'\\');
                out.push(c);
            }
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(quote);
    if data.len() > shown.len() {
        out.extend_from_slice(ELLIPSIS);
    }
}

/// `ValueError: message` from the exception's `args` (never its `__str__`).
pub fn exception_text(exc: *mut ffi::PyObject, qualname: &str, max: u32) -> String {
    let mut text = qualname.as_bytes().to_vec();
    // SAFETY: GIL held (callers); BaseException.args is a C getset.
    unsafe {
        let args = ffi::PyObject_GetAttrString(exc, c"args".as_ptr());
        if args.is_null() {
            ffi::PyErr_Clear();
        } else {
            if ffi::PyTuple_Check(args) != 0 && ffi::PyTuple_Size(args) >= 1 {
                let first = ffi::PyTuple_GetItem(args, 0);
                if !first.is_null() {
                    if ffi::PyUnicode_Check(first) != 0 {
                        text.extend_from_slice(b": ");
                        str_bytes(first, max, &mut text);
                    } else if ffi::PyLong_CheckExact(first) != 0 {
                        let i = ffi::PyLong_AsLongLong(first);
                        if ffi::PyErr_Occurred().is_null() {
                            text.extend_from_slice(format!(": {i}").as_bytes());
                        } else {
                            ffi::PyErr_Clear();
                        }
                    }
                }
            }
            crate::cpython::rc::decref(args);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}
