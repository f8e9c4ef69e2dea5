//! The environment variables the Rust side of the recorder reads: one
//! constant per variable (name, type, default, meaning), and the only reads
//! of them. The Python side's are in `codetracer_python_recorder/_env.py`,
//! `ct`'s in `codetracer_ct/_env.py`; tests/lint/test_lint_env.py checks
//! that no CODETRACER_ name is read anywhere else, that the three lists
//! agree, and that README's option table names every public one
//! (docs/recorder.md "Environment variables").

/// One environment variable. The fields beyond `name` are read by
/// tests/lint/test_lint_env.py, which parses this file.
#[allow(dead_code)]
pub struct Var {
    pub name: &'static str,
    /// What it holds: `bool` (1/true/yes/on or 0/false/no/off), `flag`
    /// (only `1` counts; `0` for [`LIVE_CONVERT`]), `path`, `enum: a|b`,
    /// `int`, `text`.
    pub kind: &'static str,
    /// Its value when unset.
    pub default: &'static str,
    pub meaning: &'static str,
    /// Documented for users (README); otherwise a diagnostic or test switch.
    pub public: bool,
}

/// The portable path on every CPython (`cpython/portable.rs`).
pub const PORTABLE: Var = Var {
    name: "CODETRACER_PORTABLE",
    kind: "flag",
    default: "",
    meaning: "1: read frames and values through the public C API only",
    public: true,
};

/// Streaming formats converted after the run (trace-writer's `live.rs`).
pub const LIVE_CONVERT: Var = Var {
    name: "CODETRACER_LIVE_CONVERT",
    kind: "flag",
    default: "",
    meaning: "0: write trace.ct after the run instead of beside it",
    public: true,
};

/// Every change-detection shortcut off (docs/recorder.md).
pub const NO_TRAILS: Var = Var {
    name: "CODETRACER_NO_TRAILS",
    kind: "flag",
    default: "",
    meaning: "1: no change-detection shortcuts (trails, pure lines): the brute-force trace they must equal",
    public: false,
};

/// Test-only: a self-check that fails (`cpython/selfcheck.rs`).
pub const TEST_FAIL_SELF_CHECK: Var = Var {
    name: "CODETRACER_TEST_FAIL_SELF_CHECK",
    kind: "text",
    default: "",
    meaning: "the name of a CPython layout self-check to fail, to show the portable fallback",
    public: false,
};

/// Test-only: the running CPython treated as an unknown version.
pub const TEST_UNKNOWN_VERSION: Var = Var {
    name: "CODETRACER_TEST_UNKNOWN_VERSION",
    kind: "flag",
    default: "",
    meaning: "1: treat this CPython as a version the recorder does not know",
    public: false,
};

/// Test-only (cargo feature `fault-injection`): `panic-after:N`.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub const TEST_FAULT: Var = Var {
    name: "CODETRACER_TEST_FAULT",
    kind: "text",
    default: "",
    meaning: "panic-after:N panics inside the N-th monitoring callback",
    public: false,
};

/// Put by the Python side in the environment children inherit
/// (`_processes.py`, with `os.putenv`: not in `os.environ`); read by the
/// stand-ins that give it to a child started with an environment the
/// program made (`child_env.rs`).
pub const PARENT_TRACE: Var = Var {
    name: "CODETRACER_PARENT_TRACE",
    kind: "text",
    default: "",
    meaning: "set by a recording that follows child processes: what a python started with it records into",
    public: false,
};

/// The table (read by tests/lint/test_lint_env.py, not by the code: each
/// variable is read through its own constant).
#[allow(dead_code)]
pub const ALL: [&Var; 7] = [
    &PORTABLE,
    &LIVE_CONVERT,
    &NO_TRAILS,
    &TEST_FAIL_SELF_CHECK,
    &TEST_UNKNOWN_VERSION,
    &TEST_FAULT,
    &PARENT_TRACE,
];

/// The value of `var`, if set (and valid Unicode).
pub fn get(var: &Var) -> Option<String> {
    std::env::var(var.name).ok()
}

/// The value of `var`, if set, as the process's environment holds it (any bytes).
pub fn get_os(var: &Var) -> Option<std::ffi::OsString> {
    std::env::var_os(var.name)
}

/// Whether `var` is set to exactly `value`.
pub fn is(var: &Var, value: &str) -> bool {
    get(var).is_some_and(|v| v == value)
}
