//! Turning a caught panic's payload into text (for `ERR_PANIC`).

use std::any::Any;

/// The message of a panic payload from `std::panic::catch_unwind`: the
/// `&str` or `String` given to `panic!`, else `"<non-string panic payload>"`.
pub fn panic_payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
