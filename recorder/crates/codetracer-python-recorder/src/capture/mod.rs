//! Values: Python objects -> the compact stream's value encoding.
//!
//! Never runs user code: no `repr`/`str`, no `__getattr__`/`__getattribute__`
//! of user classes, no iteration protocol of user types. Builtin containers
//! are walked directly; instances of classes with the default attribute
//! lookup show their `__dict__` and `__slots__`; anything else is shown by
//! its class name. Depth, item count and string length are bounded, and a
//! container that contains itself is cut (`[...]`, as Python prints it).
//!
//! Files: `mod.rs` (the encoder, its bounds and how it reads objects),
//! `classes.rs` (what a class is made of, computed once: `TypeTable`),
//! `encode.rs` (a value's encoding, scalars' text), `trail.rs` (trails:
//! comparing a value with its last encoding, patches, check programs).

mod classes;
mod encode;
mod trail;
#[cfg(test)]
mod tests;

use std::hash::Hasher;
use std::os::raw::c_int;
use std::ptr::addr_of_mut;
use std::rc::Rc;

use pyo3::ffi;
use rustc_hash::{FxHashMap, FxHasher};
use trace_writer::stream::{put_type, put_varint};
use trace_writer::value::{self as v, kind, types, vtag};

use crate::cpython::{find_member, DictVersions, Layout, Member};
use crate::stdvalues::{Shown, StdClass, StdState};
pub use crate::text::{class_name, str_bytes, str_lossy};
use crate::text::{push_cut, type_qualname, ELLIPSIS};

/// Bounds of value encoding.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub max_depth: u32,
    pub max_items: u32,
    pub max_str: u32,
    /// Values (nodes) shown per variable; past it, elements read `…`.
    pub max_nodes: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { max_depth: 3, max_items: 32, max_str: 256, max_nodes: 64 }
    }
}

pub use classes::{Builtins, TypeTable};
use classes::*;
pub use encode::exception_text;
pub use trail::Trail;
use trail::*;

/// The value of an exact `float` (not a subclass).
#[inline(always)]
pub fn exact_float(obj: *mut ffi::PyObject) -> f64 {
    crate::cpython::float_value(obj)
}

/// How the recorder compares a variable's value with its previous step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Same object means same value (immutable, or shown by name only):
    /// compare pointers, hold a reference.
    Stable,
    /// Contents can change in place: compare encodings.
    Mutable,
}

/// How many field names the encoder remembers (and holds) as hidden or not;
/// past this, a name is judged again at each encoding.
const HIDDEN_NAMES_KEPT: usize = 8192;

/// The encoder: one per recording, reused for every value.
pub struct Encoder {
    pub bounds: Bounds,
    /// Nodes left for the value being encoded.
    budget: u32,
    active: Vec<*mut ffi::PyObject>,
    /// Field names and values of the objects being encoded (a stack: each
    /// object uses the region above its parent's).
    names: Vec<*mut ffi::PyObject>,
    vals: Vec<*mut ffi::PyObject>,
    /// While encoding with [`Encoder::encode_tracked`]: the value's trail.
    recording: bool,
    trail: Trail,
    trail_ok: bool,
    /// Which dicts' version tags prove them unchanged.
    versions: DictVersions,
    /// The layout in force: ints, lists, tuples and managed dicts are read
    /// in place (None: through the C API).
    layout: Option<&'static Layout>,
    /// Containers, instances and by-name values opened while recording (a
    /// subtree that opened none is flat: its leaves are fixed by its dict).
    opened: u64,
    /// While comparing: the path of the node being walked and the PATCH
    /// payload collected.
    path: Vec<u32>,
    patches: Vec<u8>,
    npatches: u32,
    /// The check program the walk in progress writes (see `OP_DICT`), and
    /// whether every node it met could be written down.
    checks: Vec<u64>,
    checks_ok: bool,
    writing_checks: bool,
    /// The trace filter, when it may hide fields (attributes, dict keys).
    fields: Option<std::sync::Arc<crate::filters::Filter>>,
    /// Field names and dict keys already judged, hidden or not (held).
    hidden_names: FxHashMap<usize, bool>,
    /// Values written as `<redacted>`.
    pub redacted: u64,
    /// Encoding a value under a secret-looking name: its text leaves are
    /// written as `<redacted>` ([`Encoder::encode_secret`]).
    secret: bool,
    /// While comparing after a line that can only have stored items into
    /// this list (see [`Encoder::only_changed`]); null otherwise.
    only: *mut ffi::PyObject,
    /// Builtin functions' `__qualname__`s by (definition, static class or
    /// none): the definition's name and the text ([`Encoder::cfunction_qualname`]).
    #[allow(clippy::type_complexity)]
    cfunction_texts: FxHashMap<(usize, usize), (Box<[u8]>, Box<[u8]>)>,
    /// A buffer for a value's text, kept between encodings.
    text: Vec<u8>,
}

/// What comparing a value with its trail found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compare {
    Same,
    /// Same structure; changed leaves were patched (see [`Encoder::patches`]).
    Patched,
    Different,
}

impl Encoder {
    /// `layout`: the interpreter's object layouts are known (3.12, 3.13), so
    /// ints, lists and tuples are read in place.
    pub fn new(bounds: Bounds, versions: DictVersions, layout: Option<&'static Layout>, fields: Option<std::sync::Arc<crate::filters::Filter>>) -> Self {
        Self {
            fields,
            hidden_names: FxHashMap::default(),
            cfunction_texts: FxHashMap::default(),
            text: Vec::new(),
            redacted: 0,
            secret: false,
            layout,
            versions,
            opened: 0,
            path: Vec::new(),
            patches: Vec::new(),
            npatches: 0,
            checks: Vec::new(),
            checks_ok: false,
            writing_checks: false,
            bounds,
            budget: bounds.max_nodes,
            active: Vec::new(),
            names: Vec::new(),
            vals: Vec::new(),
            recording: false,
            trail: Trail::default(),
            trail_ok: false,
            only: std::ptr::null_mut(),
        }
    }

    /// Until called again with null: nothing changed in place since the
    /// values were last compared but the exact list `list` (a line stored
    /// into its items, which are all leaves now: purity.rs,
    /// `PureLines::item_stores`). Every other list or tuple then holds the
    /// objects its trail recorded, so a comparison passes over one made only
    /// of leaves without reading it (`Encoder::skip_leaves`). The caller
    /// vouches for the roots it compares: each is the object its trail was
    /// last compared with, not one rebound since.
    pub fn only_changed(&mut self, list: *mut ffi::PyObject) {
        self.only = list;
    }

    /// Encodes like [`Encoder::encode`] and also builds the value's trail,
    /// left in `trail` (swapped with the caller's); returns false (and an
    /// empty trail) when the value holds kinds a trail cannot vouch for.
    pub fn encode_tracked(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, trail: &mut Trail) -> bool {
        self.trail.release();
        self.recording = true;
        self.trail_ok = true;
        self.encode(t, defs, obj, out);
        self.recording = false;
        if !self.trail_ok {
            self.trail.release();
            return false;
        }
        std::mem::swap(&mut self.trail, trail);
        true
    }

    /// The Raw type named by `obj`'s class (what a redacted value shows).
    pub fn raw_type_of(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject) -> u32 {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        t.class(defs, tp).raw_type
    }

    /// Whether the field named `name` (an attribute name or a dict key) is
    /// hidden by the trace filter. Names that are not exact strs never are.
    fn hidden(&mut self, name: *mut ffi::PyObject) -> bool {
        let Some(filter) = &self.fields else { return false };
        // SAFETY: GIL held; `name` is live.
        if unsafe { ffi::PyUnicode_CheckExact(name) } == 0 {
            return false;
        }
        if let Some(h) = self.hidden_names.get(&(name as usize)) {
            return *h;
        }
        let h = filter.attr_action(&str_lossy(name)) != crate::filters::ValueAction::Allow;
        if self.hidden_names.len() < HIDDEN_NAMES_KEPT {
            // SAFETY: GIL held; the cache holds the name so its address stays its own.
            unsafe { crate::cpython::rc::incref(name) };
            self.hidden_names.insert(name as usize, h);
        }
        h
    }

    /// Encodes a value under a secret-looking name (a variable, argument or
    /// return value the trace filter redacts): like [`Encoder::encode`], but
    /// every str, bytes or bytearray in it, however deep, is written as
    /// `<redacted>` (typed by its class). Numbers, booleans, None, classes,
    /// functions and modules hold no text and are shown as they are; a
    /// container or an object shows its shape and its other leaves.
    pub fn encode_secret(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>) {
        self.secret = true;
        self.encode(t, defs, obj, out);
        self.secret = false;
    }

    /// The value of a field under a secret-looking name (an attribute or a
    /// str dict key the filter hides), encoded as [`Encoder::encode_secret`]
    /// does. The enclosing value is re-encoded at every comparison: a trail
    /// would have to vouch for text it does not show.
    fn secret_field(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, val: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32) {
        self.untrailable();
        let outer = std::mem::replace(&mut self.secret, true);
        self.value(t, defs, val, out, depth);
        self.secret = outer;
    }

    /// While [`Encoder::secret`]: writes `<redacted>` for a str, bytes or
    /// bytearray `obj` (subclasses included) and returns true.
    ///
    /// # Safety
    /// GIL held; `obj` is live.
    #[inline]
    unsafe fn redacted_text(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
        // SAFETY: GIL held; `obj` is live; type checks run no user code.
        let text = unsafe { ffi::PyUnicode_Check(obj) != 0 || ffi::PyBytes_Check(obj) != 0 || ffi::PyByteArray_Check(obj) != 0 };
        if !text {
            return false;
        }
        self.untrailable();
        self.redacted += 1;
        let type_id = self.raw_type_of(t, defs, obj);
        v::put_raw(out, type_id, b"<redacted>");
        true
    }

    /// Holds `obj` in the trail being built if it is an exact float or int
    /// (a fingerprinted instance's fields must keep their addresses).
    fn hold_scalar(&mut self, obj: *mut ffi::PyObject) {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if tp == std::ptr::addr_of_mut!(ffi::PyFloat_Type) || tp == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            // SAFETY: GIL held; the trail owns this reference until released.
            unsafe { crate::cpython::rc::incref(obj) };
            self.trail.held.push(obj);
        }
    }

    /// A leaf recorded by reference: (TAG_LEAF, address), held.
    fn hold_leaf(&mut self, obj: *mut ffi::PyObject) {
        self.trail.data.push(TAG_LEAF);
        self.hold(obj);
    }

    fn hold(&mut self, obj: *mut ffi::PyObject) {
        // SAFETY: GIL held; the trail keeps `obj` alive until released.
        unsafe { crate::cpython::rc::incref(obj) };
        self.trail.held.push(obj);
        self.trail.data.push(obj as u64);
    }

    /// Records the node `obj` (of type `tp`) in the trail being built
    /// (floats and small ints are recorded by `value` itself, by value;
    /// instances of other classes by the branch that encodes them).
    /// Leaves whose encoding the address stands for (strs, bytes, functions,
    /// modules, classes) are held, so the address cannot be reused for
    /// another value while the trail lives. Containers are recorded by
    /// address but not held: the walk re-checks their length and every
    /// element, so a new container at a reused address is only accepted
    /// when it encodes identically — and the recorder never keeps a
    /// container (or what it holds) alive past the program's last use,
    /// which would move finalisers into a callback.
    fn track(&mut self, b: &Builtins, obj: *mut ffi::PyObject, tp: *mut ffi::PyTypeObject) {
        let container = tp == b.list || tp == b.tuple || tp == b.dict || tp == b.set || tp == b.frozenset;
        let held = tp == b.none || tp == b.bool_ || tp == b.str_ || tp == b.bytes || tp == b.function || tp == b.cfunction
            || tp == b.module
            // SAFETY: GIL held; `obj` is live.
            || unsafe { ffi::PyType_Check(obj) } != 0;
        if held {
            self.hold_leaf(obj);
        } else if container {
            self.trail.data.push(obj as u64);
        }
    }

    /// Gives up the trail being built (a value a trail cannot vouch for).
    fn untrailable(&mut self) {
        if self.recording {
            self.trail_ok = false;
            self.recording = false;
        }
    }

    /// An int of at most one 30-bit digit (those are recorded by value), read
    /// in place on a known layout, else through the C API.
    #[inline]
    pub fn small_int(&self, obj: *mut ffi::PyObject) -> Option<i64> {
        // SAFETY: GIL held; `obj` is an exact int (callers).
        unsafe {
            if let Some(l) = self.layout {
                return l.small_int(obj);
            }
            let mut overflow: c_int = 0;
            let i = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
            if overflow != 0 || (i == -1 && !ffi::PyErr_Occurred().is_null()) {
                ffi::PyErr_Clear();
                return None;
            }
            (i.unsigned_abs() < 1 << 30).then_some(i)
        }
    }

    /// The value of an exact float: in place on a known layout.
    #[inline(always)]
    pub fn float(&self, obj: *mut ffi::PyObject) -> f64 {
        match self.layout {
            // SAFETY: an exact float (callers).
            Some(l) => unsafe { l.float_value(obj) },
            None => exact_float(obj),
        }
    }

    /// The trail entry of an exact float or small int (what `walk` compares
    /// such a leaf with); None for anything else.
    #[inline(always)]
    fn number_entry(&self, b: &Builtins, obj: *mut ffi::PyObject) -> Option<(u64, u64)> {
        // SAFETY: GIL held; `obj` is live.
        let ty = unsafe { ffi::Py_TYPE(obj) };
        if ty == b.float {
            Some((TAG_FLOAT, self.float(obj).to_bits()))
        } else if ty == b.int {
            self.small_int(obj).map(|v| (TAG_INT, v as u64))
        } else {
            None
        }
    }

    /// Length of an exact list or tuple.
    #[inline]
    fn seq_len(&self, obj: *mut ffi::PyObject, is_list: bool) -> isize {
        // SAFETY: GIL held; `obj` is an exact list or tuple (callers).
        unsafe {
            if let Some(l) = self.layout {
                l.seq_len(obj)
            } else if is_list {
                ffi::PyList_Size(obj)
            } else {
                ffi::PyTuple_Size(obj)
            }
        }
    }

    /// Item `i` (< its length) of an exact list or tuple; borrowed.
    #[inline]
    fn seq_item(&self, obj: *mut ffi::PyObject, is_list: bool, i: isize) -> *mut ffi::PyObject {
        // SAFETY: GIL held; `obj` is an exact list or tuple and `i` in range (callers).
        unsafe {
            if let Some(l) = self.layout {
                l.seq_item(obj, is_list, i)
            } else if is_list {
                ffi::PyList_GetItem(obj, i)
            } else {
                ffi::PyTuple_GetItem(obj, i)
            }
        }
    }

    /// Whether `obj`'s encoding cannot change while it lives: an exact int,
    /// float, str, bytes, bool or None, or a builtin function of a module,
    /// of none, or of a static class (whose name cannot change: the text
    /// [`Encoder::cfunction_qualname`] keeps).
    pub fn fixed_encoding(&self, t: &TypeTable, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        let b = &t.builtins;
        if tp == b.int || tp == b.float || tp == b.str_ || tp == b.bytes || tp == b.bool_ || tp == b.none {
            return true;
        }
        if tp != b.cfunction {
            return false;
        }
        let Some(layout) = self.layout else { return false };
        // SAFETY: GIL held; `obj` is a live exact builtin function.
        unsafe {
            let (_, owner) = layout.cfunction_parts(obj);
            if owner.is_null() || ffi::PyModule_Check(owner) != 0 {
                return true;
            }
            let class = if ffi::PyType_Check(owner) != 0 { owner as *mut ffi::PyTypeObject } else { ffi::Py_TYPE(owner) };
            ffi::Py_TYPE(class as *mut ffi::PyObject) == std::ptr::addr_of_mut!(ffi::PyType_Type) && ffi::PyType_GetFlags(class) & ffi::Py_TPFLAGS_HEAPTYPE == 0
        }
    }

    /// Whether `obj`'s value can be compared by identity.
    #[inline]
    pub fn identity(&self, t: &TypeTable, obj: *mut ffi::PyObject) -> Identity {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        let b = &t.builtins;
        if tp == b.int || tp == b.float || tp == b.str_ || tp == b.bool_ || tp == b.none || tp == b.bytes
            || tp == b.function || tp == b.module || tp == b.type_ || tp == b.cfunction
        {
            Identity::Stable
        } else {
            Identity::Mutable
        }
    }

    /// Pushes an instance's fields (slot members, then `__dict__` entries, at
    /// most `max_items`) onto `names`/`vals` (values as new references);
    /// returns where they start and the dict to release (or null).
    ///
    /// # Safety
    /// GIL held; the class uses the default attribute lookup.
    unsafe fn gather_fields(&mut self, obj: *mut ffi::PyObject, has_dict: bool, slots: &[SlotField]) -> (usize, *mut ffi::PyObject) {
        let base = self.names.len();
        let max = self.bounds.max_items as usize;
        // SAFETY: see the function's contract.
        unsafe {
            for field in slots {
                if self.names.len() - base >= max {
                    break;
                }
                // A name the lookup resolves to something else (a subclass's
                // property, say) is not read: that could run the program's code.
                let Some(member) = field.member else { continue };
                // An unset slot reads null (the lookup would raise AttributeError).
                let val = member.get(obj);
                if val.is_null() {
                    continue;
                }
                crate::cpython::rc::incref(val);
                self.names.push(field.name);
                self.vals.push(val);
            }
            let mut dict: *mut ffi::PyObject = std::ptr::null_mut();
            if has_dict {
                dict = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
                if dict.is_null() || ffi::PyDict_Check(dict) == 0 {
                    ffi::PyErr_Clear();
                } else {
                    let mut pos: ffi::Py_ssize_t = 0;
                    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
                    let mut val: *mut ffi::PyObject = std::ptr::null_mut();
                    while self.names.len() - base < max && ffi::PyDict_Next(dict, &mut pos, &mut key, &mut val) != 0 {
                        if ffi::PyUnicode_Check(key) == 0 {
                            continue;
                        }
                        crate::cpython::rc::incref(val);
                        self.names.push(key);
                        self.vals.push(val);
                    }
                }
            }
            (base, dict)
        }
    }

    /// Drops what `gather_fields` pushed.
    ///
    /// # Safety
    /// GIL held.
    unsafe fn release_fields(&mut self, base: usize, dict: *mut ffi::PyObject) {
        // SAFETY: we own the values' references and the dict's.
        unsafe {
            for val in self.vals.drain(base..) {
                crate::cpython::rc::decref(val);
            }
            self.names.truncate(base);
            if !dict.is_null() {
                crate::cpython::rc::decref(dict);
            }
        }
    }

    /// The dict of a dict-only instance, borrowed (null when it has none):
    /// read from the managed slot in place on a known layout, else through
    /// `PyObject_GenericGetDict`.
    ///
    /// # Safety
    /// GIL held; the class uses the default attribute lookup.
    unsafe fn instance_dict(&self, obj: *mut ffi::PyObject, managed: bool) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe {
            if let (Some(l), true) = (self.layout, managed) {
                return l.managed_dict(obj);
            }
            let dict = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
            if dict.is_null() {
                ffi::PyErr_Clear();
            } else {
                // The instance holds it.
                crate::cpython::rc::decref(dict);
            }
            dict
        }
    }
}
