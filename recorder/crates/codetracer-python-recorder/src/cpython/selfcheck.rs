//! The start-up self-check: before a layout is trusted, every fact the
//! recorder reads through it is read from objects whose values are known,
//! and compared with what the public C API (or Python) says of them.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use super::{find_member, rc, DictVersions, Layout};

/// The checks, in the order they run (the names `CODETRACER_TEST_FAIL_SELF_CHECK` takes).
pub const CHECKS: &[&str] = &["frame", "frame_object", "namespace", "cell", "int", "float", "sequence", "dict", "instance_dict", "slots", "enumerate", "cfunction", "refcount"];

/// Runs every check on `layout`; `Err(name)` names the first that failed
/// (or `fail`, the one a test asked to fail).
pub fn run(py: Python<'_>, layout: &'static Layout, fail: Option<&str>) -> Result<(), String> {
    for &name in CHECKS {
        let ok = fail != Some(name)
            && match name {
                "frame" => frame(py, layout),
                "frame_object" => frame_object(py, layout),
                "namespace" => namespace(py, layout),
                "cell" => cell(py, layout),
                "int" => int(py, layout),
                "float" => float(py, layout),
                "sequence" => sequence(py, layout),
                "dict" => dict(py, layout),
                "instance_dict" => instance_dict(py, layout),
                "slots" => slots(py, layout),
                "enumerate" => enumerate(py, layout),
                "cfunction" => cfunction(py, layout),
                "refcount" => refcount(py),
                _ => Ok(false),
            }
            .unwrap_or(false);
        if !ok {
            return Err(name.to_string());
        }
    }
    Ok(())
}

fn eval<'py>(py: Python<'py>, expr: &std::ffi::CStr) -> PyResult<Bound<'py, PyAny>> {
    py.eval(expr, None, None)
}

/// A function whose locals are known calls back into Rust, which finds its
/// interpreter frame from the thread state and reads its fast locals and
/// instruction pointer.
fn frame(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let ns = PyDict::new(py);
    py.run(c"def probe(a, b, check):\n    c = [a, b]\n    return check(c)\n", Some(&ns), None)?;
    let probe = eval(py, c"lambda ns: ns['probe']")?.call1((&ns,))?;
    let code = probe.getattr("__code__")?;
    let units = code.getattr("co_code")?.len()? / 2;
    let base: usize = py.import("types")?.getattr("CodeType")?.getattr("__basicsize__")?.extract()?;
    let a = eval(py, c"'codetracer-self-check'")?;
    let b = eval(py, c"(1.5, None)")?;
    let (code_p, a_p, b_p) = (code.as_ptr() as usize, a.as_ptr() as usize, b.as_ptr() as usize);
    let check = PyCFunction::new_closure(py, None, None, move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> bool {
        let c = args.get_item(0).map_or(0, |c| c.as_ptr() as usize);
        // SAFETY: GIL held (a call from Python); the frame is the probe's
        // (its code checked) and its four fast locals are bound.
        unsafe {
            let f = l.current_frame(ffi::PyThreadState_Get() as usize, code_p as *mut ffi::PyObject);
            if f == 0 {
                return false;
            }
            let lp = l.localsplus(f);
            *lp as usize == a_p
                && *lp.add(1) as usize == b_p
                && *lp.add(3) as usize == c
                && l.instruction(f, code_p + base).is_some_and(|u| u < units)
        }
    })?;
    probe.call1((a, b, check))?.extract()
}

/// A function that made its frame object (`sys._getframe()`) calls back
/// into Rust, which finds that object through its interpreter frame.
fn frame_object(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let ns = PyDict::new(py);
    py.run(c"def probe(getframe, check):\n    return check(getframe())\n", Some(&ns), None)?;
    let probe = eval(py, c"lambda ns: ns['probe']")?.call1((&ns,))?;
    let code_p = probe.getattr("__code__")?.as_ptr() as usize;
    let check = PyCFunction::new_closure(py, None, None, move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> bool {
        let made = args.get_item(0).map_or(0, |f| f.as_ptr() as usize);
        // SAFETY: GIL held (a call from Python); the frame is the probe's (its code checked).
        unsafe {
            let f = l.current_frame(ffi::PyThreadState_Get() as usize, code_p as *mut ffi::PyObject);
            f != 0 && made != 0 && l.frame_object(f) as usize == made
        }
    })?;
    probe.call1((py.import("sys")?.getattr("_getframe")?, check))?.extract()
}

/// Module-level code run in a known namespace finds it through its frame.
fn namespace(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let builtins = py.import("builtins")?;
    let code = builtins.getattr("compile")?.call1(("ok = check()\n", "<codetracer-self-check>", "exec"))?;
    let ns = PyDict::new(py);
    let (code_p, ns_p) = (code.as_ptr() as usize, ns.as_ptr() as usize);
    let check = PyCFunction::new_closure(py, None, None, move |_: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> bool {
        // SAFETY: GIL held (a call from Python); the frame is the probe's.
        unsafe {
            let f = l.current_frame(ffi::PyThreadState_Get() as usize, code_p as *mut ffi::PyObject);
            f != 0 && l.namespace(f) as usize == ns_p
        }
    })?;
    ns.set_item("check", check)?;
    builtins.getattr("exec")?.call1((code, &ns))?;
    ns.get_item("ok")?.map_or(Ok(false), |ok| ok.extract())
}

fn cell(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let v = eval(py, c"['in a cell']")?;
    let full = eval(py, c"lambda v: (lambda: v).__closure__[0]")?.call1((&v,))?;
    let empty = eval(py, c"__import__('types').CellType()")?;
    // SAFETY: both are live cells.
    Ok(unsafe { l.cell_contents(full.as_ptr()) == v.as_ptr() && l.cell_contents(empty.as_ptr()).is_null() })
}

fn int(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let small = eval(py, c"(0, 1, -1, 7, -7, 1000, -123456, 2**30 - 1, -(2**30 - 1))")?;
    for v in small.try_iter()? {
        let v = v?;
        let want: i64 = v.extract()?;
        // SAFETY: an exact int.
        if unsafe { l.small_int(v.as_ptr()) } != Some(want) {
            return Ok(false);
        }
    }
    for v in eval(py, c"(2**30, -(2**30), 2**62, -(2**100), 10**40)")?.try_iter()? {
        // SAFETY: an exact int.
        if unsafe { l.small_int(v?.as_ptr()) }.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn float(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    for v in eval(py, c"(1.5, -0.0, 1e300, -2.5e-300, float('inf'), 0.1)")?.try_iter()? {
        let v = v?;
        let want: f64 = v.extract()?;
        // SAFETY: an exact float.
        if unsafe { l.float_value(v.as_ptr()) }.to_bits() != want.to_bits() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn sequence(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    for (expr, is_list) in [(c"['a', 2, None, 4.5]", true), (c"[]", true), (c"('x', (), 3)", false), (c"()", false)] {
        let s = eval(py, expr)?;
        let n = s.len()?;
        // SAFETY: an exact list or tuple; indices below its length.
        unsafe {
            if l.seq_len(s.as_ptr()) != n as isize {
                return Ok(false);
            }
            for i in 0..n {
                if l.seq_item(s.as_ptr(), is_list, i as isize) != s.get_item(i)?.as_ptr() {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// A dict's version must change at every insert and store.
fn dict(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let d = PyDict::new(py);
    let v = DictVersions::new(Some(l));
    // SAFETY: an exact dict.
    let version = || unsafe { v.of(d.as_ptr()) };
    let v0 = version();
    d.set_item("k", 1)?;
    let v1 = version();
    d.set_item("k", 2)?;
    let v2 = version();
    d.set_item("j", 3)?;
    let v3 = version();
    Ok(v1 != 0 && v0 != v1 && v1 != v2 && v2 != v3 && v2 != 0 && v3 != 0)
}

/// A plain instance's managed dict, and its version (or fingerprint),
/// which must change when an attribute is stored.
fn instance_dict(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let ns = PyDict::new(py);
    py.run(c"class Plain:\n    def __init__(self):\n        self.x = 1\n        self.y = 'y'\no = Plain()\nd = o.__dict__\n", Some(&ns), None)?;
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> { ns.get_item(k)?.ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string())) };
    let (o, d) = (get("o")?, get("d")?);
    let v = DictVersions::new(Some(l));
    // SAFETY: `o` is an instance of a class with a managed dict, `d` that dict.
    unsafe {
        if l.managed_dict(o.as_ptr()) != d.as_ptr() {
            return Ok(false);
        }
        let f0 = v.of_instance(d.as_ptr());
        o.setattr("x", 2)?;
        let f1 = v.of_instance(d.as_ptr());
        o.setattr("y", "z")?;
        let f2 = v.of_instance(d.as_ptr());
        Ok(f0 != 0 && f1 != 0 && f2 != 0 && f0 != f1 && f1 != f2)
    }
}

/// `__slots__` members are found at their storage offsets.
fn slots(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let ns = PyDict::new(py);
    py.run(c"class S:\n    __slots__ = ('s', 'unset')\no = S()\no.s = ['slot']\nmd = type(S.s)\n", Some(&ns), None)?;
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> { ns.get_item(k)?.ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string())) };
    let (o, md) = (get("o")?, get("md")?);
    let tp = o.get_type();
    let want = o.getattr("s")?;
    let (s, unset) = (pyo3::types::PyString::intern(py, "s"), pyo3::types::PyString::intern(py, "unset"));
    let md = md.as_ptr() as *mut ffi::PyTypeObject;
    // SAFETY: GIL held; live type, names and instance.
    unsafe {
        let (Some(ms), Some(mu)) = (find_member(Some(l), tp.as_type_ptr(), s.as_ptr(), md), find_member(Some(l), tp.as_type_ptr(), unset.as_ptr(), md)) else {
            return Ok(false);
        };
        Ok(ms.offset().is_some() && ms.get(o.as_ptr()) == want.as_ptr() && mu.get(o.as_ptr()).is_null())
    }
}

fn enumerate(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let it = eval(py, c"iter([1, 2])")?;
    let e = eval(py, c"enumerate")?.call1((&it,))?;
    // SAFETY: an exact enumerate.
    Ok(unsafe { l.enumerate_iter(e.as_ptr()) } == it.as_ptr())
}

/// A bound builtin method and a module's function: their definitions'
/// names and flags, and the object each is bound to.
fn cfunction(py: Python<'_>, l: &'static Layout) -> PyResult<bool> {
    let seq = eval(py, c"[]")?;
    let append = seq.getattr("append")?;
    let len = eval(py, c"len")?;
    let builtins = eval(py, c"__import__('builtins')")?;
    // SAFETY: exact builtin functions; their definitions are static.
    unsafe {
        let ok = |f: &Bound<'_, PyAny>, name: &std::ffi::CStr, owner: &Bound<'_, PyAny>| {
            let (def, owner_at) = l.cfunction_parts(f.as_ptr());
            !def.is_null()
                && std::ffi::CStr::from_ptr((*def).ml_name) == name
                && (*def).ml_flags == ffi::PyCFunction_GetFlags(f.as_ptr())
                && owner_at == owner.as_ptr()
        };
        Ok(ffi::Py_TYPE(append.as_ptr()) == ffi::Py_TYPE(len.as_ptr()) && ok(&append, c"append", &seq) && ok(&len, c"len", &builtins))
    }
}

/// Counting in line moves the count `sys.getrefcount` reports by one.
fn refcount(py: Python<'_>) -> PyResult<bool> {
    if !rc::INLINE_TARGET {
        return Ok(true);
    }
    let o = eval(py, c"object()")?;
    let count = eval(py, c"__import__('sys').getrefcount")?;
    let r0: isize = count.call1((&o,))?.extract()?;
    // SAFETY: GIL held; `o` is live and we own a reference.
    unsafe { rc::incref_inline(o.as_ptr()) };
    let r1: isize = count.call1((&o,))?.extract()?;
    // SAFETY: the reference taken above.
    unsafe { rc::decref_inline(o.as_ptr()) };
    let r2: isize = count.call1((&o,))?.extract()?;
    Ok(r1 == r0 + 1 && r2 == r0)
}
