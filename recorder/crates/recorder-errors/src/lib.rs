//! The error façade of codetracer-python-recorder (the error policy,
//! `docs/design/error-policy.md`: §1 façade, §2 kinds and exit codes, §7
//! `bug!`, §12 lint, §13 prelude and cookbook).
//!
//! Every fallible function of the recorder returns [`RecorderResult<T>`]. A
//! [`RecorderError`] carries a stable [`ErrorCode`], an [`ErrorKind`] that
//! decides the process exit code, a message, ordered `key=value` context and
//! an optional cause. `unwrap`, `expect`, `panic!` and `println!` are not used
//! outside this crate (and the logging module); `tools/lint-errors.sh` and
//! clippy enforce that.
//!
//! # Kinds and exit codes
//!
//! | kind | exit code | meaning |
//! | --- | --- | --- |
//! | `usage` | 2 | the caller made a mistake |
//! | `environment` | 10 | IO, permissions, resource exhaustion |
//! | `target` | 20 | the traced program misbehaved |
//! | `internal` | 70 | a recorder bug |
//!
//! # Error codes
//!
//! | code | kind | exit | meaning |
//! | --- | --- | --- | --- |
//! | `ERR_INVALID_OPTION` | usage | 2 | a command-line flag or environment variable has an invalid value |
//! | `ERR_ALREADY_TRACING` | usage | 2 | tracing was started while a tracing session is already active |
//! | `ERR_NOT_TRACING` | usage | 2 | an operation needs an active tracing session and there is none |
//! | `ERR_UNSUPPORTED_PYTHON` | usage | 2 | the Python version is not supported (3.12 or newer is needed) |
//! | `ERR_UNSUPPORTED_IMPLEMENTATION` | usage | 2 | the Python implementation or build is not supported (PyPy, free-threaded, ...) |
//! | `ERR_FORMAT_UNSUPPORTED` | usage | 2 | the requested trace format is not supported |
//! | `ERR_SCRIPT_NOT_FOUND` | usage | 2 | the script or module to trace does not exist |
//! | `ERR_TRACE_PATH_NOT_DIR` | usage | 2 | the trace path given (or a parent of it) exists and is not a directory |
//! | `ERR_TRACE_DIR_NOT_DIR` | environment | 10 | the trace directory path exists but is not a directory |
//! | `ERR_TRACE_DIR_CREATE` | environment | 10 | the trace directory could not be created |
//! | `ERR_PERMISSION_DENIED` | environment | 10 | the OS denied access (EACCES, EPERM, EROFS) |
//! | `ERR_DISK_FULL` | environment | 10 | disk or quota full, or file too large (ENOSPC, EDQUOT, EFBIG) |
//! | `ERR_IO` | environment | 10 | another input/output failure |
//! | `ERR_TOOL_ID_IN_USE` | environment | 10 | the `sys.monitoring` tool id is taken by another tool |
//! | `ERR_LOG_FILE` | environment | 10 | the log file could not be opened or written |
//! | `ERR_TARGET_MONITORING_CHANGED` | target | 20 | the traced program freed or replaced the recorder's monitoring tool |
//! | `ERR_NOTHING_TRACED` | target | 20 | `--require-trace` was given and nothing was recorded |
//! | `ERR_TARGET_EXCEPTION` | target | 20 | the traced program raised an exception that stopped the recording |
//! | `ERR_INTERNAL` | internal | 70 | an unexpected internal error |
//! | `ERR_PANIC` | internal | 70 | a panic was caught at the Python boundary |
//! | `ERR_INVARIANT` | internal | 70 | an internal invariant was violated (`bug!`) |
//! | `ERR_TRACE_STREAM_CORRUPT` | internal | 70 | the in-run event stream could not be read back |
//! | `ERR_SCHEMA_VERSION` | internal | 70 | a trace schema version mismatch inside the recorder |
//!
//! The kind listed is the code's *default*; the macros set the kind
//! explicitly (`usage!` always gives `usage`), and the exit code always
//! follows the error's kind. The user-facing copy of this table, with
//! examples, is `docs/errors.md`; a test keeps both in step with the code.
//!
//! # Stability promise
//!
//! * A code's string and meaning never change within a minor version line
//!   (0.4.x); its default kind and exit code do not either.
//! * New codes may be added in any release. A removed code is never reused
//!   for another meaning.
//! * The exit codes of the kinds (2, 10, 20, 70) never change.
//! * The JSON line has the keys `error_code`, `kind`, `message`, `context`.
//!
//! # Cookbook
//!
//! ## Raise an error
//!
//! Pick the code that says *what* happened and the macro that says *whose
//! fault* it is, then add context a user can act on:
//!
//! ```
//! use recorder_errors::prelude::*;
//! use std::path::Path;
//!
//! fn open_trace_dir(dir: &Path) -> RecorderResult<()> {
//!     ensure_env!(!dir.is_file(), ErrorCode::TraceDirNotDir, "{} is a file, not a directory", dir.display());
//!     std::fs::create_dir_all(dir)
//!         .map_err(|e| RecorderError::from_io(ErrorCode::TraceDirCreate, e, dir))?;
//!     Ok(())
//! }
//!
//! let file = std::env::temp_dir().join(format!("recorder-errors-doc-{}", std::process::id()));
//! std::fs::write(&file, b"").unwrap();
//! let err = open_trace_dir(&file).unwrap_err();
//! assert_eq!(err.code(), ErrorCode::TraceDirNotDir);
//! assert_eq!(err.exit_code(), 10);
//! std::fs::remove_file(&file).unwrap();
//! ```
//!
//! `usage!`, `enverr!`, `target!` and `bug!` take the code and then either
//! nothing (the message is [`ErrorCode::description`]) or `format!`-style
//! arguments. `ensure_usage!`, `ensure_env!`, `ensure_target!` and
//! `ensure_internal!` return early with `Err(..into())`, so they also work in
//! functions whose error type implements `From<RecorderError>` (e.g. `PyErr`
//! in the extension crate).
//!
//! ## Replace an `unwrap`
//!
//! ```
//! use recorder_errors::prelude::*;
//! fn current(stack: &[&'static str]) -> RecorderResult<&'static str> {
//!     stack.last().copied().ok_or_else(|| bug!(ErrorCode::Invariant, "call stack is empty on return"))
//! }
//! # #[cfg(not(all(feature = "debug-assert-bugs", debug_assertions)))]
//! assert_eq!(current(&[]).unwrap_err().exit_code(), 70);
//! ```
//!
//! ## Report it
//!
//! ```
//! use recorder_errors::prelude::*;
//! let err = enverr!(ErrorCode::LogFile, "cannot open log file").with_context("path", "/tmp/x.log");
//! assert_eq!(err.to_string(), "ERR_LOG_FILE: cannot open log file (path=/tmp/x.log)");
//! assert_eq!(
//!     err.to_json_line(),
//!     r#"{"error_code":"ERR_LOG_FILE","kind":"environment","message":"cannot open log file","context":{"path":"/tmp/x.log"}}"#
//! );
//! ```
//!
//! ## Contain a panic (the FFI boundary)
//!
//! ```
//! use recorder_errors::prelude::*;
//! let caught = std::panic::catch_unwind(|| -> u32 { std::panic::panic_any("index out of range") });
//! let err = match caught {
//!     Ok(_) => unreachable!(),
//!     Err(payload) => RecorderError::new(ErrorCode::Panic, panic_payload_message(payload.as_ref())),
//! };
//! assert_eq!(err.message(), "index out of range");
//! ```
//!
//! ## Add a code
//!
//! 1. Add one line to the `error_codes!` table in `src/code.rs`: variant,
//!    `"ERR_..."` string, default kind, one-line description. Append it to
//!    its kind's group; never rename or repurpose an existing line.
//! 2. Add a row to the table above and to `docs/errors.md` (with an example).
//! 3. Add the code to the expectations in `tests/codes.rs`. `cargo test -p
//!    recorder-errors` fails until all three agree.

mod code;
mod error;
mod io;
mod json;
mod kind;
mod macros;
mod panic;
pub mod prelude;

pub use code::{ErrorCode, UnknownErrorCode};
pub use error::{RecorderError, RecorderErrorSource, RecorderResult};
pub use kind::ErrorKind;
pub use panic::panic_payload_message;

#[doc(hidden)]
pub mod __private {
    //! Support for the exported macros; not part of the API.
    use std::borrow::Cow;
    use std::fmt;

    use crate::RecorderError;

    /// A message without allocation when the format string has no arguments.
    pub fn message(args: fmt::Arguments<'_>) -> Cow<'static, str> {
        match args.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(fmt::format(args)),
        }
    }

    /// Called by `bug!`; loud in debug builds with `debug-assert-bugs`.
    #[inline]
    pub fn bug_raised(err: RecorderError) -> RecorderError {
        #[cfg(feature = "debug-assert-bugs")]
        debug_assert!(false, "bug!: {err}");
        err
    }
}
