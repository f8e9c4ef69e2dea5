//! Diagnostics (docs/design/error-policy.md §4): every message the recorder emits goes through
//! the `log` facade to this logger, which writes to stderr or to the log
//! file — never to stdout. Error records carry run_id, trace_id and
//! error_code.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};
use recorder_errors::prelude::*;

struct Target {
    file: Option<File>,
    trace_id: String,
}

struct Logger {
    target: Mutex<Target>,
    run_id: String,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        target: Mutex::new(Target { file: None, trace_id: String::new() }),
        run_id: uuid::Uuid::now_v7().to_string(),
    })
}

/// Installs the logger once per process; later calls only reconfigure.
pub fn configure(level: LevelFilter, log_file: Option<&str>) -> RecorderResult<()> {
    let l = logger();
    if log::set_logger(l).is_ok() {
        log::set_max_level(level);
    }
    log::set_max_level(level);
    let file = match log_file {
        Some(path) if !path.is_empty() => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| RecorderError::from_io(ErrorCode::LogFile, e, std::path::Path::new(path)))?,
        ),
        _ => None,
    };
    if let Ok(mut t) = l.target.lock() {
        t.file = file;
    }
    Ok(())
}

/// The id of this process's recorder run.
pub fn run_id() -> String {
    logger().run_id.clone()
}

/// Sets the trace id attached to error records (the recording's id).
pub fn set_trace_id(id: &str) {
    if let Ok(mut t) = logger().target.lock() {
        t.trace_id = id.to_string();
    }
}

pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// Logs a recorder error with its code and context.
pub fn log_error(level: Level, err: &RecorderError) {
    let ctx: Vec<String> = err.context().iter().map(|(k, v)| format!("{k}={v}")).collect();
    log::log!(target: "codetracer", level, "{} [error_code={}{}{}]", err.message(), err.code().as_str(),
        if ctx.is_empty() { "" } else { " " }, ctx.join(" "));
}

/// Writes one raw line (already formatted) to the diagnostics channel.
pub fn write_line(line: &str) {
    let l = logger();
    if let Ok(mut t) = l.target.lock() {
        if let Some(f) = t.file.as_mut() {
            let _ = writeln!(f, "{line}");
            return;
        }
    }
    let stderr = std::io::stderr();
    let mut h = stderr.lock();
    let _ = writeln!(h, "{line}");
    let _ = h.flush();
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let mut line = format!("codetracer-python-recorder: {level}: {}", record.args());
        if record.level() <= Level::Warn {
            let trace_id = self.target.lock().map(|t| t.trace_id.clone()).unwrap_or_default();
            line.push_str(&format!(" [run_id={} trace_id={}]", self.run_id, trace_id));
        }
        write_line(&line);
    }

    fn flush(&self) {
        if let Ok(mut t) = self.target.lock() {
            if let Some(f) = t.file.as_mut() {
                let _ = f.flush();
            }
        }
    }
}
