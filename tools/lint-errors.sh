#!/usr/bin/env bash
# Enforce the recorder's error policy (docs/design/error-policy.md §4, §7, §12): no panicking
# shortcuts and no direct printing in recorder code, no anyhow/eyre.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/lint-errors.sh [ROOT]

Fails (exit 1, listing FILE:LINE) when recorder code under ROOT (default: the
repository's recorder/) uses any of
    .unwrap()  .expect(  panic!(  unreachable!(  todo!(  unimplemented!(
    println!(  eprintln!(  print!(  eprint!(  dbg!(
or when any Cargo.toml under ROOT (the façade's too) names anyhow or eyre.

Not checked: ROOT/crates/recorder-errors/ (the error façade), the logging
module (files named logging.rs, folders named logging/), build.rs (build
scripts talk to cargo on stdout), folders named tests/, benches/, target/ or
starting with a dot, comment lines, and everything from a `#[cfg(test)]` or
`#[cfg(feature = "fault-injection")]` line to the end of its file (test
modules and the test-only fault injector go last by convention).

Use recorder_errors instead: bug!/ensure_internal! for broken invariants,
usage!/enverr!/target! for classified failures, the logging module for
diagnostics. Exit status: 0 clean, 1 violations found, 2 bad usage.
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
if [ $# -gt 1 ]; then
    usage >&2
    exit 2
fi

if [ $# -eq 1 ]; then
    root=${1%/}
else
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    root=recorder
fi
if [ ! -d "$root" ]; then
    echo "lint-errors: $root: not a directory" >&2
    exit 2
fi

# Files to check, NUL-separated and sorted. Pruned folders are never entered.
list_rust_files() {
    find "$root" -mindepth 1 \
        \( -type d \( -name target -o -name tests -o -name benches -o -name logging -o -name '.*' \) -prune \) \
        -o \( -path "$root/crates/recorder-errors" -prune \) \
        -o \( -type f -name '*.rs' ! -name logging.rs ! -name build.rs -print0 \) | sort -z
}
list_manifests() { # every Cargo.toml, the façade's included
    find "$root" -mindepth 1 \
        \( -type d \( -name target -o -name '.*' \) -prune \) \
        -o \( -type f -name Cargo.toml -print0 \) | sort -z
}

# FILE:LINE: text for every offending line of the given Rust files.
rust_violations() {
    awk '
        FNR == 1 { in_tests = 0 }
        /^[ \t]*#\[cfg\((test|feature = "fault-injection")\)\]/ { in_tests = 1 }
        in_tests { next }
        /^[ \t]*\/\// { next }
        /\.unwrap\(\)|\.expect\(|(^|[^A-Za-z0-9_])(panic|unreachable|todo|unimplemented|println|eprintln|print|eprint|dbg)!\(/ {
            line = $0
            sub(/^[ \t]+/, "", line)
            printf "%s:%d: %s\n", FILENAME, FNR, line
        }
    ' "$@"
}

# FILE:LINE: text for every non-comment Cargo.toml line naming anyhow or eyre.
cargo_violations() {
    awk '
        /^[ \t]*#/ { next }
        /(^|[^A-Za-z0-9_])(anyhow|eyre)([^A-Za-z0-9_]|$)/ {
            line = $0
            sub(/^[ \t]+/, "", line)
            printf "%s:%d: %s (anyhow/eyre are not allowed, docs/design/error-policy.md §12)\n", FILENAME, FNR, line
        }
    ' "$@"
}

rust_files=()
while IFS= read -r -d '' f; do rust_files+=("$f"); done < <(list_rust_files)
manifests=()
while IFS= read -r -d '' f; do manifests+=("$f"); done < <(list_manifests)

found=""
if [ ${#rust_files[@]} -gt 0 ]; then
    found+=$(rust_violations "${rust_files[@]}")
fi
if [ ${#manifests[@]} -gt 0 ]; then
    cargo_found=$(cargo_violations "${manifests[@]}")
    if [ -n "$cargo_found" ]; then
        found+="${found:+$'\n'}$cargo_found"
    fi
fi

if [ -n "$found" ]; then
    printf '%s\n' "$found"
    count=$(printf '%s\n' "$found" | wc -l)
    echo "lint-errors: $count violation(s) of the error policy (docs/design/error-policy.md): return a RecorderError" \
        "(bug!, usage!, enverr!, target!, ensure_*!) and log through the logging module; see tools/lint-errors.sh --help" >&2
    exit 1
fi
echo "lint-errors: ${#rust_files[@]} Rust file(s), ${#manifests[@]} Cargo.toml clean under $root" >&2
