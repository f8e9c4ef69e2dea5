//! The portable path: the running frame and its locals through the public
//! C API, for CPython versions whose layout the recorder does not know (or
//! whose self-check failed, or `CODETRACER_PORTABLE=1`).
//!
//! * The frame: `PyEval_GetFrame()` (stable ABI) — the frame object of the
//!   code the event is for, checked with `PyFrame_GetCode`. Its address
//!   identifies the frame while it runs (the interpreter frame owns it; a
//!   generator's is kept across resumptions).
//! * Fast locals, by name (the code's own str objects, `_varname_from_oparg`),
//!   only those a step compares, cells and free variables dereferenced,
//!   unbound names absent, through `PyFrame_GetVar` (public C API since
//!   3.12, not in the stable ABI: looked up in the running interpreter at
//!   start). It reads the slot in place (no snapshot, so no reference
//!   outlives the event), but compares the name with every earlier slot's
//!   by value, and an unbound name costs it a `NameError`, made and
//!   cleared. So on 3.13 and later a read of many names, or of one unbound
//!   at the previous step, goes through `frame.f_locals`, the write-through
//!   `FrameLocalsProxy` of PEP 667, made once for that read (an interned
//!   attribute name: the type's attribute cache serves the lookup): it
//!   finds a name by identity, and `in` raises nothing. Without
//!   `PyFrame_GetVar`, `frame.f_locals` at every read: on 3.12 a dict
//!   snapshot the frame keeps (its references outlive the event until the
//!   next one: a finaliser may run later). What each costs:
//!   docs/performance.md, "The portable path on CPython 3.13".
//! * A module or class body's namespace: `PyEval_GetLocals()` on 3.12
//!   (hidden comprehension variables left out); on 3.13 and later
//!   `frame.f_locals`, which is the namespace itself except while an
//!   inlined comprehension runs in the body (a proxy then): the namespace
//!   met at the frame's first event is kept by the caller.

#[cfg(windows)]
use std::os::raw::c_char;

use pyo3::ffi;

use super::rc;

type GetVar = unsafe extern "C" fn(*mut ffi::PyFrameObject, *mut ffi::PyObject) -> *mut ffi::PyObject;

/// How this interpreter's frames are read.
#[derive(Clone, Copy, Debug)]
pub struct Frames {
    minor: u8,
    get_var: Option<GetVar>,
    /// "f_locals", interned (null when that failed: a C string then).
    f_locals: *mut ffi::PyObject,
}

impl Frames {
    /// The reader for CPython 3.`minor`.
    pub fn new(minor: u8) -> Self {
        // SAFETY: the symbol, when the interpreter exports it, is the
        // documented `PyObject *PyFrame_GetVar(PyFrameObject *, PyObject *)`.
        let get_var = unsafe { symbol(c"PyFrame_GetVar", minor).map(|p| std::mem::transmute::<*mut std::ffi::c_void, GetVar>(p)) };
        // SAFETY: GIL held (a recording starts); an interned str lives as
        // long as the interpreter (immortal since 3.12), so it is never released.
        let f_locals = unsafe { ffi::PyUnicode_InternFromString(c"f_locals".as_ptr()) };
        if f_locals.is_null() {
            // SAFETY: GIL held.
            unsafe { ffi::PyErr_Clear() };
        }
        Self { minor, get_var, f_locals }
    }

    /// How locals are read, for the logs.
    pub fn describe(&self) -> &'static str {
        match (self.get_var.is_some(), self.minor >= 13) {
            (true, _) => "PyFrame_GetVar",
            (false, true) => "frame.f_locals (FrameLocalsProxy)",
            (false, false) => "frame.f_locals (a snapshot dict)",
        }
    }

    /// `frame.f_locals` (a new reference; null, error cleared, when unreadable).
    ///
    /// # Safety
    /// GIL held; `frame` is a live frame object.
    unsafe fn f_locals(&self, frame: usize) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        unsafe {
            let m = if self.f_locals.is_null() {
                ffi::PyObject_GetAttrString(frame as *mut ffi::PyObject, c"f_locals".as_ptr())
            } else {
                ffi::PyObject_GetAttr(frame as *mut ffi::PyObject, self.f_locals)
            };
            if m.is_null() {
                ffi::PyErr_Clear();
            }
            m
        }
    }

    /// The running frame object if it runs `code` (borrowed), else 0.
    ///
    /// # Safety
    /// GIL held, inside a monitoring callback.
    #[inline]
    pub unsafe fn current(&self, code: *mut ffi::PyObject) -> usize {
        // SAFETY: see the function's contract.
        unsafe {
            let f = ffi::PyEval_GetFrame();
            if f.is_null() {
                return 0;
            }
            let c = ffi::PyFrame_GetCode(f) as *mut ffi::PyObject;
            if c.is_null() {
                ffi::PyErr_Clear();
                return 0;
            }
            rc::decref(c);
            if c == code {
                f as usize
            } else {
                0
            }
        }
    }

    /// The values of the fast locals `names` of `frame` into `out`, in
    /// order: borrowed (the frame holds them), null when unbound or not
    /// wanted (`want`'s bit of its slot clear: slots from 128 on are always
    /// read). False when the frame's locals cannot be read.
    ///
    /// `PyFrame_GetVar` compares the name with every name of the slots
    /// before it, by value, and an unbound name costs it a `NameError`
    /// (a formatted message, an exception object), made and cleared. So on
    /// 3.13 and later a read of many names, or of one unbound at the
    /// previous step (`was_unbound`: most often it still is), goes through
    /// the frame's `FrameLocalsProxy`, made once for the read: it finds a
    /// name by identity, and `in` tells an unbound name without raising.
    ///
    /// # Safety
    /// GIL held; `frame` came from [`Frames::current`] during this event
    /// and runs optimized code whose slots `names` names (str objects; null
    /// for a slot not to read).
    pub unsafe fn fast_locals(
        &self,
        frame: usize,
        names: &[*mut ffi::PyObject],
        want: u128,
        was_unbound: impl Fn(usize) -> bool,
        out: &mut Vec<*mut ffi::PyObject>,
    ) -> bool {
        /// Wanted names times slots from which a read goes through the proxy.
        const PROXY_FROM: usize = 64;
        out.clear();
        let null = std::ptr::null_mut();
        let n = names.len();
        if want == 0 && n <= 128 {
            // A step after a pure line that stored nothing shown.
            out.resize(n, null);
            return true;
        }
        let wanted = |i: usize, name: *mut ffi::PyObject| !name.is_null() && (i >= 128 || want >> i & 1 != 0);
        let many = || {
            let low = if n < 128 { want & ((1u128 << n) - 1) } else { want };
            (low.count_ones() as usize + n.saturating_sub(128)) * n >= PROXY_FROM
        };
        let through_proxy = self.get_var.is_none()
            || (self.minor >= 13 && (many() || names.iter().enumerate().any(|(i, &name)| i < 128 && wanted(i, name) && was_unbound(i))));
        // SAFETY: see the function's contract.
        unsafe {
            let m = if through_proxy { self.f_locals(frame) } else { null };
            if m.is_null() {
                let Some(get_var) = self.get_var else { return false };
                for (i, &name) in names.iter().enumerate() {
                    out.push(if wanted(i, name) { borrowed(get_var(frame as *mut ffi::PyFrameObject, name)) } else { null });
                }
                return true;
            }
            for (i, &name) in names.iter().enumerate() {
                if !wanted(i, name) {
                    out.push(null);
                    continue;
                }
                if i < 128 && was_unbound(i) {
                    match ffi::PySequence_Contains(m, name) {
                        0 => {
                            out.push(null);
                            continue;
                        }
                        1 => {}
                        _ => ffi::PyErr_Clear(),
                    }
                }
                out.push(borrowed(ffi::PyObject_GetItem(m, name)));
            }
            rc::decref(m);
            true
        }
    }

    /// The namespace of a module or class body frame (borrowed; `None` when
    /// it is not a dict, null when it cannot be read).
    ///
    /// # Safety
    /// GIL held; `frame` came from [`Frames::current`] during this event.
    pub unsafe fn namespace(&self, frame: usize) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract; the frame holds its namespace.
        unsafe {
            if self.minor < 13 {
                let ns = ffi::PyEval_GetLocals();
                if ns.is_null() {
                    ffi::PyErr_Clear();
                }
                return ns;
            }
            let m = self.f_locals(frame);
            if m.is_null() {
                return m;
            }
            if ffi::PyDict_Check(m) != 0 {
                // The frame holds its namespace.
                rc::decref(m);
                return m;
            }
            // Another mapping: a class body's `__prepare__` namespace, shown
            // as the fast path shows it (no values), or a proxy of a body
            // first met inside an inlined comprehension (not kept).
            rc::decref(m);
            ffi::Py_None()
        }
    }
}

/// A new reference turned borrowed (its owner still holds it), or null
/// with the error (an unbound name) cleared.
///
/// # Safety
/// GIL held; `v` is a new reference that another owner also holds, or null.
unsafe fn borrowed(v: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: see the function's contract.
    unsafe {
        if v.is_null() {
            ffi::PyErr_Clear();
        } else {
            rc::decref(v);
        }
    }
    v
}

/// A function the running interpreter exports, by name.
///
/// # Safety
/// The caller gives the result the symbol's real type.
#[cfg(unix)]
unsafe fn symbol(name: &std::ffi::CStr, _minor: u8) -> Option<*mut std::ffi::c_void> {
    // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches the
    // process's global symbols, where the interpreter's are.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

#[cfg(windows)]
extern "system" {
    fn GetModuleHandleA(name: *const c_char) -> *mut std::ffi::c_void;
    fn GetProcAddress(module: *mut std::ffi::c_void, name: *const c_char) -> *mut std::ffi::c_void;
}

/// A function the running interpreter exports, by name (from
/// `python3<minor>.dll`: `python3.dll` forwards the stable ABI only).
///
/// # Safety
/// The caller gives the result the symbol's real type.
#[cfg(windows)]
unsafe fn symbol(name: &std::ffi::CStr, minor: u8) -> Option<*mut std::ffi::c_void> {
    let dll = std::ffi::CString::new(format!("python3{minor}.dll")).ok()?;
    // SAFETY: NUL-terminated names; the module is loaded (it runs us).
    unsafe {
        let module = GetModuleHandleA(dll.as_ptr());
        if module.is_null() {
            return None;
        }
        let p = GetProcAddress(module, name.as_ptr());
        (!p.is_null()).then_some(p)
    }
}

/// # Safety
/// The caller gives the result the symbol's real type.
#[cfg(not(any(unix, windows)))]
unsafe fn symbol(_name: &std::ffi::CStr, _minor: u8) -> Option<*mut std::ffi::c_void> {
    None
}
