//! The one-line JSON diagnostic (`--json-errors`, `CODETRACER_ERROR_FILE`):
//! [`RecorderError::to_json_line`], implemented here: `error.rs` does not know
//! this file, so the two do not import each other.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::RecorderError;

struct Line<'a>(&'a RecorderError);
struct Context<'a>(&'a [(&'static str, String)]);

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("error_code", self.0.code().as_str())?;
        map.serialize_entry("kind", self.0.kind().as_str())?;
        map.serialize_entry("message", self.0.message())?;
        map.serialize_entry("context", &Context(self.0.context()))?;
        map.end()
    }
}

impl Serialize for Context<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl RecorderError {
    /// The single-line JSON diagnostic of docs/design/error-policy.md §9:
    /// `{"error_code":"ERR_..","kind":"..","message":"..","context":{..}}`,
    /// without a trailing newline.
    pub fn to_json_line(&self) -> String {
        // Serialising strings into a String cannot fail; the fallback only
        // keeps this function total without a panic path. Code and kind
        // strings are plain ASCII identifiers, so they need no escaping.
        serde_json::to_string(&Line(self)).unwrap_or_else(|_| {
            format!(
                r#"{{"error_code":"{}","kind":"{}","message":"(message not serialisable)","context":{{}}}}"#,
                self.code().as_str(),
                self.kind().as_str()
            )
        })
    }
}
