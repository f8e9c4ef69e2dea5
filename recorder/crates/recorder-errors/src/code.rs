//! The stable, grep-able error codes (docs/design/error-policy.md §1).
//!
//! The table below is the single place where a code's string, default kind
//! and one-line description are decided; everything else (`as_str`,
//! `FromStr`, `kind`, `ALL`, `description`) is generated from it.

use std::fmt;
use std::str::FromStr;

use crate::kind::ErrorKind;

macro_rules! error_codes {
    ($( $variant:ident = $string:literal, $kind:ident, $description:literal; )+) => {
        /// A stable error code. See the crate documentation for the table and
        /// the stability promise.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $string, "` (", stringify!($kind), "): ", $description)]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The stable string form, e.g. `"ERR_TRACE_DIR_NOT_DIR"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $string,)+
                }
            }

            /// The kind an error with this code has unless a macro or
            /// [`RecorderError::with_kind`](crate::RecorderError::with_kind) says otherwise.
            pub const fn kind(self) -> ErrorKind {
                match self {
                    $(ErrorCode::$variant => ErrorKind::$kind,)+
                }
            }

            /// One line saying what the code means (for docs and `--help`).
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $description,)+
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;

            /// Parses the exact string form produced by [`ErrorCode::as_str`].
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($string => Ok(ErrorCode::$variant),)+
                    _ => Err(UnknownErrorCode(s.to_owned())),
                }
            }
        }
    };
}

error_codes! {
    // --- Usage (exit 2) -----------------------------------------------------
    InvalidOption = "ERR_INVALID_OPTION", Usage,
        "a command-line flag or environment variable has an invalid value";
    AlreadyTracing = "ERR_ALREADY_TRACING", Usage,
        "tracing was started while a tracing session is already active";
    NotTracing = "ERR_NOT_TRACING", Usage,
        "an operation needs an active tracing session and there is none";
    UnsupportedPython = "ERR_UNSUPPORTED_PYTHON", Usage,
        "the Python version is not supported (the recorder needs 3.12 or newer)";
    UnsupportedImplementation = "ERR_UNSUPPORTED_IMPLEMENTATION", Usage,
        "the Python implementation or build is not supported (e.g. PyPy, free-threaded)";
    FormatUnsupported = "ERR_FORMAT_UNSUPPORTED", Usage,
        "the requested trace format is not supported";
    ScriptNotFound = "ERR_SCRIPT_NOT_FOUND", Usage,
        "the script or module to trace does not exist";
    TracePathNotDir = "ERR_TRACE_PATH_NOT_DIR", Usage,
        "the trace path given (or one of its parents) exists and is not a directory";
    // --- Environment (exit 10) ----------------------------------------------
    TraceDirNotDir = "ERR_TRACE_DIR_NOT_DIR", Environment,
        "the trace directory path exists but is not a directory";
    TraceDirCreate = "ERR_TRACE_DIR_CREATE", Environment,
        "the trace directory could not be created";
    PermissionDenied = "ERR_PERMISSION_DENIED", Environment,
        "the operating system denied access to a file or directory (or it is read-only)";
    DiskFull = "ERR_DISK_FULL", Environment,
        "the disk or quota holding the trace is full, or a file grew too large";
    Io = "ERR_IO", Environment,
        "an input/output operation failed";
    ToolIdInUse = "ERR_TOOL_ID_IN_USE", Environment,
        "the sys.monitoring tool id is already taken by another tool";
    LogFile = "ERR_LOG_FILE", Environment,
        "the log file could not be opened or written";
    // --- Target (exit 20) ---------------------------------------------------
    TargetMonitoringChanged = "ERR_TARGET_MONITORING_CHANGED", Target,
        "the traced program freed or replaced the recorder's sys.monitoring tool";
    NothingTraced = "ERR_NOTHING_TRACED", Target,
        "--require-trace was given and nothing was recorded";
    TargetException = "ERR_TARGET_EXCEPTION", Target,
        "the traced program raised an exception that stopped the recording";
    // --- Internal (exit 70) -------------------------------------------------
    Internal = "ERR_INTERNAL", Internal,
        "an unexpected internal error in the recorder";
    Panic = "ERR_PANIC", Internal,
        "a panic inside the recorder was caught at the Python boundary";
    Invariant = "ERR_INVARIANT", Internal,
        "an internal invariant of the recorder was violated (bug! assertion)";
    TraceStreamCorrupt = "ERR_TRACE_STREAM_CORRUPT", Internal,
        "the recorder's own in-run event stream could not be read back";
    SchemaVersion = "ERR_SCHEMA_VERSION", Internal,
        "a trace schema version mismatch inside the recorder";
}

impl ErrorCode {
    /// The process exit code of a fatal error with this code's default kind.
    pub const fn exit_code(self) -> i32 {
        self.kind().exit_code()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of `"...".parse::<ErrorCode>()` for a string that names no code.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownErrorCode(pub String);

impl fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown error code {:?}", self.0)
    }
}

impl std::error::Error for UnknownErrorCode {}
