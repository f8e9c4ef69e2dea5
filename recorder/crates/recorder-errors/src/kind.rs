//! The four classes of failure and their process exit codes (docs/design/error-policy.md §2).

use std::fmt;

/// Who is to blame for a failure; decides the process exit code.
///
/// | kind | exit code | typical cause |
/// | --- | --- | --- |
/// | [`Usage`](ErrorKind::Usage) | 2 | the caller: a bad flag, a second `start`, an unsupported Python |
/// | [`Environment`](ErrorKind::Environment) | 10 | the machine: IO, permissions, a full disk, a taken tool id |
/// | [`Target`](ErrorKind::Target) | 20 | the traced program misbehaved while being recorded |
/// | [`Internal`](ErrorKind::Internal) | 70 | a recorder bug: broken invariant, caught panic |
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ErrorKind {
    /// The caller made a mistake (bad flag, conflicting sessions, unsupported interpreter).
    Usage,
    /// The environment failed us (IO, permissions, resource exhaustion).
    Environment,
    /// The traced program raised or misbehaved while being traced.
    Target,
    /// A recorder bug: violated invariant or caught panic.
    Internal,
}

impl ErrorKind {
    /// Every kind, in exit-code order.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Usage,
        ErrorKind::Environment,
        ErrorKind::Target,
        ErrorKind::Internal,
    ];

    /// The process exit code of a fatal recorder failure of this kind.
    /// These numbers are part of the public contract and never change.
    pub const fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Environment => 10,
            ErrorKind::Target => 20,
            ErrorKind::Internal => 70,
        }
    }

    /// Lower-case name, as used in the JSON diagnostic line (`"kind": "usage"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Environment => "environment",
            ErrorKind::Target => "target",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
