//! The recorder's trace output, independent of Python: the compact in-run
//! event stream ([`stream`], [`value`]), its conversion to CodeTracer's
//! `trace.json` ([`json`]), and atomic trace folders ([`output`]).
//!
//! Kept free of PyO3 so it is tested with plain `cargo test`, and so the
//! official schema crate can check what it writes.

pub mod cbor;
pub mod float;
pub mod json;
pub mod output;
pub mod stream;
pub mod value;

pub use json::{convert, ConvertStats};
pub use output::{recover, TraceDir, SCHEMA_VERSION};
pub use stream::StreamWriter;
