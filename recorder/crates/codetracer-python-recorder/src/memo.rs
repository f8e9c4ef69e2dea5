//! What a recording's start works out once per process. A test run starts
//! a recording per test (docs/test-runs.md, "One trace per test"), each with
//! the same options in the same interpreter: the interpreter's types and
//! opcodes, its layout's self-check and the compiled trace filter are the
//! same at every start, so each is kept, with what it was made from, and
//! made again only when that changes.

use std::sync::{Mutex, PoisonError};

/// The last value made, with the key it was made from.
pub struct Memo<K, V>(Mutex<Option<(K, V)>>);

impl<K: PartialEq, V: Clone> Memo<K, V> {
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// The value for `key`: the kept one when it was made from an equal
    /// key, else `make(&key)`'s, kept when it succeeds. `make` runs without
    /// the lock held: it may run Python code, which may let another thread
    /// start a recording (that one then makes the value too; either is kept).
    pub fn get_or_make<E>(&self, key: K, make: impl FnOnce(&K) -> Result<V, E>) -> Result<V, E> {
        if let Some((k, v)) = &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            if *k == key {
                return Ok(v.clone());
            }
        }
        let v = make(&key)?;
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, v.clone()));
        Ok(v)
    }

    /// [`Memo::get_or_make`] for a `make` that cannot fail.
    pub fn get(&self, key: K, make: impl FnOnce(&K) -> V) -> V {
        match self.get_or_make(key, |k| Ok::<_, std::convert::Infallible>(make(k))) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Memo;

    #[test]
    fn makes_again_only_for_another_key() {
        static M: Memo<u32, String> = Memo::new();
        let mut made = 0;
        let mut get = |k: u32| {
            M.get_or_make(k, |k| {
                made += 1;
                Ok::<_, ()>(format!("v{k}"))
            })
        };
        assert_eq!(get(1), Ok("v1".to_string()));
        assert_eq!(get(1), Ok("v1".to_string()));
        assert_eq!(get(2), Ok("v2".to_string()));
        assert_eq!(made, 2);
        // A failure is not kept.
        assert_eq!(M.get_or_make(3, |_| Err::<String, _>("no")), Err("no"));
        assert_eq!(M.get_or_make(2, |_| Err::<String, _>("not called")), Ok("v2".to_string()));
    }
}
