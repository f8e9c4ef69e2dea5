//! What the encoder knows of a class, computed once per class: its
//! fields (`__slots__` members, a `__dict__`), its type ids, whether it
//! is a standard value type.

use recorder_errors::prelude::*;

use super::*;

/// What we know about a Python class, computed once.
pub(super) struct ClassInfo {
    /// Type id for values shown as `Raw` (class name).
    pub(super) raw_type: u32,
    /// Type id for ints/floats/strs of a subclass.
    pub(super) scalar_type: Option<u32>,
    /// Attribute lookup is the default one (no user `__getattr(ibute)__`).
    pub(super) generic_getattr: bool,
    pub(super) has_dict: bool,
    /// Names in `__slots__` along the MRO (strong refs), with where each is stored.
    pub(super) slots: Rc<[SlotField]>,
    pub(super) qualname: Rc<str>,
    /// Safe to show by the class name with `repr` (C types we know).
    pub(super) exception: bool,
    /// Instances keep their dict in the managed slot (`Py_TPFLAGS_MANAGED_DICT`).
    pub(super) managed_dict: bool,
    /// A standard value type shown by its data (see `stdvalues`).
    pub(super) std: Option<StdClass>,
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
    /// The interpreter's types the encoder compares against.
    pub fn new(py: pyo3::Python<'_>) -> RecorderResult<Self> {
        let get = |expr: &std::ffi::CStr| -> RecorderResult<usize> {
            py.eval(expr, None, None)
                .map(|t| t.as_ptr() as usize)
                .map_err(|e| bug!(ErrorCode::Internal, "cannot find a builtin type: {}", e.value(py)))
        };
        // The interpreter's own types, the same at every recording of the
        // process: found once (by address).
        static FOUND: crate::memo::Memo<(), [usize; 3]> = crate::memo::Memo::new();
        let [function, cell, member_descriptor] = FOUND.get_or_make((), |_| {
            Ok::<_, RecorderError>([
                get(c"type(lambda: None)")?,
                get(c"type((lambda x: lambda: x)(0).__closure__[0])")?,
                get(c"type(type('_S', (), {'__slots__': ('x',)}).x)")?,
            ])
        })?;
        // SAFETY: taking addresses of the interpreter's static type objects.
        unsafe {
            Ok(Self {
                int: std::ptr::addr_of_mut!(ffi::PyLong_Type),
                bool_: std::ptr::addr_of_mut!(ffi::PyBool_Type),
                float: std::ptr::addr_of_mut!(ffi::PyFloat_Type),
                str_: std::ptr::addr_of_mut!(ffi::PyUnicode_Type),
                bytes: std::ptr::addr_of_mut!(ffi::PyBytes_Type),
                list: std::ptr::addr_of_mut!(ffi::PyList_Type),
                tuple: std::ptr::addr_of_mut!(ffi::PyTuple_Type),
                dict: std::ptr::addr_of_mut!(ffi::PyDict_Type),
                set: std::ptr::addr_of_mut!(ffi::PySet_Type),
                frozenset: std::ptr::addr_of_mut!(ffi::PyFrozenSet_Type),
                none: ffi::Py_TYPE(ffi::Py_None()),
                module: std::ptr::addr_of_mut!(ffi::PyModule_Type),
                type_: std::ptr::addr_of_mut!(ffi::PyType_Type),
                cfunction: std::ptr::addr_of_mut!(ffi::PyCFunction_Type),
                function: function as *mut ffi::PyTypeObject,
                cell: cell as *mut ffi::PyTypeObject,
                member_descriptor: member_descriptor as *mut ffi::PyTypeObject,
                generic_getattr: ffi::PyType_GetSlot(std::ptr::addr_of_mut!(ffi::PyBaseObject_Type), 62),
            })
        }
    }

    /// Whether `obj` is an exact list, tuple, dict, set or frozenset.
    #[inline]
    pub fn is_container(&self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held (callers); `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        tp == self.list || tp == self.tuple || tp == self.dict || tp == self.set || tp == self.frozenset
    }
}

/// A struct type: the field names it was defined for (held) and its id.
pub(super) type StructType = (Box<[*mut ffi::PyObject]>, u32);

/// Interning of types and classes; definitions go to the stream (`defs`)
/// before the record that uses them.
pub struct TypeTable {
    pub(super) next_id: u32,
    pub(super) classes: FxHashMap<usize, ClassInfo>,
    /// (class, hash of field-name addresses) -> the struct types defined for it.
    pub(super) structs: FxHashMap<(usize, u64), Vec<StructType>>,
    pub builtins: Builtins,
    pub(super) std: StdState,
    /// The layout in force (None: the portable path).
    pub(super) layout: Option<&'static Layout>,
}

pub(super) const PY_TP_GETATTRO: c_int = 62;

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

    pub(super) fn define(&mut self, defs: &mut Vec<u8>, k: u8, name: &str, fields: Option<&[(String, u32)]>) -> u32 {
        put_type(defs, k, name, fields);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn class(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject) -> &ClassInfo {
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

    pub(super) fn describe(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject) -> ClassInfo {
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

    pub(super) fn struct_type(&mut self, defs: &mut Vec<u8>, tp: *mut ffi::PyTypeObject, names: &[*mut ffi::PyObject], qualname: &str) -> u32 {
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
pub(super) fn unreachable_class() -> ! {
    // Only reachable if a HashMap loses an entry it just stored.
    std::process::abort()
}

/// A `__slots__` field: its name and, when the attribute lookup finds a
/// plain object member for it, how to read it (a field without one is not
/// shown).
#[derive(Clone, Copy)]
pub struct SlotField {
    pub(super) name: *mut ffi::PyObject,
    pub(super) member: Option<Member>,
}

/// (has `__dict__`, `__slots__` names along the MRO), read from the class
/// dicts only: no descriptors run.
///
/// # Safety
/// GIL held; `tp` is a live type.
pub(super) unsafe fn class_layout(tp: *mut ffi::PyTypeObject) -> (bool, Vec<*mut ffi::PyObject>) {
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
pub(super) unsafe fn push_slot(slots: &mut Vec<*mut ffi::PyObject>, has_dict: &mut bool, name: *mut ffi::PyObject) {
    let s = str_lossy(name);
    if s == "__dict__" {
        *has_dict = true;
    } else if s != "__weakref__" {
        // SAFETY: GIL held; keep the name alive for the class's lifetime.
        unsafe { crate::cpython::rc::incref(name) };
        slots.push(name);
    }
}
