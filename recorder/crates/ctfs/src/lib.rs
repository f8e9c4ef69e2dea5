//! CodeTracer's CTFS trace container, `trace.ct`, written from the public
//! specification (metacraft-labs/codetracer-trace-format-spec:
//! `ctfs-container.md`, `trace-events.md`, `seekable-zstd.md`,
//! `internal-files.md`), in the layout current CodeTracer's replay-server
//! opens: see `docs/ctfs.md` of this repository.
//!
//! - [`container`]: blocks, file entries, base40 names, mapping blocks;
//!   a streaming writer and a reader that tolerates a cut file.
//! - [`events`]: `events.log`, split-binary events in zstd chunks.
//! - [`cbor`]: the CBOR payloads (values, types, call arguments).
//! - [`meta`]: the `meta.dat` file.
//! - [`writer`]: [`CtfsWriter`], the writer of a whole trace.

pub mod cbor;
pub mod container;
pub mod events;
pub mod meta;
pub mod writer;
mod varint;

pub use cbor::{Value, ValueEncoder};
pub use meta::TraceMeta;
pub use writer::{CtfsWriter, TraceEvent, TypeInfo, WriteStats};

/// Names of the internal files this crate writes.
pub mod files {
    pub const EVENTS: &str = "events.log";
    pub const FORMAT: &str = "events.fmt";
    pub const META: &str = "meta.dat";
    pub const PARTIAL: &str = "partial.txt";
}
