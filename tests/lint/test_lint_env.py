"""One place per decision (docs/recorder.md "Environment variables"): the
CODETRACER_* variables are named only in their registries (the recorder's
src/env.rs and _env.py, ct's _env.py), the three agree, README and the
recorder's --help (rendered from the option table) are checked against them; the format names are spelled
only in the format tables (trace-writer's format.rs, ct's _formats.py).
Grep-based: no wheel needed."""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import sys
import tokenize
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDER_PY = REPO / "recorder" / "python" / "codetracer_python_recorder"
CT = REPO / "ct" / "codetracer_ct"
CRATES = REPO / "recorder" / "crates"
ENV_RS = CRATES / "codetracer-python-recorder" / "src" / "env.rs"
FORMAT_RS = CRATES / "trace-writer" / "src" / "format.rs"

REGISTRIES = {ENV_RS, RECORDER_PY / "_env.py", CT / "_env.py"}
FORMAT_TABLES = {FORMAT_RS, CT / "_formats.py"}
#: Files that may spell a format name besides the tables, and why.
FORMAT_ALLOWED = {
    # The replay cost model: measurements per format (docs/test-runs.md),
    # and trace.json's size rule, keyed by the table's names.
    RECORDER_PY / "_replaycost.py",
}

NAME = re.compile(r"CODETRACER_[A-Z0-9_]+")
FORMAT_NAMES = {"json", "ctfs"}


def python_sources() -> list[Path]:
    return sorted([*RECORDER_PY.rglob("*.py"), *CT.rglob("*.py"), *(REPO / "packaging").rglob("*.py")])


def rust_sources() -> list[Path]:
    return sorted(p for p in CRATES.glob("*/src/**/*.rs"))


def python_literals(text: str) -> list[tuple[int, str]]:
    """(line, value) of every plain string literal (docstrings included;
    a docstring is one literal, so prose in it never equals a name)."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str):
                out.append((tok.start[0], value))
    return out


def rust_code(text: str) -> list[tuple[int, str]]:
    """(line, text) of the code: no comments, nothing from `#[cfg(test)]` on."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == "#[cfg(test)]":
            break
        code = line.split("//", 1)[0] if line.lstrip().startswith("//") or " // " in line else line
        out.append((number, code))
    return out


def env_violations(path: Path, text: str) -> list[str]:
    """A CODETRACER_ name spelled as a literal, or an environment read, outside the registries."""
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    if path.suffix == ".py":
        return [f"{where}:{n}: {v!r}" for n, v in python_literals(text) if NAME.fullmatch(v)]
    found = []
    for n, code in rust_code(text):
        if re.search(r'"CODETRACER_[A-Z0-9_]+"', code) or re.search(r"\benv::(var|var_os|vars)\b", code):
            found.append(f"{where}:{n}: {code.strip()}")
    return found


def format_violations(path: Path, text: str) -> list[str]:
    """A format name spelled as a literal outside the format tables."""
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    if path.suffix == ".py":
        return [f"{where}:{n}: {v!r}" for n, v in python_literals(text) if v in FORMAT_NAMES]
    return [f"{where}:{n}: {c.strip()}" for n, c in rust_code(text) if re.search(r'"(json|ctfs)"', c)]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def rust_registry() -> dict[str, bool]:
    """name -> public, from env.rs's constants (each also in `ALL`)."""
    text = ENV_RS.read_text()
    rows = re.findall(
        r'pub const (\w+): Var = Var \{\s*name: "(\w+)",\s*kind: "[^"]*",\s*default: "[^"]*",'
        r'\s*meaning: "[^"]*",\s*public: (true|false),\s*\};',
        text,
    )
    table = re.search(r"pub const ALL: \[&Var; (\d+)\] = \[(.*?)\];", text, re.S)
    assert rows and table
    assert sorted(re.findall(r"&(\w+)", table.group(2))) == sorted(c for c, _, _ in rows), "ALL lists every constant"
    assert int(table.group(1)) == len(rows)
    return {name: public == "true" for _, name, public in rows}


RECORDER_ENV = load(RECORDER_PY / "_env.py", "recorder_env_registry")
CT_ENV = load(CT / "_env.py", "ct_env_registry")
CT_FORMATS = load(CT / "_formats.py", "ct_formats_table")


def registry() -> dict[str, bool]:
    """Every variable of the three registries: name -> public (they must agree)."""
    merged: dict[str, bool] = {}
    for source in (
        rust_registry(),
        {v.name: v.public for v in RECORDER_ENV.ALL},
        {v.name: v.public for v in CT_ENV.ALL},
    ):
        for name, public in source.items():
            assert merged.setdefault(name, public) == public, f"{name}: public in one registry, internal in another"
    return merged


def test_registries_list_their_constants_and_agree() -> None:
    for module in (RECORDER_ENV, CT_ENV):
        constants = [v for k, v in vars(module).items() if k.isupper() and isinstance(v, module.Var)]
        assert sorted(v.name for v in constants) == sorted(v.name for v in module.ALL)
        assert len({v.name for v in module.ALL}) == len(module.ALL)
    assert len(registry()) > 20


def test_no_variable_is_named_outside_its_registry() -> None:
    found = []
    for path in python_sources() + rust_sources():
        if path not in REGISTRIES:
            found += env_violations(path, path.read_text())
    assert found == [], "read the variable through the registry (docs/recorder.md):\n" + "\n".join(found)


def test_the_scan_catches_a_read_outside_the_registry(tmp_path: Path) -> None:
    py = tmp_path / "x.py"
    assert env_violations(py, 'import os\nx = os.environ.get("CODETRACER_NEW")\n"""Doc: CODETRACER_OK."""\n') == [
        f"{py}:2: 'CODETRACER_NEW'"
    ]
    rs = tmp_path / "x.rs"
    text = (
        '// CODETRACER_OK in a comment\nlet a = std::env::var("HOME");\nlet b = f("CODETRACER_NEW");\n'
        '#[cfg(test)]\nmod tests { const N: &str = "CODETRACER_TEST"; }\n'
    )
    assert [v.split(": ", 1)[0] for v in env_violations(rs, text)] == [f"{rs}:2", f"{rs}:3"]


def test_format_names_are_spelled_only_in_the_format_tables() -> None:
    found = []
    for path in python_sources() + rust_sources():
        if path not in FORMAT_TABLES | FORMAT_ALLOWED:
            found += format_violations(path, path.read_text())
    assert found == [], "use the format table (format.rs, _native.FORMATS, ct's _formats.py):\n" + "\n".join(found)


def test_the_scan_catches_a_format_name(tmp_path: Path) -> None:
    assert format_violations(tmp_path / "x.py", 'fmt = "ctfs"\n"""Say "json" in prose."""\n') == [
        f"{tmp_path / 'x.py'}:1: 'ctfs'"
    ]
    assert len(format_violations(tmp_path / "x.rs", 'let f = "json";\n// "json"\n')) == 1


def test_ct_format_table_mirrors_the_recorders() -> None:
    rows = dict(re.findall(r'name: "(\w+)",\s*files: \["([^"]+)"', FORMAT_RS.read_text()))
    assert rows == CT_FORMATS.TRACE_FILES


def readme_table_rows() -> dict[str, str]:
    """Variable -> the README option-table row naming it."""
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("|"):
            for name in NAME.findall(line):
                rows.setdefault(name, line)
    return rows


def test_readme_names_every_public_variable_and_no_other() -> None:
    known = registry()
    readme = (REPO / "README.md").read_text()
    named = set(NAME.findall(readme))
    assert sorted(named - set(known)) == [], "README names a variable no registry lists"
    assert sorted(n for n, public in known.items() if public and n not in named) == [], (
        "README misses a public variable"
    )
    rows = readme_table_rows()
    recorder = set(rust_registry()) | {v.name for v in RECORDER_ENV.ALL}
    assert sorted(n for n in recorder if known[n] and n not in rows) == [], (
        "a recorder variable lacks its option-table row"
    )
    for var in RECORDER_ENV.ALL:
        if var.flag:
            assert rows[var.name].split("|")[1].find(f"`{var.flag}") >= 0, (
                f"{var.name}: README's row is not {var.flag}'s"
            )


def test_shims_name_only_registry_variables() -> None:
    known = registry()
    named = {n for p in (REPO / "shims").rglob("*") if p.is_file() for n in NAME.findall(p.read_text(errors="replace"))}
    assert named and sorted(named - set(known)) == []


def test_help_names_the_variables_of_its_options() -> None:
    """--help is rendered from the option table (_config.help_entry names
    each row's variable), so each variable that stands for a flag must be
    that flag's row's (a `var=_env.NAME` of _config.py's OPTIONS); the
    hand-written rest of --help (cli.py's usage()) names only listed public
    variables. (tests/recorder/test_errors.py checks the --help it prints.)"""
    rows: dict[str, str | None] = {}
    for node in ast.walk(ast.parse((RECORDER_PY / "_config.py").read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Option":
            var = next((k.value for k in node.keywords if k.arg == "var"), None)
            name = var.attr if isinstance(var, ast.Attribute) else None
            rows.update(dict.fromkeys(ast.literal_eval(node.args[1]), name))
    assert len(rows) > 10
    for const in dir(RECORDER_ENV):
        var = getattr(RECORDER_ENV, const)
        if isinstance(var, RECORDER_ENV.Var) and var.flag:
            assert rows.get(var.flag) == const, f"--help: {var.flag}'s row in _config.OPTIONS is not var=_env.{const}"
    source = (RECORDER_PY / "cli.py").read_text()
    usage = re.search(r'def usage\(\) -> str:.*?return f"""(.*?)"""', source, re.S)
    assert usage is not None
    known = registry()
    assert sorted(n for n in NAME.findall(usage.group(1)) if not known.get(n)) == [], (
        "--help names an unknown or internal variable"
    )


@pytest.mark.parametrize("module", [RECORDER_ENV, CT_ENV], ids=["recorder", "ct"])
def test_every_entry_says_what_it_means(module: ModuleType) -> None:
    for var in module.ALL:
        assert var.name.startswith("CODETRACER_") and var.type and var.meaning, var.name
