//! Everything the recorder knows of CPython's private layout, and the
//! choice between reading it in place and the public C API.
//!
//! One [`Layout`] per supported minor version (`v3_12.rs`, `v3_13.rs`: the
//! offsets of the thread state's current frame, the interpreter frame's
//! fields, dicts and their version tags, ints, lists and tuples, floats,
//! cells, member descriptors, the managed dict, `enumerate`, builtin functions) behind one set
//! of accessors below; reference counts in line in [`rc`]. No other module
//! knows an offset.
//!
//! At the start of a recording [`choose`] picks the path: the layout of
//! the running version, once [`selfcheck`] has read known objects through
//! it (a frame whose locals are known, a dict whose version must change,
//! ints, a list and a tuple, a float, a `__slots__` instance, a cell,
//! reference counts); otherwise — another version, a failed check, or
//! `CODETRACER_PORTABLE=1` — the portable path ([`portable`]): frames and
//! locals through the public C API, values through the C API only, no
//! version tags. Both give the same trace; the portable one is slower.

pub mod portable;
pub mod rc;
mod selfcheck;
mod v3_12;
mod v3_13;

use std::hash::Hasher;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHasher;

// `CODETRACER_PORTABLE=1`: use the portable path on every version.
// Test-only: `CODETRACER_TEST_FAIL_SELF_CHECK=<check>` makes that
// self-check fail (see [`selfcheck::CHECKS`]), to show the fallback.
use crate::env::{PORTABLE as PORTABLE_ENV, TEST_FAIL_SELF_CHECK as FAIL_CHECK_ENV};

/// Where the running thread's frames and an interpreter frame's fields are.
#[derive(Debug)]
pub struct FrameLayout {
    /// `PyThreadState` -> current interpreter frame (through `cframe` on 3.12).
    tstate_frame: usize,
    via_cframe: bool,
    /// `_PyInterpreterFrame` fields.
    code: usize,
    f_locals: usize,
    /// The frame object made for it (`sys._getframe`, `gi_frame`, a
    /// traceback), null until one is.
    frame_obj: usize,
    instr: usize,
    stacktop: usize,
    localsplus: usize,
}

/// `PyDictObject` fields.
#[derive(Debug)]
pub struct DictLayout {
    used: usize,
    version: usize,
    keys: usize,
    values: usize,
    /// A split dict's values may be an instance's inline values, stored to
    /// without a version bump (3.13): only combined dicts' tags vouch.
    split_values_shared: bool,
}

/// The private layout of one CPython minor version.
#[derive(Debug)]
pub struct Layout {
    /// "3.12": what the metadata says.
    pub version: &'static str,
    frame: FrameLayout,
    dict: DictLayout,
    long_tag: usize,
    long_digit: usize,
    ob_size: usize,
    seq_items: usize,
    managed_dict_before: usize,
    member_def: usize,
    member_def_type: usize,
    member_def_offset: usize,
    cell_ref: usize,
    float_value: usize,
    enumerate_iter: usize,
    /// `PyCFunctionObject` fields: its `PyMethodDef` and its raw `m_self`
    /// (which `PyCFunction_GetSelf` hides for `METH_STATIC`).
    cfunction_ml: usize,
    cfunction_self: usize,
}

/// The facts every known layout shares, read as constants on the hot path
/// (the accessors below that use them say so by reading `SHARED`): checked
/// equal in each version's table when this compiles, so a version that
/// differs fails the build until its accessor reads the table instead.
const SHARED: Layout = v3_12::LAYOUT;
const fn shared_with(l: &Layout) -> bool {
    let s = &SHARED;
    l.frame.localsplus == s.frame.localsplus
        && l.frame.code == s.frame.code
        && l.cell_ref == s.cell_ref
        && l.long_tag == s.long_tag
        && l.long_digit == s.long_digit
        && l.ob_size == s.ob_size
        && l.seq_items == s.seq_items
        && l.managed_dict_before == s.managed_dict_before
        && l.float_value == s.float_value
        && l.dict.values == s.dict.values
        && l.dict.version == s.dict.version
}
const _: () = assert!(shared_with(&v3_13::LAYOUT));

// Test-only: `CODETRACER_TEST_UNKNOWN_VERSION=1` makes the recorder treat
// its CPython as a version it does not know (3.14, 3.15, ...): the
// portable path, and none of the shortcuts that rest on facts of a known
// version — how a newer CPython is recorded, tested on 3.12 and 3.13.
use crate::env::TEST_UNKNOWN_VERSION as UNKNOWN_VERSION_ENV;

/// Whether this recorder knows CPython `major.minor`: its layout, and the
/// facts beyond the layout its shortcuts rely on (the bytecode the pure-line
/// analysis reads, the instructions CPython instruments for LINE events).
pub fn known_version(major: u8, minor: u8) -> bool {
    for_version(major, minor).is_some() && !crate::env::is(&UNKNOWN_VERSION_ENV, "1")
}

/// The layout of `major.minor`, if this recorder knows it.
pub fn for_version(major: u8, minor: u8) -> Option<&'static Layout> {
    match (major, minor) {
        (3, 12) => Some(&v3_12::LAYOUT),
        (3, 13) => Some(&v3_13::LAYOUT),
        _ => None,
    }
}

/// How a recording reads the interpreter.
#[derive(Debug)]
pub enum Path {
    /// In place, through a layout that passed its self-check.
    Fast(&'static Layout),
    /// Through the public C API, and why.
    Portable { reason: String },
}

impl Path {
    pub fn layout(&self) -> Option<&'static Layout> {
        match self {
            Self::Fast(l) => Some(l),
            Self::Portable { .. } => None,
        }
    }

    /// What `trace_metadata.json` says: the layout's version, or "portable".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Fast(l) => l.version,
            Self::Portable { .. } => "portable",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Fast(_) => None,
            Self::Portable { reason } => Some(reason),
        }
    }
}

/// Picks the path for a recording on CPython `major.minor`.
pub fn choose(py: Python<'_>, major: u8, minor: u8) -> Path {
    if crate::env::is(&PORTABLE_ENV, "1") {
        return Path::Portable { reason: format!("{}=1", PORTABLE_ENV.name) };
    }
    let Some(layout) = for_version(major, minor) else {
        return Path::Portable { reason: format!("no known layout for CPython {major}.{minor}") };
    };
    if !known_version(major, minor) {
        return Path::Portable { reason: format!("no known layout for CPython {major}.{minor} ({}=1)", UNKNOWN_VERSION_ENV.name) };
    }
    let fail = crate::env::get(&FAIL_CHECK_ENV);
    // The layout's facts hold for the whole process: checked at its first
    // recording (again only for another check to fail on).
    static CHECKED: crate::memo::Memo<(&str, Option<String>), Result<(), String>> = crate::memo::Memo::new();
    match CHECKED.get((layout.version, fail), |(_, fail)| selfcheck::run(py, layout, fail.as_deref())) {
        Ok(()) => Path::Fast(layout),
        Err(what) => Path::Portable { reason: format!("the self-check of the CPython {} layout failed on {what}", layout.version) },
    }
}

/// The layout in force (null: portable), for the helpers without an
/// encoder at hand ([`float_value`], [`rc`]).
static ACTIVE: AtomicPtr<Layout> = AtomicPtr::new(std::ptr::null_mut());

/// Puts `path` in force for the process's recording. A debug build counts
/// references its own way: references are then counted through calls.
pub fn activate(path: &Path, debug_build: bool) {
    let p = path.layout().map_or(std::ptr::null_mut(), |l| l as *const Layout as *mut Layout);
    ACTIVE.store(p, Ordering::Relaxed);
    rc::enable(path.layout().is_some() && !debug_build);
}

#[inline(always)]
fn active() -> Option<&'static Layout> {
    let p = ACTIVE.load(Ordering::Relaxed);
    // SAFETY: only ever set from a `&'static Layout` (or null).
    unsafe { p.as_ref() }
}

/// The value of an exact `float`: in place on a known layout, else
/// through `PyFloat_AsDouble`.
#[inline(always)]
pub fn float_value(obj: *mut ffi::PyObject) -> f64 {
    match active() {
        // SAFETY: callers checked `Py_TYPE(obj) == &PyFloat_Type`.
        Some(l) => unsafe { l.float_value(obj) },
        // SAFETY: GIL held (callers); an exact float never fails.
        None => unsafe { ffi::PyFloat_AsDouble(obj) },
    }
}

/// Reads a `T` at `base + off`.
///
/// # Safety
/// `base + off` holds a `T` (the layout's promise, checked at start-up).
#[inline(always)]
unsafe fn at<T: Copy>(base: usize, off: usize) -> T {
    // SAFETY: see the function's contract.
    unsafe { *((base + off) as *const T) }
}

impl Layout {
    /// The thread's current interpreter frame if it runs `code`, else 0.
    ///
    /// # Safety
    /// GIL held; `tstate` is this thread's live `PyThreadState` (or 0).
    #[inline]
    pub unsafe fn current_frame(&self, tstate: usize, code: *mut ffi::PyObject) -> usize {
        if tstate == 0 {
            return 0;
        }
        let f = &self.frame;
        // SAFETY: see the function's contract; the frame is checked against `code`.
        unsafe {
            let mut p: usize = at(tstate, f.tstate_frame);
            if f.via_cframe && p != 0 {
                p = at(p, 0);
            }
            if p != 0 && at::<*mut ffi::PyObject>(p, f.code) == code {
                p
            } else {
                0
            }
        }
    }

    /// Pointer to the first fast local of a frame from [`Layout::current_frame`].
    #[inline]
    pub fn localsplus(&self, iframe: usize) -> *const *mut ffi::PyObject {
        (iframe + SHARED.frame.localsplus) as *const *mut ffi::PyObject
    }

    /// The frame object made for an interpreter frame, or null while none
    /// was (then nothing wrote its locals through `f_locals`, which only a
    /// frame object gives).
    ///
    /// # Safety
    /// `iframe` came from [`Layout::current_frame`] during this event.
    #[inline]
    pub unsafe fn frame_object(&self, iframe: usize) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe { at(iframe, self.frame.frame_obj) }
    }

    /// The namespace of a module or class body frame (borrowed; may be null).
    ///
    /// # Safety
    /// `iframe` came from [`Layout::current_frame`] during this event.
    #[inline]
    pub unsafe fn namespace(&self, iframe: usize) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe { at(iframe, self.frame.f_locals) }
    }

    /// The object a cell holds (borrowed; null when empty).
    ///
    /// # Safety
    /// `cell` is a live `cell` object.
    #[inline]
    pub unsafe fn cell_contents(&self, cell: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe { at(cell as usize, SHARED.cell_ref) }
    }

    /// The code unit `iframe` is about to run, given where its code object's
    /// instructions start; None when the pointer is not inside them.
    ///
    /// # Safety
    /// `iframe` came from [`Layout::current_frame`] during this event.
    #[inline]
    pub unsafe fn instruction(&self, iframe: usize, code_start: usize) -> Option<usize> {
        // SAFETY: see the function's contract.
        let p: usize = unsafe { at(iframe, self.frame.instr) };
        p.checked_sub(code_start).map(|d| d / 2)
    }

    /// The object on top of `iframe`'s value stack (borrowed), if the stack
    /// holds one.
    ///
    /// # Safety
    /// `iframe` came from [`Layout::current_frame`] during this event, for a
    /// code object with `nlocalsplus` fast locals and `stacksize` stack slots.
    #[inline]
    pub unsafe fn stack_top(&self, iframe: usize, nlocalsplus: usize, stacksize: usize) -> Option<*mut ffi::PyObject> {
        // SAFETY: see the function's contract; the index is checked against the frame's size.
        unsafe {
            let top = usize::try_from(at::<i32>(iframe, self.frame.stacktop)).ok()?;
            if top <= nlocalsplus || top > nlocalsplus + stacksize {
                return None;
            }
            let obj = *self.localsplus(iframe).add(top - 1);
            (!obj.is_null()).then_some(obj)
        }
    }

    /// An exact int of at most one 30-bit digit (`lv_tag`: digit count << 3
    /// | sign); None for bigger ones.
    ///
    /// # Safety
    /// `obj` is a live exact int.
    #[inline]
    pub unsafe fn small_int(&self, obj: *mut ffi::PyObject) -> Option<i64> {
        // SAFETY: see the function's contract.
        unsafe {
            let tag: usize = at(obj as usize, SHARED.long_tag);
            if tag >= 2 << 3 {
                return None;
            }
            let digit = i64::from(at::<u32>(obj as usize, SHARED.long_digit));
            Some((1 - (tag & 3) as i64) * digit)
        }
    }

    /// Length of an exact list or tuple.
    ///
    /// # Safety
    /// `obj` is a live exact list or tuple.
    #[inline]
    pub unsafe fn seq_len(&self, obj: *mut ffi::PyObject) -> isize {
        // SAFETY: see the function's contract.
        unsafe { at(obj as usize, SHARED.ob_size) }
    }

    /// Item `i` of an exact list (an item array) or tuple (items inline); borrowed.
    ///
    /// # Safety
    /// `obj` is a live exact list (`is_list`) or tuple and `i` < its length.
    #[inline]
    pub unsafe fn seq_item(&self, obj: *mut ffi::PyObject, is_list: bool, i: isize) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe {
            let base = obj as usize + SHARED.seq_items;
            let items = if is_list { at::<*const *mut ffi::PyObject>(base, 0) } else { base as *const *mut ffi::PyObject };
            *items.offset(i)
        }
    }

    /// The materialised dict of an instance whose class manages its dict
    /// (borrowed; null when there is none yet).
    ///
    /// # Safety
    /// `obj` is a live instance of a class with `Py_TPFLAGS_MANAGED_DICT`.
    #[inline]
    pub unsafe fn managed_dict(&self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        let v: usize = unsafe { at(obj as usize - SHARED.managed_dict_before, 0) };
        if v & 1 == 0 {
            v as *mut ffi::PyObject
        } else {
            std::ptr::null_mut()
        }
    }

    /// The storage offset of a member descriptor's `T_OBJECT_EX` member
    /// (what `__slots__` makes); None for any other member.
    ///
    /// # Safety
    /// `descr` is a live `member_descriptor`.
    pub unsafe fn member_offset(&self, descr: *mut ffi::PyObject) -> Option<usize> {
        const T_OBJECT_EX: i32 = 16;
        // SAFETY: see the function's contract.
        unsafe {
            let def: usize = at(descr as usize, self.member_def);
            if def == 0 || at::<i32>(def, self.member_def_type) != T_OBJECT_EX {
                return None;
            }
            usize::try_from(at::<isize>(def, self.member_def_offset)).ok().filter(|o| *o >= std::mem::size_of::<ffi::PyObject>())
        }
    }

    /// The iterator an `enumerate` object wraps (borrowed; may be null).
    ///
    /// # Safety
    /// `obj` is a live exact `enumerate`.
    #[inline]
    pub unsafe fn enumerate_iter(&self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe { at(obj as usize, self.enumerate_iter) }
    }

    /// A builtin function's method definition and raw `m_self` (borrowed;
    /// the definition outlives the function, `m_self` may be null).
    ///
    /// # Safety
    /// `obj` is a live exact `builtin_function_or_method`.
    #[inline]
    pub unsafe fn cfunction_parts(&self, obj: *mut ffi::PyObject) -> (*const ffi::PyMethodDef, *mut ffi::PyObject) {
        // SAFETY: see the function's contract.
        unsafe { (at(obj as usize, self.cfunction_ml), at(obj as usize, self.cfunction_self)) }
    }

    /// The value of an exact float.
    ///
    /// # Safety
    /// `obj` is a live exact float.
    #[inline(always)]
    pub unsafe fn float_value(&self, obj: *mut ffi::PyObject) -> f64 {
        // SAFETY: see the function's contract.
        unsafe { at(obj as usize, SHARED.float_value) }
    }
}

/// Which dicts' version tags may vouch for unchanged contents: those of a
/// known layout (never on the portable path, nor with the shortcuts off).
#[derive(Clone, Copy, Debug)]
pub struct DictVersions(Option<&'static Layout>);

impl DictVersions {
    pub const NEVER: Self = Self(None);

    pub fn new(layout: Option<&'static Layout>) -> Self {
        Self(layout)
    }

    /// Whether any tag may vouch.
    #[inline]
    pub fn vouch(self) -> bool {
        self.0.is_some()
    }

    /// The version tag of exact dict `d`, or 0 when it cannot vouch (changed
    /// by every mutation, never reused).
    ///
    /// # Safety
    /// `d` is a live exact dict.
    #[inline]
    pub unsafe fn of(self, d: *mut ffi::PyObject) -> u64 {
        let Some(l) = self.0 else { return 0 };
        let d = d as usize;
        // SAFETY: see the function's contract.
        unsafe {
            if l.dict.split_values_shared && at::<usize>(d, SHARED.dict.values) != 0 {
                return 0;
            }
            at(d, SHARED.dict.version)
        }
    }

    /// The version of the exact dict `d` of a dict-only instance, or 0.
    /// Where split dicts share an instance's inline values (3.13), such a
    /// dict gets a fingerprint of what its entries are (the shared keys,
    /// the insertion order, the value addresses) with the top bit set, which
    /// CPython's tags never reach. Equal fingerprints mean the same objects
    /// in the same fields, provided no address was reused: the trail holds
    /// the instance's scalar fields (its strs and big ints are held anyway)
    /// and walks its containers and instances.
    ///
    /// # Safety
    /// `d` is a live exact dict.
    #[inline]
    pub unsafe fn of_instance(self, d: *mut ffi::PyObject) -> u64 {
        let Some(l) = self.0.filter(|l| l.dict.split_values_shared) else {
            // SAFETY: see the function's contract.
            return unsafe { self.of(d) };
        };
        let dict = d as usize;
        // SAFETY: see the function's contract; `PyDictValues` as in `v3_13`.
        unsafe {
            let values: *const u8 = at(dict, l.dict.values);
            if values.is_null() {
                return self.of(d);
            }
            let used: isize = at(dict, l.dict.used);
            let (capacity, size) = (usize::from(*values), usize::from(*values.add(1)));
            if used < 0 || used as usize != size || size > capacity {
                return 0;
            }
            let ptrs = values.add(8) as *const usize;
            let order = values.add(8 + 8 * capacity);
            let mut h = FxHasher::default();
            h.write_usize(at(dict, l.dict.keys));
            h.write_usize(size);
            for i in 0..size {
                let ix = usize::from(*order.add(i));
                if ix >= capacity {
                    return 0;
                }
                h.write_usize(ix);
                h.write_usize(*ptrs.add(ix));
            }
            h.finish() | 1 << 63
        }
    }

    /// Whether `version` is a fingerprint, which needs the instance's scalar
    /// fields held (see [`DictVersions::of_instance`]).
    #[inline]
    pub fn fingerprints(self, version: u64) -> bool {
        self.0.is_some_and(|l| l.dict.split_values_shared) && version >> 63 == 1
    }
}

/// A `__slots__` field of a class: read at its storage offset on a known
/// layout, through its member descriptor's `__get__` (C code) otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    offset: Option<usize>,
    /// The descriptor (held for the recording).
    descr: *mut ffi::PyObject,
}

impl Member {
    /// The storage offset, on a known layout.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    /// The slot's value in `obj` (borrowed: the instance holds it), null when unset.
    ///
    /// # Safety
    /// GIL held; `obj` is a live instance of the class the member was found for.
    #[inline]
    pub unsafe fn get(&self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe {
            if let Some(off) = self.offset {
                return at(obj as usize, off);
            }
            let get = ffi::PyType_GetSlot(ffi::Py_TYPE(self.descr), ffi::Py_tp_descr_get);
            if get.is_null() {
                return std::ptr::null_mut();
            }
            let get: ffi::descrgetfunc = std::mem::transmute(get);
            let v = get(self.descr, obj, ffi::Py_TYPE(obj) as *mut ffi::PyObject);
            if v.is_null() {
                ffi::PyErr_Clear();
                return v;
            }
            // The instance's slot holds it too.
            rc::decref(v);
            v
        }
    }
}

/// Where the instances of `tp` store slot `name`: the member descriptor the
/// lookup finds first along the MRO (read from the class dicts, no code
/// runs), if it is one (on a known layout: one of type `T_OBJECT_EX`, what
/// `__slots__` makes).
///
/// # Safety
/// GIL held; `tp` a live type, `name` a str, `member_descriptor` the
/// `member_descriptor` type.
pub unsafe fn find_member(layout: Option<&Layout>, tp: *mut ffi::PyTypeObject, name: *mut ffi::PyObject, member_descriptor: *mut ffi::PyTypeObject) -> Option<Member> {
    // SAFETY: see the function's contract; every object read is a type, a
    // dict, a str or a member descriptor.
    unsafe {
        let mro = ffi::PyObject_GetAttrString(tp as *mut ffi::PyObject, c"__mro__".as_ptr());
        if mro.is_null() || ffi::PyTuple_Check(mro) == 0 {
            ffi::PyErr_Clear();
            if !mro.is_null() {
                rc::decref(mro);
            }
            return None;
        }
        let mut found = None;
        for i in 0..ffi::PyTuple_Size(mro) {
            let cls = ffi::PyTuple_GetItem(mro, i);
            let cdict = if cls.is_null() { std::ptr::null_mut() } else { ffi::PyObject_GetAttrString(cls, c"__dict__".as_ptr()) };
            if cdict.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            let d = ffi::PyObject_GetItem(cdict, name);
            rc::decref(cdict);
            if d.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            if ffi::Py_TYPE(d) == member_descriptor {
                match layout {
                    Some(l) => found = l.member_offset(d).map(|off| Member { offset: Some(off), descr: d }),
                    None => found = Some(Member { offset: None, descr: d }),
                }
            }
            if found.is_none() {
                rc::decref(d);
            }
            break;
        }
        rc::decref(mro);
        found
    }
}

/// The word at `off` in `obj` (a `__slots__` member's storage, whose offset
/// [`Member::offset`] gave): what a check program compares.
///
/// # Safety
/// `obj` is a live instance of a class storing a member at `off`.
#[inline]
pub unsafe fn slot_word(obj: *mut ffi::PyObject, off: usize) -> u64 {
    // SAFETY: see the function's contract.
    unsafe { at(obj as usize, off) }
}

/// How a recording finds the running frame of an event and reads its locals.
#[derive(Clone, Copy, Debug)]
pub enum FrameReader {
    /// The interpreter frame, from the thread state (an address: 0 when unreadable).
    InPlace(&'static Layout),
    /// The frame object, through the public C API.
    Api(portable::Frames),
}

impl FrameReader {
    pub fn new(path: &Path, minor: u8) -> Self {
        match path {
            Path::Fast(l) => Self::InPlace(l),
            Path::Portable { .. } => Self::Api(portable::Frames::new(minor)),
        }
    }

    pub fn layout(&self) -> Option<&'static Layout> {
        match self {
            Self::InPlace(l) => Some(l),
            Self::Api(_) => None,
        }
    }

    /// The running frame if it runs `code` (its identity while it runs), else 0.
    ///
    /// # Safety
    /// GIL held, inside a monitoring callback; `tstate` is this thread's state.
    #[inline]
    pub unsafe fn current(&self, tstate: usize, code: *mut ffi::PyObject) -> usize {
        // SAFETY: see the function's contract.
        unsafe {
            match self {
                Self::InPlace(l) => l.current_frame(tstate, code),
                Self::Api(f) => f.current(code),
            }
        }
    }
}
