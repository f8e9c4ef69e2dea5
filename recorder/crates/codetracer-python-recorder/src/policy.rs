//! The recorder's policy (docs/design/error-policy.md §5): what happens when the
//! recorder itself fails. Its switches are options of the Python side's
//! table (`codetracer_python_recorder/_config.py`), which resolves each one
//! once — flag or keyword, else its `CODETRACER_*` variable, else its
//! default — checks it with the one message for a bad value, and passes the
//! typed values to the native `start`; this side reads no variable for them.
//!
//! | switch | values |
//! | --- | --- |
//! | `on_recorder_error` | `abort` (default): stop with the error's exit code; `disable`: detach, warn, let the program finish |
//! | `require_trace` | a recording that produced no complete trace is an error even under `disable` |
//! | `keep_partial_trace` | on failure keep the trace, marked `partial: true` |
//! | `log_level` | off, error, warn (default), info, debug, trace |
//! | `log_file` | a path; diagnostics go there instead of stderr |

use log::LevelFilter;

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
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            on_error: OnError::Abort,
            require_trace: false,
            keep_partial: false,
            log_level: LevelFilter::Warn,
            log_file: None,
        }
    }
}

impl OnError {
    /// `abort` or `disable` (`_config.py` checked the name).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "abort" => Some(Self::Abort),
            "disable" => Some(Self::Disable),
            _ => None,
        }
    }
}

impl Policy {
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

    #[test]
    fn on_error_names() {
        assert_eq!(OnError::parse("abort"), Some(OnError::Abort));
        assert_eq!(OnError::parse("disable"), Some(OnError::Disable));
        assert_eq!(OnError::parse("explode"), None);
        let p = Policy { on_error: OnError::Disable, ..Policy::default() };
        assert_eq!(p.on_error_str(), "disable");
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = Policy::default();
        let b = Policy { keep_partial: true, ..Policy::default() };
        assert_eq!(a.hash(), Policy::default().hash());
        assert_ne!(a.hash(), b.hash());
    }
}
