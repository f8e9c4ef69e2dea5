//! The runtime's one error type and its exit codes (one place per decision).
//!
//! Exit codes of the runtime itself; everything else is the program's own
//! status, passed through unchanged.
use std::fmt;

/// Wrong use of an `--appimage-*` option.
pub const EXIT_USAGE: i32 = 2;
/// The program could not be started (image unreadable, extraction failed, no
/// AppRun...), like a shell that cannot run a command.
pub const EXIT_CANNOT_RUN: i32 = 127;

#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub code: i32,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), code: EXIT_CANNOT_RUN }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error { message: message.into(), code: EXIT_USAGE }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `result.context(|| format!("reading {path}"))` turns any displayable error
/// into an [`Error`] whose message says what was being done.
pub trait Context<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", what().into())))
    }
}
