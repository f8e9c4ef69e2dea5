"""Code cites documents a clone holds: the design notes under docs/ (by file
and section), never an issue number or a design record that lives elsewhere,
and every docs/... path it names exists (docs/design/error-policy.md says why
citations matter: a newcomer must be able to follow them)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Code, build files and templates; docs (*.md) may tell history with issue
# numbers, but the paths they cite must exist too.
CODE_SUFFIXES = {
    ".py",
    ".pyi",
    ".rs",
    ".sh",
    ".toml",
    ".j2",
    ".c",
    ".h",
    ".cmd",
    ".ps1",
    ".nsi",
    ".yml",
    ".yaml",
    ".cfg",
    ".in",
}
CODE_NAMES = {"Makefile", "Dockerfile"}
SKIP_DIRS = {"target", "build", "dist", "node_modules", "__pycache__"}

# Built from parts so that this file does not cite what it forbids.
OUTSIDE_RECORD = re.compile(r"\b" + "A" + r"DR[ -]?0\d{3}\b")
ISSUE_NUMBER = re.compile(r"\b" + "iss" + r"ues? #?\d+", re.IGNORECASE)
DOCS_PATH = re.compile(r"(?<![\w/.-])(docs/[\w./-]*\w\.md)")
DESIGN_SECTIONS = re.compile(r"(docs/design/[\w-]+\.md)((?:(?:,|\s|and|-|–)*§\d+)+)")
SECTION_HEADING = re.compile(r"^## (\d+)\. ", re.MULTILINE)
DOCS = "docs" + "/"  # the self-tests' bad citations, built so that this file cites none


def _repo_files() -> list[Path]:
    """Tracked and new files (not ignored ones); a tree without git is walked."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
            names += [os.path.relpath(os.path.join(root, f), REPO) for f in files]
    return [REPO / n for n in names if (REPO / n).is_file()]


def _is_code(path: Path) -> bool:
    rel = path.relative_to(REPO)
    rendered_launcher = rel.parts[:3] == ("tests", "shims", "golden")
    return path.suffix in CODE_SUFFIXES or path.name in CODE_NAMES or rendered_launcher


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def citation_problems(path: Path, text: str, *, code: bool) -> list[str]:
    """What is wrong with the citations of one file, one line per problem."""
    problems = []
    rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    for lineno, line in enumerate(text.splitlines(), 1):
        if code:
            for pattern, what in (
                (OUTSIDE_RECORD, "a design record outside the repository"),
                (ISSUE_NUMBER, "an issue number"),
            ):
                for m in pattern.finditer(line):
                    problems.append(f"{rel}:{lineno}: cites {what} ({m.group(0)!r}): cite docs/ instead")
        for m in DOCS_PATH.finditer(line):
            if not (REPO / m.group(1)).is_file():
                problems.append(f"{rel}:{lineno}: cites {m.group(1)}, which does not exist")
    for m in DESIGN_SECTIONS.finditer(text):
        doc = REPO / m.group(1)
        if not doc.is_file():
            continue  # said above
        have = set(SECTION_HEADING.findall(doc.read_text(encoding="utf-8")))
        lineno = text.count("\n", 0, m.start()) + 1
        for n in re.findall(r"§(\d+)", m.group(2)):
            if n not in have:
                problems.append(f"{rel}:{lineno}: cites {m.group(1)} §{n}, which has no section {n}")
    return problems


def test_code_cites_documents_in_the_repository() -> None:
    problems = []
    checked = 0
    for path in _repo_files():
        code = _is_code(path)
        if not code and path.suffix != ".md":
            continue
        text = _text(path)
        if text is None:
            continue
        checked += 1
        problems += citation_problems(path, text, code=code)
    assert checked > 100, f"only {checked} files checked: is {REPO} the repository?"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("# see " + "A" + "DR 0004 §5", "design record outside the repository"),
        ("// the goal rows of " + "iss" + "ue 17", "an issue number"),
        ('"""Fixed in ' + "Iss" + 'ue #8."""', "an issue number"),
        ("# " + DOCS + "design/no-such-note.md §1", "does not exist"),
        ("# " + DOCS + "design/error-policy.md §99 (no such section)", "has no section 99"),
        ("# " + DOCS + "design/error-policy.md §2, §3 and §77", "has no section 77"),
    ],
)
def test_a_bad_citation_is_named_with_its_line(line: str, complaint: str) -> None:
    problems = citation_problems(REPO / "x.py", f"ok = 1\n{line}\n", code=True)
    assert len(problems) == 1 and "x.py:2: " in problems[0] and complaint in problems[0], problems


@pytest.mark.parametrize(
    "line",
    [
        "# docs/design/error-policy.md §5 (exit codes: docs/errors.md)",
        "# docs/design/bundling-and-ct-record.md §2, §3, §5",
        "tissue 5; reissue 3 times",
        "# see ../shared/tools/REPLAY.md",
    ],
)
def test_good_citations_pass(line: str) -> None:
    assert citation_problems(REPO / "x.py", line, code=True) == []


def test_docs_may_tell_history_but_cite_existing_paths() -> None:
    md = REPO / "docs" / "x.md"
    assert citation_problems(md, "measured for " + "iss" + "ue 8", code=False) == []
    assert citation_problems(md, "see " + DOCS + "nope.md", code=False) != []
