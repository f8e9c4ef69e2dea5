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

/// The CLI's `--on-recorder-error`.
pub const ON_RECORDER_ERROR: Var = Var {
    name: "CODETRACER_ON_RECORDER_ERROR",
    kind: "enum: abort|disable",
    default: "abort",
    meaning: "on a recorder failure: stop with its exit code, or detach, warn and let the program finish",
    public: true,
};

/// The CLI's `--require-trace`.
pub const REQUIRE_TRACE: Var = Var {
    name: "CODETRACER_REQUIRE_TRACE",
    kind: "bool",
    default: "0",
    meaning: "a run without a complete trace fails, even under disable",
    public: true,
};

/// The CLI's `--keep-partial-trace`.
pub const KEEP_PARTIAL_TRACE: Var = Var {
    name: "CODETRACER_KEEP_PARTIAL_TRACE",
    kind: "bool",
    default: "0",
    meaning: "on failure keep the trace, marked partial",
    public: true,
};

/// The CLI's `--log-level`.
pub const LOG_LEVEL: Var = Var {
    name: "CODETRACER_LOG_LEVEL",
    kind: "enum: off|error|warn|info|debug|trace",
    default: "warn",
    meaning: "how much the recorder logs",
    public: true,
};

/// The CLI's `--log-file`.
pub const LOG_FILE: Var = Var {
    name: "CODETRACER_LOG_FILE",
    kind: "path",
    default: "",
    meaning: "diagnostics go to this file instead of stderr",
    public: true,
};

/// The CLI's `--json-errors` (the Python CLI reads it too, for a usage
/// error found before the policy is resolved).
pub const JSON_ERRORS: Var = Var {
    name: "CODETRACER_JSON_ERRORS",
    kind: "bool",
    default: "0",
    meaning: "a recorder failure appends one JSON line to stderr",
    public: true,
};

/// The `sys.monitoring` tool id (`tool.rs`).
pub const TOOL_ID: Var = Var {
    name: "CODETRACER_TOOL_ID",
    kind: "enum: 3|4",
    default: "3",
    meaning: "the sys.monitoring tool id the recorder takes",
    public: true,
};

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
pub const TEST_FAULT: Var = Var {
    name: "CODETRACER_TEST_FAULT",
    kind: "text",
    default: "",
    meaning: "panic-after:N panics inside the N-th monitoring callback",
    public: false,
};

/// The table.
pub const ALL: [&Var; 13] = [
    &ON_RECORDER_ERROR,
    &REQUIRE_TRACE,
    &KEEP_PARTIAL_TRACE,
    &LOG_LEVEL,
    &LOG_FILE,
    &JSON_ERRORS,
    &TOOL_ID,
    &PORTABLE,
    &LIVE_CONVERT,
    &NO_TRAILS,
    &TEST_FAIL_SELF_CHECK,
    &TEST_UNKNOWN_VERSION,
    &TEST_FAULT,
];

/// The value of `var`, if set (and valid Unicode).
pub fn get(var: &Var) -> Option<String> {
    std::env::var(var.name).ok()
}

/// Whether `var` is set to exactly `value`.
pub fn is(var: &Var, value: &str) -> bool {
    get(var).is_some_and(|v| v == value)
}

/// The environment as the policy reads it: by name, a name of the table.
pub fn lookup(name: &str) -> Option<String> {
    ALL.iter().find(|v| v.name == name).and_then(|v| get(v))
}
