//! `use recorder_errors::prelude::*;` brings the types, the macros and
//! [`panic_payload_message`] into scope.

pub use crate::code::{ErrorCode, UnknownErrorCode};
pub use crate::error::{RecorderError, RecorderResult};
pub use crate::kind::ErrorKind;
pub use crate::panic::panic_payload_message;
pub use crate::{bug, ensure_env, ensure_internal, ensure_target, ensure_usage, enverr, target, usage};
