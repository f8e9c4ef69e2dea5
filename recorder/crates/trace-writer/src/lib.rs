//! The recorder's trace output, independent of Python: the compact in-run
//! event stream ([`stream`], [`value`]), its replay ([`replay`]) into a
//! trace of one format ([`sink`]: `trace.json` by [`json`], `trace.ct` by
//! [`ct`]), and atomic trace folders ([`output`]).
//!
//! Kept free of PyO3 so it is tested with plain `cargo test`, and so the
//! official schema crate can check what it writes.

pub mod cbor;
pub mod ct;
pub mod float;
pub mod json;
pub mod live;
pub mod output;
pub mod replay;
pub mod sink;
pub mod stream;
pub mod value;

pub use json::convert;
pub use live::LiveConvert;
pub use replay::ConvertStats;
pub use sink::{Format, Sink};
pub use output::{recover, TraceDir, SCHEMA_VERSION};
pub use stream::StreamWriter;
