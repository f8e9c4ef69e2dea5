//! Test-only fault injection (cargo feature `fault-injection`, never in
//! release wheels): `CODETRACER_TEST_FAULT=panic-after:N` panics inside the
//! N-th monitoring callback, so tests can prove the FFI boundary contains it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

static COUNTDOWN: OnceLock<AtomicI64> = OnceLock::new();

#[cfg(feature = "fault-injection")]
#[allow(clippy::panic)]
pub fn maybe_panic() {
    let c = COUNTDOWN.get_or_init(|| {
        let n = crate::env::get(&crate::env::TEST_FAULT)
            .and_then(|v| v.strip_prefix("panic-after:").and_then(|n| n.parse::<i64>().ok()))
            .unwrap_or(-1);
        AtomicI64::new(n)
    });
    if c.load(Ordering::Relaxed) < 0 {
        return;
    }
    if c.fetch_sub(1, Ordering::Relaxed) == 0 {
        panic!("injected fault (CODETRACER_TEST_FAULT)");
    }
}
