//! CPython 3.12's private layout (release builds, 64-bit), from its headers:
//! `Include/cpython/pystate.h` (`PyThreadState.cframe` 56 ->
//! `_PyCFrame.current_frame` 0), `Include/internal/pycore_frame.h`
//! (`_PyInterpreterFrame`: `f_code` 0, `f_locals` 40, `frame_obj` 48, `prev_instr` 56,
//! `stacktop` 64, `localsplus` 72), `Include/cpython/dictobject.h`
//! (`ma_used` 16, `ma_version_tag` 24, `ma_keys` 32, `ma_values` 40; every
//! mutation bumps the tag, instance dicts included once materialised),
//! `Include/cpython/longintrepr.h` (`lv_tag` 16, `ob_digit` 24),
//! `Include/cpython/listobject.h` / `tupleobject.h` (`ob_size` 16, items at
//! 24: a pointer for lists, inline for tuples), the managed dict pointer 24
//! bytes before the object (values tagged with bit 0 until materialised),
//! `Include/descrobject.h` (`PyMemberDescrObject.d_member` 40; `PyMemberDef`
//! `type` 8, `offset` 16), `PyCellObject.ob_ref` 16, `PyFloatObject.ob_fval`
//! 16, `enumobject.en_sit` 24, and the low 32 bits of `ob_refcnt` (saturated
//! for immortal objects).

use super::{DictLayout, FrameLayout, Layout};

pub const LAYOUT: Layout = Layout {
    version: "3.12",
    frame: FrameLayout { tstate_frame: 56, via_cframe: true, code: 0, f_locals: 40, frame_obj: 48, instr: 56, stacktop: 64, localsplus: 72 },
    dict: DictLayout { used: 16, version: 24, keys: 32, values: 40, split_values_shared: false },
    long_tag: 16,
    long_digit: 24,
    ob_size: 16,
    seq_items: 24,
    managed_dict_before: 24,
    member_def: 40,
    member_def_type: 8,
    member_def_offset: 16,
    cell_ref: 16,
    float_value: 16,
    enumerate_iter: 24,
    cfunction_ml: 16,
    cfunction_self: 24,
};
