//! The code tables in the crate docs (src/lib.rs) and in the user docs
//! (docs/errors.md) list exactly the codes of `ErrorCode::ALL`, in order,
//! with their kind and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use recorder_errors::ErrorCode;

/// (code, kind, exit) of every table row whose first cell is `` `ERR_...` ``.
fn code_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(|line| line.trim_start_matches("//!").trim())
        .filter(|line| line.starts_with("| `ERR_"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert!(cells.len() >= 4, "short table row: {line}");
            (cells[0].trim_matches('`').to_owned(), cells[1].to_owned(), cells[2].to_owned())
        })
        .collect()
}

fn expected_rows() -> Vec<(String, String, String)> {
    ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.kind().as_str().to_owned(), c.exit_code().to_string()))
        .collect()
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn crate_docs_list_every_code() {
    let rows = code_rows(&read(&crate_dir().join("src/lib.rs")));
    assert_eq!(rows, expected_rows(), "update the table in recorder-errors/src/lib.rs");
}

#[test]
fn user_docs_list_every_code() {
    // recorder/crates/recorder-errors -> repository root
    let docs = crate_dir().join("../../../docs/errors.md");
    let rows = code_rows(&read(&docs));
    assert_eq!(rows, expected_rows(), "update the table in docs/errors.md");
}
