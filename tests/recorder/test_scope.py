"""What a trace of the user's program holds: the program's own code by
default (not the standard library, installed packages or the recorder),
scope widened or narrowed by options and filter files in upstream's TOML
schema, secrets redacted, the program's output as events, and an error end
flagged (README "Scope: what is recorded", docs/recorder.md "Scope, secrets
and output")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import PROGRAMS, Trace

STDLIB_MARKERS = ("/lib/python3", "site-packages")


def own_paths(t: Trace) -> list[str]:
    return [p for p in t.paths if not any(m in p for m in STDLIB_MARKERS)]


def events_of(t: Trace, kind: int) -> list[str]:
    return [e["Event"]["content"] for e in t.events if "Event" in e and e["Event"]["kind"] == kind]


def test_default_scope_records_the_program_not_the_standard_library(record) -> None:
    plain, recorded, out = record(["cli_tool.py"])
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    t = Trace(out)
    assert t.paths == [str(PROGRAMS / "cli_tool.py")]
    names = {f["name"] for f in t.functions}
    assert {"parse", "main", "<__main__>"} <= names
    assert not any(n.startswith(("_parse", "ArgumentParser", "Counter", "dumps", "basicConfig")) for n in names), names
    size = (out / "trace.json").stat().st_size
    assert size <= 1_000_000, size
    scope = t.meta["trace_filter"]
    assert scope["filters"][0]["path"] == "<inline:builtin-default>" and len(scope["filters"][0]["sha256"]) == 64
    assert scope["record_all"] is False
    assert t.meta["metrics"]["skipped_code_objects"] > t.meta["metrics"]["recorded_code_objects"] > 0


def test_record_all_records_the_standard_library_too(record) -> None:
    _, recorded, out = record(["cli_tool.py"], extra=["--record-all"])
    assert recorded.returncode == 0
    # ~300 MB of trace.json (checked by ct-trace-check in `record`): the
    # paths and the metadata say what this test asks, without parsing it.
    paths = json.loads((out / "trace_paths.json").read_text(encoding="utf-8"))
    assert any("/argparse.py" in p for p in paths)
    assert json.loads((out / "trace_metadata.json").read_text(encoding="utf-8"))["trace_filter"]["record_all"] is True


def test_importing_json_and_threading_records_almost_nothing(record) -> None:
    _, recorded, out = record(["imports_only.py"])
    assert recorded.returncode == 0
    t = Trace(out)
    assert t.paths == [str(PROGRAMS / "imports_only.py")]
    assert (out / "trace.json").stat().st_size <= 50_000


def test_skipped_code_calling_back_into_the_program_shows_its_calls(record) -> None:
    plain, recorded, out = record(["callbacks.py"])
    assert recorded.stdout == plain.stdout
    t = Trace(out)
    calls = t.calls()
    assert calls.count("key") == 3 and calls.count("double") == 2 and calls.count("<lambda>") == 1
    assert t.balanced()
    # The recorded caller is the parent: every callback returns into <__main__>.
    parents: list[str] = []
    stack: list[str] = []
    for e in t.events:
        if "Call" in e:
            name = t.functions[e["Call"]["function_id"]]["name"]
            if name in ("key", "double", "<lambda>"):
                parents.append(stack[-1])
            stack.append(name)
        elif "Return" in e:
            stack.pop()
    assert set(parents) == {"<__main__>"}, parents


def test_include_and_exclude_on_the_command_line(record) -> None:
    _, recorded, out = record(["cli_tool.py"], extra=["--include", "json", "--exclude", "json.decoder"])
    assert recorded.returncode == 0
    t = Trace(out)
    assert any(p.endswith("/json/encoder.py") for p in t.paths), t.paths
    assert not any(p.endswith("/json/decoder.py") for p in t.paths)
    assert not any(p.endswith("/argparse.py") for p in t.paths)
    assert t.meta["trace_filter"]["include"] == ["json"]
    assert t.meta["trace_filter"]["exclude"] == ["json.decoder"]


def test_project_filter_file_includes_a_stdlib_module_and_skips_a_program_file(record) -> None:
    project = PROGRAMS / "scope_project"
    plain, recorded, out = record(["app/main.py"], cwd=project)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    t = Trace(out)
    own = own_paths(t)
    assert own == [str(project / "app" / "main.py")], t.paths
    stdlib = [p for p in t.paths if p not in own]
    assert stdlib and all("/json/" in p for p in stdlib), stdlib
    names = {f["name"] for f in t.functions}
    assert "encode" in names and "shout" not in names
    assert "JSONEncoder.encode" in names
    filters = [f["path"] for f in t.meta["trace_filter"]["filters"]]
    assert filters == ["<inline:builtin-default>", str(project / ".codetracer" / "trace-filter.toml")]
    # --no-auto-filter: the default scope again.
    _, _, out2 = record(["app/main.py"], cwd=project, extra=["--no-auto-filter", "--trace-dir", str(out) + "-2"])
    t2 = Trace(Path(str(out) + "-2"))
    assert own_paths(t2) == t2.paths and "shout" in {f["name"] for f in t2.functions}


def test_filter_files_from_the_command_line_and_the_environment_chain(record, tmp_path: Path) -> None:
    skip_main = tmp_path / "skip.toml"
    skip_main.write_text('[scope]\n[[scope.rules]]\nselector = "obj:glob:__main__.key"\nexec = "skip"\n')
    trace_json = tmp_path / "json.toml"
    trace_json.write_text('[scope]\n[[scope.rules]]\nselector = "pkg:literal:json"\nexec = "trace"\n')
    _, recorded, out = record(
        ["callbacks.py"], extra=["--trace-filter", str(skip_main)], env={"CODETRACER_TRACE_FILTER": str(trace_json)}
    )
    assert recorded.returncode == 0, recorded.stderr
    t = Trace(out)
    assert "key" not in t.calls() and t.calls().count("double") == 2
    assert [f["path"] for f in t.meta["trace_filter"]["filters"]][1:] == [str(trace_json), str(skip_main)]


@pytest.mark.parametrize(
    "content, words",
    [
        ("[scope]\ndefault_exec = 'maybe'\n", ["default_exec", "maybe", "trace, skip"]),
        ("[[scope.rules]]\nselector = 'module:x'\nexec = 'skip'\n", ["module:x", "unknown kind"]),
        ("[[scope.rules]]\nselector = 'file:regex:('\nexec = 'skip'\n", ["file:regex:("]),
        ("[scope\n", ["invalid trace filter"]),
        ("[meta]\nversion = 2\n", ["version 2"]),
        ("[[scope.rules]]\nselecter = 'pkg:x'\n", ["unknown key", "selecter"]),
    ],
)
def test_a_bad_filter_file_is_a_usage_error_naming_the_file(
    record, tmp_path: Path, content: str, words: list[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    _, recorded, out = record(["callbacks.py"], extra=["--trace-filter", str(bad), "--json-errors"])
    assert recorded.returncode == 2
    err = recorded.stderr.decode()
    assert str(bad) in err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()


def test_secrets_are_redacted_wherever_they_are_held(record) -> None:
    plain, recorded, out = record(["secrets_held.py"])
    assert recorded.stdout == plain.stdout
    text = (out / "trace.json").read_text()
    for secret in (
        "hunter2",
        "tok-5ecret-0001",
        "s3cr3t-db-pw",
        "ak-live-9999",
        "c00kie-value",
        "module-level-secret-key-42",
    ):
        assert secret not in text, secret
    t = Trace(out)
    assert '"<redacted>"' in text
    # Names that only look like secrets stay: `tokens`, `user`, `retries`, `path`.
    assert any(v["kind"] == "Sequence" for v in t.values_of("tokens"))
    assert {v.get("text") for v in t.values_of("user")} == {"bob"}
    assert t.meta["metrics"]["redacted_values"] >= 6
    # The redacted value keeps its type.
    pw = [v for v in t.values_of("password")]
    assert pw and all(v == {"kind": "Raw", "r": "<redacted>", "type_id": v["type_id"]} for v in pw)
    assert t.type_name(pw[0]) == "str"


def test_only_text_under_a_secret_looking_name_is_redacted(record) -> None:
    plain, recorded, out = record(["secrets_typed.py"])
    assert recorded.returncode == plain.returncode == 0, recorded.stderr
    text = (out / "trace.json").read_text()
    assert "secret-" not in text  # every secret string of the program
    t = Trace(out)

    def last(name: str) -> dict:
        return t.values_of(name)[-1]

    def is_redacted(v: dict, type_name: str) -> bool:
        return v["kind"] == "Raw" and v["r"] == "<redacted>" and t.type_name(v) == type_name

    # Names that are no secret, and numbers under names that are.
    assert last("session_count")["i"] == 3
    assert last("token_count")["i"] == 9
    assert last("api_key")["i"] == 42  # rebound from a str to an int
    # Strings and bytes under secret names, wherever they are held.
    for name in ("password", "session_id"):
        assert all(is_redacted(v, "str") for v in t.values_of(name)), t.values_of(name)
    assert is_redacted(t.values_of("api_key")[0], "str")
    assert is_redacted(last("private_key"), "bytes")
    pw, count, user = last("settings")["elements"]
    assert is_redacted(pw["elements"][1], "str") and count["elements"][1]["i"] == 7
    assert user["elements"][1]["text"] == "bob"
    c = last("credentials")["elements"]
    assert is_redacted(c[0], "str") and c[1]["i"] == 5 and is_redacted(c[2]["elements"][0], "str")
    assert c[2]["elements"][1]["kind"] == "None"
    # Classes, functions and modules hold no secret text.
    for name in ("secret_handler", "auth_token", "session_key"):
        assert "<redacted>" not in json.dumps(last(name)), (name, last(name))
    assert t.meta["metrics"]["redacted_values"] > 0


def test_no_redact_keeps_the_values(record) -> None:
    _, recorded, out = record(["secrets_held.py"], extra=["--no-redact"])
    text = (out / "trace.json").read_text()
    assert "hunter2" in text and "tok-5ecret-0001" in text and "<redacted>" not in text
    assert Trace(out).meta["trace_filter"]["redact"] is False


def test_filter_value_patterns_redact_and_drop(record, tmp_path: Path) -> None:
    f = tmp_path / "values.toml"
    f.write_text(
        '[[scope.rules]]\nselector = "file:glob:**"\n'
        '[[scope.rules.value_patterns]]\nselector = "local:literal:tokens"\naction = "redact"\n'
        '[[scope.rules.value_patterns]]\nselector = "arg:literal:user"\naction = "drop"\n'
        '[[scope.rules.value_patterns]]\nselector = "local:literal:apiKey"\naction = "allow"\n'
    )
    _, recorded, out = record(["secrets_held.py"], extra=["--trace-filter", str(f)])
    assert recorded.returncode == 0, recorded.stderr
    t = Trace(out)
    # Redacting a list hides its text, not its shape.
    tokens = t.values_of("tokens")
    assert tokens and all(
        [(e["kind"], e["r"], t.type_name(e)) for e in v["elements"]] == [("Raw", "<redacted>", "str")] * 2
        for v in tokens
    ), tokens
    login_args = [
        e["Call"]["args"] for e in t.events if "Call" in e and t.functions[e["Call"]["function_id"]]["name"] == "login"
    ]
    assert [t.varnames[a["variable_id"]] for a in login_args[0]] == ["password"]
    assert "ak-live-9999" in (out / "trace.json").read_text()


def test_output_becomes_events_on_the_step_that_wrote_it(record) -> None:
    plain, recorded, out = record(["output_end.py"])
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    t = Trace(out)
    stdout = "".join(events_of(t, 0))
    stderr = "".join(events_of(t, 2))
    assert stdout.encode() == plain.stdout
    assert stderr.encode() == plain.stderr
    # The first write is an event of line 6's step (print in work).
    last_step = None
    for e in t.events:
        if "Step" in e:
            last_step = e["Step"]["line"]
        if "Event" in e:
            assert last_step == 6, e
            break
    # The error end: an Error event on the last step, the first of its events
    # (the replay backend reads the last step's first event), then the traceback.
    assert events_of(t, 11) == ["ZeroDivisionError: integer division or modulo by zero"]
    last_step = max(i for i, e in enumerate(t.events) if "Step" in e)
    tail = [e["Event"] for e in t.events[last_step:] if "Event" in e]
    assert tail[0]["kind"] == 11 and tail[1]["kind"] == 2 and tail[1]["content"].startswith("Traceback")


@pytest.mark.parametrize(
    "program, error", [("exit_three.py", "SystemExit: exit status 3"), ("exit_msg.py", None), ("exit_none.py", None)]
)
def test_sys_exit_ends(record, program: str, error: str | None) -> None:
    plain, recorded, out = record([program])
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    t = Trace(out)
    errors = events_of(t, 11)
    if program == "exit_msg.py":
        assert len(errors) == 1 and errors[0].startswith("SystemExit: ")
        assert "".join(events_of(t, 2)).encode() == plain.stderr
    else:
        assert errors == ([error] if error else [])


def test_api_start_takes_the_scope_options(recorder_python: Path, tmp_path: Path) -> None:
    prog = tmp_path / "api_scope.py"
    prog.write_text(
        "import json, sys\n"
        "import codetracer_python_recorder as ctr\n"
        "def f(password):\n"
        "    return json.dumps({'n': 1})\n"
        "with ctr.trace(sys.argv[1], include=['json']):\n"
        "    f('pw-1234')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETRACER_")}
    import subprocess

    p = subprocess.run([str(recorder_python), str(prog), str(tmp_path / "t")], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    t = Trace(tmp_path / "t")
    assert any(path.endswith("/json/__init__.py") for path in t.paths)
    assert "pw-1234" not in (tmp_path / "t" / "trace.json").read_text()
    assert json.loads((tmp_path / "t" / "trace_metadata.json").read_text())["trace_filter"]["include"] == ["json"]
