//! Standard-library value types shown by their data: `complex`, `Decimal`,
//! `Fraction`, `datetime` (date, datetime, time, timedelta), `UUID`,
//! `pathlib` paths and enum members, as `Raw` text like their repr
//! (`(1+2j)`, `Decimal('1.50')`, `Fraction(3, 4)`, `datetime(2024, 1, 2, 3, 4, 5)`,
//! `UUID('…')`, `PosixPath('/a/b')`, `<Color.RED: 1>`) under a type named
//! after the value's class.
//!
//! The text is built from the objects' data, never by calling `repr`,
//! `str`, `__format__`, `isoformat` or a property, which a subclass (or the
//! program, by patching) may replace: C types are read from their C structs
//! (complex through `PyComplex_RealAsDouble`, the others at offsets checked
//! against objects the recorder builds the first time it meets the type —
//! a check that fails leaves the type shown by its class name, with a
//! warning in the log); classes written in Python from their `__slots__`
//! (read at the offsets their member descriptors give, as in `capture`) or
//! their instance dict. A type is recognised by identity: the class object
//! the standard module holds in `sys.modules`, or a subclass of it —
//! never by name, so a class naming itself `Decimal` or pretending through
//! `__class__` is shown as any other object. Subclasses of the C types are
//! shown from the base's C data (which a subclass cannot change) under their
//! own class name. Exact C values with no tzinfo but `timezone.utc` are
//! immutable, so change detection compares them by identity; every other
//! value here is encoded anew at each comparison.

use std::ffi::CStr;
use std::os::raw::c_int;

use pyo3::ffi;

use crate::cpython::{Layout, Member};

/// Which standard type a class is (or derives from).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StdKind {
    Complex,
    Decimal,
    Date,
    DateTime,
    Time,
    TimeDelta,
    Fraction,
    Uuid,
    PurePath,
    Enum,
}

/// What a class needs to be shown as a standard value.
#[derive(Clone, Copy, Debug)]
pub struct StdClass {
    pub kind: StdKind,
    /// The standard type itself, not a subclass.
    pub exact: bool,
    /// Slot offsets: Fraction (`_numerator`, `_denominator`), UUID (`int`),
    /// paths (`_raw_paths`, `_str`).
    off: [Option<Member>; 2],
    /// A `PureWindowsPath` (no POSIX normalisation of its raw parts).
    windows: bool,
}

/// How a value was shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shown {
    /// Text written; the value is immutable (compare by identity).
    Leaf,
    /// Text written; encode it anew at every comparison.
    Volatile,
    /// Its data did not read as expected: show it the generic way.
    No,
}

/// Per recording: which C layouts passed their self-check (None: not
/// checked yet), and `datetime.timezone.utc` (held) once known.
#[derive(Default)]
pub struct StdState {
    decimal: Option<bool>,
    datetime: Option<bool>,
    utc: usize,
}

const PY_TPFLAGS_IMMUTABLETYPE: std::os::raw::c_ulong = 1 << 8;
const MPD_NEG: u8 = 1;
const MPD_INF: u8 = 2;
const MPD_NAN: u8 = 4;
const MPD_SNAN: u8 = 8;
const MPD_RADIX: u64 = 10_000_000_000_000_000_000;
/// Digits of a Decimal shown at most (longer coefficients are cut with `…`).
const MAX_DIGITS: usize = 200;

/// `module.name` from `sys.modules` when both are what they should be (an
/// exact module, a type in its dict): borrowed, or null. Imports nothing
/// and runs no code.
///
/// # Safety
/// GIL held.
unsafe fn std_type(module: &CStr, name: &CStr) -> *mut ffi::PyTypeObject {
    // SAFETY: GIL held (callers); dict lookups on exact dicts only.
    unsafe {
        let key = ffi::PyUnicode_FromString(module.as_ptr());
        if key.is_null() {
            ffi::PyErr_Clear();
            return std::ptr::null_mut();
        }
        let m = ffi::PyImport_GetModule(key);
        crate::cpython::rc::decref(key);
        if m.is_null() {
            ffi::PyErr_Clear();
            return std::ptr::null_mut();
        }
        let mut found = std::ptr::null_mut();
        if ffi::Py_TYPE(m) == std::ptr::addr_of_mut!(ffi::PyModule_Type) {
            let d = ffi::PyModule_GetDict(m);
            if !d.is_null() && ffi::Py_TYPE(d) == std::ptr::addr_of_mut!(ffi::PyDict_Type) {
                let t = ffi::PyDict_GetItemString(d, name.as_ptr());
                if !t.is_null() && ffi::PyType_Check(t) != 0 {
                    found = t as *mut ffi::PyTypeObject;
                }
            }
        }
        ffi::PyErr_Clear();
        // sys.modules still holds the module, and the module its types.
        crate::cpython::rc::decref(m);
        found
    }
}

/// Whether `t` is a C type (Python code cannot make an immutable type).
///
/// # Safety
/// GIL held; `t` is a live type or null.
unsafe fn is_c_type(t: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: GIL held (callers); `t` is a live type.
    !t.is_null() && unsafe { ffi::PyType_GetFlags(t) } & PY_TPFLAGS_IMMUTABLETYPE != 0
}

/// # Safety
/// GIL held; `tp` is a live type, `base` a live type or null.
unsafe fn subtype(tp: *mut ffi::PyTypeObject, base: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: GIL held (callers); an MRO scan, no code runs.
    !base.is_null() && (tp == base || unsafe { ffi::PyType_IsSubtype(tp, base) } != 0)
}

/// `__slots__` member `name` of `tp`.
///
/// # Safety
/// GIL held; `tp` is a live type.
unsafe fn slot(tp: *mut ffi::PyTypeObject, name: &CStr, member_descriptor: *mut ffi::PyTypeObject, layout: Option<&Layout>) -> Option<Member> {
    // SAFETY: GIL held (callers).
    unsafe {
        let n = ffi::PyUnicode_InternFromString(name.as_ptr());
        if n.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let off = crate::cpython::find_member(layout, tp, n, member_descriptor);
        crate::cpython::rc::decref(n);
        off
    }
}

impl StdState {
    /// Whether (and how) instances of `tp` are shown as a standard value.
    /// Called once per class.
    ///
    /// # Safety
    /// GIL held; `tp` is a live type.
    pub unsafe fn classify(&mut self, tp: *mut ffi::PyTypeObject, member_descriptor: *mut ffi::PyTypeObject, layout: Option<&Layout>) -> Option<StdClass> {
        let class = |kind, base: *mut ffi::PyTypeObject| StdClass { kind, exact: tp == base, off: [None, None], windows: false };
        // SAFETY: see the function's contract.
        unsafe {
            let complex = std::ptr::addr_of_mut!(ffi::PyComplex_Type);
            if subtype(tp, complex) {
                return Some(class(StdKind::Complex, complex));
            }
            let dec = std_type(c"_decimal", c"Decimal");
            if is_c_type(dec) && subtype(tp, dec) && self.decimal_ok(dec) {
                return Some(class(StdKind::Decimal, dec));
            }
            for (name, kind) in [(c"datetime", StdKind::DateTime), (c"date", StdKind::Date), (c"time", StdKind::Time), (c"timedelta", StdKind::TimeDelta)] {
                let base = std_type(c"_datetime", name);
                if is_c_type(base) && subtype(tp, base) {
                    return self.datetime_ok().then(|| class(kind, base));
                }
            }
            let fraction = std_type(c"fractions", c"Fraction");
            if subtype(tp, fraction) {
                let num = slot(tp, c"_numerator", member_descriptor, layout)?;
                let den = slot(tp, c"_denominator", member_descriptor, layout)?;
                return Some(StdClass { off: [Some(num), Some(den)], ..class(StdKind::Fraction, fraction) });
            }
            let uuid = std_type(c"uuid", c"UUID");
            if subtype(tp, uuid) {
                let int = slot(tp, c"int", member_descriptor, layout)?;
                return Some(StdClass { off: [Some(int), None], ..class(StdKind::Uuid, uuid) });
            }
            let path = std_type(c"pathlib", c"PurePath");
            if subtype(tp, path) {
                let raw = slot(tp, c"_raw_paths", member_descriptor, layout)?;
                let s = slot(tp, c"_str", member_descriptor, layout)?;
                let windows = subtype(tp, std_type(c"pathlib", c"PureWindowsPath"));
                return Some(StdClass { off: [Some(raw), Some(s)], windows, ..class(StdKind::PurePath, path) });
            }
            let enum_ = std_type(c"enum", c"Enum");
            if subtype(tp, enum_) && tp != enum_ {
                return Some(class(StdKind::Enum, enum_));
            }
            None
        }
    }

    /// Self-check of the `_decimal` layout on values built from strings.
    ///
    /// # Safety
    /// GIL held; `dec` is the `_decimal.Decimal` C type.
    unsafe fn decimal_ok(&mut self, dec: *mut ffi::PyTypeObject) -> bool {
        if let Some(ok) = self.decimal {
            return ok;
        }
        let cases: [(&CStr, &str); 5] = [
            (c"1.5", "1.5"),
            (c"-12345678901234567890123.45", "-12345678901234567890123.45"),
            (c"0E-7", "0E-7"),
            (c"NaN", "NaN"),
            (c"-Infinity", "-Infinity"),
        ];
        let mut ok = true;
        for (i, (src, want)) in cases.iter().enumerate() {
            // SAFETY: GIL held; `dec` is the C type `_decimal.Decimal`: its
            // constructor from a str runs C code only.
            let d = unsafe { ffi::PyObject_CallFunction(dec as *mut ffi::PyObject, c"s".as_ptr(), src.as_ptr()) };
            if d.is_null() {
                // SAFETY: GIL held.
                unsafe { ffi::PyErr_Clear() };
                ok = false;
                break;
            }
            // The first value proves the fixed fields and that the digits
            // pointer points into the object before any pointer is followed.
            // SAFETY: `d` is a live Decimal; reads within its basic size.
            let good = (i > 0 || unsafe { decimal_head_is(d) }) && {
                let mut text = Vec::new();
                // SAFETY: the head check above vouched for the layout.
                let read = unsafe { decimal_text(d, &mut text) };
                read && text == want.as_bytes()
            };
            // SAFETY: we own `d`.
            unsafe { crate::cpython::rc::decref(d) };
            if !good {
                ok = false;
                break;
            }
        }
        if !ok {
            log::warn!("the layout of decimal.Decimal is not the one this recorder knows: Decimal values are shown by class name");
        }
        self.decimal = Some(ok);
        ok
    }

    /// Self-check of the `_datetime` layouts (date, datetime, time,
    /// timedelta, and where an aware value keeps its tzinfo).
    ///
    /// # Safety
    /// GIL held.
    unsafe fn datetime_ok(&mut self) -> bool {
        if let Some(ok) = self.datetime {
            return ok;
        }
        // SAFETY: GIL held; the types are `_datetime`'s C types (checked
        // immutable): constructing them runs C code only.
        let ok = unsafe { self.check_datetime() };
        if !ok {
            log::warn!("the layout of datetime's types is not the one this recorder knows: they are shown by class name");
        }
        self.datetime = Some(ok);
        ok
    }

    /// # Safety
    /// GIL held.
    unsafe fn check_datetime(&mut self) -> bool {
        // SAFETY: see `datetime_ok`.
        unsafe {
            let (date, datetime, time, delta, tz) = (
                std_type(c"_datetime", c"date"),
                std_type(c"_datetime", c"datetime"),
                std_type(c"_datetime", c"time"),
                std_type(c"_datetime", c"timedelta"),
                std_type(c"_datetime", c"timezone"),
            );
            if ![date, datetime, time, delta, tz].iter().all(|t| is_c_type(*t)) {
                return false;
            }
            let utc = ffi::PyObject_GetAttrString(tz as *mut ffi::PyObject, c"utc".as_ptr());
            if utc.is_null() {
                ffi::PyErr_Clear();
                return false;
            }
            let call = |t: *mut ffi::PyTypeObject, f: &CStr, a: &[c_int]| -> *mut ffi::PyObject {
                let o = match a.len() {
                    3 => ffi::PyObject_CallFunction(t as *mut ffi::PyObject, f.as_ptr(), a[0], a[1], a[2]),
                    4 => ffi::PyObject_CallFunction(t as *mut ffi::PyObject, f.as_ptr(), a[0], a[1], a[2], a[3], utc),
                    _ => ffi::PyObject_CallFunction(t as *mut ffi::PyObject, f.as_ptr(), a[0], a[1], a[2], a[3], a[4], a[5], a[6], utc),
                };
                if o.is_null() {
                    ffi::PyErr_Clear();
                }
                o
            };
            let objs = [
                call(date, c"iii", &[2024, 1, 2]),
                call(datetime, c"iiiiiiiO", &[2024, 12, 31, 23, 58, 59, 654_321]),
                call(time, c"iiiiO", &[3, 4, 5, 6]),
                call(delta, c"iii", &[-1, 2, 3]),
            ];
            let mut ok = objs.iter().all(|o| !o.is_null());
            if ok {
                let byte = |o: *mut ffi::PyObject, at: usize| *(o as *const u8).add(at);
                let ptr = |o: *mut ffi::PyObject, at: usize| *((o as *const u8).add(at) as *const *mut ffi::PyObject);
                ok = byte(objs[0], 24) == 0
                    && (25..29).map(|i| byte(objs[0], i)).eq([0x07, 0xE8, 1, 2])
                    && byte(objs[1], 24) == 1
                    && (25..35).map(|i| byte(objs[1], i)).eq([0x07, 0xE8, 12, 31, 23, 58, 59, 0x09, 0xFB, 0xF1])
                    && byte(objs[1], 35) == 0
                    && ptr(objs[1], 40) == utc
                    && byte(objs[2], 24) == 1
                    && (25..31).map(|i| byte(objs[2], i)).eq([3, 4, 5, 0, 0, 6])
                    && ptr(objs[2], 32) == utc
                    && delta_fields(objs[3]) == (-1, 2, 3);
            }
            for o in objs {
                if !o.is_null() {
                    crate::cpython::rc::decref(o);
                }
            }
            if ok {
                // Held for the recording: compared with values' tzinfo.
                self.utc = utc as usize;
            } else {
                crate::cpython::rc::decref(utc);
            }
            ok
        }
    }

    /// Whether `render` shows `obj` as an immutable value ([`Shown::Leaf`]):
    /// exact C types, date-times without a tzinfo other than `timezone.utc`.
    ///
    /// # Safety
    /// GIL held; `obj` is live and its class was classified as `c`.
    pub unsafe fn is_leaf(&self, obj: *mut ffi::PyObject, c: &StdClass) -> bool {
        if !c.exact {
            return false;
        }
        // SAFETY: see the function's contract (layouts checked).
        unsafe {
            match c.kind {
                StdKind::Complex | StdKind::Decimal | StdKind::Date | StdKind::TimeDelta => true,
                StdKind::DateTime | StdKind::Time => {
                    let tz_at = if c.kind == StdKind::DateTime { 40 } else { 32 };
                    *(obj as *const u8).add(24) == 0 || *((obj as *const u8).add(tz_at) as *const usize) == self.utc
                }
                _ => false,
            }
        }
    }

    /// Appends the text of `obj` (an instance of a class `c` describes,
    /// named `name`) to `out`.
    ///
    /// # Safety
    /// GIL held; `obj` is live and its class was classified as `c`.
    pub unsafe fn render(&self, obj: *mut ffi::PyObject, c: &StdClass, name: &str, max: u32, out: &mut Vec<u8>) -> Shown {
        let start = out.len();
        let leaf = if c.exact { Shown::Leaf } else { Shown::Volatile };
        // SAFETY: see the function's contract; layouts self-checked at classification.
        let shown = unsafe {
            match c.kind {
                StdKind::Complex => {
                    let (re, im) = (ffi::PyComplex_RealAsDouble(obj), ffi::PyComplex_ImagAsDouble(obj));
                    if !c.exact {
                        out.extend_from_slice(name.as_bytes());
                    }
                    complex_text(re, im, out);
                    leaf
                }
                StdKind::Decimal => {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"('");
                    if !decimal_text(obj, out) {
                        return Shown::No;
                    }
                    out.extend_from_slice(b"')");
                    leaf
                }
                StdKind::Date | StdKind::DateTime | StdKind::Time => self.datetime_text(obj, c, name, out),
                StdKind::TimeDelta => {
                    out.extend_from_slice(name.as_bytes());
                    delta_text(obj, out);
                    leaf
                }
                StdKind::Fraction => {
                    let (num, den) = (slot_value(obj, c.off[0]), slot_value(obj, c.off[1]));
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'(');
                    if !int_text(num, out) {
                        return Shown::No;
                    }
                    out.extend_from_slice(b", ");
                    if !int_text(den, out) {
                        return Shown::No;
                    }
                    out.push(b')');
                    Shown::Volatile
                }
                StdKind::Uuid => {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"('");
                    if !uuid_text(slot_value(obj, c.off[0]), out) {
                        return Shown::No;
                    }
                    out.extend_from_slice(b"')");
                    Shown::Volatile
                }
                StdKind::PurePath => {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'(');
                    if !path_text(slot_value(obj, c.off[0]), slot_value(obj, c.off[1]), c.windows, max, out) {
                        return Shown::No;
                    }
                    out.push(b')');
                    Shown::Volatile
                }
                StdKind::Enum => {
                    if !enum_text(obj, name, max, out) {
                        return Shown::No;
                    }
                    Shown::Volatile
                }
            }
        };
        if shown == Shown::No {
            out.truncate(start);
        }
        shown
    }

    /// # Safety
    /// GIL held; `obj` is a live instance of the date, datetime or time type `c` was classified for (layout self-checked).
    unsafe fn datetime_text(&self, obj: *mut ffi::PyObject, c: &StdClass, name: &str, out: &mut Vec<u8>) -> Shown {
        // SAFETY: `obj` is a date, datetime or time (layouts checked).
        unsafe {
            let byte = |at: usize| *(obj as *const u8).add(at);
            let us = |at: usize| (u32::from(byte(at)) << 16) | (u32::from(byte(at + 1)) << 8) | u32::from(byte(at + 2));
            out.extend_from_slice(name.as_bytes());
            out.push(b'(');
            let mut parts: Vec<u32> = Vec::with_capacity(7);
            let (clock_at, tz_at, fold_at) = match c.kind {
                StdKind::Date => {
                    parts.extend([u32::from(byte(25)) << 8 | u32::from(byte(26)), u32::from(byte(27)), u32::from(byte(28))]);
                    (0, 0, 0)
                }
                StdKind::DateTime => {
                    parts.extend([u32::from(byte(25)) << 8 | u32::from(byte(26)), u32::from(byte(27)), u32::from(byte(28))]);
                    (29, 40, 35)
                }
                _ => (25, 32, 31),
            };
            if clock_at != 0 {
                let (s, u) = (u32::from(byte(clock_at + 2)), us(clock_at + 3));
                parts.extend([u32::from(byte(clock_at)), u32::from(byte(clock_at + 1))]);
                if s != 0 || u != 0 {
                    parts.push(s);
                }
                if u != 0 {
                    parts.push(u);
                }
            }
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(p.to_string().as_bytes());
            }
            let mut shown = if c.exact { Shown::Leaf } else { Shown::Volatile };
            if clock_at != 0 {
                if byte(fold_at) == 1 {
                    out.extend_from_slice(b", fold=1");
                }
                if byte(24) != 0 {
                    let tz = *((obj as *const u8).add(tz_at) as *const *mut ffi::PyObject);
                    if tz as usize == self.utc {
                        out.extend_from_slice(b", tzinfo=timezone.utc");
                    } else if !tz.is_null() {
                        out.extend_from_slice(b", tzinfo=<");
                        out.extend_from_slice(crate::text::class_name(tz).as_bytes());
                        out.extend_from_slice(b" object>");
                        shown = Shown::Volatile;
                    }
                }
            }
            out.push(b')');
            shown
        }
    }
}

/// (days, seconds, microseconds) of a timedelta (ints at 24, 28, 32).
///
/// # Safety
/// GIL held; `obj` is a live timedelta (layout self-checked).
unsafe fn delta_fields(obj: *mut ffi::PyObject) -> (i32, i32, i32) {
    // SAFETY: `obj` is a timedelta (callers; layout checked).
    unsafe {
        let at = |o: usize| *((obj as *const u8).add(o) as *const i32);
        (at(24), at(28), at(32))
    }
}

/// `(days=1, seconds=5)` like timedelta's repr (`(0)` when zero).
///
/// # Safety
/// GIL held; `obj` is a live timedelta (layout self-checked).
unsafe fn delta_text(obj: *mut ffi::PyObject, out: &mut Vec<u8>) {
    // SAFETY: see `delta_fields`.
    let (d, s, us) = unsafe { delta_fields(obj) };
    out.push(b'(');
    let mut first = true;
    for (label, v) in [("days=", d), ("seconds=", s), ("microseconds=", us)] {
        if v != 0 {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            out.extend_from_slice(label.as_bytes());
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
    if first {
        out.push(b'0');
    }
    out.push(b')');
}

/// A slot's value (borrowed; null when unset or not found).
///
/// # Safety
/// GIL held; `obj` is a live instance of the class `member` was found for.
unsafe fn slot_value(obj: *mut ffi::PyObject, member: Option<Member>) -> *mut ffi::PyObject {
    // SAFETY: `member` was found for `obj`'s class (callers).
    member.map_or(std::ptr::null_mut(), |m| unsafe { m.get(obj) })
}

/// Decimal text of an exact int (C formatting of the exact type; false for
/// anything else, or an int past the interpreter's digit limit).
///
/// # Safety
/// GIL held; `i` is a live object.
unsafe fn int_text(i: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
    // SAFETY: GIL held (callers); `int.__str__` of the exact type is C code.
    unsafe {
        if i.is_null() || ffi::PyLong_CheckExact(i) == 0 {
            return false;
        }
        let s = ffi::PyObject_Str(i);
        if s.is_null() {
            ffi::PyErr_Clear();
            return false;
        }
        crate::text::str_bytes(s, u32::MAX, out);
        crate::cpython::rc::decref(s);
        true
    }
}

/// `12345678-1234-5678-1234-567812345678` from a UUID's 128-bit int.
///
/// # Safety
/// GIL held; `i` is a live object or null.
unsafe fn uuid_text(i: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
    // SAFETY: GIL held (callers); shifts and masks of an exact int are C code.
    unsafe {
        if i.is_null() || ffi::PyLong_CheckExact(i) == 0 {
            return false;
        }
        let shifted = |by: i64| {
            let n = ffi::PyLong_FromLongLong(by);
            if n.is_null() {
                return n;
            }
            let r = ffi::PyNumber_Rshift(i, n);
            crate::cpython::rc::decref(n);
            r
        };
        let (hi, top) = (shifted(64), shifted(128));
        let ok = !hi.is_null() && !top.is_null() && ffi::PyLong_AsLongLong(top) == 0;
        // Negative ints shift to -1, ints past 128 bits to non-zero: no UUID.
        let (high, low) = if ok { (ffi::PyLong_AsUnsignedLongLongMask(hi), ffi::PyLong_AsUnsignedLongLongMask(i)) } else { (0, 0) };
        for o in [hi, top] {
            if !o.is_null() {
                crate::cpython::rc::decref(o);
            }
        }
        if !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return false;
        }
        if !ok {
            return false;
        }
        let hex = format!("{high:016x}{low:016x}");
        let h = hex.as_bytes();
        if h.len() != 32 {
            return false;
        }
        for (k, range) in [0..8, 8..12, 12..16, 16..20, 20..32].into_iter().enumerate() {
            if k > 0 {
                out.push(b'-');
            }
            out.extend_from_slice(&h[range]);
        }
        true
    }
}

/// `'a/b'` for a path: its cached `_str` when set, else its raw parts
/// (POSIX: joined and normalised as pathlib does; Windows: the parts as
/// given, `'a', 'b'`, which name the same path).
///
/// # Safety
/// GIL held; `raw` and `cached` are live objects or null.
unsafe fn path_text(raw: *mut ffi::PyObject, cached: *mut ffi::PyObject, windows: bool, max: u32, out: &mut Vec<u8>) -> bool {
    // SAFETY: GIL held (callers); exact lists and strs read with the C API.
    unsafe {
        if !cached.is_null() && ffi::PyUnicode_CheckExact(cached) != 0 {
            quote(&str_of(cached, max), out);
            return true;
        }
        if raw.is_null() || ffi::PyList_CheckExact(raw) == 0 {
            return false;
        }
        let mut parts = Vec::new();
        for k in 0..ffi::PyList_Size(raw) {
            let p = ffi::PyList_GetItem(raw, k);
            if p.is_null() || ffi::PyUnicode_CheckExact(p) == 0 {
                ffi::PyErr_Clear();
                return false;
            }
            parts.push(str_of(p, max));
        }
        if windows {
            for (k, p) in parts.iter().enumerate() {
                if k > 0 {
                    out.extend_from_slice(b", ");
                }
                quote(p, out);
            }
            if parts.is_empty() {
                quote(b".", out);
            }
            return true;
        }
        quote(&posix_join(&parts), out);
        true
    }
}

fn str_of(s: *mut ffi::PyObject, max: u32) -> Vec<u8> {
    let mut v = Vec::new();
    crate::text::str_bytes(s, max, &mut v);
    v
}

/// pathlib's POSIX normal form of the joined parts: an absolute part
/// restarts, empty and `.` components go, `//` (exactly two) stays a root.
fn posix_join(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut root: &[u8] = b"";
    let mut comps: Vec<&[u8]> = Vec::new();
    for p in parts {
        if p.first() == Some(&b'/') {
            comps.clear();
            root = if p.starts_with(b"//") && !p.starts_with(b"///") { b"//" } else { b"/" };
        }
        comps.extend(p.split(|&c| c == b'/').filter(|c| !c.is_empty() && *c != b"."));
    }
    let mut s = root.to_vec();
    for (k, c) in comps.iter().enumerate() {
        if k > 0 {
            s.push(b'/');
        }
        s.extend_from_slice(c);
    }
    if s.is_empty() {
        s.push(b'.');
    }
    s
}

/// Python-like single-quoted text.
fn quote(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &c in text {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(c),
        }
    }
    out.push(b'\'');
}

/// `<Color.RED: 1>` from the member's `_name_` and `_value_` (its instance
/// dict); a value that is not a plain number, str, bool or None is left
/// out (`Color.RED`); a nameless flag combination shows `<Color: 6>`.
///
/// # Safety
/// GIL held; `obj` is a live enum member.
unsafe fn enum_text(obj: *mut ffi::PyObject, cls: &str, max: u32, out: &mut Vec<u8>) -> bool {
    // SAFETY: GIL held (callers); the instance dict read in place, exact
    // dict lookups, exact scalar types only.
    unsafe {
        let d = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
        if d.is_null() {
            ffi::PyErr_Clear();
            return false;
        }
        let mut ok = false;
        if ffi::PyDict_CheckExact(d) != 0 {
            let name = ffi::PyDict_GetItemString(d, c"_name_".as_ptr());
            let value = ffi::PyDict_GetItemString(d, c"_value_".as_ptr());
            ffi::PyErr_Clear();
            let mut v = Vec::new();
            let has_value = !value.is_null() && scalar_text(value, max, &mut v);
            if !name.is_null() && ffi::PyUnicode_CheckExact(name) != 0 {
                if has_value {
                    out.push(b'<');
                }
                out.extend_from_slice(cls.as_bytes());
                out.push(b'.');
                crate::text::str_bytes(name, max, out);
                if has_value {
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(&v);
                    out.push(b'>');
                }
                ok = true;
            } else if (name.is_null() || name == ffi::Py_None()) && has_value {
                out.push(b'<');
                out.extend_from_slice(cls.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(&v);
                out.push(b'>');
                ok = true;
            }
        }
        crate::cpython::rc::decref(d);
        ok
    }
}

/// The repr-like text of an exact int, float, str, bool or None.
///
/// # Safety
/// GIL held; `v` is a live object.
unsafe fn scalar_text(v: *mut ffi::PyObject, max: u32, out: &mut Vec<u8>) -> bool {
    // SAFETY: GIL held (callers); exact types read with the C API.
    unsafe {
        if v == ffi::Py_None() {
            out.extend_from_slice(b"None");
        } else if v == ffi::Py_True() || v == ffi::Py_False() {
            out.extend_from_slice(if v == ffi::Py_True() { b"True" } else { b"False" });
        } else if ffi::PyLong_CheckExact(v) != 0 {
            return int_text(v, out);
        } else if ffi::PyFloat_CheckExact(v) != 0 {
            let f = crate::cpython::float_value(v);
            if f.is_nan() {
                out.extend_from_slice(b"nan");
            } else {
                trace_writer::float::write_python_float(f, out);
            }
        } else if ffi::PyUnicode_CheckExact(v) != 0 {
            quote(&str_of(v, max), out);
        } else {
            return false;
        }
        true
    }
}

/// `(1+2j)` like complex's repr (`2j` for a positive-zero real part).
fn complex_text(re: f64, im: f64, out: &mut Vec<u8>) {
    let num = |x: f64, sign: bool, out: &mut Vec<u8>| {
        if sign && (x.is_nan() || !x.is_sign_negative()) {
            out.push(b'+');
        }
        if x.is_nan() {
            out.extend_from_slice(b"nan");
            return;
        }
        let start = out.len();
        trace_writer::float::write_python_float(x, out);
        if out.ends_with(b".0") {
            out.truncate(out.len() - 2);
        }
        debug_assert!(out.len() > start);
    };
    if re == 0.0 && !re.is_sign_negative() {
        num(im, false, out);
        out.push(b'j');
        return;
    }
    out.push(b'(');
    num(re, false, out);
    num(im, true, out);
    out.extend_from_slice(b"j)");
}

/// The fixed fields of a Decimal (`PyDecObject`: hash at 16, then `mpd_t`:
/// flags 24, exp 32, digits 40, len 48, alloc 56, data 64; the inline
/// digits at 72) are those of `Decimal('1.5')`, and its digits pointer
/// points to the inline array: the layout is the known one.
///
/// # Safety
/// GIL held; `d` is a live Decimal.
unsafe fn decimal_head_is(d: *mut ffi::PyObject) -> bool {
    // SAFETY: `d` is a live `_decimal.Decimal`; every read is inside its
    // basic size (PyDecObject is 72 + 4 * 8 bytes on 64-bit builds).
    unsafe {
        let size = ffi::PyObject_GetAttrString(ffi::Py_TYPE(d) as *mut ffi::PyObject, c"__basicsize__".as_ptr());
        let basic = if size.is_null() { -1 } else { ffi::PyLong_AsLong(size) };
        if !size.is_null() {
            crate::cpython::rc::decref(size);
        }
        ffi::PyErr_Clear();
        if basic < 80 {
            return false;
        }
        let w = |at: usize| *((d as *const u8).add(at) as *const i64);
        (*(d as *const u8).add(24) & 0x0F) == 0 && w(32) == -1 && w(40) == 2 && w(48) == 1 && w(56) >= 1
            && w(64) as usize == d as usize + 72
            && *((d as *const u8).add(72) as *const u64) == 15
    }
}

/// The text of a Decimal like its `str` (scientific notation per the
/// decimal specification); false when its data does not read as a valid
/// `mpd_t`.
///
/// # Safety
/// GIL held; `d` is a live Decimal whose layout passed its self-check.
unsafe fn decimal_text(d: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
    // SAFETY: `d` is a Decimal whose layout was checked (callers).
    unsafe {
        let base = d as *const u8;
        let flags = *base.add(24);
        let w = |at: usize| *(base.add(at) as *const i64);
        let (exp, digits, len, alloc) = (w(32), w(40), w(48), w(56));
        let data = *(base.add(64) as *const *const u64);
        if flags & MPD_NEG != 0 {
            out.push(b'-');
        }
        if flags & MPD_INF != 0 {
            out.extend_from_slice(b"Infinity");
            return true;
        }
        if flags & (MPD_NAN | MPD_SNAN) != 0 && len == 0 {
            // A NaN without payload has no coefficient.
            out.extend_from_slice(if flags & MPD_SNAN != 0 { b"sNaN" } else { b"NaN" });
            return true;
        }
        if len < 1 || alloc < len || data.is_null() || digits < 1 || digits > (len * 19) {
            return false;
        }
        let limbs = std::slice::from_raw_parts(data, len as usize);
        if limbs.iter().any(|l| *l >= MPD_RADIX) {
            return false;
        }
        let mut coeff = String::new();
        for (k, l) in limbs.iter().rev().enumerate() {
            if k == 0 {
                coeff.push_str(&l.to_string());
            } else {
                coeff.push_str(&format!("{l:019}"));
            }
        }
        if coeff.len() != digits as usize && !(coeff == "0" && digits == 1) {
            return false;
        }
        if flags & (MPD_NAN | MPD_SNAN) != 0 {
            out.extend_from_slice(if flags & MPD_SNAN != 0 { b"sNaN" } else { b"NaN" });
            if coeff != "0" {
                out.extend_from_slice(coeff.as_bytes());
            }
            return true;
        }
        let c = coeff.as_bytes();
        let n = c.len() as i64;
        let leftdigits = exp + n;
        let dotplace = if exp <= 0 && leftdigits > -6 { leftdigits } else { 1 };
        let cut = |s: &[u8], out: &mut Vec<u8>| {
            if s.len() > MAX_DIGITS {
                out.extend_from_slice(&s[..MAX_DIGITS]);
                out.extend_from_slice("…".as_bytes());
            } else {
                out.extend_from_slice(s);
            }
        };
        if dotplace <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-dotplace) as usize));
            cut(c, out);
        } else if dotplace >= n {
            cut(c, out);
            out.extend(std::iter::repeat_n(b'0', (dotplace - n).min(MAX_DIGITS as i64) as usize));
        } else {
            cut(&c[..dotplace as usize], out);
            out.push(b'.');
            cut(&c[dotplace as usize..], out);
        }
        if leftdigits != dotplace {
            out.push(b'E');
            let e = leftdigits - dotplace;
            if e >= 0 {
                out.push(b'+');
            }
            out.extend_from_slice(e.to_string().as_bytes());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_paths_normalise_like_pathlib() {
        let j = |ps: &[&str]| String::from_utf8(posix_join(&ps.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>())).unwrap_or_default();
        assert_eq!(j(&["/a//b/", "c"]), "/a/b/c");
        assert_eq!(j(&["a", "/x", "./y"]), "/x/y");
        assert_eq!(j(&[]), ".");
        assert_eq!(j(&["//net/x"]), "//net/x");
        assert_eq!(j(&["///x"]), "/x");
        assert_eq!(j(&["a/../b"]), "a/../b");
    }

    #[test]
    fn complex_like_python() {
        let c = |re: f64, im: f64| {
            let mut v = Vec::new();
            complex_text(re, im, &mut v);
            String::from_utf8(v).unwrap_or_default()
        };
        assert_eq!(c(1.0, 2.0), "(1+2j)");
        assert_eq!(c(0.0, 2.5), "2.5j");
        assert_eq!(c(-0.0, -1.0), "(-0-1j)");
        assert_eq!(c(1.5, f64::INFINITY), "(1.5+infj)");
        assert_eq!(c(1e16, -1e-5), "(1e+16-1e-05j)");
    }
}
