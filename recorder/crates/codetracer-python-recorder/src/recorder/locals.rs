//! Reading a frame's locals (in place or through the portable path) and
//! comparing them with the frame's previous step: SET / UNSET records for
//! what changed.

use super::*;

/// What comparing a variable with its previous state found.
pub(super) enum Diff {
    Unchanged,
    /// Same value, fresher bookkeeping (no record written).
    Refresh(Slot),
    /// A SET record was written.
    Changed(Slot),
}


impl Recorder {
    /// The first `n` fast locals of `frame` (running code `idx`): in place,
    /// or looked up into `portable_locals` (only the slots whose bits `want`
    /// sets, the others null: slots from 128 on are always read); None when
    /// they cannot be read. `stepped`: the frame is the stack's top, whose
    /// slots say which locals its previous step found unbound.
    pub(super) fn read_locals(&mut self, idx: u32, frame: usize, n: usize, want: u128, stepped: bool) -> Option<*const *mut ffi::PyObject> {
        if frame == 0 {
            return None;
        }
        match self.cfg.reader {
            FrameReader::InPlace(l) => Some(l.localsplus(frame)),
            FrameReader::Api(f) => {
                let names = &self.infos[idx as usize].names;
                let names = &names[..n.min(names.len())];
                let prev: &[Slot] = match self.stack.last() {
                    Some(top) if stepped => &top.slots,
                    _ => &[],
                };
                let was_unbound = |i: usize| prev.get(i).is_some_and(|s| s.obj.is_null());
                // SAFETY: GIL held; `frame` is the event's, running code `idx`.
                unsafe { f.fast_locals(frame, names, want, was_unbound, &mut self.portable_locals) }.then_some(self.portable_locals.as_ptr())
            }
        }
    }

    /// What a cell variable's slot shows: the cell's contents (read in
    /// place: the portable path's lookups dereference cells themselves).
    #[inline]
    pub(super) fn cell_value(&self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        match self.cfg.reader {
            // SAFETY: GIL held; `obj` is a live object of the frame, checked to be a cell.
            FrameReader::InPlace(l) if unsafe { ffi::Py_TYPE(obj) } == self.types.builtins.cell => unsafe { l.cell_contents(obj) },
            _ => obj,
        }
    }

    pub(super) fn diff_fast_locals(&mut self, code: *mut ffi::PyObject, idx: u32, iframe: usize, line: u32) {
        let Some(peek) = self.stack.last() else { return };
        // The event that brought us here advanced the epoch by one; nothing
        // else ran since the frame's previous step, and that step's line was
        // pure (or it was the frame's entry, whose arguments were compared
        // then): the values it compared are unchanged in place.
        let info = &self.infos[idx as usize];
        let nslots = info.slots.len();
        let nothing_else_ran = self.cfg.ops.is_some() && peek.epoch + 1 == purity::epoch();
        let prev_line = peek.last_line;
        let in_place_unchanged = nothing_else_ran && (prev_line == ENTRY || peek.loop_pure || info.pure.contains(prev_line));
        // Locals the previous line rebound keep no object alive: one at the
        // same address may be another object.
        let rebound = if in_place_unchanged && prev_line != ENTRY { info.pure.stores(prev_line) } else { 0 };
        let n = nslots.min(peek.slots.len());
        // After a pure line with nothing else run, a slot the line did not
        // store into holds the object it held (and that object is unchanged
        // in place): only the stored slots, and those compared at every step
        // (cells, free variables), are visited — and read, on the portable
        // path. After the entry the same holds of every slot: the arguments
        // were compared, the other locals are unbound but for cells and free
        // variables (set by the prologue).
        let sparse = if in_place_unchanged && n <= 128 { rebound | info.always } else { u128::MAX };
        let Some(locals) = self.read_locals(idx, iframe, nslots, sparse, true) else {
            self.metrics.unreadable_frames += 1;
            return;
        };
        let Some(mut top) = self.stack.pop() else { return };
        if in_place_unchanged {
            purity::retract();
        }
        let info = &self.infos[idx as usize];
        top.epoch = purity::epoch();
        top.last_line = line;
        // Whether this step's interval will be pure although its line is not:
        // a `for` header run again from its FOR_ITER (not its iterable).
        // (Not in long code: its INSTRUCTION events may not save the stack pointer.)
        // (Only in place: the portable path cannot see the value stack.)
        top.loop_pure = match (&self.cfg.ops, info.pure.loop_head(line).filter(|_| info.lines.is_none()), self.cfg.reader.layout()) {
            // SAFETY: GIL held; `iframe` is the live interpreter frame running
            // `code`, whose counts these are.
            (Some(ops), Some(head), Some(layout)) => unsafe { ops.loop_reentry_is_pure(layout, iframe, code, head, info.slots.len(), info.stacksize) },
            _ => false,
        };
        if sparse != u128::MAX {
            let mut mask = if n == 128 { sparse } else { sparse & ((1u128 << n) - 1) };
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                self.diff_slot(&mut top, idx, locals, i, in_place_unchanged, rebound);
            }
        } else {
            let only = if nothing_else_ran && !in_place_unchanged && prev_line != ENTRY { self.item_store_target(idx, locals, prev_line) } else { ptr::null_mut() };
            if only.is_null() {
                for i in 0..n {
                    self.diff_slot(&mut top, idx, locals, i, in_place_unchanged, rebound);
                }
            } else {
                // Only the list the line stored into may have changed: the
                // other values' walks pass over the lists they show made of
                // leaves. Not for the slots the line rebound (another object
                // may sit at the address compared), nor once dropping a
                // reference may have run a finaliser.
                let stores = self.infos[idx as usize].pure.stores(prev_line);
                let must = stores | self.infos[idx as usize].always;
                let epoch = purity::epoch();
                for i in 0..n {
                    // A slot the line did not rebind holds the object it
                    // held: one compared by identity is unchanged.
                    if top.slots[i].strong && !purity::has_slot(must, i) {
                        continue;
                    }
                    let vouched = !purity::has_slot(stores, i) && purity::epoch() == epoch;
                    self.enc.only_changed(if vouched { only } else { ptr::null_mut() });
                    self.diff_slot(&mut top, idx, locals, i, in_place_unchanged, rebound);
                }
                self.enc.only_changed(ptr::null_mut());
            }
        }
        self.stack.push(top);
    }

    /// After `line` (nothing else run since), when all it may have changed
    /// in place is the exact list held by one fast local, whose items are
    /// now all leaves (purity.rs, `PureLines::item_stores`): that list.
    /// Null otherwise.
    fn item_store_target(&self, idx: u32, locals: *const *mut ffi::PyObject, line: u32) -> *mut ffi::PyObject {
        const MAX_ITEMS: isize = 64;
        let none = ptr::null_mut();
        let info = &self.infos[idx as usize];
        let mask = info.pure.item_stores(line);
        let Some(layout) = self.cfg.reader.layout() else { return none };
        if mask.count_ones() != 1 {
            return none;
        }
        let k = mask.trailing_zeros() as usize;
        if info.slots.get(k).is_none_or(|s| s.cell) || purity::has_slot(info.pure.stores(line), k) {
            return none;
        }
        let b = &self.types.builtins;
        // SAFETY: GIL held; `k` < the code's localsplus count, the frame is
        // live; a list's items are read in place (its length bounds them).
        unsafe {
            let list = *locals.add(k);
            if list.is_null() || ffi::Py_TYPE(list) != b.list {
                return none;
            }
            let n = layout.seq_len(list);
            if !(0..=MAX_ITEMS).contains(&n) {
                return none;
            }
            for i in 0..n {
                let tp = ffi::Py_TYPE(layout.seq_item(list, true, i));
                if !(tp == b.float || tp == b.int || tp == b.str_ || tp == b.none || tp == b.bool_) {
                    return none;
                }
            }
            list
        }
    }

    /// Compares fast local `i` of `top` (a frame running code `idx`, whose
    /// locals are `locals`) with its previous state: SET / UNSET records.
    #[inline(always)]
    fn diff_slot(&mut self, top: &mut Frame, idx: u32, locals: *const *mut ffi::PyObject, i: usize, in_place_unchanged: bool, rebound: u128) {
        // SAFETY: `i` < the code's localsplus count; the frame is live.
        let mut obj = unsafe { *locals.add(i) };
        let info = &self.infos[idx as usize].slots[i];
        let var = info.var;
        if var == HIDDEN {
            return;
        }
        if info.cell && !obj.is_null() {
            obj = self.cell_value(obj);
        }
        let old = top.slots[i];
        if info.redact && !obj.is_null() {
            if let Some(new) = self.secret_diff(var, obj, old) {
                top.slots[i] = new;
            }
            return;
        }
        if obj == old.obj && (old.strong || (in_place_unchanged && !purity::has_slot(rebound, i))) {
            return;
        }
        // What the frame keeps for its resume no longer shows this slot.
        if let Some(k) = top.kept.as_mut() {
            k.live &= !(1u128 << (i & 127));
        }
        if obj.is_null() {
            if !old.obj.is_null() {
                st::put_unset(self.writer.buf(), var);
                self.drop_slot(old);
                top.slots[i] = EMPTY;
            }
            return;
        }
        match self.diff(var, obj, old) {
            Diff::Unchanged => {}
            Diff::Refresh(new) | Diff::Changed(new) => top.slots[i] = new,
        }
    }

    /// Compares `obj` with a variable's previous state `old`, writing a SET
    /// record when the value changed. `old` is consumed unless Unchanged.
    #[inline]
    pub(super) fn diff(&mut self, var: u32, obj: *mut ffi::PyObject, old: Slot) -> Diff {
        if obj == old.obj && old.strong {
            return Diff::Unchanged;
        }
        if obj == old.obj && old.state != NO_STATE {
            let s = old.state;
            self.refresh(s, obj);
            let gen = self.states[s as usize].gen;
            if gen == old.gen {
                return Diff::Unchanged;
            }
            let buf = self.writer.buf();
            st::put_set_head(buf, var);
            v::put_obj_ref(buf, s);
            return Diff::Changed(Slot { gen, ..old });
        }
        // Another object: a state found by its address proves nothing
        // about it (see `Encoder::only_changed`).
        self.enc.only_changed(ptr::null_mut());
        self.scratch.clear();
        let new = self.encode_slot(obj);
        self.drop_slot(old);
        if obj == old.obj && !new.strong && new.hash == old.hash {
            return Diff::Refresh(new);
        }
        let buf = self.writer.buf();
        st::put_set_head(buf, var);
        buf.extend_from_slice(&self.scratch);
        Diff::Changed(new)
    }

    /// Releases what a slot holds (its reference, its trail).
    pub(super) fn drop_slot(&mut self, s: Slot) {
        if s.strong && !s.obj.is_null() {
            // SAFETY: GIL held; the slot owned this reference.
            unsafe { purity::release(s.obj) };
        }
        if s.state != NO_STATE {
            self.leave_state(s.state);
        }
    }

    /// The namespace of the module or class body frame on top of the stack
    /// (borrowed; null when unreadable).
    pub(super) fn namespace(&mut self, frame: usize) -> *mut ffi::PyObject {
        match self.cfg.reader {
            // SAFETY: `frame` is the event's interpreter frame.
            FrameReader::InPlace(l) => unsafe { l.namespace(frame) },
            FrameReader::Api(f) => {
                let Some(top) = self.stack.last_mut() else { return ptr::null_mut() };
                if top.ns != 0 {
                    return top.ns as *mut ffi::PyObject;
                }
                // SAFETY: GIL held; `frame` is the event's frame object.
                let ns = unsafe { f.namespace(frame) };
                // SAFETY: GIL held; a non-null result is live.
                if !ns.is_null() && unsafe { ffi::PyDict_Check(ns) } != 0 {
                    top.ns = ns as usize;
                }
                ns
            }
        }
    }

    pub(super) fn diff_dict_locals(&mut self, idx: u32, iframe: usize) {
        let ns = self.namespace(iframe);
        if ns.is_null() {
            self.metrics.unreadable_frames += 1;
            return;
        }
        // SAFETY: GIL held; keep the namespace alive while we read it.
        unsafe { crate::cpython::rc::incref(ns) };
        let Some(mut top) = self.stack.pop() else {
            // SAFETY: GIL held; we own this reference.
            unsafe { crate::cpython::rc::decref(ns) };
            return;
        };
        top.generation = top.generation.wrapping_add(1);
        let generation = top.generation;
        // SAFETY: GIL held; PyDict_Next on an exact dict runs no user code.
        unsafe {
            if ffi::PyDict_CheckExact(ns) != 0 {
                let mut pos: ffi::Py_ssize_t = 0;
                let mut key: *mut ffi::PyObject = ptr::null_mut();
                let mut val: *mut ffi::PyObject = ptr::null_mut();
                while ffi::PyDict_Next(ns, &mut pos, &mut key, &mut val) != 0 {
                    // A namespace's own data: not modules, and not the functions and
                    // classes it defines (they would repeat in every snapshot).
                    let vt = ffi::Py_TYPE(val);
                    let b = &self.types.builtins;
                    if ffi::PyUnicode_CheckExact(key) == 0
                        || vt == b.module
                        || vt == b.function
                        || vt == b.cfunction
                        || ffi::PyType_Check(val) != 0
                    {
                        continue;
                    }
                    let Some(var) = self.var_id_of_str(key) else { continue };
                    let action = self.named_action(idx, var);
                    if action == ValueAction::Drop {
                        continue;
                    }
                    let pos_in = top.named.iter().position(|(v, _, _)| *v == var);
                    let old = pos_in.map(|p| top.named[p].1).unwrap_or(EMPTY);
                    if let Some(p) = pos_in {
                        top.named[p].2 = generation;
                    }
                    let new = if action == ValueAction::Redact {
                        match self.secret_diff(var, val, old) {
                            Some(new) => new,
                            None => continue,
                        }
                    } else {
                        match self.diff(var, val, old) {
                            Diff::Unchanged => continue,
                            Diff::Refresh(new) | Diff::Changed(new) => new,
                        }
                    };
                    match pos_in {
                        Some(p) => top.named[p].1 = new,
                        None => top.named.push((var, new, generation)),
                    }
                }
            }
            crate::cpython::rc::decref(ns);
        }
        // Names no longer bound.
        let mut i = 0;
        while i < top.named.len() {
            if top.named[i].2 != generation {
                let (var, old, _) = top.named.swap_remove(i);
                st::put_unset(self.writer.buf(), var);
                self.drop_slot(old);
            } else {
                i += 1;
            }
        }
        self.stack.push(top);
    }

    /// A value under a secret-looking name, appended to `scratch`: its text
    /// leaves read `<redacted>` (`Encoder::encode_secret`). Never trailed:
    /// compared by its encoding at each step.
    pub(super) fn secret_slot(&mut self, obj: *mut ffi::PyObject) -> Slot {
        let start = self.scratch.len();
        self.enc.encode_secret(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
        Slot { obj, strong: false, hash: hash_bytes(&self.scratch[start..]), state: NO_STATE, gen: 0 }
    }

    /// [`Recorder::diff`] for a variable under a secret-looking name (`obj`
    /// bound): the new slot when it shows another value (a SET record
    /// written, `old` released), None when it shows the same.
    pub(super) fn secret_diff(&mut self, var: u32, obj: *mut ffi::PyObject, old: Slot) -> Option<Slot> {
        self.scratch.clear();
        let new = self.secret_slot(obj);
        if obj == old.obj && new.hash == old.hash {
            return None;
        }
        self.drop_slot(old);
        let buf = self.writer.buf();
        st::put_set_head(buf, var);
        buf.extend_from_slice(&self.scratch);
        Some(new)
    }

    /// [`Recorder::encode_slot`] for the commonest values, a float or a small
    /// int (the same bytes the encoder writes, without its dispatch).
    #[inline]
    pub(super) fn encode_scalar(&mut self, obj: *mut ffi::PyObject) -> Option<Slot> {
        if !self.encode_number(obj) {
            return None;
        }
        // SAFETY: GIL held; the slot owns this reference until replaced.
        unsafe { crate::cpython::rc::incref(obj) };
        Some(Slot { obj, strong: true, hash: 0, state: NO_STATE, gen: 0 })
    }

    /// Appends the encoding of an exact float or small int to `scratch`;
    /// false (nothing written) for anything else.
    #[inline]
    pub(super) fn encode_number(&mut self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held; `obj` is live.
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if tp == self.types.builtins.float {
            v::put_float(&mut self.scratch, types::FLOAT, self.enc.float(obj));
        } else if tp == self.types.builtins.int {
            let Some(i) = self.enc.small_int(obj) else { return false };
            v::put_int(&mut self.scratch, types::INT, i);
        } else {
            return false;
        }
        true
    }

    /// Appends the encoding of `obj` to `scratch` and returns what a slot
    /// keeps to compare it at later steps: a reference (values compared by
    /// identity), its state (with trails on), or the encoding's hash.
    pub(super) fn encode_slot(&mut self, obj: *mut ffi::PyObject) -> Slot {
        if let Some(slot) = self.encode_scalar(obj) {
            return slot;
        }
        let start = self.scratch.len();
        match self.enc.identity(&self.types, obj) {
            Identity::Stable => {
                self.enc.encode(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
                // SAFETY: GIL held; the slot owns this reference until replaced.
                unsafe { crate::cpython::rc::incref(obj) };
                Slot { obj, strong: true, hash: 0, state: NO_STATE, gen: 0 }
            }
            Identity::Mutable if self.cfg.trails => self.state_slot(obj),
            Identity::Mutable => {
                self.enc.encode(&mut self.types, self.writer.buf(), obj, &mut self.scratch);
                Slot { obj, strong: false, hash: hash_bytes(&self.scratch[start..]), state: NO_STATE, gen: 0 }
            }
        }
    }

    pub(super) fn take_slots(&mut self, n: usize) -> Vec<Slot> {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.resize(n, EMPTY);
        v
    }

    pub(super) fn release(&mut self, mut frame: Frame) {
        for i in 0..frame.slots.len() {
            self.drop_slot(frame.slots[i]);
        }
        for i in 0..frame.named.len() {
            self.drop_slot(frame.named[i].1);
        }
        frame.slots.clear();
        if frame.slots.capacity() > 0 && self.pool.len() < 1024 {
            self.pool.push(frame.slots);
        }
    }
}
