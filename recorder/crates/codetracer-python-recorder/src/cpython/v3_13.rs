//! CPython 3.13's private layout (release builds, 64-bit), from its headers:
//! `Include/cpython/pystate.h` (`PyThreadState.current_frame` 72),
//! `Include/internal/pycore_frame.h` (`_PyInterpreterFrame`: `f_executable`
//! 0, `f_locals` 40, `frame_obj` 48, `instr_ptr` 56, `stacktop` 64, `localsplus` 72),
//! `Include/cpython/dictobject.h` (`ma_used` 16, `ma_version_tag` 24,
//! `ma_keys` 32, `ma_values` 40). A split dict may share an instance's
//! inline values, which attribute stores change without touching the
//! dict's version (measured): only combined dicts' tags vouch, and an
//! instance's split dict is fingerprinted from its `PyDictValues`
//! (`{capacity, size, embedded, valid}` bytes, the value pointers at 8,
//! then `capacity` insertion-order bytes). Ints, lists, tuples, the managed
//! dict (a dict pointer or null, 24 bytes before the object), member
//! descriptors, cells, floats, enumerate and reference counts as on 3.12.

use super::{DictLayout, FrameLayout, Layout};

pub const LAYOUT: Layout = Layout {
    version: "3.13",
    frame: FrameLayout { tstate_frame: 72, via_cframe: false, code: 0, f_locals: 40, frame_obj: 48, instr: 56, stacktop: 64, localsplus: 72 },
    dict: DictLayout { used: 16, version: 24, keys: 32, values: 40, split_values_shared: true },
    ..super::v3_12::LAYOUT
};
