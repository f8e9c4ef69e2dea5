#![allow(clippy::unwrap_used, clippy::panic)]
//! The layers of the crate (the list at the top of `src/lib.rs`) are the
//! code's: every file of `src/` is in the list, and none uses (`crate::…`)
//! a file of its own layer or of one above it — so the files cannot import
//! each other in a loop.

use std::collections::BTreeMap;
use std::path::Path;

/// Each file's layer (1 = top), from a crate doc whose numbered items
/// (`//! 3. `a.rs`, `b.rs` — …`) name the files of each layer.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(item) = line.strip_prefix("//! ") else { continue };
        let Some((number, rest)) = item.split_once(". ") else { continue };
        let Ok(layer) = number.parse::<usize>() else { continue };
        let files = rest.split(" — ").next().unwrap_or_default();
        for file in files.split(", ") {
            let name = file.trim_matches('`').strip_suffix(".rs").unwrap_or_else(|| panic!("not a file: {file}"));
            assert!(out.insert(name.to_owned(), layer).is_none(), "{name} is listed twice");
        }
    }
    out
}

/// The modules `text` uses through `crate::` paths (comments skipped).
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let preceded = rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            rest = after;
            if preceded {
                continue;
            }
            // `crate::{a::X, b}`: each item's first segment.
            let items = match after.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                None => vec![after],
            };
            for item in items {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Every use of a module not below the user's layer, as messages.
fn upward_uses(layers: &BTreeMap<String, usize>, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, text) in files {
        let Some(&layer) = layers.get(file) else {
            bad.push(format!("{file}.rs is not in the layer list of lib.rs"));
            continue;
        };
        for used in uses(text) {
            match layers.get(&used) {
                Some(&l) if l > layer => {}
                Some(&l) => bad.push(format!("{file}.rs (layer {layer}) uses crate::{used} (layer {l}): not below it")),
                None => bad.push(format!("{file}.rs uses crate::{used}, not a file of the layer list (use the module)")),
            }
        }
    }
    bad
}

#[test]
fn no_file_uses_one_of_its_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(path.extension().is_some_and(|e| e == "rs"), "{}: a folder of modules is not in the layer check", path.display());
        if name != "lib" {
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    for name in layers.keys() {
        assert!(files.contains_key(name), "lib.rs lists {name}.rs, which does not exist");
    }
    assert!(layers.len() >= 10, "the layer list was not read: {layers:?}");
    let bad = upward_uses(&layers, &files);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn an_upward_or_sideways_use_is_caught() {
    let layers = layers("//! The layers:\n//!\n//! 1. `top.rs` — the top\n//!    (more words)\n//! 2. `a.rs`, `b.rs` — two\n//! 3. `low.rs` — the bottom\n");
    assert_eq!(layers.values().copied().collect::<Vec<_>>(), [2, 2, 3, 1]);
    let files = |text: &str| -> BTreeMap<String, String> {
        [("top", "use crate::a::X;\nuse crate::{b, low::Y};"), ("a", text), ("b", ""), ("low", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    assert_eq!(upward_uses(&layers, &files("use crate::low::Z; // crate::top in a comment")), Vec::<String>::new());
    assert_eq!(upward_uses(&layers, &files("use crate::top::T;")), ["a.rs (layer 2) uses crate::top (layer 1): not below it"]);
    assert_eq!(upward_uses(&layers, &files("let x = crate::b::f();")), ["a.rs (layer 2) uses crate::b (layer 2): not below it"]);
    assert_eq!(upward_uses(&layers, &files("use crate::{low, top::T};")), ["a.rs (layer 2) uses crate::top (layer 1): not below it"]);
    assert_eq!(upward_uses(&layers, &files("use crate::Reexport;")).len(), 1);
}
