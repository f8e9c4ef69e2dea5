//! One-line constructors (`usage!`, `enverr!`, `target!`, `bug!`) and early
//! returns (`ensure_*!`). Each takes an [`ErrorCode`](crate::ErrorCode) and
//! then either nothing (the message is the code's description) or
//! `format!`-style arguments.

/// A [`RecorderError`](crate::RecorderError) of kind `Usage` (exit 2).
///
/// ```
/// use recorder_errors::prelude::*;
/// let err = usage!(ErrorCode::InvalidOption, "--values must be none, args or locals, not {:?}", "all");
/// assert_eq!(err.kind(), ErrorKind::Usage);
/// assert_eq!(err.exit_code(), 2);
/// ```
#[macro_export]
macro_rules! usage {
    ($($args:tt)+) => {
        $crate::__private_new!($crate::ErrorKind::Usage, $($args)+)
    };
}

/// A [`RecorderError`](crate::RecorderError) of kind `Environment` (exit 10).
///
/// ```
/// use recorder_errors::prelude::*;
/// let err = enverr!(ErrorCode::ToolIdInUse, "sys.monitoring tool id {} is used by {}", 3, "coverage");
/// assert_eq!(err.to_string(), "ERR_TOOL_ID_IN_USE: sys.monitoring tool id 3 is used by coverage");
/// ```
#[macro_export]
macro_rules! enverr {
    ($($args:tt)+) => {
        $crate::__private_new!($crate::ErrorKind::Environment, $($args)+)
    };
}

/// A [`RecorderError`](crate::RecorderError) of kind `Target` (exit 20).
///
/// ```
/// use recorder_errors::prelude::*;
/// let err = target!(ErrorCode::NothingTraced);
/// assert_eq!(err.message(), ErrorCode::NothingTraced.description());
/// assert_eq!(err.exit_code(), 20);
/// ```
#[macro_export]
macro_rules! target {
    ($($args:tt)+) => {
        $crate::__private_new!($crate::ErrorKind::Target, $($args)+)
    };
}

/// A [`RecorderError`](crate::RecorderError) of kind `Internal` (exit 70) for
/// a violated invariant; replaces `unwrap`/`expect`/`panic!` (docs/design/error-policy.md §7).
/// Adds a `location` context (`file:line` of the call).
///
/// With the cargo feature `debug-assert-bugs`, debug builds also fire
/// `debug_assert!(false, ..)` so the bug is loud during development. The
/// feature is off by default, so tests of bug paths see the error, not a panic.
///
/// ```
/// use recorder_errors::prelude::*;
/// fn frame_depth(stack: &[u32]) -> RecorderResult<u32> {
///     stack.last().copied().ok_or_else(|| bug!(ErrorCode::Invariant, "empty call stack"))
/// }
/// # #[cfg(not(all(feature = "debug-assert-bugs", debug_assertions)))] {
/// let err = frame_depth(&[]).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Internal);
/// assert_eq!(err.context()[0].0, "location");
/// # }
/// ```
#[macro_export]
macro_rules! bug {
    ($($args:tt)+) => {
        $crate::__private::bug_raised(
            $crate::__private_new!($crate::ErrorKind::Internal, $($args)+)
                .with_context("location", ::core::concat!(::core::file!(), ":", ::core::line!())),
        )
    };
}

/// `if !cond { return Err(usage!(..).into()) }`
///
/// ```
/// use recorder_errors::prelude::*;
/// fn check(version: (u8, u8)) -> RecorderResult<()> {
///     ensure_usage!(version >= (3, 12), ErrorCode::UnsupportedPython, "Python {}.{} is too old", version.0, version.1);
///     Ok(())
/// }
/// assert_eq!(check((3, 11)).unwrap_err().code(), ErrorCode::UnsupportedPython);
/// assert!(check((3, 13)).is_ok());
/// ```
#[macro_export]
macro_rules! ensure_usage {
    ($cond:expr, $($args:tt)+) => {
        if !($cond) {
            return ::core::result::Result::Err(::core::convert::From::from($crate::usage!($($args)+)));
        }
    };
}

/// `if !cond { return Err(enverr!(..).into()) }`
#[macro_export]
macro_rules! ensure_env {
    ($cond:expr, $($args:tt)+) => {
        if !($cond) {
            return ::core::result::Result::Err(::core::convert::From::from($crate::enverr!($($args)+)));
        }
    };
}

/// `if !cond { return Err(target!(..).into()) }`
#[macro_export]
macro_rules! ensure_target {
    ($cond:expr, $($args:tt)+) => {
        if !($cond) {
            return ::core::result::Result::Err(::core::convert::From::from($crate::target!($($args)+)));
        }
    };
}

/// `if !cond { return Err(bug!(..).into()) }`
#[macro_export]
macro_rules! ensure_internal {
    ($cond:expr, $($args:tt)+) => {
        if !($cond) {
            return ::core::result::Result::Err(::core::convert::From::from($crate::bug!($($args)+)));
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __private_new {
    ($kind:expr, $code:expr $(,)?) => {{
        let code: $crate::ErrorCode = $code;
        $crate::RecorderError::new(code, code.description()).with_kind($kind)
    }};
    ($kind:expr, $code:expr, $($fmt:tt)+) => {
        $crate::RecorderError::new($code, $crate::__private::message(::core::format_args!($($fmt)+)))
            .with_kind($kind)
    };
}
