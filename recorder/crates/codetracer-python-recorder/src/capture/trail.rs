//! Trails: what a value's encoding depended on, walked again to prove it
//! unchanged without encoding it (patching leaves that changed), and the
//! check programs a walk writes to vouch for it faster next time.

use super::*;

/// What a dict's version tag says at a walk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Unchanged {
    /// It cannot vouch (or the dict changed): compare entry by entry.
    No,
    /// Same entries (keys and value objects); the values need walking.
    Entries,
    /// Same entries, all leaves: skipped.
    Skipped,
}

/// Where a dict-backed node's (version, end, nodes) entries sit in the trail
/// being built, with the budget and `opened` count at its start.
pub(super) struct VersionMark {
    pub(super) at: usize,
    pub(super) budget: u32,
    pub(super) opened: u64,
}

/// What a value's encoding depended on, in encoding order: scalars by value
/// (floats, small ints), everything else by identity with a reference held
/// (so no address can be reused while the trail lives), containers with
/// their length. Walking the same trail again ([`Encoder::same`]) proves the
/// encoding would come out identical without producing it.
#[derive(Default)]
pub struct Trail {
    pub data: Vec<u64>,
    pub held: Vec<*mut ffi::PyObject>,
    /// A check program (see [`Encoder::run_checks`]) built by the last walk
    /// that found the value unchanged, valid while `checked`.
    pub(super) checks: Vec<u64>,
    pub(super) checked: bool,
    /// How many comparisons in a row found the value unchanged (saturating;
    /// raised by [`Trail::expect_unchanged`]): a program is written only for
    /// a value that stays unchanged (one that changes every other step would
    /// pay for programs it never runs).
    pub(super) stable: u8,
}

impl Trail {
    /// Lets the next walk that finds the value unchanged write its check
    /// program (a value whose shape changed, encoded anew: such values,
    /// instances gaining a field or lists an item, mostly stay so for a
    /// while).
    pub fn expect_unchanged(&mut self) {
        self.stable = self.stable.max(STABLE_BEFORE_CHECKS);
    }

    /// Drops the references the trail holds.
    pub fn release(&mut self) {
        for o in self.held.drain(..) {
            // SAFETY: GIL held (callers); the trail owned these references.
            unsafe { crate::purity::release(o) };
        }
        self.data.clear();
        self.checks.clear();
        self.checked = false;
        self.stable = 0;
    }
}

/// Whether the trail holds the leaf entry (`tag`, `payload`) at `at`.
#[inline(always)]
pub(super) fn same_entry(data: &[u64], at: usize, tag: u64, payload: u64) -> bool {
    match data.get(at..at + 2) {
        Some(&[a, b]) => a == tag && b == payload,
        _ => false,
    }
}

pub(super) const TAG_FLOAT: u64 = 1;
pub(super) const TAG_INT: u64 = 2;
pub(super) const TAG_RAW: u64 = 3;
pub(super) const TAG_OBJ: u64 = 4;
/// A leaf whose address stands for its encoding (held).
pub(super) const TAG_LEAF: u64 = 5;
/// `[TAG_FROZEN, tuple, nodes]`: a small tuple made only of leaves, held,
/// standing for its whole encoding, which used `nodes` of the budget.
pub(super) const TAG_FROZEN: u64 = 6;
/// The longest tuple frozen: a longer one rebuilt with one item changed is
/// cheaper patched (which needs the tuple's items in the trail) than
/// encoded anew.
pub(super) const FROZEN_MAX_ITEMS: isize = 16;

// Check programs: a walk that finds a value unchanged also writes down, in
// walk order, what made each node the same — each node's identity being
// vouched for by its parent's check (a dict whose version is unchanged holds
// the same objects; a list is checked item by item):
/// Comparisons in a row that must find a value unchanged before a walk
/// writes its program.
pub(super) const STABLE_BEFORE_CHECKS: u8 = 1;
/// `[OP_DICT, dict, version]`: an exact dict's version tag.
pub(super) const OP_DICT: u64 = 1;
/// `[OP_INST, obj, type, dict, version]`: a dict-only instance's class, its
/// managed dict and that dict's version (or 3.13 fingerprint).
pub(super) const OP_INST: u64 = 2;
/// `[OP_LIST | OP_TUPLE, seq, len, k, item * k]`: length and the items shown.
pub(super) const OP_LIST: u64 = 3;
pub(super) const OP_TUPLE: u64 = 4;
/// `[OP_FLOAT | OP_INT, obj, value]`: a float's bits, a small int's value
/// (an item's address may be reused by a new number; its value may not differ).
pub(super) const OP_FLOAT: u64 = 5;
pub(super) const OP_INT: u64 = 6;
/// `[OP_TYPE, obj, type]`: the class of a value shown by class name (or cut).
pub(super) const OP_TYPE: u64 = 7;
/// `[OP_SLOTS, obj, type, k, (offset, value) * k]`: a `__slots__`-only
/// instance's class and what each of its slots holds (null when unset; the
/// offset `NO_OFFSET` for a slot not shown).
pub(super) const OP_SLOTS: u64 = 8;
pub(super) const NO_OFFSET: u64 = u64::MAX;

/// What a walk over a trail carries: the type table and where type
/// definitions go (a patch may encode a leaf of a new type), the trail,
/// and the position in it.
pub(super) struct Walk<'a> {
    pub(super) t: &'a mut TypeTable,
    pub(super) defs: &'a mut Vec<u8>,
    pub(super) tr: &'a mut Trail,
    pub(super) it: usize,
}

#[inline]
pub(super) fn take(tr: &[u64], it: &mut usize) -> u64 {
    let v = tr.get(*it).copied().unwrap_or(u64::MAX);
    *it += 1;
    v
}

impl Encoder {
    /// Compares `obj` with the value `trail` was recorded from. Leaves that
    /// changed in place (a float, int, str, ... where one was) are brought
    /// up to date in the trail and their new encodings collected for a PATCH
    /// record ([`Encoder::patches`]), as long as the structure (containers,
    /// lengths, instances, fields) is the same.
    pub fn compare(&mut self, t: &mut TypeTable, defs: &mut Vec<u8>, obj: *mut ffi::PyObject, trail: &mut Trail) -> Compare {
        // Only one list may have changed since the trail was brought up to
        // date (`Encoder::only_changed`): a value that does not show it, whose
        // trail names every container and instance it shows by address, is
        // unchanged (a scan cheaper than the check program).
        if !self.only.is_null() && obj != self.only && !trail.data.is_empty() && !trail.data.contains(&(self.only as u64)) {
            return Compare::Same;
        }
        if trail.checked && self.run_checks(&trail.checks) {
            return Compare::Same;
        }
        trail.checked = false;
        self.active.clear();
        self.budget = self.bounds.max_nodes.max(1);
        self.path.clear();
        self.patches.clear();
        self.npatches = 0;
        self.checks.clear();
        // Only a value found unchanged last time gets a program: writing one
        // costs about as much as the walk, wasted on values that change.
        // (Not after a line that stored items: its walk skips what it cannot vouch for.)
        self.writing_checks = trail.stable >= STABLE_BEFORE_CHECKS && self.layout.is_some() && self.versions.vouch() && self.only.is_null();
        self.checks_ok = self.writing_checks;
        let held = trail.held.len();
        let mut w = Walk { t, defs, tr: &mut *trail, it: 0 };
        let ok = self.walk(&mut w, obj, 0) && w.it == w.tr.data.len();
        self.writing_checks = false;
        trail.stable = if ok && self.npatches == 0 { trail.stable.saturating_add(1) } else { 0 };
        if !ok {
            return Compare::Different;
        }
        // Leaves replaced by reference (and the scalar fields of fingerprinted
        // instances) stay held until the trail is rebuilt; bound that.
        if trail.held.len() > held && trail.held.len() > 4 * (self.bounds.max_nodes as usize + 16) {
            return Compare::Different;
        }
        if self.checks_ok {
            // The trail is the value as it is now, patched or not (each check
            // was written as the walk found its node, before any patch of the
            // trail): the next comparison may run the program instead of
            // walking.
            std::mem::swap(&mut trail.checks, &mut self.checks);
            trail.checked = true;
        }
        if self.npatches == 0 {
            return Compare::Same;
        }
        Compare::Patched
    }

    /// Runs a check program: true when every node it names is as the walk
    /// that wrote it found it, so the value's encoding is unchanged (the
    /// program names every node the encoding shows, each only after the
    /// node that holds it, whose check proves it the same object). False
    /// sends the caller to the full walk, which is never wrong.
    #[inline(never)]
    pub(super) fn run_checks(&self, prog: &[u64]) -> bool {
        // Programs are written on a known layout only.
        let Some(l) = self.layout else { return false };
        let mut i = 0;
        // SAFETY: GIL held; every object named was proven alive by the checks
        // before it (it is held by a container or instance checked unchanged,
        // or it is the value the caller holds); offsets as in `walk`.
        unsafe {
            while let Some(&op) = prog.get(i) {
                let Some(&[a, b]) = prog.get(i + 1..i + 3) else { return false };
                let obj = a as *mut ffi::PyObject;
                match op {
                    OP_DICT => {
                        if self.versions.of(obj) != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_INST => {
                        let Some(&[dict, version]) = prog.get(i + 3..i + 5) else { return false };
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        let d = l.managed_dict(obj);
                        if d as u64 != dict || d.is_null() || self.versions.of_instance(d) != version {
                            return false;
                        }
                        i += 5;
                    }
                    OP_LIST | OP_TUPLE => {
                        let is_list = op == OP_LIST;
                        let Some(&k) = prog.get(i + 3) else { return false };
                        let k = k as usize;
                        let Some(items) = prog.get(i + 4..i + 4 + k) else { return false };
                        if l.seq_len(obj) as u64 != b || k as u64 > b {
                            return false;
                        }
                        for (j, item) in items.iter().enumerate() {
                            if l.seq_item(obj, is_list, j as isize) as u64 != *item {
                                return false;
                            }
                        }
                        i += 4 + k;
                    }
                    OP_FLOAT => {
                        if l.float_value(obj).to_bits() != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_INT => {
                        if l.small_int(obj) != Some(b as i64) {
                            return false;
                        }
                        i += 3;
                    }
                    OP_TYPE => {
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        i += 3;
                    }
                    OP_SLOTS => {
                        let Some(&k) = prog.get(i + 3) else { return false };
                        let k = k as usize;
                        let Some(pairs) = prog.get(i + 4..i + 4 + 2 * k) else { return false };
                        // Same class: the offsets are this instance's slots.
                        if ffi::Py_TYPE(obj) as u64 != b {
                            return false;
                        }
                        for p in pairs.chunks_exact(2) {
                            if p[0] != NO_OFFSET && crate::cpython::slot_word(obj, p[0] as usize) != p[1] {
                                return false;
                            }
                        }
                        i += 4 + 2 * k;
                    }
                    _ => return false,
                }
            }
        }
        true
    }

    /// Writes down the items of a list or tuple about to be walked (their
    /// addresses, after the `OP_LIST`/`OP_TUPLE` head), then the values of
    /// those that are numbers (the walk's tight loop over numbers writes
    /// nothing).
    #[inline(never)]
    pub(super) fn check_items(&mut self, b: &Builtins, obj: *mut ffi::PyObject, is_list: bool, shown: isize) {
        let start = self.checks.len();
        for i in 0..shown {
            let item = self.seq_item(obj, is_list, i);
            self.checks.push(item as u64);
        }
        for k in start..self.checks.len() {
            let item = self.checks[k] as *mut ffi::PyObject;
            if item.is_null() {
                continue;
            }
            // SAFETY: GIL held; the list holds the item.
            let ty = unsafe { ffi::Py_TYPE(item) };
            if ty == b.float {
                self.checks.extend_from_slice(&[OP_FLOAT, item as u64, self.float(item).to_bits()]);
            } else if ty == b.int {
                if let Some(v) = self.small_int(item) {
                    self.checks.extend_from_slice(&[OP_INT, item as u64, v as u64]);
                }
            }
        }
    }

    /// Writes down a check of the walk in progress.
    #[inline(always)]
    pub(super) fn check(&mut self, words: &[u64]) {
        if self.writing_checks {
            self.checks.extend_from_slice(words);
        }
    }

    /// The PATCH payload collected by the last [`Encoder::compare`]: the
    /// number of edits and their bytes.
    pub fn patches(&self) -> (u32, &[u8]) {
        (self.npatches, &self.patches)
    }

    /// At a leaf of the trail: whether it holds (tag, payload), replacing it
    /// (and writing a patch) when the entry is a leaf too.
    #[inline(always)]
    pub(super) fn leaf(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, depth: u32, tag: u64, payload: u64) -> bool {
        let at = w.it;
        w.it += 2;
        if same_entry(&w.tr.data, at, tag, payload) {
            return true;
        }
        self.patch_leaf(w, obj, at, depth, tag, payload)
    }

    #[cold]
    pub(super) fn patch_leaf(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, at: usize, depth: u32, tag: u64, payload: u64) -> bool {
        let t0 = w.tr.data.get(at).copied().unwrap_or(0);
        // By-name values never replace or become leaves (see `track`).
        let patchable = |tag: u64| tag == TAG_FLOAT || tag == TAG_INT || tag == TAG_LEAF;
        if !patchable(t0) || !patchable(tag) || at + 2 > w.tr.data.len() {
            return false;
        }
        w.tr.data[at] = tag;
        w.tr.data[at + 1] = payload;
        if tag == TAG_LEAF {
            // SAFETY: GIL held; the trail keeps the new leaf (held by address) alive until released.
            unsafe { crate::cpython::rc::incref(obj) };
            w.tr.held.push(obj);
        }
        let mut out = std::mem::take(&mut self.patches);
        put_varint(&mut out, self.path.len() as u64);
        for i in &self.path {
            put_varint(&mut out, u64::from(*i));
        }
        // A leaf is one node, as it was: encode it with exactly that budget.
        let budget = self.budget;
        self.budget = 1;
        self.value(w.t, w.defs, obj, &mut out, depth);
        self.budget = budget;
        self.patches = out;
        self.npatches += 1;
        true
    }

    /// Mirror of `value` over a trail (same budget, depth, item and cycle rules).
    pub(super) fn walk(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, depth: u32) -> bool {
        if self.budget == 0 {
            return true;
        }
        self.budget -= 1;
        let b = w.t.builtins;
        // SAFETY: GIL held; exact builtin types walked with the C API, no user code.
        unsafe {
            let tp = ffi::Py_TYPE(obj);
            if tp == b.float {
                let bits = self.float(obj).to_bits();
                self.check(&[OP_FLOAT, obj as u64, bits]);
                return self.leaf(w, obj, depth, TAG_FLOAT, bits);
            }
            if tp == b.int {
                return match self.small_int(obj) {
                    Some(i) => {
                        self.check(&[OP_INT, obj as u64, i as u64]);
                        self.leaf(w, obj, depth, TAG_INT, i as u64)
                    }
                    None => self.leaf(w, obj, depth, TAG_LEAF, obj as u64),
                };
            }
            let is_seq = tp == b.list || tp == b.tuple;
            if !(is_seq || tp == b.dict || tp == b.set || tp == b.frozenset) {
                if tp == b.none || tp == b.bool_ || tp == b.str_ || tp == b.bytes || tp == b.function || tp == b.cfunction
                    || tp == b.module || ffi::PyType_Check(obj) != 0
                {
                    return self.leaf(w, obj, depth, TAG_LEAF, obj as u64);
                }
                let Some(info) = w.t.classes.get(&(tp as usize)) else { return false };
                if let Some(std) = info.std {
                    // An immutable standard value is its own encoding (held);
                    // any other is encoded anew (see `value`).
                    return w.t.std.is_leaf(obj, &std) && self.leaf(w, obj, depth, TAG_LEAF, obj as u64);
                }
                if info.scalar_type.is_some() || info.exception {
                    return false;
                }
                if info.generic_getattr && (info.has_dict || !info.slots.is_empty()) {
                    let (has_dict, managed, slots) = (info.has_dict, info.managed_dict, Rc::clone(&info.slots));
                    if slots.is_empty() && has_dict {
                        if let Some(ok) = self.walk_unchanged_instance(w, obj, managed, depth) {
                            return ok;
                        }
                    }
                    return self.walk_object(w, obj, has_dict, managed, &slots, depth);
                }
                self.check(&[OP_TYPE, obj as u64, tp as u64]);
                return self.leaf(w, obj, depth, TAG_RAW, tp as u64);
            }
            if tp == b.tuple && w.tr.data.get(w.it) == Some(&TAG_FROZEN) {
                return self.walk_frozen(w, obj);
            }
            if take(&w.tr.data, &mut w.it) != obj as u64 {
                return false;
            }
            if self.active.contains(&obj) || depth >= self.bounds.max_depth {
                return true;
            }
            let n = if is_seq {
                self.seq_len(obj, tp == b.list)
            } else if tp == b.dict {
                ffi::PyDict_Size(obj)
            } else {
                ffi::PySet_Size(obj)
            }
            .max(0) as u64;
            if take(&w.tr.data, &mut w.it) != n {
                return false;
            }
            if is_seq && !self.only.is_null() && obj != self.only && self.skip_leaves(w, n) {
                return true;
            }
            let version_at = w.it;
            let unchanged = if tp == b.dict { self.skip_unchanged(obj, &w.tr.data, &mut w.it) } else { Unchanged::No };
            let shown = n.min(u64::from(self.bounds.max_items)) as isize;
            if tp == b.dict {
                // Unchanged or not, the walk ends with the trail holding this version.
                let version = self.versions.of(obj);
                self.checks_ok &= version != 0;
                self.check(&[OP_DICT, obj as u64, version]);
            } else if is_seq {
                self.check(&[if tp == b.list { OP_LIST } else { OP_TUPLE }, obj as u64, n, shown as u64]);
                if self.writing_checks {
                    self.check_items(&b, obj, tp == b.list, shown);
                }
            } else {
                self.checks_ok = false;
            }
            if unchanged == Unchanged::Skipped {
                return true;
            }
            self.active.push(obj);
            let mut ok = true;
            if unchanged == Unchanged::Entries {
                for k in 0..shown {
                    self.path.push(k as u32);
                    self.path.push(0);
                    let key_at = w.it;
                    ok = self.budget == 0 || self.walk_unchanged_child(w, obj, std::ptr::null_mut(), depth + 1);
                    if ok && self.budget > 0 {
                        *self.path.last_mut().unwrap_or(&mut 0) = 1;
                        let key = match w.tr.data.get(key_at..key_at + 2) {
                            Some(&[TAG_LEAF, p]) => p as *mut ffi::PyObject,
                            _ => std::ptr::null_mut(),
                        };
                        ok = self.walk_unchanged_child(w, obj, key, depth + 1);
                    }
                    self.path.truncate(self.path.len() - 2);
                    if !ok || self.budget == 0 {
                        break;
                    }
                }
            } else if is_seq {
                let is_list = tp == b.list;
                // The commonest elements, unchanged floats and small ints, are
                // checked in a tight loop (budget and position in registers).
                let (mut budget, mut pos) = (self.budget, w.it);
                for i in 0..shown {
                    let item = self.seq_item(obj, is_list, i);
                    if item.is_null() {
                        ok = false;
                        break;
                    }
                    if budget > 0 && self.number_entry(&b, item).is_some_and(|(tag, v)| same_entry(&w.tr.data, pos, tag, v)) {
                        budget -= 1;
                        pos += 2;
                        continue;
                    }
                    (self.budget, w.it) = (budget, pos);
                    if !self.only.is_null() && self.skip_item_leaves(&b, w, item, depth + 1) {
                        (budget, pos) = (self.budget, w.it);
                        continue;
                    }
                    self.path.push(i as u32);
                    ok = self.walk(w, item, depth + 1);
                    self.path.pop();
                    (budget, pos) = (self.budget, w.it);
                    if !ok {
                        break;
                    }
                }
                (self.budget, w.it) = (budget, pos);
            } else if tp == b.dict {
                let mut pos: ffi::Py_ssize_t = 0;
                let mut key: *mut ffi::PyObject = std::ptr::null_mut();
                let mut val: *mut ffi::PyObject = std::ptr::null_mut();
                // Entries whose key is a str and value a float or small int,
                // both as they were (a counter dict updated in place), are
                // checked in line: what `walk` does for such leaves.
                let fast = !self.writing_checks;
                for k in 0..shown {
                    if ffi::PyDict_Next(obj, &mut pos, &mut key, &mut val) == 0 {
                        ok = false;
                        break;
                    }
                    if fast && self.budget >= 2 && ffi::Py_TYPE(key) == b.str_ && same_entry(&w.tr.data, w.it, TAG_LEAF, key as u64)
                        && self.number_entry(&b, val).is_some_and(|(tag, v)| same_entry(&w.tr.data, w.it + 2, tag, v))
                    {
                        w.it += 4;
                        self.budget -= 2;
                        continue;
                    }
                    self.path.push(k as u32);
                    self.path.push(0);
                    ok = self.walk(w, key, depth + 1);
                    if ok {
                        *self.path.last_mut().unwrap_or(&mut 0) = 1;
                        ok = self.walk(w, val, depth + 1);
                    }
                    self.path.truncate(self.path.len() - 2);
                    if !ok {
                        break;
                    }
                }
                if ok {
                    // Up to date again: a later walk may skip it.
                    w.tr.data[version_at] = self.versions.of(obj);
                }
            } else {
                let iter = ffi::PyObject_GetIter(obj);
                if iter.is_null() {
                    ffi::PyErr_Clear();
                    ok = false;
                } else {
                    for k in 0..shown {
                        let item = ffi::PyIter_Next(iter);
                        if item.is_null() {
                            ok = false;
                            break;
                        }
                        self.path.push(k as u32);
                        ok = self.walk(w, item, depth + 1);
                        self.path.pop();
                        crate::cpython::rc::decref(item);
                        if !ok {
                            break;
                        }
                    }
                    crate::cpython::rc::decref(iter);
                }
            }
            self.active.pop();
            ok
        }
    }

    /// While only one list may have changed ([`Encoder::only_changed`]), at
    /// the items of another list or tuple (its address and length as the
    /// trail recorded): when they were all leaves, it holds the same leaves
    /// still, so their entries are passed over unread (spending the nodes
    /// their walk would). False (nothing consumed) for anything else, or
    /// when the budget ran out among them: the caller walks it.
    fn skip_leaves(&mut self, w: &mut Walk<'_>, n: u64) -> bool {
        let shown = n.min(u64::from(self.bounds.max_items));
        let (mut pos, mut budget) = (w.it, self.budget);
        for _ in 0..shown {
            if budget == 0 {
                return false;
            }
            match w.tr.data.get(pos) {
                Some(&(TAG_FLOAT | TAG_INT | TAG_LEAF)) => {
                    pos += 2;
                    budget -= 1;
                }
                Some(&TAG_FROZEN) => {
                    let Some(&nodes) = w.tr.data.get(pos + 2) else { return false };
                    pos += 3;
                    budget = budget.saturating_sub((nodes as u32).max(1));
                }
                _ => return false,
            }
        }
        if pos > w.tr.data.len() {
            return false;
        }
        (w.it, self.budget) = (pos, budget);
        true
    }

    /// `walk` of a list or tuple item at `depth` that `skip_leaves` passes
    /// over, without the call: false (nothing consumed) when it does not.
    #[inline]
    fn skip_item_leaves(&mut self, b: &Builtins, w: &mut Walk<'_>, item: *mut ffi::PyObject, depth: u32) -> bool {
        // SAFETY: GIL held; `item` is a live item of the sequence walked.
        let tp = unsafe { ffi::Py_TYPE(item) };
        let (at, budget) = (w.it, self.budget);
        if item == self.only || budget == 0 || !(tp == b.list || tp == b.tuple) || w.tr.data.get(at) != Some(&(item as u64))
            || depth >= self.bounds.max_depth || self.active.contains(&item)
        {
            return false;
        }
        let n = self.seq_len(item, tp == b.list).max(0) as u64;
        if w.tr.data.get(at + 1) != Some(&n) {
            return false;
        }
        (self.budget, w.it) = (budget - 1, at + 2);
        if self.skip_leaves(w, n) {
            return true;
        }
        (self.budget, w.it) = (budget, at);
        false
    }

    /// A walk at a frozen tuple's entry (see `Encoder::tuple`): the same
    /// held tuple or not; its nodes spent either way as its encoding did
    /// (`walk` has taken the first). Its parent's check vouches for it.
    pub(super) fn walk_frozen(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject) -> bool {
        let Some(&[_, held, nodes]) = w.tr.data.get(w.it..w.it + 3) else { return false };
        w.it += 3;
        self.budget = self.budget.saturating_sub((nodes as u32).saturating_sub(1));
        held == obj as u64
    }

    /// A walk at a dict-only instance whose dict still has the version the
    /// trail recorded: its fields are the same objects, so a flat one is
    /// skipped whole, and otherwise only its containers and instances are
    /// walked (found through the trail; the dict keeps them alive). None
    /// when the version cannot vouch: the caller walks field by field.
    ///
    /// # Safety
    /// GIL held; the class uses the default attribute lookup.
    pub(super) unsafe fn walk_unchanged_instance(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, managed: bool, depth: u32) -> Option<bool> {
        if !self.versions.vouch() {
            return None;
        }
        let at = w.it;
        // [TAG_OBJ, obj, type, n, names..., version, end, nodes, fields...]
        // SAFETY: see the function's contract (`obj` is live).
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if w.tr.data.get(at..at + 3) != Some(&[TAG_OBJ, obj as u64, tp as u64][..]) {
            return None;
        }
        let n = usize::try_from(*w.tr.data.get(at + 3)?).ok()?;
        let vat = at.checked_add(4 + n)?;
        let (version, end, nodes) = (*w.tr.data.get(vat)?, *w.tr.data.get(vat + 1)?, *w.tr.data.get(vat + 2)?);
        if version == 0 || self.active.contains(&obj) || depth >= self.bounds.max_depth {
            return None;
        }
        // SAFETY: see the function's contract.
        let dict = unsafe { self.instance_dict(obj, managed) };
        // SAFETY: a non-null dict pointer is the instance's live dict.
        if dict.is_null() || unsafe { ffi::Py_TYPE(dict) } != std::ptr::addr_of_mut!(ffi::PyDict_Type)
            // SAFETY: an exact dict, live (the instance holds it).
            || version == 0 || version != unsafe { self.versions.of_instance(dict) }
        {
            return None;
        }
        if managed {
            self.check(&[OP_INST, obj as u64, w.tr.data[at + 2], dict as u64, version]);
        } else {
            self.checks_ok = false;
        }
        if end != 0 && end as usize <= w.tr.data.len() {
            w.it = end as usize;
            self.budget = self.budget.saturating_sub(nodes as u32);
            return Some(true);
        }
        w.it = vat + 3;
        self.active.push(obj);
        let mut ok = true;
        for k in 0..n {
            if self.budget == 0 {
                break;
            }
            self.path.push(k as u32);
            let name = w.tr.data[at + 4 + k] as *mut ffi::PyObject;
            ok = self.walk_unchanged_child(w, dict, name, depth + 1);
            self.path.pop();
            if !ok {
                break;
            }
        }
        self.active.pop();
        Some(ok)
    }

    /// One value of a dict whose version is unchanged, at its trail entry:
    /// a leaf is the same object (counted, not read); a container or an
    /// instance is the object the trail names, walked; a value shown by
    /// class name is looked up under `key` (borrowed) and walked.
    pub(super) fn walk_unchanged_child(&mut self, w: &mut Walk<'_>, dict: *mut ffi::PyObject, key: *mut ffi::PyObject, depth: u32) -> bool {
        let Some(&e) = w.tr.data.get(w.it) else { return false };
        let child = match e {
            TAG_FLOAT | TAG_INT | TAG_LEAF => {
                self.budget -= 1;
                w.it += 2;
                return true;
            }
            TAG_FROZEN => {
                // The same held tuple: the dict or instance holds the same objects.
                let Some(&nodes) = w.tr.data.get(w.it + 2) else { return false };
                self.budget = self.budget.saturating_sub(nodes as u32);
                w.it += 3;
                return true;
            }
            TAG_RAW => {
                if key.is_null() {
                    return false;
                }
                // SAFETY: GIL held; exact dict, str or held key: the lookup runs no user code.
                let v = unsafe { ffi::PyDict_GetItemWithError(dict, key) };
                if v.is_null() {
                    // SAFETY: GIL held.
                    unsafe { ffi::PyErr_Clear() };
                    return false;
                }
                v
            }
            TAG_OBJ => match w.tr.data.get(w.it + 1) {
                Some(&p) => p as *mut ffi::PyObject,
                None => return false,
            },
            p => p as *mut ffi::PyObject,
        };
        self.walk(w, child, depth)
    }

    /// `walk_object` for a dict-only instance whose exact dict is at hand
    /// (borrowed): one pass over the dict compares each field's name with the
    /// trail and walks its value, with no references taken (no code runs).
    /// The trail holds `[n, names..., version, end, nodes, values...]`.
    ///
    /// # Safety
    /// GIL held; `dict` is `obj`'s live exact dict.
    pub(super) unsafe fn walk_fields(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, dict: *mut ffi::PyObject, depth: u32) -> bool {
        let n = take(&w.tr.data, &mut w.it);
        let Some(names_at) = usize::try_from(n).ok().map(|_| w.it) else { return false };
        let n = n as usize;
        if names_at + n + 3 > w.tr.data.len() {
            return false;
        }
        let version_at = names_at + n;
        w.it = version_at + 3;
        let max = self.bounds.max_items as usize;
        let str_type = std::ptr::addr_of_mut!(ffi::PyUnicode_Type);
        self.active.push(obj);
        let mut ok = true;
        let mut k = 0usize;
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut val: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: see the function's contract.
        let fingerprint = unsafe { self.versions.of_instance(dict) };
        let hold = self.versions.fingerprints(fingerprint);
        let (float_type, int_type) = (std::ptr::addr_of_mut!(ffi::PyFloat_Type), std::ptr::addr_of_mut!(ffi::PyLong_Type));
        // SAFETY: see the function's contract; PyDict_Next runs no user code.
        unsafe {
            while k < max && ffi::PyDict_Next(dict, &mut pos, &mut key, &mut val) != 0 {
                if ffi::Py_TYPE(key) != str_type && ffi::PyUnicode_Check(key) == 0 {
                    continue;
                }
                if k >= n || w.tr.data[names_at + k] != key as u64 {
                    ok = false;
                    break;
                }
                self.path.push(k as u32);
                ok = self.walk(w, val, depth + 1);
                self.path.pop();
                if !ok {
                    break;
                }
                if hold && (ffi::Py_TYPE(val) == float_type || ffi::Py_TYPE(val) == int_type) && w.tr.data[version_at] != fingerprint {
                    // The fingerprint about to be recorded covers this address.
                    crate::cpython::rc::incref(val);
                    w.tr.held.push(val);
                }
                k += 1;
            }
        }
        self.active.pop();
        if !ok || k != n {
            return false;
        }
        // Up to date again: a later walk may skip it.
        w.tr.data[version_at] = fingerprint;
        true
    }

    /// Mirror of `object` over a trail: same fields in the same order.
    ///
    /// # Safety
    /// GIL held; `obj` is a live instance of `tp`, a class using the default attribute lookup, whose fields are `has_dict`/`slots`.
    pub(super) unsafe fn walk_object(&mut self, w: &mut Walk<'_>, obj: *mut ffi::PyObject, has_dict: bool, managed: bool, slots: &[SlotField],
                                     depth: u32) -> bool {
        // SAFETY: see the function's contract (`obj` is live).
        let tp = unsafe { ffi::Py_TYPE(obj) };
        if take(&w.tr.data, &mut w.it) != TAG_OBJ || take(&w.tr.data, &mut w.it) != obj as u64 || take(&w.tr.data, &mut w.it) != tp as u64 {
            return false;
        }
        if self.active.contains(&obj) || depth >= self.bounds.max_depth {
            self.check(&[OP_TYPE, obj as u64, tp as u64]);
            return true;
        }
        // SAFETY: GIL held; default attribute lookup: no user code runs.
        unsafe {
            if slots.is_empty() && has_dict {
                let dict = self.instance_dict(obj, managed);
                if !dict.is_null() && ffi::Py_TYPE(dict) == std::ptr::addr_of_mut!(ffi::PyDict_Type) {
                    // The walk ends with the trail holding this version.
                    let version = self.versions.of_instance(dict);
                    self.checks_ok &= managed && version != 0;
                    self.check(&[OP_INST, obj as u64, tp as u64, dict as u64, version]);
                    return self.walk_fields(w, obj, dict, depth);
                }
            }
            if has_dict || slots.is_empty() {
                self.checks_ok = false;
            } else if self.writing_checks {
                self.checks.extend_from_slice(&[OP_SLOTS, obj as u64, tp as u64, slots.len() as u64]);
                for field in slots {
                    let off = field.member.and_then(|m| m.offset());
                    let held = off.map_or(0, |off| crate::cpython::slot_word(obj, off));
                    self.checks.extend_from_slice(&[off.map_or(NO_OFFSET, |off| off as u64), held]);
                }
            }
            let (base, dict) = self.gather_fields(obj, has_dict, slots);
            let n = self.names.len() - base;
            let mut ok = take(&w.tr.data, &mut w.it) == n as u64 && (0..n).all(|k| take(&w.tr.data, &mut w.it) == self.names[base + k] as u64);
            if ok {
                // The version entries: this path compares the fields themselves.
                let version_at = w.it;
                w.it += 3;
                self.active.push(obj);
                for k in 0..n {
                    let val = self.vals[base + k];
                    self.path.push(k as u32);
                    ok = self.walk(w, val, depth + 1);
                    self.path.pop();
                    if !ok {
                        break;
                    }
                }
                self.active.pop();
                if ok && slots.is_empty() && !dict.is_null() && ffi::Py_TYPE(dict) == std::ptr::addr_of_mut!(ffi::PyDict_Type)
                    && version_at < w.tr.data.len()
                {
                    // Up to date again: a later walk may skip it.
                    w.tr.data[version_at] = self.versions.of(dict);
                }
            }
            self.release_fields(base, dict);
            ok
        }
    }

    /// While recording, reserves a dict-backed node's (version, end, nodes)
    /// trail entries; `dict` may be null (no version: always walked).
    pub(super) fn version_mark(&mut self, dict: *mut ffi::PyObject, instance: bool) -> Option<VersionMark> {
        if !self.recording {
            return None;
        }
        // SAFETY: GIL held; a non-null `dict` is live.
        let exact = !dict.is_null() && unsafe { ffi::Py_TYPE(dict) } == std::ptr::addr_of_mut!(ffi::PyDict_Type);
        let version = match (exact, instance) {
            (false, _) => 0,
            // SAFETY: checked an exact dict, live.
            (true, false) => unsafe { self.versions.of(dict) },
            // SAFETY: checked an exact dict, live.
            (true, true) => unsafe { self.versions.of_instance(dict) },
        };
        let at = self.trail.data.len();
        self.trail.data.extend_from_slice(&[version, 0, 0]);
        Some(VersionMark { at, budget: self.budget, opened: self.opened })
    }

    /// Completes a mark: a flat subtree (no container, instance or by-name
    /// value below it) records where it ends and the nodes it used, so a walk
    /// that finds the same version skips it.
    pub(super) fn version_end(&mut self, mark: Option<VersionMark>) {
        let Some(m) = mark else { return };
        if self.recording && self.opened == m.opened && self.trail.data[m.at] != 0 {
            self.trail.data[m.at + 1] = self.trail.data.len() as u64;
            self.trail.data[m.at + 2] = u64::from(m.budget - self.budget);
        }
    }

    /// For a walk at an exact dict's (version, end, nodes) entries: whether
    /// `dict` still has the recorded version, skipping its subtree when flat.
    pub(super) fn skip_unchanged(&mut self, dict: *mut ffi::PyObject, tr: &[u64], it: &mut usize) -> Unchanged {
        let (version, end, nodes) = (take(tr, it), take(tr, it), take(tr, it));
        // SAFETY: `dict` is a live exact dict (callers).
        if version == 0 || version != unsafe { self.versions.of(dict) } {
            return Unchanged::No;
        }
        if end == 0 || end as usize > tr.len() {
            return Unchanged::Entries;
        }
        *it = end as usize;
        self.budget = self.budget.saturating_sub(nodes as u32);
        Unchanged::Skipped
    }
}
