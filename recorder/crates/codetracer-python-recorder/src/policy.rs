//! The recorder's policy switches (docs/design/error-policy.md §5): one place that reads the
//! CLI's choices and the environment, validates them, and says what happens
//! when the recorder itself fails.
//!
//! | switch | environment variable | values |
//! | --- | --- | --- |
//! | `on_recorder_error` | `CODETRACER_ON_RECORDER_ERROR` | `abort` (default): stop with the error's exit code; `disable`: detach, warn, let the program finish |
//! | `require_trace` | `CODETRACER_REQUIRE_TRACE` | `1/true/yes/on` or `0/false/no/off`: a recording that produced no complete trace is an error even under `disable` |
//! | `keep_partial_trace` | `CODETRACER_KEEP_PARTIAL_TRACE` | same booleans: on failure keep the trace, marked `partial: true` |
//! | `log_level` | `CODETRACER_LOG_LEVEL` | off, error, warn (default), info, debug, trace |
//! | `log_file` | `CODETRACER_LOG_FILE` | a path; diagnostics go there instead of stderr |
//! | `json_errors` | `CODETRACER_JSON_ERRORS` | booleans: a JSON line on stderr for a recorder failure |
//!
//! A CLI flag wins over its variable; an invalid value of either is a
//! `UsageError` (`ERR_INVALID_OPTION`) naming the flag or the variable.

use log::LevelFilter;
use recorder_errors::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    Abort,
    Disable,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub on_error: OnError,
    pub require_trace: bool,
    pub keep_partial: bool,
    pub log_level: LevelFilter,
    pub log_file: Option<String>,
    pub json_errors: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            on_error: OnError::Abort,
            require_trace: false,
            keep_partial: false,
            log_level: LevelFilter::Warn,
            log_file: None,
            json_errors: false,
        }
    }
}

/// Values given explicitly (CLI flags / API arguments); `None` = not given.
#[derive(Default, Debug, Clone)]
pub struct Overrides {
    pub on_error: Option<String>,
    pub require_trace: Option<bool>,
    pub keep_partial: Option<bool>,
    pub log_level: Option<String>,
    pub log_file: Option<String>,
    pub json_errors: Option<bool>,
    /// The explicit values came as API keywords: a bad one is named
    /// `on_recorder_error=`, as `_config.py` names the API's, not `--on-recorder-error`.
    pub keywords: bool,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The one message for an option's bad value, as the Python side's
/// (`_config.invalid`): `invalid value 'X' for SOURCE: expected ...`.
pub(crate) fn invalid(source: &str, value: &str, expected: &str) -> RecorderError {
    usage!(ErrorCode::InvalidOption, "invalid value '{}' for {}: expected {}", value, source, expected)
        .with_context("option", source)
        .with_context("value", value)
}

fn bool_from(env: &dyn Fn(&str) -> Option<String>, var: &str, given: Option<bool>) -> RecorderResult<bool> {
    if let Some(b) = given {
        return Ok(b);
    }
    match env(var) {
        None => Ok(false),
        Some(v) => parse_bool(&v).ok_or_else(|| invalid(var, &v, "1/true/yes/on or 0/false/no/off")),
    }
}

impl Policy {
    /// Resolves the policy from explicit values, then `env`.
    pub fn resolve(o: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> RecorderResult<Self> {
        let given = |flag: &'static str, keyword: &'static str| if o.keywords { keyword } else { flag };
        let on_error = match o.on_error.as_deref().map(|v| (given("--on-recorder-error", "on_recorder_error="), v.to_string())).or_else(|| {
            env(crate::env::ON_RECORDER_ERROR.name).map(|v| (crate::env::ON_RECORDER_ERROR.name, v))
        }) {
            None => OnError::Abort,
            Some((src, v)) => match v.as_str() {
                "abort" => OnError::Abort,
                "disable" => OnError::Disable,
                _ => return Err(invalid(src, &v, "abort or disable")),
            },
        };
        let log_level = match o.log_level.as_deref().map(|v| (given("--log-level", "log_level="), v.to_string())).or_else(|| {
            env(crate::env::LOG_LEVEL.name).map(|v| (crate::env::LOG_LEVEL.name, v))
        }) {
            None => LevelFilter::Warn,
            Some((src, v)) => crate::logging::parse_level(&v)
                .ok_or_else(|| invalid(src, &v, "off, error, warn, info, debug or trace"))?,
        };
        let log_file = o.log_file.clone().or_else(|| env(crate::env::LOG_FILE.name)).filter(|s| !s.is_empty());
        Ok(Self {
            on_error,
            require_trace: bool_from(env, crate::env::REQUIRE_TRACE.name, o.require_trace)?,
            keep_partial: bool_from(env, crate::env::KEEP_PARTIAL_TRACE.name, o.keep_partial)?,
            log_level,
            log_file,
            json_errors: bool_from(env, crate::env::JSON_ERRORS.name, o.json_errors)?,
        })
    }

    /// A stable digest of the switches that change what is recorded or kept.
    pub fn hash(&self) -> String {
        let canon = format!(
            "on_error={:?};require_trace={};keep_partial={}",
            self.on_error, self.require_trace, self.keep_partial
        );
        // FNV-1a 64: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in canon.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    pub fn on_error_str(&self) -> &'static str {
        match self.on_error {
            OnError::Abort => "abort",
            OnError::Disable => "disable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn flags_win_over_environment() {
        let env = env_of(&[("CODETRACER_ON_RECORDER_ERROR", "disable"), ("CODETRACER_KEEP_PARTIAL_TRACE", "1")]);
        let r = Policy::resolve(&Overrides::default(), &env);
        assert!(matches!(&r, Ok(p) if p.on_error == OnError::Disable && p.keep_partial));
        let o = Overrides { on_error: Some("abort".into()), keep_partial: Some(false), ..Default::default() };
        let r = Policy::resolve(&o, &env);
        assert!(matches!(&r, Ok(p) if p.on_error == OnError::Abort && !p.keep_partial));
    }

    #[test]
    fn invalid_values_name_their_source() {
        let env = env_of(&[("CODETRACER_REQUIRE_TRACE", "maybe")]);
        let r = Policy::resolve(&Overrides::default(), &env);
        assert!(matches!(&r, Err(e) if e.code() == ErrorCode::InvalidOption && e.message().contains("CODETRACER_REQUIRE_TRACE")));
        let o = Overrides { on_error: Some("explode".into()), ..Default::default() };
        let r = Policy::resolve(&o, &env_of(&[]));
        assert!(matches!(&r, Err(e) if e.message().contains("--on-recorder-error")));
        let o = Overrides { on_error: Some("explode".into()), keywords: true, ..Default::default() };
        let r = Policy::resolve(&o, &env_of(&[]));
        assert!(matches!(&r, Err(e) if e.message() == "invalid value 'explode' for on_recorder_error=: expected abort or disable"));
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = Policy::default();
        let b = Policy { keep_partial: true, ..Policy::default() };
        assert_eq!(a.hash(), Policy::default().hash());
        assert_ne!(a.hash(), b.hash());
    }
}
