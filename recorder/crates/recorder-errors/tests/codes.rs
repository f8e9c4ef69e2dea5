//! Every error code: construction, string round-trip, kind, exit code, JSON
//! line and Display; then the builders, macros, `from_io` and panic payloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::error::Error as _;
use std::io;
use std::path::Path;

use recorder_errors::prelude::*;
use serde_json::Value;

/// The promised table, restated independently of the crate: a code whose
/// string, kind or exit code changes fails its own test here.
macro_rules! code_tests {
    ($($test:ident: $variant:ident = $string:literal, $kind:ident, $exit:literal;)+) => {
        $(
            #[test]
            fn $test() {
                check_code(ErrorCode::$variant, $string, ErrorKind::$kind, $exit);
            }
        )+

        const EXPECTED: &[(ErrorCode, &str)] = &[$((ErrorCode::$variant, $string)),+];

        /// Fails to compile when a variant is added without a test above.
        #[allow(dead_code)]
        fn covered(code: ErrorCode) {
            match code {
                $(ErrorCode::$variant => {})+
            }
        }
    };
}

code_tests! {
    invalid_option: InvalidOption = "ERR_INVALID_OPTION", Usage, 2;
    already_tracing: AlreadyTracing = "ERR_ALREADY_TRACING", Usage, 2;
    not_tracing: NotTracing = "ERR_NOT_TRACING", Usage, 2;
    unsupported_python: UnsupportedPython = "ERR_UNSUPPORTED_PYTHON", Usage, 2;
    unsupported_implementation: UnsupportedImplementation = "ERR_UNSUPPORTED_IMPLEMENTATION", Usage, 2;
    format_unsupported: FormatUnsupported = "ERR_FORMAT_UNSUPPORTED", Usage, 2;
    script_not_found: ScriptNotFound = "ERR_SCRIPT_NOT_FOUND", Usage, 2;
    trace_path_not_dir: TracePathNotDir = "ERR_TRACE_PATH_NOT_DIR", Usage, 2;
    trace_dir_not_dir: TraceDirNotDir = "ERR_TRACE_DIR_NOT_DIR", Environment, 10;
    trace_dir_create: TraceDirCreate = "ERR_TRACE_DIR_CREATE", Environment, 10;
    permission_denied: PermissionDenied = "ERR_PERMISSION_DENIED", Environment, 10;
    disk_full: DiskFull = "ERR_DISK_FULL", Environment, 10;
    io_error: Io = "ERR_IO", Environment, 10;
    tool_id_in_use: ToolIdInUse = "ERR_TOOL_ID_IN_USE", Environment, 10;
    log_file: LogFile = "ERR_LOG_FILE", Environment, 10;
    target_monitoring_changed: TargetMonitoringChanged = "ERR_TARGET_MONITORING_CHANGED", Target, 20;
    nothing_traced: NothingTraced = "ERR_NOTHING_TRACED", Target, 20;
    target_exception: TargetException = "ERR_TARGET_EXCEPTION", Target, 20;
    internal: Internal = "ERR_INTERNAL", Internal, 70;
    panic: Panic = "ERR_PANIC", Internal, 70;
    invariant: Invariant = "ERR_INVARIANT", Internal, 70;
    trace_stream_corrupt: TraceStreamCorrupt = "ERR_TRACE_STREAM_CORRUPT", Internal, 70;
    schema_version: SchemaVersion = "ERR_SCHEMA_VERSION", Internal, 70;
}

fn check_code(code: ErrorCode, string: &str, kind: ErrorKind, exit: i32) {
    // string form and round trip
    assert_eq!(code.as_str(), string);
    assert_eq!(code.to_string(), string);
    assert_eq!(string.parse::<ErrorCode>(), Ok(code));
    assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
    // kind and exit code
    assert_eq!(code.kind(), kind);
    assert_eq!(code.exit_code(), exit);
    assert_eq!(kind.exit_code(), exit);
    // description: one non-empty line
    let description = code.description();
    assert!(!description.trim().is_empty(), "{string} has no description");
    assert!(!description.contains('\n'), "{string}: description must be one line");
    assert!(ErrorCode::ALL.contains(&code));

    // construction
    let err = RecorderError::new(code, "something failed");
    assert_eq!(err.code(), code);
    assert_eq!(err.kind(), kind);
    assert_eq!(err.exit_code(), exit);
    assert_eq!(err.message(), "something failed");
    assert!(err.context().is_empty());
    assert!(err.source().is_none());
    assert_eq!(err.to_string(), format!("{string}: something failed"));

    // JSON line: one line, the four keys, the right values
    let err = err.with_context("path", "/tmp/t");
    let line = err.to_json_line();
    assert!(!line.contains('\n'), "{line}");
    let json: Value = serde_json::from_str(&line).unwrap();
    let object = json.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["context", "error_code", "kind", "message"]);
    assert_eq!(json["error_code"], string);
    assert_eq!(json["kind"], kind.as_str());
    assert_eq!(json["message"], "something failed");
    assert_eq!(json["context"]["path"], "/tmp/t");

    // every kind can be forced; the exit code follows the kind
    for &other in ErrorKind::ALL {
        let forced = RecorderError::new(code, "x").with_kind(other);
        assert_eq!((forced.code(), forced.kind(), forced.exit_code()), (code, other, other.exit_code()));
    }
}

#[test]
fn every_code_is_tested_exactly_once() {
    let tested: Vec<ErrorCode> = EXPECTED.iter().map(|&(code, _)| code).collect();
    assert_eq!(tested, ErrorCode::ALL, "ErrorCode::ALL and the test table differ");
}

#[test]
fn code_strings_are_unique_and_follow_variant_names() {
    let strings: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(strings.len(), ErrorCode::ALL.len());
    let variants: HashSet<ErrorCode> = ErrorCode::ALL.iter().copied().collect();
    assert_eq!(variants.len(), ErrorCode::ALL.len());
    for &(code, string) in EXPECTED {
        // ERR_ + the variant name in SCREAMING_SNAKE_CASE
        let mut screaming = String::from("ERR");
        for ch in format!("{code:?}").chars() {
            if ch.is_ascii_uppercase() {
                screaming.push('_');
            }
            screaming.push(ch.to_ascii_uppercase());
        }
        assert_eq!(screaming, string);
    }
}

#[test]
fn unknown_code_strings_are_rejected() {
    for bad in ["", "ERR_", "err_io", "ERR_IO ", " ERR_IO", "IO", "ERR_NOPE", "Io"] {
        let err = bad.parse::<ErrorCode>().unwrap_err();
        assert_eq!(err.0, bad);
        assert!(err.to_string().contains("unknown error code"));
    }
}

#[test]
fn kinds_have_fixed_exit_codes_and_names() {
    let table: Vec<(ErrorKind, i32, &str)> = ErrorKind::ALL.iter().map(|&k| (k, k.exit_code(), k.as_str())).collect();
    assert_eq!(
        table,
        [
            (ErrorKind::Usage, 2, "usage"),
            (ErrorKind::Environment, 10, "environment"),
            (ErrorKind::Target, 20, "target"),
            (ErrorKind::Internal, 70, "internal"),
        ]
    );
    assert_eq!(ErrorKind::Environment.to_string(), "environment");
}

#[test]
fn display_lists_context_in_insertion_order() {
    let err = RecorderError::new(ErrorCode::TraceDirNotDir, "not a directory")
        .with_context("path", "/tmp/out")
        .with_context("mode", 0o644)
        .with_context("attempt", 2);
    assert_eq!(err.to_string(), "ERR_TRACE_DIR_NOT_DIR: not a directory (path=/tmp/out, mode=420, attempt=2)");
    let keys: Vec<&str> = err.context().iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["path", "mode", "attempt"]);
}

#[test]
fn with_context_replaces_an_existing_key_in_place() {
    let err = RecorderError::new(ErrorCode::Io, "m").with_context("a", 1).with_context("b", 2).with_context("a", 3);
    assert_eq!(err.context(), &[("a", "3".to_owned()), ("b", "2".to_owned())]);
}

#[test]
fn json_line_escapes_and_keeps_key_order() {
    let err = RecorderError::new(ErrorCode::ScriptNotFound, "no \"app.py\"\nin C:\\work\t\u{1} é 😀")
        .with_context("zeta", "first")
        .with_context("alpha", "quote\"d");
    let line = err.to_json_line();
    assert!(!line.contains('\n') && !line.ends_with('\n'));
    assert!(line.starts_with(r#"{"error_code":"ERR_SCRIPT_NOT_FOUND","kind":"usage","message":"#), "{line}");
    assert!(line.ends_with(r#","context":{"zeta":"first","alpha":"quote\"d"}}"#), "{line}");
    let json: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["message"], "no \"app.py\"\nin C:\\work\t\u{1} é 😀");
    assert_eq!(json["context"]["alpha"], "quote\"d");
}

#[test]
fn json_line_without_context_has_an_empty_object() {
    let line = RecorderError::new(ErrorCode::NothingTraced, "nothing recorded").to_json_line();
    assert_eq!(
        line,
        r#"{"error_code":"ERR_NOTHING_TRACED","kind":"target","message":"nothing recorded","context":{}}"#
    );
}

#[test]
fn source_is_exposed_through_std_error() {
    let cause = io::Error::other("low level");
    let err = RecorderError::new(ErrorCode::Io, "high level").with_source(cause);
    assert_eq!(err.source().unwrap().to_string(), "low level");
    // the source is not part of Display or JSON
    assert_eq!(err.to_string(), "ERR_IO: high level");
}

// --- from_io ------------------------------------------------------------------

#[cfg(unix)]
fn from_errno(errno: i32) -> RecorderError {
    RecorderError::from_io(ErrorCode::Io, io::Error::from_raw_os_error(errno), Path::new("/data/trace.json"))
}

#[cfg(unix)]
#[test]
fn from_io_maps_disk_full_errnos() {
    for errno in [libc::ENOSPC, libc::EFBIG, libc::EDQUOT] {
        let err = from_errno(errno);
        assert_eq!(err.code(), ErrorCode::DiskFull, "errno {errno}");
        assert_eq!(err.kind(), ErrorKind::Environment);
        assert_eq!(err.exit_code(), 10);
    }
}

#[cfg(unix)]
#[test]
fn from_io_maps_permission_errnos() {
    for errno in [libc::EACCES, libc::EPERM, libc::EROFS] {
        let err = from_errno(errno);
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "errno {errno}");
        assert_eq!(err.exit_code(), 10);
    }
}

#[cfg(unix)]
#[test]
fn from_io_keeps_the_given_code_for_other_errnos() {
    for (errno, code) in [
        (libc::ENOENT, ErrorCode::ScriptNotFound),
        (libc::ENOTDIR, ErrorCode::TraceDirNotDir),
        (libc::EIO, ErrorCode::Io),
        (libc::EEXIST, ErrorCode::TraceDirCreate),
    ] {
        let err = RecorderError::from_io(code, io::Error::from_raw_os_error(errno), Path::new("x"));
        assert_eq!(err.code(), code);
        assert_eq!(err.kind(), code.kind());
    }
}

#[test]
fn from_io_adds_path_os_error_message_and_source() {
    let errno = 28; // ENOSPC on Linux and macOS; the message is the OS's own
    let io_err = io::Error::from_raw_os_error(errno);
    let io_text = io_err.to_string();
    let err = RecorderError::from_io(ErrorCode::Io, io_err, Path::new("/data/trace.json"));
    assert_eq!(err.message(), format!("/data/trace.json: {io_text}"));
    assert_eq!(err.context(), &[("path", "/data/trace.json".to_owned()), ("os_error", "28".to_owned())]);
    let source = err.source().unwrap().downcast_ref::<io::Error>().unwrap();
    assert_eq!(source.raw_os_error(), Some(errno));
    let json: Value = serde_json::from_str(&err.to_json_line()).unwrap();
    assert_eq!(json["context"]["os_error"], "28");
}

#[test]
fn from_io_without_os_error_uses_the_io_kind() {
    let denied = io::Error::new(io::ErrorKind::PermissionDenied, "sandbox says no");
    let err = RecorderError::from_io(ErrorCode::LogFile, denied, Path::new("ct.log"));
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert_eq!(err.context()[1], ("os_error", "PermissionDenied".to_owned()));

    let other = io::Error::other("boom");
    let err = RecorderError::from_io(ErrorCode::LogFile, other, Path::new("ct.log"));
    assert_eq!(err.code(), ErrorCode::LogFile);
    assert_eq!(err.to_string(), "ERR_LOG_FILE: ct.log: boom (path=ct.log, os_error=Other)");
}

/// A real disk-full error: every write to /dev/full fails with ENOSPC.
#[cfg(target_os = "linux")]
#[test]
fn from_io_on_a_real_full_device() {
    use std::io::Write;
    let path = Path::new("/dev/full");
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let io_err = file.write_all(b"x").and_then(|()| file.flush()).unwrap_err();
    let err = RecorderError::from_io(ErrorCode::Io, io_err, path);
    assert_eq!(err.code(), ErrorCode::DiskFull);
    assert_eq!(err.context()[0], ("path", "/dev/full".to_owned()));
}

#[test]
fn from_io_on_a_real_missing_file() {
    let dir = std::env::temp_dir().join(format!("recorder-errors-missing-{}", std::process::id()));
    let path = dir.join("nope.py");
    let io_err = std::fs::read(&path).unwrap_err();
    let err = RecorderError::from_io(ErrorCode::ScriptNotFound, io_err, &path);
    assert_eq!(err.code(), ErrorCode::ScriptNotFound);
    assert_eq!(err.exit_code(), 2);
}

// --- macros -------------------------------------------------------------------

#[test]
#[cfg_attr(all(feature = "debug-assert-bugs", debug_assertions), ignore = "bug! panics with debug-assert-bugs")]
fn kind_macros_set_the_kind_and_format_the_message() {
    let cases = [
        (usage!(ErrorCode::InvalidOption, "bad --values {:?}", "all"), ErrorKind::Usage, "bad --values \"all\""),
        (enverr!(ErrorCode::ToolIdInUse, "tool id {} taken", 3), ErrorKind::Environment, "tool id 3 taken"),
        (target!(ErrorCode::TargetMonitoringChanged, "tool freed",), ErrorKind::Target, "tool freed"),
        (bug!(ErrorCode::Invariant, "depth {} < {}", 1, 2), ErrorKind::Internal, "depth 1 < 2"),
        // the macro's kind wins over the code's default kind
        (usage!(ErrorCode::Io, "odd"), ErrorKind::Usage, "odd"),
        (bug!(ErrorCode::DiskFull, "odd"), ErrorKind::Internal, "odd"),
    ];
    for (err, kind, message) in cases {
        assert_eq!(err.kind(), kind);
        assert_eq!(err.exit_code(), kind.exit_code());
        assert_eq!(err.message(), message);
    }
}

#[test]
#[cfg_attr(all(feature = "debug-assert-bugs", debug_assertions), ignore = "bug! panics with debug-assert-bugs")]
fn kind_macros_without_message_use_the_description() {
    for err in [
        usage!(ErrorCode::AlreadyTracing),
        enverr!(ErrorCode::LogFile,),
        target!(ErrorCode::NothingTraced),
        bug!(ErrorCode::Internal),
    ] {
        assert_eq!(err.message(), err.code().description());
    }
}

#[test]
#[cfg_attr(all(feature = "debug-assert-bugs", debug_assertions), ignore = "bug! panics with debug-assert-bugs")]
fn bug_records_its_location_and_does_not_panic_by_default() {
    let line = line!() + 1;
    let err = bug!(ErrorCode::Invariant, "broken");
    let (key, value) = &err.context()[0];
    assert_eq!(*key, "location");
    assert!(value.ends_with(&format!("recorder-errors/tests/codes.rs:{line}")), "{value}");
    assert_eq!(err.message(), "broken");
}

fn check_args(version: (u8, u8), dir_ok: bool, target_ok: bool, invariant: bool) -> RecorderResult<&'static str> {
    ensure_usage!(version >= (3, 12), ErrorCode::UnsupportedPython, "Python {}.{}", version.0, version.1);
    ensure_env!(dir_ok, ErrorCode::TraceDirNotDir);
    ensure_target!(target_ok, ErrorCode::TargetMonitoringChanged, "tool id freed");
    ensure_internal!(invariant, ErrorCode::Invariant, "stack underflow");
    Ok("ok")
}

#[test]
#[cfg_attr(all(feature = "debug-assert-bugs", debug_assertions), ignore = "bug! panics with debug-assert-bugs")]
fn ensure_macros_return_early_with_their_kind() {
    assert_eq!(check_args((3, 12), true, true, true).unwrap(), "ok");
    let err = check_args((3, 11), true, true, true).unwrap_err();
    assert_eq!((err.code(), err.kind(), err.message()), (ErrorCode::UnsupportedPython, ErrorKind::Usage, "Python 3.11"));
    let err = check_args((3, 13), false, true, true).unwrap_err();
    assert_eq!((err.code(), err.kind()), (ErrorCode::TraceDirNotDir, ErrorKind::Environment));
    let err = check_args((3, 13), true, false, true).unwrap_err();
    assert_eq!((err.code(), err.kind()), (ErrorCode::TargetMonitoringChanged, ErrorKind::Target));
    let err = check_args((3, 13), true, true, false).unwrap_err();
    assert_eq!((err.code(), err.kind(), err.exit_code()), (ErrorCode::Invariant, ErrorKind::Internal, 70));
}

/// An error type of another layer (like `PyErr`) that converts from ours.
#[derive(Debug)]
struct Wrapped(i32);

impl From<RecorderError> for Wrapped {
    fn from(err: RecorderError) -> Self {
        Wrapped(err.exit_code())
    }
}

fn ensure_into_other_error(ok: bool) -> Result<(), Wrapped> {
    ensure_env!(ok, ErrorCode::DiskFull, "full");
    Ok(())
}

#[test]
fn ensure_macros_convert_into_the_callers_error_type() {
    assert_eq!(ensure_into_other_error(false).unwrap_err().0, 10);
    assert!(ensure_into_other_error(true).is_ok());
}

#[cfg(all(feature = "debug-assert-bugs", debug_assertions))]
#[test]
#[should_panic(expected = "ERR_INVARIANT")]
fn bug_panics_in_debug_builds_with_the_feature() {
    let _ = bug!(ErrorCode::Invariant, "loud");
}

// --- panic payloads -------------------------------------------------------------

#[test]
fn panic_payload_message_reads_str_and_string_payloads() {
    let payload: Box<dyn std::any::Any + Send> = Box::new("static message");
    assert_eq!(panic_payload_message(payload.as_ref()), "static message");
    let payload: Box<dyn std::any::Any + Send> = Box::new(String::from("formatted 42"));
    assert_eq!(panic_payload_message(payload.as_ref()), "formatted 42");
    let payload: Box<dyn std::any::Any + Send> = Box::new(42_u32);
    assert_eq!(panic_payload_message(payload.as_ref()), "<non-string panic payload>");
}

#[test]
fn panic_payload_message_from_a_caught_panic() {
    let payload = std::panic::catch_unwind(|| {
        std::panic::resume_unwind(Box::new(format!("index {} out of range", 7)));
    })
    .unwrap_err();
    let err = RecorderError::new(ErrorCode::Panic, panic_payload_message(payload.as_ref()));
    assert_eq!(err.to_string(), "ERR_PANIC: index 7 out of range");
    assert_eq!(err.exit_code(), 70);
}
