//! The recorder's trace output, independent of Python: the compact in-run
//! event stream, its replay into a trace of one format, and atomic trace
//! folders. Kept free of PyO3 so it is tested with plain `cargo test`, and
//! so the official schema crate can check what it writes.
//!
//! # Layers
//!
//! Read top to bottom. A file uses (`crate::…`) only files of the layers
//! below its own, never one above or beside it (`tests/layers.rs` checks
//! this list against the code, so no loop comes back):
//!
//! 1. `trace_folder.rs` — the atomic trace folder (docs/design/error-policy.md §6): staging,
//!    conversion with the disk-full policy, renames, `recover`.
//! 2. `metadata.rs` — `trace_metadata.json`: the one builder of a trace's
//!    metadata, from the run's start (`recording.json`) to the finished
//!    trace, recovered ones included; where `format` and `schema_version`
//!    are written.
//! 3. `format.rs` — the format table: one row per format (name, files,
//!    `schema_version`, the size's `stats` key, whether it streams, its
//!    sink); the one place a format is chosen.
//! 4. `live.rs` — the replay run on a thread beside the recording (or by
//!    its owner's calls: deferred), into any sink; the stream's flush
//!    observer.
//! 5. `replay.rs` — the replay stage: frames, variables, objects, patches,
//!    snapshots, stats; it hands complete events to a sink.
//! 6. `json_sink.rs`, `ctfs_sink.rs` — one file per format: its sink, and
//!    how it renders a value (JSON, CBOR).
//! 7. `sink.rs` — the `Sink` trait and what it is handed (`Var`,
//!    `TraceEnd`), and `trace_paths.json`, which every format writes.
//! 8. `value.rs` — values of the compact stream: encoding, skipping,
//!    patching; no format.
//! 9. `stream.rs` — the compact stream `events.bin`: records, the writer
//!    (told of its flushes: `FlushObserver`), the reader; no format.
//! 10. `float.rs`, `json_str.rs` — Python's float text, JSON string literals.
//!
//! A new format is one sink file (layer 6) and one row of the format table.

pub mod trace_folder;

pub mod metadata;

pub mod format;

pub mod live;

pub mod replay;

pub mod ctfs_sink;
pub mod json_sink;

pub mod sink;

pub mod value;

pub mod stream;

pub mod float;
pub mod json_str;

pub use format::{Format, SCHEMA_VERSION};
pub use live::LiveConvert;
pub use metadata::Metadata;
pub use replay::ConvertStats;
pub use sink::Sink;
pub use stream::StreamWriter;
pub use trace_folder::{recover, TraceDir};
