"""docs/architecture.md's map stays true: every repository path it names
in its "Decision → the one place it lives" table, and in the rest of the
page, exists. Grep-based: no wheel needed."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "architecture.md"
TOP = ("recorder/", "ct/", "packaging/", "shims/", "docs/", "tests/", "tools/", "requirements-dev")
#: A path in backticks, optionally followed by a parenthesised symbol: `a/b.py` (`NAME`).
PATH = re.compile(r"`([\w./-]+)`")


def named_paths(text: str) -> list[str]:
    """The repository paths the page names in backticks (those starting at a top folder)."""
    return [p for p in PATH.findall(text) if p.startswith(TOP)]


def test_every_path_of_the_map_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    table = text[text.index("## Decision") :]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| ---")][1:]
    assert len(rows) >= 15, "the decision table has its rows"
    for row in rows:
        assert named_paths(row.split(" | ")[1]), f"a decision without its place: {row}"
    missing = sorted({p for p in named_paths(text) if not (REPO / p).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_readme_links_the_map() -> None:
    assert "docs/architecture.md" in (REPO / "README.md").read_text(encoding="utf-8")
