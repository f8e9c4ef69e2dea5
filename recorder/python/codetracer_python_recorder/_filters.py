"""The trace filter chain: what is recorded, and which values are hidden.

Filter files use upstream's TOML schema (``Trace-Filters.md`` of the
CodeTracer trace format spec), so one file serves both recorders::

    [meta]
    name = "my-project"
    version = 1

    [scope]
    default_exec = "trace"            # or "skip"
    default_value_action = "allow"    # or "redact", "drop"

    [[scope.rules]]
    selector = "pkg:json"             # pkg: / file: / obj:, then glob: (default), regex: or literal:
    exec = "trace"                    # or "skip"
    value_default = "allow"           # optional

    [[scope.rules.value_patterns]]
    selector = "local:regex:(?i).*card.*"   # local: / global: / arg: / ret: / attr:
    action = "redact"

The chain, later entries overriding earlier ones: the built-in default
(skip the standard library, installed packages and the interpreter's and
the venv's lib folders; redact values under secret-looking names), the
program the user named (its script, or the module of ``-m`` and its
package, wherever they are installed: ``add_entry``), the
project's ``.codetracer/trace-filter.toml`` found from the script's folder
up, ``CODETRACER_TRACE_FILTER`` (paths separated by ``::``), every
``--trace-filter``, then ``--include`` / ``--exclude``. Rules are compiled
and applied by the native module, once per code object; this module only
reads the files (standard library only, and ``tomllib`` only when a file
is read) and flattens them.
"""

from __future__ import annotations

import os
import sys

from . import _env
from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["resolve", "add_entry", "entry_note", "FILTER_ENV", "PROJECT_FILTER", "BUILTIN_SOURCE", "RUNNERS"]

FILTER_ENV = _env.TRACE_FILTER.name
PROJECT_FILTER = os.path.join(".codetracer", "trace-filter.toml")
BUILTIN_SOURCE = "<inline:builtin-default>"
SUPPORTED_VERSION = 1

# Names that hold secrets, by whole parts: snake_case, kebab-case and dotted
# parts, any case (`db_password`, `API-KEY`, `session_id`), and camelCase
# parts (`apiToken`, `userPassword`, `sessionId`). Whole parts only, and the
# part itself must name a secret: `tokens`, `tokenizer`, `author`, `session`,
# `auth_handler` and `session_count` are not secrets. Only text found under
# such a name is hidden (docs/recorder.md, "Secrets"). Rust `regex` syntax,
# full match.
_WORDS = (
    "password|passwd|passphrase|secret|token|api[_.-]?key|private[_.-]?key|access[_.-]?key|session[_.-]?id|session[_.-]?key"
    "|credentials?|authorization|auth[_.-]?header|cookie"
)
_CAMEL = (
    "Password|Passwd|Passphrase|Secret|Token|ApiKey|PrivateKey|AccessKey|SessionId|SessionKey|Credentials?"
    "|Authorization|AuthHeader|Cookie"
)
_LOWER_HEAD = (
    "password|passwd|passphrase|secret|token|apiKey|privateKey|accessKey|sessionId|sessionKey|credentials?"
    "|authorization|authHeader|cookie"
)
SECRET_PATTERNS = (
    f"regex:(?i)(?:.*[^a-z0-9])?(?:{_WORDS})(?:[^a-z].*)?",
    f"regex:(?:(?:.*[a-z0-9])(?:{_CAMEL})|(?:{_LOWER_HEAD}))(?:[A-Z0-9_.-].*)?",
)
_VALUE_KINDS = ("local", "global", "arg", "attr")
# Folders of installed packages, left out by default.
_PACKAGE_FOLDERS = ("site-packages", "dist-packages")


def _bad(message: str, source: str, **context: str) -> UsageError:
    return UsageError(message, "ERR_INVALID_OPTION", {"source": source, **context})


def _glob_path(path: str) -> str:
    """A folder as a glob covering everything under it (`/` separators)."""
    return path.replace("\\", "/").rstrip("/") + "/**"


def _interpreter_folders() -> list[str]:
    """The standard library and the lib folders of the interpreter and the venv."""
    folders: list[str] = []
    stdlib = os.path.dirname(os.__file__)
    for folder in (
        stdlib,
        *(
            os.path.join(p, lib)
            for p in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix))
            for lib in ("lib", "Lib", "lib64")
        ),
    ):
        folder = os.path.normpath(folder)
        if folder not in folders and (folder == stdlib or os.path.isdir(folder)):
            folders.append(folder)
    return folders


def _builtin(record_all: bool, redact: bool) -> tuple[dict[str, Any], str]:
    """The built-in default as filter data, and a text naming its rules
    (hashed into the metadata like a file's contents)."""
    rules: list[dict[str, Any]] = []
    if not record_all:
        for folder in _interpreter_folders():
            rules.append(
                {
                    "selector": "file:glob:" + _glob_path(folder),
                    "exec": "skip",
                    "reason": "the interpreter's own library",
                }
            )
        for name in _PACKAGE_FOLDERS:
            rules.append({"selector": f"file:glob:**/{name}/**", "exec": "skip", "reason": "installed packages"})
    if redact:
        rules.append(
            {
                "selector": "file:glob:**",
                "reason": "values under secret-looking names",
                "value_patterns": [
                    {"selector": f"{kind}:{p}", "action": "redact"} for kind in _VALUE_KINDS for p in SECRET_PATTERNS
                ],
            }
        )
    doc = {"meta": {"name": "builtin-default", "version": 1}, "scope": {"default_exec": "trace", "rules": rules}}
    text = "\n".join(
        f"{r['selector']} {r.get('exec', '')} "
        + " ".join(f"{p['selector']}={p['action']}" for p in r.get("value_patterns", ()))
        for r in rules
    )
    return doc, text


def _find_project_filter(start: str) -> str | None:
    folder = os.path.abspath(start)
    while True:
        candidate = os.path.join(folder, PROJECT_FILTER)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _read(path: str, source: str) -> tuple[dict[str, Any], bytes]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise _bad(f"cannot read trace filter {path!r} ({source}): {exc.strerror or exc}", source, path=path) from None
    import tomllib  # only when a filter file is read

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(f"invalid trace filter {path}: {exc}", source, path=path) from None
    return doc, data


def _check_keys(table: Any, allowed: Sequence[str], where: str, path: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _bad(f"invalid trace filter {path}: {where} must be a table", path)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _bad(
            f"invalid trace filter {path}: unknown key(s) {', '.join(unknown)} in {where} "
            f"(allowed: {', '.join(allowed)})",
            path,
        )
    return table


def _str_field(
    table: dict[str, Any], key: str, where: str, path: str, choices: Sequence[str] | None = None
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        allowed = f": expected one of {', '.join(choices)}" if choices else ": expected a string"
        raise _bad(f"invalid trace filter {path}: {where}.{key} = {value!r}{allowed}", path)
    return value


def _rebase_file_selector(selector: str, root: str) -> str:
    """`file:` globs and literals relative to the project folder become absolute."""
    kind, _, rest = selector.partition(":")
    if kind != "file":
        return selector
    how, sep, pattern = rest.partition(":")
    if not sep or how not in ("glob", "regex", "literal"):
        how, pattern = "glob", rest
    if how == "regex" or not pattern or pattern.startswith(("/", "**")) or os.path.isabs(pattern):
        return selector
    return f"file:{how}:" + os.path.join(root, pattern).replace("\\", "/")


def _flatten(doc: dict[str, Any], path: str, root: str | None, out: dict[str, Any]) -> None:
    """Appends a filter document's rules to `out` (validated; later files
    override the `[scope]` defaults of earlier ones)."""
    _check_keys(doc, ("meta", "scope"), "the file", path)
    meta = _check_keys(doc.get("meta", {}), ("name", "version", "description", "labels"), "[meta]", path)
    version = meta.get("version", 1)
    if not isinstance(version, int) or version > SUPPORTED_VERSION or version < 1:
        raise _bad(
            f"trace filter {path} has [meta] version {version!r}; this recorder reads version {SUPPORTED_VERSION}", path
        )
    scope = _check_keys(doc.get("scope", {}), ("default_exec", "default_value_action", "rules"), "[scope]", path)
    exec_default = _str_field(scope, "default_exec", "[scope]", path, ("trace", "skip"))
    value_default = _str_field(scope, "default_value_action", "[scope]", path, ("allow", "redact", "drop"))
    if exec_default:
        out["default_exec"] = exec_default
    if value_default:
        out["default_value_action"] = value_default
    rules = scope.get("rules", [])
    if not isinstance(rules, list):
        raise _bad(f"invalid trace filter {path}: scope.rules must be an array of tables", path)
    for i, rule in enumerate(rules):
        where = f"scope.rules[{i}]"
        _check_keys(rule, ("selector", "exec", "value_default", "reason", "value_patterns"), where, path)
        selector = _str_field(rule, "selector", where, path)
        if not selector:
            raise _bad(f"invalid trace filter {path}: {where} has no selector", path)
        patterns = []
        for j, p in enumerate(rule.get("value_patterns", [])):
            pwhere = f"{where}.value_patterns[{j}]"
            _check_keys(p, ("selector", "action", "reason"), pwhere, path)
            psel = _str_field(p, "selector", pwhere, path)
            action = _str_field(p, "action", pwhere, path, ("allow", "redact", "drop"))
            if not psel or not action:
                raise _bad(f"invalid trace filter {path}: {pwhere} needs a selector and an action", path)
            patterns.append((psel, action))
        out["rules"].append(
            {
                "selector": _rebase_file_selector(selector, root) if root else selector,
                "exec": _str_field(rule, "exec", where, path, ("trace", "skip")),
                "value_default": _str_field(rule, "value_default", where, path, ("allow", "redact", "drop")),
                "patterns": patterns,
                "source": path,
            }
        )


def _cli_rule(arg: str, exec_: str, flag: str) -> dict[str, Any]:
    """`--include` / `--exclude`: a path glob (it names a file or folder, or
    holds a path separator, or ends in .py) or a module name glob."""
    looks_like_path = (
        "/" in arg or os.sep in arg or arg.endswith(".py") or arg.startswith((".", "~")) or os.path.exists(arg)
    )
    if looks_like_path:
        path = os.path.abspath(os.path.expanduser(arg))
        selector = "file:glob:" + (_glob_path(path) if os.path.isdir(path) else path.replace("\\", "/"))
    else:
        selector = "pkg:glob:" + arg
    return {"selector": selector, "exec": exec_, "value_default": None, "patterns": [], "source": f"{flag} {arg}"}


def resolve(
    *,
    script_dir: str | None,
    filters: Sequence[str] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    record_all: bool = False,
    redact: bool = True,
    auto_discover: bool = True,
) -> dict[str, Any]:
    """The whole chain, flattened for ``_native.start(trace_filter=...)``.

    Returns ``{default_exec, default_value_action, rules, redact, provenance,
    summary}``: ``provenance`` lists ``(path, content)`` in composition order
    (the native side hashes the contents into the metadata)."""
    out: dict[str, Any] = {"default_exec": "trace", "default_value_action": "allow", "rules": []}
    provenance: list[tuple[str, bytes]] = []
    doc, text = _builtin(record_all, redact)
    _flatten(doc, BUILTIN_SOURCE, None, out)
    provenance.append((BUILTIN_SOURCE, text.encode()))

    paths: list[tuple[str, str]] = []
    if auto_discover and script_dir:
        found = _find_project_filter(script_dir)
        if found:
            paths.append((found, "project filter"))
    env = _env.get(_env.TRACE_FILTER)
    if env:
        paths.extend((p, FILTER_ENV) for p in env.split("::") if p)
    paths.extend((p, "--trace-filter") for p in filters)
    for path, source in paths:
        path = os.path.abspath(path)
        doc, data = _read(path, source)
        folder = os.path.dirname(path)
        root = os.path.dirname(folder) if os.path.basename(folder) == ".codetracer" else folder
        _flatten(doc, path, root, out)
        provenance.append((path, data))
    out["rules"].extend(_cli_rule(a, "trace", "--include") for a in include)
    out["rules"].extend(_cli_rule(a, "skip", "--exclude") for a in exclude)
    if not redact:
        out["default_value_action"] = "allow"
        for rule in out["rules"]:
            rule["patterns"] = [p for p in rule["patterns"] if p[1] == "allow"]
            if rule["value_default"] != "allow":
                rule["value_default"] = None
    out["redact"] = redact
    out["provenance"] = provenance
    out["summary"] = {
        "record_all": record_all,
        "redact": redact,
        "include": list(include),
        "exclude": list(exclude),
        "default_exec": out["default_exec"],
    }
    return out


# Modules whose work is to run the user's own code (tests, a script under a
# debugger or profiler): `-m` naming one of them puts nothing of it in scope.
RUNNERS = frozenset({"pytest", "unittest", "doctest", "pdb", "cProfile", "profile", "trace"})


def add_entry(
    trace_filter: dict[str, Any], *, script: str | None = None, module: str | None = None, origin: str | None = None
) -> None:
    """Puts the program the user named in scope, right after the built-in
    default (so filter files and ``--exclude`` still decide over it): a
    script's file; for ``-m``, the file of the module that runs (``origin``,
    for a package its ``__main__``) and the package it belongs to, covering
    its submodules (``module``: the running module's name, e.g.
    ``json.tool`` or ``black.__main__``). Nothing for a module of
    :data:`RUNNERS` or one without a source file."""
    rules: list[dict[str, Any]] = []
    if script is not None:
        rules.append(_entry_rule("file:literal:" + os.path.abspath(script).replace("\\", "/"), f"the script {script}"))
    elif module and origin and os.path.isfile(origin) and module.partition(".")[0] not in RUNNERS:
        package = module.rpartition(".")[0] or module
        source = f"-m {module.removesuffix('.__main__')}"
        rules.append(_entry_rule("file:literal:" + origin.replace("\\", "/"), source))
        rules.append(_entry_rule("pkg:literal:" + package, source))
    at = sum(1 for r in trace_filter["rules"] if r["source"] == BUILTIN_SOURCE)
    trace_filter["rules"][at:at] = rules
    trace_filter["summary"]["entry"] = [r["selector"] for r in rules]


def _entry_rule(selector: str, source: str) -> dict[str, Any]:
    return {"selector": selector, "exec": "trace", "value_default": None, "patterns": [], "source": source}


def _left_out_by_default(path: str) -> bool:
    """Whether the built-in default leaves the file at `path` out (the
    standard library, the interpreter's and the venv's lib folders,
    installed packages)."""
    path = os.path.normpath(os.path.abspath(path))
    parts = path.split(os.sep)
    return any(path.startswith(folder + os.sep) for folder in _interpreter_folders()) or any(
        name in parts for name in _PACKAGE_FOLDERS
    )


# A trace of a left-out entry with its frame alone (calls: the trace's
# `<toplevel>` and the entry's module) and at most this many steps shows a
# few lines of a `__main__` that handed the work to other code.
ENTRY_ONLY_CALLS = 2
ENTRY_ONLY_STEPS = 10


def entry_note(
    stats: str | None, *, entry: str, origin: str | None, record_all: bool = False, activation: bool = False
) -> str | None:
    """The line saying why a finished trace holds nothing but the entry of
    the program, or None. ``entry``: how the user named it (``-m json.tool``,
    the script's path); ``origin``: its file. Said when the entry is code
    the default leaves out (the standard library, installed packages: in
    scope only because it was named) and the trace holds its frame alone, a
    few lines of it: the work ran in code outside the scope (other
    packages, compiled modules). ``stats``: the JSON counts ``stop()``
    returns."""
    if stats is None or record_all or activation or not origin or not os.path.isfile(origin):
        return None
    if not _left_out_by_default(origin):
        return None  # (before json: a program that never imported it does not pay for it here)
    import json

    counts = json.loads(stats)
    steps, calls = counts.get("steps", 0), counts.get("calls", 0)
    if calls > ENTRY_ONLY_CALLS or steps > ENTRY_ONLY_STEPS:
        return None
    return (
        f"the trace holds only the entry of {entry} ({steps} step{'' if steps == 1 else 's'}, {calls} "
        f"call{'' if calls == 1 else 's'}): the code it ran is outside the recorded scope (the standard library "
        "and installed packages are left out); widen it with --include MODULE_OR_PATH or --record-all"
    )
