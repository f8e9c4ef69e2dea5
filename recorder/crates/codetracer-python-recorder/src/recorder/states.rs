//! Object states: one per container or instance that variables show
//! (keyed by address, not held), brought up to date once per change and
//! written as OBJ / OBJ_PATCH records that variables refer to.

use super::*;

/// States kept while no variable shows them (the same objects are passed
/// down call after call and bound again by loops); past this many the
/// oldest are forgotten.
pub(super) const IDLE_STATES: usize = 256;

/// What the recorder knows of a container or instance that variables show:
/// the trail that proves its encoding as last compared. Keyed by address and
/// not held: a later object at the same address is only accepted when its
/// walk proves the same encoding. One state serves every frame showing the
/// object, so a change is found (walked) and written once however many
/// frames show it: the state's index is its object id in the stream, whose
/// `OBJ` / `OBJ_PATCH` records carry the encoding and its changes, and a
/// variable showing it is written as a reference (`vtag::OBJ`).
#[derive(Default)]
pub(super) struct ObjState {
    pub(super) obj: usize,
    pub(super) trail: Trail,
    /// Hash of the encoding last written whole (an OBJ record): encoding
    /// anew to the same bytes writes nothing.
    pub(super) hash: u64,
    /// Bumped whenever the encoding changes.
    pub(super) gen: u32,
    /// Slots showing it; an idle state (none) may be forgotten.
    pub(super) users: u32,
    pub(super) idle_stamp: u64,
}

#[inline]
pub(super) fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(b);
    h.write_usize(b.len());
    h.finish() | 1
}

impl Recorder {
    /// Brings state `s` up to date with `obj` (the object at its address):
    /// compared through its trail, its change written as an OBJ_PATCH
    /// record, or encoded anew.
    pub(super) fn refresh(&mut self, s: u32, obj: *mut ffi::PyObject) {
        let st = &mut self.states[s as usize];
        match self.enc.compare(&mut self.types, self.writer.buf(), obj, &mut st.trail) {
            Compare::Same => {}
            Compare::Patched => {
                let (n, edits) = self.enc.patches();
                let buf = self.writer.buf();
                st::put_obj_patch_head(buf, s, n);
                buf.extend_from_slice(edits);
                st.gen = st.gen.wrapping_add(1);
                st.hash = 0;
            }
            Compare::Different => {
                self.encode_state(s, obj);
                self.states[s as usize].trail.expect_unchanged();
            }
        }
    }

    /// Encodes `obj` into state `s` anew and writes it (an OBJ record)
    /// unless it encodes to the bytes last written. A value no trail
    /// vouches for leaves an empty trail: it is encoded anew at every
    /// comparison.
    pub(super) fn encode_state(&mut self, s: u32, obj: *mut ffi::PyObject) {
        let st = &mut self.states[s as usize];
        self.obj_buf.clear();
        if !self.enc.encode_tracked(&mut self.types, self.writer.buf(), obj, &mut self.obj_buf, &mut st.trail) {
            st.trail.release();
        }
        st.obj = obj as usize;
        let hash = hash_bytes(&self.obj_buf);
        if hash == st.hash {
            return;
        }
        st.hash = hash;
        st.gen = st.gen.wrapping_add(1);
        let buf = self.writer.buf();
        st::put_obj_head(buf, s);
        buf.extend_from_slice(&self.obj_buf);
    }

    /// A slot for a container or instance through its state (found by
    /// address and brought up to date, or made); a reference to it goes to
    /// `scratch`.
    pub(super) fn state_slot(&mut self, obj: *mut ffi::PyObject) -> Slot {
        let s = match self.state_of.get(&(obj as usize)) {
            // Builtin containers bound anew (a loop over a list of lists) are
            // usually small and changed since: encoding is cheaper than a walk.
            Some(&s) if self.types.builtins.is_container(obj) => {
                self.encode_state(s, obj);
                s
            }
            Some(&s) => {
                self.refresh(s, obj);
                s
            }
            None => {
                let s = self.free_states.pop().unwrap_or_else(|| {
                    self.states.push(ObjState::default());
                    (self.states.len() - 1) as u32
                });
                self.state_of.insert(obj as usize, s);
                self.encode_state(s, obj);
                s
            }
        };
        let st = &mut self.states[s as usize];
        st.users += 1;
        v::put_obj_ref(&mut self.scratch, s);
        Slot { obj, strong: false, hash: 0, state: s, gen: st.gen }
    }

    /// A slot no longer shows state `s`; an idle state is kept for the
    /// object's next binding until `IDLE_STATES` newer ones went idle.
    pub(super) fn leave_state(&mut self, s: u32) {
        let st = &mut self.states[s as usize];
        st.users -= 1;
        if st.users > 0 {
            return;
        }
        self.idle_clock += 1;
        st.idle_stamp = self.idle_clock;
        self.idle.push_back((s, self.idle_clock));
        while self.idle.len() > IDLE_STATES {
            let Some((old, stamp)) = self.idle.pop_front() else { break };
            let st = &mut self.states[old as usize];
            if st.users == 0 && st.idle_stamp == stamp {
                self.state_of.remove(&st.obj);
                st.trail.release();
                st.obj = 0;
                self.free_states.push(old);
            }
        }
    }
}
