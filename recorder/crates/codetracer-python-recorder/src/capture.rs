//! Values: Python objects -> the compact stream's value encoding.
//!
//! Never runs user code: no `repr`/`str`, no `__getattr__`/`__getattribute__`
//! of user classes, no iteration protocol of user types. Builtin containers
//! are walked directly; instances of classes with the default attribute
//! lookup show their `__dict__` and `__slots__`; anything else is shown by
//! its class name. Depth, item count and string length are bounded, and a
//! container that contains itself is cut (`[...]`, as Python prints it).

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
use crate::text::{type_qualname, ELLIPSIS};

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

/// What we know about a Python class, computed once.
struct ClassInfo {
    /// Type id for values shown as `Raw` (class name).
    raw_type: u32,
    /// Type id for ints/floats/strs of a subclass.
    scalar_type: Option<u32>,
    /// Attribute lookup is the default one (no user `__getattr(ibute)__`).
    generic_getattr: bool,
    has_dict: bool,
    /// Names in `__slots__` along the MRO (strong refs), with where each is stored.
    slots: Rc<[SlotField]>,
    qualname: Rc<str>,
    /// Safe to show by the class name with `repr` (C types we know).
    exception: bool,
    /// Instances keep their dict in the managed slot (`Py_TPFLAGS_MANAGED_DICT`).
    managed_dict: bool,
    /// A standard value type shown by its data (see `stdvalues`).
    std: Option<StdClass>,
}

/// Well-known type objects.
#[derive(Clone, Copy)]
pub struct Builtins {
    pub int: *mut ffi::PyTypeObject,
    pub bool_: *mut ffi::PyTypeObject,
    pub float: *mut ffi::PyTypeObject,
    pub str_: *mut ffi::PyTypeObject,
    pub bytes: *mut ffi::PyTypeObject,
    pub list: *mut ffi::PyTypeObject,
    pub tuple: *mut ffi::PyTypeObject,
    pub dict: *mut ffi::PyTypeObject,
    pub set: *mut ffi::PyTypeObject,
    pub frozenset: *mut ffi::PyTypeObject,
    pub none: *mut ffi::PyTypeObject,
    pub module: *mut ffi::PyTypeObject,
    pub type_: *mut ffi::PyTypeObject,
    pub cfunction: *mut ffi::PyTypeObject,
    pub function: *mut ffi::PyTypeObject,
    pub cell: *mut ffi::PyTypeObject,
    /// `type(C.slot)` for a `__slots__` member.
    pub member_descriptor: *mut ffi::PyTypeObject,
    pub generic_getattr: *mut std::os::raw::c_void,
}

impl Builtins {
    /// Whether `obj` is an exact list, tuple, dict, set or frozenset.
    #[inline]
    pub fn is_container(&self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held (callers); `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        tp == self.list || tp == self.tuple || tp == self.dict || tp == self.set || tp == self.frozenset
    }
}

/// A struct type: the field names it was defined for (held) and its id.
type StructType = (Box<[*mut ffi::PyObject]>, u32);

/// Interning of types and classes; definitions go to the stream (`defs`)
/// before the record that uses them.
pub struct TypeTable {
    next_id: u32,
    classes: FxHashMap<usize, ClassInfo>,
    /// (class, hash of field-name addresses) -> the struct types defined for it.
    structs: FxHashMap<(usize, u64), Vec<StructType>>,
    pub builtins: Builtins,
    std: StdState,
    /// The layout in force (None: the portable path).
    layout: Option<&'static Layout>,
}

const PY_TP_GETATTRO: c_int = 62;

impl TypeTable {
    /// Writes the predefined types to `defs`.
    pub fn new(defs: &mut Vec<u8>, builtins: Builtins, layout: Option<&'static Layout>) -> Self {
        for (k, name) in types::PREDEFINED {
            put_type(defs, *k, name, None);
        }
        Self {
            next_id: types::PREDEFINED.len() as u32,
            classes: FxHashMap::default(),
            structs: FxHashMap::default(),
            builtins,
            std: StdState::default(),
            layout,
        }
    }

    fn define(&mut self, defs: &mut Vec<u8>, k: u8, name: &str, fields: Option<&[(String, u32)]>) -> u32 {
        put_type(defs, k, name, fields);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn class(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject) -> &ClassInfo {
        let key = tp as usize;
        if !self.classes.contains_key(&key) {
            let info = self.describe(defs, tp);
            self.classes.insert(key, info);
        }
        // The entry was just inserted when missing.
        match self.classes.get(&key) {
            Some(info) => info,
            None => unreachable_class(),
        }
    }

    fn describe(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject) -> ClassInfo {
        // SAFETY: GIL held; `tp` is a live type object, kept alive below.
        unsafe {
            crate::cpython::rc::incref(tp as *mut ffi::PyObject);
            let qualname = type_qualname(tp);
            let flags = ffi::PyType_GetFlags(tp);
            let getattro = ffi::PyType_GetSlot(tp, PY_TP_GETATTRO);
            let generic_getattr = getattro == self.builtins.generic_getattr;
            let raw_type = self.define(defs, kind::RAW, &qualname, None);
            let scalar_type = if flags & ffi::Py_TPFLAGS_LONG_SUBCLASS != 0 {
                Some(self.define(defs, kind::INT, &qualname, None))
            } else if ffi::PyType_IsSubtype(tp, self.builtins.float) != 0 {
                Some(self.define(defs, kind::FLOAT, &qualname, None))
            } else if ffi::PyType_IsSubtype(tp, self.builtins.str_) != 0 {
                Some(self.define(defs, kind::STRING, &qualname, None))
            } else {
                None
            };
            let (has_dict, slots) = if generic_getattr { class_layout(tp) } else { (false, Vec::new()) };
            let slots: Vec<SlotField> = slots.into_iter().map(|name| SlotField { name, member: find_member(self.layout, tp, name, self.builtins.member_descriptor) }).collect();
            let std = self.std.classify(tp, self.builtins.member_descriptor, self.layout);
            ClassInfo {
                raw_type,
                scalar_type,
                generic_getattr,
                has_dict,
                slots: slots.into(),
                qualname: qualname.into(),
                exception: flags & ffi::Py_TPFLAGS_BASE_EXC_SUBCLASS != 0,
                managed_dict: flags & (1 << 4) != 0,
                std,
            }
        }
    }

    fn struct_type(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject, names: &[*mut ffi::PyObject], qualname: &str) -> u32 {
        let mut h = FxHasher::default();
        for n in names {
            h.write_usize(*n as usize);
        }
        let key = (tp as usize, h.finish());
        if let Some(found) = self.structs.get(&key).and_then(|c| c.iter().find(|(n, _)| n[..] == *names)) {
            return found.1;
        }
        let fields: Vec<(String, u32)> = names.iter().map(|n| (str_lossy(*n), types::OBJECT)).collect();
        // Field names are kept alive by the instances' dicts / the slots list;
        // hold them so the pointers stay unique: a trail compares an
        // instance's field names by address, relying on these references.
        for n in names {
            // SAFETY: GIL held, live str objects.
            unsafe { crate::cpython::rc::incref(*n) };
        }
        let id = self.define(defs, kind::STRUCT, qualname, Some(&fields));
        self.structs.entry(key).or_default().push((names.into(), id));
        id
    }
}

#[cold]
fn unreachable_class() -> ! {
    // Only reachable if a HashMap loses an entry it just stored.
    std::process::abort()
}

/// A `__slots__` field: its name and, when the attribute lookup finds a
/// plain object member for it, how to read it (a field without one is not
/// shown).
#[derive(Clone, Copy)]
pub struct SlotField {
    name: *mut ffi::PyObject,
    member: Option<Member>,
}

/// (has `__dict__`, `__slots__` names along the MRO), read from the class
/// dicts only: no descriptors run.
///
/// # Safety
/// GIL held; `tp` is a live type.
unsafe fn class_layout(tp: *mut ffi::PyTypeObject) -> (bool, Vec<*mut ffi::PyObject>) {
    // SAFETY: GIL held (caller); every object touched is a builtin type/dict/tuple/str.
    unsafe {
        let mut slots = Vec::new();
        let mut has_dict = false;
        let mro = ffi::PyObject_GetAttrString(tp as *mut ffi::PyObject, c"__mro__".as_ptr());
        if mro.is_null() || ffi::PyTuple_Check(mro) == 0 {
            ffi::PyErr_Clear();
            if !mro.is_null() {
                crate::cpython::rc::decref(mro);
            }
            return (false, slots);
        }
        let n = ffi::PyTuple_Size(mro);
        for i in 0..n {
            let cls = ffi::PyTuple_GetItem(mro, i);
            if cls.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            let cdict = ffi::PyObject_GetAttrString(cls, c"__dict__".as_ptr());
            if cdict.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            let has_slots_entry;
            let sl = ffi::PyMapping_GetItemString(cdict, c"__slots__".as_ptr());
            if sl.is_null() {
                ffi::PyErr_Clear();
                has_slots_entry = false;
            } else {
                has_slots_entry = true;
                if ffi::PyUnicode_Check(sl) != 0 {
                    push_slot(&mut slots, &mut has_dict, sl);
                } else if ffi::PyTuple_Check(sl) != 0 || ffi::PyList_Check(sl) != 0 {
                    let seq = ffi::PySequence_Tuple(sl);
                    if !seq.is_null() {
                        for j in 0..ffi::PyTuple_Size(seq) {
                            let name = ffi::PyTuple_GetItem(seq, j);
                            if !name.is_null() && ffi::PyUnicode_Check(name) != 0 {
                                push_slot(&mut slots, &mut has_dict, name);
                            }
                        }
                        crate::cpython::rc::decref(seq);
                    } else {
                        ffi::PyErr_Clear();
                    }
                }
                crate::cpython::rc::decref(sl);
            }
            // A user class without __slots__ gives its instances a __dict__.
            let is_object = cls == addr_of_mut!(ffi::PyBaseObject_Type) as *mut ffi::PyObject;
            let heap = ffi::PyType_GetFlags(cls as *mut ffi::PyTypeObject) & ffi::Py_TPFLAGS_HEAPTYPE != 0;
            if heap && !has_slots_entry && !is_object {
                has_dict = true;
            }
            crate::cpython::rc::decref(cdict);
        }
        crate::cpython::rc::decref(mro);
        (has_dict, slots)
    }
}

/// # Safety
/// GIL held; `name` is a live str.
unsafe fn push_slot(slots: &mut Vec<*mut ffi::PyObject>, has_dict: &mut bool, name: *mut ffi::PyObject) {
    let s = str_lossy(name);
    if s == "__dict__" {
        *has_dict = true;
    } else if s != "__weakref__" {
        // SAFETY: GIL held; keep the name alive for the class's lifetime.
        unsafe { crate::cpython::rc::incref(name) };
        slots.push(name);
    }
}

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
    fields: Option<std::rc::Rc<crate::scope::Filter>>,
    /// Field names and dict keys already judged, hidden or not (held).
    hidden_names: FxHashMap<usize, bool>,
    /// Fields written as `<redacted>`.
    pub redacted: u64,
}

/// What comparing a value with its trail found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compare {
    Same,
    /// Same structure; changed leaves were patched (see [`Encoder::patches`]).
    Patched,
    Different,
}

/// What a dict's version tag says at a walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unchanged {
    /// It cannot vouch (or the dict changed): compare entry by entry.
    No,
    /// Same entries (keys and value objects); the values need walking.
    Entries,
    /// Same entries, all leaves: skipped.
    Skipped,
}

/// Where a dict-backed node's (version, end, nodes) entries sit in the trail
/// being built, with the budget and `opened` count at its start.
struct VersionMark {
    at: usize,
    budget: u32,
    opened: u64,
}

/// What a value's encoding depended on, in encoding order: scalars by value
/// (floats, small ints), everything else by identity with a reference held
/// (so no address can be reused while the trail lives), containers with
/// their length. Walking the same trail again ([`Encoder::same`]) proves the
/// encoding would come out identical without producing it.
#[derive(Default)]
pub struct Trail {
    pub data: Vec<u64>,
    pub held: Vec<*mut ffi::PyObject>,
    /// A check program (see [`Encoder::run_checks`]) built by the last walk
    /// that found the value unchanged, valid while `checked`.
    checks: Vec<u64>,
    checked: bool,
    /// How many comparisons in a row found the value unchanged (saturating):
    /// a program is written only for a value that stays unchanged (one that
    /// changes every other step would pay for programs it never runs).
    stable: u8,
}

impl Trail {
    /// Drops the references the trail holds.
    pub fn release(&mut self) {
        for o in self.held.drain(..) {
            // SAFETY: GIL held (callers); the trail owned these references.
            unsafe { crate::purity::release(o) };
        }
        self.data.clear();
        self.checks.clear();
        self.checked = false;
        self.stable = 0;
    }
}

/// Whether the trail holds the leaf entry (`tag`, `payload`) at `at`.
#[inline(always)]
fn same_entry(data: &[u64], at: usize, tag: u64, payload: u64) -> bool {
    match data.get(at..at + 2) {
        Some(&[a, b]) => a == tag && b == payload,
        _ => false,
    }
}

const TAG_FLOAT: u64 = 1;
const TAG_INT: u64 = 2;
const TAG_RAW: u64 = 3;
const TAG_OBJ: u64 = 4;
/// A leaf whose address stands for its encoding (held).
const TAG_LEAF: u64 = 5;

// Check programs: a walk that finds a value unchanged also writes down, in
// walk order, what made each node the same — each node's identity being
// vouched for by its parent's check (a dict whose version is unchanged holds
// the same objects; a list is checked item by item):
/// Comparisons in a row that must find a value unchanged before a walk
/// writes its program.
const STABLE_BEFORE_CHECKS: u8 = 1;
/// `[OP_DICT, dict, version]`: an exact dict's version tag.
const OP_DICT: u64 = 1;
/// `[OP_INST, obj, type, dict, version]`: a dict-only instance's class, its
/// managed dict and that dict's version (or 3.13 fingerprint).
const OP_INST: u64 = 2;
/// `[OP_LIST | OP_TUPLE, seq, len, k, item * k]`: length and the items shown.
const OP_LIST: u64 = 3;
const OP_TUPLE: u64 = 4;
/// `[OP_FLOAT | OP_INT, obj, value]`: a float's bits, a small int's value
/// (an item's address may be reused by a new number; its value may not differ).
const OP_FLOAT: u64 = 5;
const OP_INT: u64 = 6;
/// `[OP_TYPE, obj, type]`: the class of a value shown by class name (or cut).
const OP_TYPE: u64 = 7;
/// `[OP_SLOTS, obj, type, k, (offset, value) * k]`: a `__slots__`-only
/// instance's class and what each of its slots holds (null when unset; the
/// offset `NO_OFFSET` for a slot not shown).
const OP_SLOTS: u64 = 8;
const NO_OFFSET: u64 = u64::MAX;

#[inline]
fn take(tr: &[u64], it: &mut usize) -> u64 {
    let v = tr.get(*it).copied().unwrap_or(u64::MAX);
    *it += 1;
    v
}

impl Encoder {
    /// `layout`: the interpreter's object layouts are known (3.12, 3.13), so
    /// ints, lists and tuples are read in place.
    pub fn new(bounds: Bounds, versions: DictVersions, layout: Option<&'static Layout>, fields: Option<std::rc::Rc<crate::scope::Filter>>) -> Self {
        Self {
            fields,
            hidden_names: FxHashMap::default(),
            redacted: 0,
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
        }
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
        let h = filter.attr_action(&str_lossy(name)) != crate::scope::ValueAction::Allow;
        if self.hidden_names.len() < HIDDEN_NAMES_KEPT {
            // SAFETY: GIL held; the cache holds the name so its address stays its own.
            unsafe { crate::cpython::rc::incref(name) };
            self.hidden_names.insert(name as usize, h);
        }
        h
    }

    /// Writes `<redacted>` for the field value `val` (typed by its class).
    /// Such a value is re-encoded at every comparison: its trail would
    /// have to vouch for a value it does not show.
    fn redacted_field(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, val: *mut ffi::PyObject, out: &mut Vec<u8>) {
        self.untrailable();
        self.redacted += 1;
        self.budget = self.budget.saturating_sub(1);
        let type_id = self.raw_type_of(t, defs, val);
        v::put_raw(out, type_id, b"<redacted>");
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

    /// Compares `obj` with the value `trail` was recorded from. Leaves that
    /// changed in place (a float, int, str, ... where one was) are brought
    /// up to date in the trail and their new encodings collected for a PATCH
    /// record ([`Encoder::patches`]), as long as the structure (containers,
    /// lengths, instances, fields) is the same.
    pub fn compare(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, trail: &mut Trail) -> Compare {
        if trail.checked && self.run_checks(&trail.checks) {
            return Compare::Same;
        }
        trail.checked = false;
        self.active.clear();
        self.budget = self.bounds.max_nodes.max(1);
        self.path.clear();
        self.patches.clear();
        self.npatches = 0;
        self.checks.clear();
        // Only a value found unchanged last time gets a program: writing one
        // costs about as much as the walk, wasted on values that change.
        self.writing_checks = trail.stable >= STABLE_BEFORE_CHECKS && self.layout.is_some() && self.versions.vouch();
        self.checks_ok = self.writing_checks;
        let held = trail.held.len();
        let mut it = 0;
        let ok = self.walk(t, defs, obj, trail, &mut it, 0) && it == trail.data.len();
        self.writing_checks = false;
        trail.stable = if ok && self.npatches == 0 { trail.stable.saturating_add(1) } else { 0 };
        if !ok {
            return Compare::Different;
        }
        // Leaves replaced by reference (and the scalar fields of fingerprinted
        // instances) stay held until the trail is rebuilt; bound that.
        if trail.held.len() > held && trail.held.len() > 4 * (self.bounds.max_nodes as usize + 16) {
            return Compare::Different;
        }
        if self.npatches == 0 {
            if self.checks_ok {
                // The trail is the value as it is now: the next comparison may run
                // the program instead of walking.
                std::mem::swap(&mut trail.checks, &mut self.checks);
                trail.checked = true;
            }
            return Compare::Same;
        }
        Compare::Patched
    }

    /// Runs a check program: true when every node it names is as the walk
    /// that wrote it found it, so the value's encoding is unchanged (the
    /// program names every node the encoding shows, each only after the
    /// node that holds it, whose check proves it the same object). False
    /// sends the caller to the full walk, which is never wrong.
    #[inline(never)]
    fn run_checks(&self, prog: &[u64]) -> bool {
        // Programs are written on a known layout only.
        let Some(l) = self.layout else { return false };
        let mut i = 0;
        // SAFETY: GIL held; every object named was proven alive by the checks
        // before it (it is held by a container or instance checked unchanged,
        // or it is the value the caller holds); offsets as in `walk`.
        unsafe {
            while let Some(&op) = prog.get(i) {
                let Some(&[a, b]) = prog.get(i + 1..i + 3) else { return false };
                let obj = a as *mut ffi::PyObject;
                match op {
                    OP_DICT => {
                        if self.versions.of(obj) != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_INST => {
                        let Some(&[dict, version]) = prog.get(i + 3..i + 5) else { return false };
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        let d = l.managed_dict(obj);
                        if d as u64 != dict || d.is_null() || self.versions.of_instance(d) != version {
                            return false;
                        }
                        i += 5;
                    }
                    OP_LIST | OP_TUPLE => {
                        let is_list = op == OP_LIST;
                        let Some(&k) = prog.get(i + 3) else { return false };
                        let k = k as usize;
                        let Some(items) = prog.get(i + 4..i + 4 + k) else { return false };
                        if l.seq_len(obj) as u64 != b || k as u64 > b {
                            return false;
                        }
                        for (j, item) in items.iter().enumerate() {
                            if l.seq_item(obj, is_list, j as isize) as u64 != *item {
                                return false;
                            }
                        }
                        i += 4 + k;
                    }
                    OP_FLOAT => {
                        if l.float_value(obj).to_bits() != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_INT => {
                        if l.small_int(obj) != Some(b as i64) {
                            return false;
                        }
                        i += 3;
                    }
                    OP_TYPE => {
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_SLOTS => {
                        let Some(&k) = prog.get(i + 3) else { return false };
                        let k = k as usize;
                        let Some(pairs) = prog.get(i + 4..i + 4 + 2 * k) else { return false };
                        // Same class: the offsets are this instance's slots.
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        for p in pairs.chunks_exact(2) {
                            if p[0] != NO_OFFSET && crate::cpython::slot_word(obj, p[0] as usize) != p[1] {
                                return false;
                            }
                        }
                        i += 4 + 2 * k;
                    }
                    _ => return false,
                }
            }
        }
        true
    }

    /// Writes down the items of a list or tuple about to be walked (their
    /// addresses, after the `OP_LIST`/`OP_TUPLE` head), then the values of
    /// those that are numbers (the walk's tight loop over numbers writes
    /// nothing).
    #[inline(never)]
    fn check_items(&mut self, b: &Builtins, obj: *mut ffi::PyObject, is_list: bool, shown: isize) {
        let start = self.checks.len();
        for i in 0..shown {
            let item = self.seq_item(obj, is_list, i);
            self.checks.push(item as u64);
        }
        for k in start..self.checks.len() {
            let item = self.checks[k] as *mut ffi::PyObject;
            if item.is_null() {
                continue;
            }
            // SAFETY: GIL held; the list holds the item.
            let ty = unsafe { ffi::Py_TYPE(item) };
            if ty == b.float {
                self.checks.extend_from_slice(&[OP_FLOAT, item as u64, self.float(item).to_bits()]);
            } else if ty == b.int {
                if let Some(v) = self.small_int(item) {
                    self.checks.extend_from_slice(&[OP_INT, item as u64, v as u64]);
                }
            }
        }
    }

    /// Writes down a check of the walk in progress.
    #[inline(always)]
    fn check(&mut self, words: &[u64]) {
        if self.writing_checks {
            self.checks.extend_from_slice(words);
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

    /// The PATCH payload collected by the last [`Encoder::compare`]: the
    /// number of edits and their bytes.
    pub fn patches(&self) -> (u32, &[u8]) {
        (self.npatches, &self.patches)
    }

    /// At a leaf of the trail: whether it holds (tag, payload), replacing it
    /// (and writing a patch) when the entry is a leaf too.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn leaf(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tr: &mut Trail, it: &mut usize,
            depth: u32, tag: u64, payload: u64, held: bool) -> bool {
        let at = *it;
        *it += 2;
        if same_entry(&tr.data, at, tag, payload) {
            return true;
        }
        self.patch_leaf(t, defs, obj, tr, at, depth, tag, payload, held)
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn patch_leaf(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tr: &mut Trail, at: usize,
                  depth: u32, tag: u64, payload: u64, held: bool) -> bool {
        let t0 = tr.data.get(at).copied().unwrap_or(0);
        // By-name values never replace or become leaves (see `track`).
        let patchable = |tag: u64| tag == TAG_FLOAT || tag == TAG_INT || tag == TAG_LEAF;
        if !patchable(t0) || !patchable(tag) || at + 2 > tr.data.len() {
            return false;
        }
        tr.data[at] = tag;
        tr.data[at + 1] = payload;
        if held {
            // SAFETY: GIL held; the trail keeps the new leaf alive until released.
            unsafe { crate::cpython::rc::incref(obj) };
            tr.held.push(obj);
        }
        let mut out = std::mem::take(&mut self.patches);
        put_varint(&mut out, self.path.len() as u64);
        for i in &self.path {
            put_varint(&mut out, u64::from(*i));
        }
        // A leaf is one node, as it was: encode it with exactly that budget.
        let budget = self.budget;
        self.budget = 1;
        self.value(t, defs, obj, &mut out, depth);
        self.budget = budget;
        self.patches = out;
        self.npatches += 1;
        true
    }

    /// Mirror of `value` over a trail (same budget, depth, item and cycle rules).
    fn walk(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tr: &mut Trail, it: &mut usize, depth: u32) -> bool {
        if self.budget == 0 {
            return true;
        }
        self.budget -= 1;
        let b = t.builtins;
        // SAFETY: GIL held; exact builtin types walked with the C API, no user code.
        unsafe {
            let tp = ffi::Py_TYPE(obj);
            if tp == b.float {
                let bits = self.float(obj).to_bits();
                self.check(&[OP_FLOAT, obj as u64, bits]);
                return self.leaf(t, defs, obj, tr, it, depth, TAG_FLOAT, bits, false);
            }
            if tp == b.int {
                return match self.small_int(obj) {
                    Some(i) => {
                        self.check(&[OP_INT, obj as u64, i as u64]);
                        self.leaf(t, defs, obj, tr, it, depth, TAG_INT, i as u64, false)
                    }
                    None => self.leaf(t, defs, obj, tr, it, depth, TAG_LEAF, obj as u64, true),
                };
            }
            let is_seq = tp == b.list || tp == b.tuple;
            if !(is_seq || tp == b.dict || tp == b.set || tp == b.frozenset) {
                if tp == b.none || tp == b.bool_ || tp == b.str_ || tp == b.bytes || tp == b.function || tp == b.cfunction
                    || tp == b.module || ffi::PyType_Check(obj) != 0
                {
                    return self.leaf(t, defs, obj, tr, it, depth, TAG_LEAF, obj as u64, true);
                }
                let Some(info) = t.classes.get(&(tp as usize)) else { return false };
                if let Some(std) = info.std {
                    // An immutable standard value is its own encoding (held);
                    // any other is encoded anew (see `value`).
                    return t.std.is_leaf(obj, &std) && self.leaf(t, defs, obj, tr, it, depth, TAG_LEAF, obj as u64, true);
                }
                if info.scalar_type.is_some() || info.exception {
                    return false;
                }
                if info.generic_getattr && (info.has_dict || !info.slots.is_empty()) {
                    let (has_dict, managed, slots) = (info.has_dict, info.managed_dict, Rc::clone(&info.slots));
                    if slots.is_empty() && has_dict {
                        if let Some(ok) = self.walk_unchanged_instance(t, defs, obj, managed, tr, it, depth) {
                            return ok;
                        }
                    }
                    return self.walk_object(t, defs, obj, tp, has_dict, managed, &slots, tr, it, depth);
                }
                self.check(&[OP_TYPE, obj as u64, tp as u64]);
                return self.leaf(t, defs, obj, tr, it, depth, TAG_RAW, tp as u64, false);
            }
            if take(&tr.data, it) != obj as u64 {
                return false;
            }
            if self.active.contains(&obj) || depth >= self.bounds.max_depth {
                return true;
            }
            let n = if is_seq {
                self.seq_len(obj, tp == b.list)
            } else if tp == b.dict {
                ffi::PyDict_Size(obj)
            } else {
                ffi::PySet_Size(obj)
            }
            .max(0) as u64;
            if take(&tr.data, it) != n {
                return false;
            }
            let version_at = *it;
            let unchanged = if tp == b.dict { self.skip_unchanged(obj, &tr.data, it) } else { Unchanged::No };
            let shown = n.min(u64::from(self.bounds.max_items)) as isize;
            if tp == b.dict {
                // Unchanged or not, the walk ends with the trail holding this version.
                let version = self.versions.of(obj);
                self.checks_ok &= version != 0;
                self.check(&[OP_DICT, obj as u64, version]);
            } else if is_seq {
                self.check(&[if tp == b.list { OP_LIST } else { OP_TUPLE }, obj as u64, n, shown as u64]);
                if self.writing_checks {
                    self.check_items(&b, obj, tp == b.list, shown);
                }
            } else {
                self.checks_ok = false;
            }
            if unchanged == Unchanged::Skipped {
                return true;
            }
            self.active.push(obj);
            let mut ok = true;
            if unchanged == Unchanged::Entries {
                for k in 0..shown {
                    self.path.push(k as u32);
                    self.path.push(0);
                    let key_at = *it;
                    ok = self.budget == 0 || self.walk_unchanged_child(t, defs, obj, std::ptr::null_mut(), tr, it, depth + 1);
                    if ok && self.budget > 0 {
                        *self.path.last_mut().unwrap_or(&mut 0) = 1;
                        let key = match tr.data.get(key_at..key_at + 2) {
                            Some(&[TAG_LEAF, p]) => p as *mut ffi::PyObject,
                            _ => std::ptr::null_mut(),
                        };
                        ok = self.walk_unchanged_child(t, defs, obj, key, tr, it, depth + 1);
                    }
                    self.path.truncate(self.path.len() - 2);
                    if !ok || self.budget == 0 {
                        break;
                    }
                }
            } else if is_seq {
                let is_list = tp == b.list;
                // The commonest elements, unchanged floats and small ints, are
                // checked in a tight loop (budget and position in registers).
                let (mut budget, mut pos) = (self.budget, *it);
                for i in 0..shown {
                    let item = self.seq_item(obj, is_list, i);
                    if item.is_null() {
                        ok = false;
                        break;
                    }
                    if budget > 0 && self.number_entry(&b, item).is_some_and(|(tag, v)| same_entry(&tr.data, pos, tag, v)) {
                        budget -= 1;
                        pos += 2;
                        continue;
                    }
                    (self.budget, *it) = (budget, pos);
                    self.path.push(i as u32);
                    ok = self.walk(t, defs, item, tr, it, depth + 1);
                    self.path.pop();
                    (budget, pos) = (self.budget, *it);
                    if !ok {
                        break;
                    }
                }
                (self.budget, *it) = (budget, pos);
            } else if tp == b.dict {
                let mut pos: ffi::Py_ssize_t = 0;
                let mut key: *mut ffi::PyObject = std::ptr::null_mut();
                let mut val: *mut ffi::PyObject = std::ptr::null_mut();
                // Entries whose key is a str and value a float or small int,
                // both as they were (a counter dict updated in place), are
                // checked in line: what `walk` does for such leaves.
                let fast = !self.writing_checks;
                for k in 0..shown {
                    if ffi::PyDict_Next(obj, &mut pos, &mut key, &mut val) == 0 {
                        ok = false;
                        break;
                    }
                    if fast && self.budget >= 2 && ffi::Py_TYPE(key) == b.str_ && same_entry(&tr.data, *it, TAG_LEAF, key as u64)
                        && self.number_entry(&b, val).is_some_and(|(tag, v)| same_entry(&tr.data, *it + 2, tag, v))
                    {
                        *it += 4;
                        self.budget -= 2;
                        continue;
                    }
                    self.path.push(k as u32);
                    self.path.push(0);
                    ok = self.walk(t, defs, key, tr, it, depth + 1);
                    if ok {
                        *self.path.last_mut().unwrap_or(&mut 0) = 1;
                        ok = self.walk(t, defs, val, tr, it, depth + 1);
                    }
                    self.path.truncate(self.path.len() - 2);
                    if !ok {
                        break;
                    }
                }
                if ok {
                    // Up to date again: a later walk may skip it.
                    tr.data[version_at] = self.versions.of(obj);
                }
            } else {
                let iter = ffi::PyObject_GetIter(obj);
                if iter.is_null() {
                    ffi::PyErr_Clear();
                    ok = false;
                } else {
                    for k in 0..shown {
                        let item = ffi::PyIter_Next(iter);
                        if item.is_null() {
                            ok = false;
                            break;
                        }
                        self.path.push(k as u32);
                        ok = self.walk(t, defs, item, tr, it, depth + 1);
                        self.path.pop();
                        crate::cpython::rc::decref(item);
                        if !ok {
                            break;
                        }
                    }
                    crate::cpython::rc::decref(iter);
                }
            }
            self.active.pop();
            ok
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

    /// A walk at a dict-only instance whose dict still has the version the
    /// trail recorded: its fields are the same objects, so a flat one is
    /// skipped whole, and otherwise only its containers and instances are
    /// walked (found through the trail; the dict keeps them alive). None
    /// when the version cannot vouch: the caller walks field by field.
    ///
    /// # Safety
    /// GIL held; the class uses the default attribute lookup.
    #[allow(clippy::too_many_arguments)]
    unsafe fn walk_unchanged_instance(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, managed: bool,
                                      tr: &mut Trail, it: &mut usize, depth: u32) -> Option<bool> {
        if !self.versions.vouch() {
            return None;
        }
        let at = *it;
        // [TAG_OBJ, obj, type, n, names..., version, end, nodes, fields...]
        // SAFETY: see the function's contract (`obj` is live).
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if tr.data.get(at..at + 3) != Some(&[TAG_OBJ, obj as u64, tp as u64][..]) {
            return None;
        }
        let n = usize::try_from(*tr.data.get(at + 3)?).ok()?;
        let vat = at.checked_add(4 + n)?;
        let (version, end, nodes) = (*tr.data.get(vat)?, *tr.data.get(vat + 1)?, *tr.data.get(vat + 2)?);
        if version == 0 || self.active.contains(&obj) || depth >= self.bounds.max_depth {
            return None;
        }
        // SAFETY: see the function's contract.
        let dict = unsafe { self.instance_dict(obj, managed) };
        // SAFETY: a non-null dict pointer is the instance's live dict.
        if dict.is_null() || unsafe { ffi::Py_TYPE(dict) } != std::ptr::addr_of_mut!(ffi::PyDict_Type)
            // SAFETY: an exact dict, live (the instance holds it).
            || version == 0 || version != unsafe { self.versions.of_instance(dict) }
        {
            return None;
        }
        if managed {
            self.check(&[OP_INST, obj as u64, tr.data[at + 2], dict as u64, version]);
        } else {
            self.checks_ok = false;
        }
        if end != 0 && end as usize <= tr.data.len() {
            *it = end as usize;
            self.budget = self.budget.saturating_sub(nodes as u32);
            return Some(true);
        }
        *it = vat + 3;
        self.active.push(obj);
        let mut ok = true;
        for k in 0..n {
            if self.budget == 0 {
                break;
            }
            self.path.push(k as u32);
            let name = tr.data[at + 4 + k] as *mut ffi::PyObject;
            ok = self.walk_unchanged_child(t, defs, dict, name, tr, it, depth + 1);
            self.path.pop();
            if !ok {
                break;
            }
        }
        self.active.pop();
        Some(ok)
    }

    /// One value of a dict whose version is unchanged, at its trail entry:
    /// a leaf is the same object (counted, not read); a container or an
    /// instance is the object the trail names, walked; a value shown by
    /// class name is looked up under `key` (borrowed) and walked.
    #[allow(clippy::too_many_arguments)]
    fn walk_unchanged_child(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, dict: *mut ffi::PyObject, key: *mut ffi::PyObject,
                            tr: &mut Trail, it: &mut usize, depth: u32) -> bool {
        let Some(&e) = tr.data.get(*it) else { return false };
        let child = match e {
            TAG_FLOAT | TAG_INT | TAG_LEAF => {
                self.budget -= 1;
                *it += 2;
                return true;
            }
            TAG_RAW => {
                if key.is_null() {
                    return false;
                }
                // SAFETY: GIL held; exact dict, str or held key: the lookup runs no user code.
                let v = unsafe { ffi::PyDict_GetItemWithError(dict, key) };
                if v.is_null() {
                    // SAFETY: GIL held.
                    unsafe { ffi::PyErr_Clear() };
                    return false;
                }
                v
            }
            TAG_OBJ => match tr.data.get(*it + 1) {
                Some(&p) => p as *mut ffi::PyObject,
                None => return false,
            },
            p => p as *mut ffi::PyObject,
        };
        self.walk(t, defs, child, tr, it, depth)
    }

    /// `walk_object` for a dict-only instance whose exact dict is at hand
    /// (borrowed): one pass over the dict compares each field's name with the
    /// trail and walks its value, with no references taken (no code runs).
    /// The trail holds `[n, names..., version, end, nodes, values...]`.
    ///
    /// # Safety
    /// GIL held; `dict` is `obj`'s live exact dict.
    #[allow(clippy::too_many_arguments)]
    unsafe fn walk_fields(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, dict: *mut ffi::PyObject,
                          tr: &mut Trail, it: &mut usize, depth: u32) -> bool {
        let n = take(&tr.data, it);
        let Some(names_at) = usize::try_from(n).ok().map(|_| *it) else { return false };
        let n = n as usize;
        if names_at + n + 3 > tr.data.len() {
            return false;
        }
        let version_at = names_at + n;
        *it = version_at + 3;
        let max = self.bounds.max_items as usize;
        let str_type = std::ptr::addr_of_mut!(ffi::PyUnicode_Type);
        self.active.push(obj);
        let mut ok = true;
        let mut k = 0usize;
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut val: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: see the function's contract.
        let fingerprint = unsafe { self.versions.of_instance(dict) };
        let hold = self.versions.fingerprints(fingerprint);
        let (float_type, int_type) = (std::ptr::addr_of_mut!(ffi::PyFloat_Type), std::ptr::addr_of_mut!(ffi::PyLong_Type));
        // SAFETY: see the function's contract; PyDict_Next runs no user code.
        unsafe {
            while k < max && ffi::PyDict_Next(dict, &mut pos, &mut key, &mut val) != 0 {
                if ffi::Py_TYPE(key) != str_type && ffi::PyUnicode_Check(key) == 0 {
                    continue;
                }
                if k >= n || tr.data[names_at + k] != key as u64 {
                    ok = false;
                    break;
                }
                self.path.push(k as u32);
                ok = self.walk(t, defs, val, tr, it, depth + 1);
                self.path.pop();
                if !ok {
                    break;
                }
                if hold && (ffi::Py_TYPE(val) == float_type || ffi::Py_TYPE(val) == int_type) && tr.data[version_at] != fingerprint {
                    // The fingerprint about to be recorded covers this address.
                    crate::cpython::rc::incref(val);
                    tr.held.push(val);
                }
                k += 1;
            }
        }
        self.active.pop();
        if !ok || k != n {
            return false;
        }
        // Up to date again: a later walk may skip it.
        tr.data[version_at] = fingerprint;
        true
    }

    /// Mirror of `object` over a trail: same fields in the same order.
    ///
    /// # Safety
    /// GIL held; `obj` is a live instance of `tp`, a class using the default attribute lookup, whose fields are `has_dict`/`slots`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn walk_object(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tp: *mut ffi::PyTypeObject,
                          has_dict: bool, managed: bool, slots: &[SlotField], tr: &mut Trail, it: &mut usize, depth: u32) -> bool {
        if take(&tr.data, it) != TAG_OBJ || take(&tr.data, it) != obj as u64 || take(&tr.data, it) != tp as u64 {
            return false;
        }
        if self.active.contains(&obj) || depth >= self.bounds.max_depth {
            self.check(&[OP_TYPE, obj as u64, tp as u64]);
            return true;
        }
        // SAFETY: GIL held; default attribute lookup: no user code runs.
        unsafe {
            if slots.is_empty() && has_dict {
                let dict = self.instance_dict(obj, managed);
                if !dict.is_null() && ffi::Py_TYPE(dict) == std::ptr::addr_of_mut!(ffi::PyDict_Type) {
                    // The walk ends with the trail holding this version.
                    let version = self.versions.of_instance(dict);
                    self.checks_ok &= managed && version != 0;
                    self.check(&[OP_INST, obj as u64, tp as u64, dict as u64, version]);
                    return self.walk_fields(t, defs, obj, dict, tr, it, depth);
                }
            }
            if has_dict || slots.is_empty() {
                self.checks_ok = false;
            } else if self.writing_checks {
                self.checks.extend_from_slice(&[OP_SLOTS, obj as u64, tp as u64, slots.len() as u64]);
                for field in slots {
                    let off = field.member.and_then(|m| m.offset());
                    let held = off.map_or(0, |off| crate::cpython::slot_word(obj, off));
                    self.checks.extend_from_slice(&[off.map_or(NO_OFFSET, |off| off as u64), held]);
                }
            }
            let (base, dict) = self.gather_fields(obj, has_dict, slots);
            let n = self.names.len() - base;
            let mut ok = take(&tr.data, it) == n as u64 && (0..n).all(|k| take(&tr.data, it) == self.names[base + k] as u64);
            if ok {
                // The version entries: this path compares the fields themselves.
                let version_at = *it;
                *it += 3;
                self.active.push(obj);
                for k in 0..n {
                    let val = self.vals[base + k];
                    self.path.push(k as u32);
                    ok = self.walk(t, defs, val, tr, it, depth + 1);
                    self.path.pop();
                    if !ok {
                        break;
                    }
                }
                self.active.pop();
                if ok && slots.is_empty() && !dict.is_null() && ffi::Py_TYPE(dict) == std::ptr::addr_of_mut!(ffi::PyDict_Type)
                    && version_at < tr.data.len()
                {
                    // Up to date again: a later walk may skip it.
                    tr.data[version_at] = self.versions.of(dict);
                }
            }
            self.release_fields(base, dict);
            ok
        }
    }

    /// Appends the encoding of `obj` to `out`; type definitions go to `defs`.
    pub fn encode(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>) {
        self.active.clear();
        self.budget = self.bounds.max_nodes.max(1);
        self.value(t, defs, obj, out, 0);
    }

    fn value(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32) {
        if self.budget == 0 {
            return v::put_raw(out, types::ELIDED, ELLIPSIS);
        }
        self.budget -= 1;
        // SAFETY: GIL held; `obj` is a live object (borrowed for the call).
        unsafe {
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

    /// Returns true (and writes the cut marker) when `obj` may not be expanded.
    fn cut(&mut self, obj: *mut ffi::PyObject, depth: u32, out: &mut Vec<u8>, marker: &[u8]) -> bool {
        if self.active.contains(&obj) || depth >= self.bounds.max_depth {
            v::put_raw(out, types::ELIDED, marker);
            return true;
        }
        false
    }

    /// # Safety
    /// GIL held; `obj` is a live exact list (`is_list`) or tuple.
    unsafe fn sequence(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, is_list: bool) {
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

    /// Starts a container of `n` elements: records its length in the trail,
    /// writes the head (counting the `… N more` marker) and marks it active.
    /// Returns how many elements are shown.
    fn open_container(&mut self, obj: *mut ffi::PyObject, n: u32, vt: u8, type_id: u32, out: &mut Vec<u8>) -> u32 {
        if self.recording {
            self.trail.data.push(u64::from(n));
            self.opened += 1;
        }
        let shown = n.min(self.bounds.max_items);
        v::put_container_head(out, vt, type_id, shown + u32::from(n > shown));
        self.active.push(obj);
        shown
    }

    /// While recording, reserves a dict-backed node's (version, end, nodes)
    /// trail entries; `dict` may be null (no version: always walked).
    fn version_mark(&mut self, dict: *mut ffi::PyObject, instance: bool) -> Option<VersionMark> {
        if !self.recording {
            return None;
        }
        // SAFETY: GIL held; a non-null `dict` is live.
        let exact = !dict.is_null() && unsafe { ffi::Py_TYPE(dict) } == std::ptr::addr_of_mut!(ffi::PyDict_Type);
        let version = match (exact, instance) {
            (false, _) => 0,
            // SAFETY: checked an exact dict, live.
            (true, false) => unsafe { self.versions.of(dict) },
            // SAFETY: checked an exact dict, live.
            (true, true) => unsafe { self.versions.of_instance(dict) },
        };
        let at = self.trail.data.len();
        self.trail.data.extend_from_slice(&[version, 0, 0]);
        Some(VersionMark { at, budget: self.budget, opened: self.opened })
    }

    /// Completes a mark: a flat subtree (no container, instance or by-name
    /// value below it) records where it ends and the nodes it used, so a walk
    /// that finds the same version skips it.
    fn version_end(&mut self, mark: Option<VersionMark>) {
        let Some(m) = mark else { return };
        if self.recording && self.opened == m.opened && self.trail.data[m.at] != 0 {
            self.trail.data[m.at + 1] = self.trail.data.len() as u64;
            self.trail.data[m.at + 2] = u64::from(m.budget - self.budget);
        }
    }

    /// For a walk at an exact dict's (version, end, nodes) entries: whether
    /// `dict` still has the recorded version, skipping its subtree when flat.
    fn skip_unchanged(&mut self, dict: *mut ffi::PyObject, tr: &[u64], it: &mut usize) -> Unchanged {
        let (version, end, nodes) = (take(tr, it), take(tr, it), take(tr, it));
        // SAFETY: `dict` is a live exact dict (callers).
        if version == 0 || version != unsafe { self.versions.of(dict) } {
            return Unchanged::No;
        }
        if end == 0 || end as usize > tr.len() {
            return Unchanged::Entries;
        }
        *it = end as usize;
        self.budget = self.budget.saturating_sub(nodes as u32);
        Unchanged::Skipped
    }

    /// Ends a container opened by `open_container`.
    fn close_container(&mut self, n: u32, shown: u32, out: &mut Vec<u8>) {
        self.active.pop();
        if n > shown {
            more_marker(out, n - shown);
        }
    }

    /// # Safety
    /// GIL held; `obj` is a live dict.
    unsafe fn dict(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, type_id: u32) {
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
                    self.redacted_field(t, defs, val, out);
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
    unsafe fn set(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, out: &mut Vec<u8>, depth: u32, type_id: u32) {
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
    unsafe fn object(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, tp: *mut ffi::PyTypeObject, out: &mut Vec<u8>, depth: u32) {
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
                    self.redacted_field(t, defs, val, out);
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

fn more_marker(out: &mut Vec<u8>, hidden: u32) {
    let text = format!("… {hidden} more");
    v::put_raw(out, types::ELIDED, text.as_bytes());
}

/// Completes a STR value whose (empty) text was just written: replaces the
/// zero length with `obj`'s UTF-8, cut at `max` bytes. No temporary buffer
/// on the common path (the str's cached UTF-8 is copied once).
fn rewrite_str_tail(out: &mut Vec<u8>, obj: *mut ffi::PyObject, max: u32) {
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
unsafe fn int_value(obj: *mut ffi::PyObject, type_id: u32, out: &mut Vec<u8>) {
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
unsafe fn bytes_repr(obj: *mut ffi::PyObject, max: u32, out: &mut Vec<u8>) {
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
