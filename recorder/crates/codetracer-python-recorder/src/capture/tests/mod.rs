//! Trails and check programs, on values built in an embedded interpreter:
//! a comparison must find what re-encoding would, on the in-place path
//! (with check programs) and on the portable one (without).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::*;
use crate::cpython::{self, DictVersions};

/// An encoder and type table for the running interpreter, in place
/// (`fast`, after the self-check) or through the C API.
fn setup(py: Python<'_>, fast: bool) -> (Encoder, TypeTable, Vec<u8>) {
    let info = py.version_info();
    let path = if fast {
        let p = cpython::choose(py, info.major, info.minor);
        assert!(p.layout().is_some(), "the self-check must pass here: {p:?}");
        p
    } else {
        cpython::Path::Portable { reason: "test".into() }
    };
    cpython::activate(&path, false);
    let layout = path.layout();
    let mut defs = Vec::new();
    let types = TypeTable::new(&mut defs, Builtins::new(py).unwrap(), layout);
    (Encoder::new(Bounds::default(), DictVersions::new(layout), layout, None), types, defs)
}

fn run<'py>(py: Python<'py>, code: &std::ffi::CStr) -> Bound<'py, PyDict> {
    let ns = PyDict::new(py);
    py.run(code, Some(&ns), None).unwrap();
    ns
}

/// Encodes `obj` afresh (what the trace would show now).
fn encoding(enc: &mut Encoder, t: &mut TypeTable, defs: &mut Vec<u8>, obj: &Bound<'_, PyAny>) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode(t, defs, obj.as_ptr(), &mut out);
    out
}

fn both(f: impl Fn(Python<'_>, bool)) {
    Python::attach(|py| {
        for fast in [true, false] {
            f(py, fast);
        }
    });
}

#[test]
fn an_unchanged_value_compares_same_and_a_changed_leaf_is_patched() {
    both(|py, fast| {
        let (mut enc, mut t, mut defs) = setup(py, fast);
        let ns = run(py, c"xs = [1.5, 2, 'a', (3, 4.5)]\nd = {'k': xs, 'n': 7}\n");
        let d = ns.get_item("d").unwrap().unwrap();
        let mut trail = Trail::default();
        let mut first = Vec::new();
        assert!(enc.encode_tracked(&mut t, &mut defs, d.as_ptr(), &mut first, &mut trail));
        assert_eq!(first, encoding(&mut enc, &mut t, &mut defs, &d));
        assert_eq!(enc.compare(&mut t, &mut defs, d.as_ptr(), &mut trail), Compare::Same);
        py.run(c"xs[0] = 9.25\nd['n'] = 8\n", Some(&ns), None).unwrap();
        assert_eq!(enc.compare(&mut t, &mut defs, d.as_ptr(), &mut trail), Compare::Patched);
        assert_eq!(enc.patches().0, 2, "two leaves changed");
        assert_eq!(enc.compare(&mut t, &mut defs, d.as_ptr(), &mut trail), Compare::Same, "the trail was patched");
        py.run(c"xs.append(None)\n", Some(&ns), None).unwrap();
        assert_eq!(enc.compare(&mut t, &mut defs, d.as_ptr(), &mut trail), Compare::Different, "a new element is structure");
        trail.release();
    });
}

#[test]
fn check_programs_are_written_for_stable_values_and_fail_on_any_change() {
    both(|py, fast| {
        let (mut enc, mut t, mut defs) = setup(py, fast);
        let ns = run(py, c"class P:\n    __slots__ = ('x', 'y')\n    def __init__(self, x, y):\n        self.x, self.y = x, y\nclass Q:\n    def __init__(self):\n        self.a = [1.0, 2.0]\n        self.b = 'b'\nv = {'ps': [P(1, 2.5), P(3, 4.5)], 'q': Q(), 't': (1, 2)}\n");
        let v = ns.get_item("v").unwrap().unwrap();
        let mut trail = Trail::default();
        let mut out = Vec::new();
        assert!(enc.encode_tracked(&mut t, &mut defs, v.as_ptr(), &mut out, &mut trail));
        // Found unchanged twice: the second walk writes a program (in place only).
        assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
        assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
        assert_eq!(trail.checked, fast, "programs are an in-place shortcut");
        if fast {
            assert!(enc.run_checks(&trail.checks));
        }
        for change in [c"v['ps'][1].y = 5.5\n", c"v['q'].a[0] = 7.0\n", c"v['q'].b = 'c'\n", c"v['ps'][0].x = 10\n"] {
            let before = encoding(&mut enc, &mut t, &mut defs, &v);
            let program = trail.checks.clone();
            py.run(change, Some(&ns), None).unwrap();
            if fast && !program.is_empty() {
                assert!(!enc.run_checks(&program), "the program sees {change:?}");
            }
            let r = enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail);
            assert_ne!(r, Compare::Same, "{change:?}");
            assert_ne!(before, encoding(&mut enc, &mut t, &mut defs, &v));
            // Brought up to date: the same again.
            if r == Compare::Different {
                let mut out = Vec::new();
                trail.release();
                assert!(enc.encode_tracked(&mut t, &mut defs, v.as_ptr(), &mut out, &mut trail));
            }
            assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
        }
        trail.release();
    });
}

#[test]
fn both_paths_encode_alike() {
    Python::attach(|py| {
        let ns = run(py, c"class S:\n    __slots__ = ('a', 'b')\ns = S()\ns.a = [1, -2, 2**40, 3.5, 'x', b'y', None, True]\nv = {'s': s, 'big': 10**30, 'neg': -7, 't': (s.a, {1, 2})}\n");
        let v = ns.get_item("v").unwrap().unwrap();
        let (mut enc, mut t, mut defs) = setup(py, true);
        let fast = encoding(&mut enc, &mut t, &mut defs, &v);
        let (mut enc, mut t, mut defs) = setup(py, false);
        assert_eq!(fast, encoding(&mut enc, &mut t, &mut defs, &v));
    });
}

#[test]
fn small_tuples_of_leaves_are_held_whole_and_compared_by_address() {
    both(|py, fast| {
        let (mut enc, mut t, mut defs) = setup(py, fast);
        let ns = run(py, c"v = [(1, 'a'), (2.5, None), tuple(range(20)), (1, [2])]\n");
        let v = ns.get_item("v").unwrap().unwrap();
        let item = |i: usize| v.get_item(i).unwrap();
        // SAFETY: GIL held; a live object.
        let refs = |o: &Bound<'_, PyAny>| unsafe { pyo3::ffi::Py_REFCNT(o.as_ptr()) };
        let (small, long, mutable) = (item(0), item(2), item(3));
        let before = (refs(&small), refs(&long), refs(&mutable));
        let mut trail = Trail::default();
        let mut first = Vec::new();
        assert!(enc.encode_tracked(&mut t, &mut defs, v.as_ptr(), &mut first, &mut trail));
        let held = |o: &Bound<'_, PyAny>, trail: &Trail| trail.held.contains(&o.as_ptr());
        assert!(held(&small, &trail) && held(&item(1), &trail), "small tuples of leaves are held");
        assert!(!held(&long, &trail), "a tuple of more than {FROZEN_MAX_ITEMS} items is walked");
        assert!(!held(&mutable, &trail), "a tuple holding a list is walked");
        assert_eq!((refs(&small), refs(&long), refs(&mutable)), (before.0 + 1, before.1, before.2));
        // The tuple keeps its str alive: the trail does not hold it too.
        assert!(!trail.held.contains(&small.get_item(1).unwrap().as_ptr()));
        for _ in 0..3 {
            assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
        }
        assert_eq!(trail.checked, fast);
        if fast {
            assert!(enc.run_checks(&trail.checks));
        }
        for change in [c"v[3][1].append(3)\n", c"v[0] = (1, 'a')[:]\nv[0] = (1, 'a' + str(len(v)))\n", c"v[1] = (2.5, None, 0)[:2]\n"] {
            let program = trail.checks.clone();
            let old = encoding(&mut enc, &mut t, &mut defs, &v);
            py.run(change, Some(&ns), None).unwrap();
            if fast && !program.is_empty() {
                assert!(!enc.run_checks(&program), "the program sees {change:?}");
            }
            let r = enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail);
            assert_ne!(r, Compare::Same, "{change:?}");
            let now = encoding(&mut enc, &mut t, &mut defs, &v);
            if r == Compare::Different {
                trail.release();
                let mut out = Vec::new();
                assert!(enc.encode_tracked(&mut t, &mut defs, v.as_ptr(), &mut out, &mut trail));
                assert_eq!(out, now);
            } else {
                assert_ne!(old, now, "{change:?}");
            }
            assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same, "{change:?}");
        }
        trail.release();
        // `v[0]` was replaced: only this test holds the first tuple now, not the trail.
        assert_eq!(refs(&small), before.0 - 1, "released with the trail");
    });
}

#[test]
fn a_frozen_tuple_spends_the_budget_its_encoding_did() {
    Python::attach(|py| {
        for fast in [true, false] {
            let (_, mut t, mut defs) = setup(py, fast);
            let layout = if fast { cpython::choose(py, py.version_info().major, py.version_info().minor).layout() } else { None };
            let bounds = Bounds { max_nodes: 9, ..Bounds::default() };
            let mut enc = Encoder::new(bounds, DictVersions::new(layout), layout, None);
            // 4 nodes for the first tuple, 4 for the second: the list's last item is elided.
            let ns = run(py, c"v = [(1, 2, 3), (4, 5, 6), 7.5]\n");
            let v = ns.get_item("v").unwrap().unwrap();
            let mut trail = Trail::default();
            let mut out = Vec::new();
            assert!(enc.encode_tracked(&mut t, &mut defs, v.as_ptr(), &mut out, &mut trail));
            assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
            // Past the budget, a change shows nothing: still the same encoding.
            py.run(c"v[2] = 8.5\n", Some(&ns), None).unwrap();
            assert_eq!(enc.compare(&mut t, &mut defs, v.as_ptr(), &mut trail), Compare::Same);
            assert_eq!(out, encoding(&mut enc, &mut t, &mut defs, &v));
            trail.release();
        }
    });
}
