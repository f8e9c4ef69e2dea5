//! The structural error type every recorder crate returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use crate::code::ErrorCode;
use crate::kind::ErrorKind;

/// The boxed cause of a [`RecorderError`], if any.
pub type RecorderErrorSource = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with a [`RecorderError`].
pub type RecorderResult<T> = Result<T, RecorderError>;

/// A classified recorder failure: a stable [`ErrorCode`], the [`ErrorKind`]
/// that decides the exit code, a human message, ordered `key=value` context
/// and an optional underlying cause.
///
/// Build one with the macros ([`usage!`](crate::usage),
/// [`enverr!`](crate::enverr), [`target!`](crate::target), [`bug!`](crate::bug))
/// or with [`RecorderError::new`] and the `with_*` builders.
#[derive(Debug)]
pub struct RecorderError {
    kind: ErrorKind,
    code: ErrorCode,
    message: Cow<'static, str>,
    context: Vec<(&'static str, String)>,
    source: Option<RecorderErrorSource>,
}

impl RecorderError {
    /// An error with `code`, the code's default kind, and `message`.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        RecorderError {
            kind: code.kind(),
            code,
            message: message.into(),
            context: Vec::new(),
            source: None,
        }
    }

    /// Overrides the kind (and with it the exit code).
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds `key=value` context. Keys keep the order of their first
    /// insertion; adding an existing key replaces its value.
    #[must_use]
    pub fn with_context(mut self, key: &'static str, value: impl ToString) -> Self {
        let value = value.to_string();
        match self.context.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.context.push((key, value)),
        }
        self
    }

    /// Records the underlying cause, returned by [`std::error::Error::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind, which decides the exit code.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message (without code or context).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `key=value` context, in insertion order.
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// The process exit code for this error: `self.kind().exit_code()`.
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// Classifies an IO failure on `path`: `ERR_DISK_FULL` for ENOSPC, EFBIG
    /// and EDQUOT, `ERR_PERMISSION_DENIED` for EACCES, EPERM and EROFS, else
    /// `code`. The message is `"<path>: <io error>"`; the context gets `path`
    /// and `os_error` (the OS error number, or the `io::ErrorKind` name for
    /// errors that carry none); the `io::Error` becomes the source.
    pub fn from_io(code: ErrorCode, err: std::io::Error, path: &std::path::Path) -> Self {
        let code = crate::io::classify(code, &err);
        let os_error = match err.raw_os_error() {
            Some(errno) => errno.to_string(),
            None => format!("{:?}", err.kind()),
        };
        RecorderError::new(code, format!("{}: {}", path.display(), err))
            .with_context("path", path.display())
            .with_context("os_error", os_error)
            .with_source(err)
    }
}

impl fmt::Display for RecorderError {
    /// `ERR_CODE: message (key=value, ...)`; no parentheses without context.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        for (i, (key, value)) in self.context.iter().enumerate() {
            let sep = if i == 0 { " (" } else { ", " };
            write!(f, "{sep}{key}={value}")?;
        }
        if !self.context.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl StdError for RecorderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Some(source) => Some(source.as_ref()),
            None => None,
        }
    }
}
