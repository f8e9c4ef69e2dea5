//! Text of Python objects read without running any of their code: strs as
//! UTF-8 (cut on a character boundary), class names.

use pyo3::ffi;

/// What a cut value or text ends with.
pub const ELLIPSIS: &[u8] = "…".as_bytes();

/// UTF-8 of a str object (lossy for surrogates).
pub fn str_lossy(s: *mut ffi::PyObject) -> String {
    let mut out = Vec::new();
    str_bytes(s, u32::MAX, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends the UTF-8 of str `s`, cut at `max` bytes (on a char boundary, with
/// an ellipsis). Strings with lone surrogates use backslash escapes.
pub fn str_bytes(s: *mut ffi::PyObject, max: u32, out: &mut Vec<u8>) {
    // SAFETY: GIL held (callers); `s` is a str.
    unsafe {
        let mut size: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(s, &mut size);
        if p.is_null() {
            ffi::PyErr_Clear();
            let b = ffi::PyUnicode_AsEncodedString(s, c"utf-8".as_ptr(), c"backslashreplace".as_ptr());
            if b.is_null() {
                ffi::PyErr_Clear();
                out.extend_from_slice(b"<unencodable str>");
                return;
            }
            let mut bp: *mut std::os::raw::c_char = std::ptr::null_mut();
            let mut bn: ffi::Py_ssize_t = 0;
            if ffi::PyBytes_AsStringAndSize(b, &mut bp, &mut bn) == 0 {
                push_cut(std::slice::from_raw_parts(bp as *const u8, bn as usize), max, out);
            } else {
                ffi::PyErr_Clear();
            }
            crate::cpython::rc::decref(b);
            return;
        }
        push_cut(std::slice::from_raw_parts(p as *const u8, size as usize), max, out);
    }
}

/// Appends `bytes`, cut to `max` bytes (on a character boundary) and
/// marked as cut, as [`str_bytes`] appends a str's.
pub fn push_cut(bytes: &[u8], max: u32, out: &mut Vec<u8>) {
    let max = max as usize;
    if bytes.len() <= max {
        out.extend_from_slice(bytes);
        return;
    }
    let mut end = max;
    while end > 0 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    out.extend_from_slice(&bytes[..end]);
    out.extend_from_slice(ELLIPSIS);
}

/// `type.__qualname__` (module-qualified for non-builtins).
///
/// # Safety
/// GIL held; `tp` is a live type.
pub unsafe fn type_qualname(tp: *mut ffi::PyTypeObject) -> String {
    // SAFETY: GIL held (caller).
    unsafe {
        let q = ffi::PyType_GetQualName(tp);
        if q.is_null() {
            ffi::PyErr_Clear();
            return "<unknown>".into();
        }
        let s = str_lossy(q);
        crate::cpython::rc::decref(q);
        s
    }
}

/// The qualified class name of an object.
pub fn class_name(obj: *mut ffi::PyObject) -> String {
    // SAFETY: GIL held (callers).
    unsafe { type_qualname(ffi::Py_TYPE(obj)) }
}
