"""Standard-library values (complex, Decimal, Fraction, datetime, UUID,
pathlib paths, enum members) are shown by their data, read without running
any of the program's code (docs/recorder.md "Values never run user code")."""

from __future__ import annotations

from typing import Any

from .conftest import Trace


def _last(t: Trace, name: str, lang_type: str) -> dict[str, Any]:
    """The last value of variable `name` shown with type `lang_type` (the
    standard library's own frames are recorded too and reuse short names)."""
    values = [v for v in t.values_of(name) if t.type_name(v) == lang_type]
    assert values, f"no {lang_type} value of {name!r}"
    return values[-1]


def _history(t: Trace, name: str, lang_type: str) -> list[Any]:
    """The successive values of `name` (every step repeats the snapshot)."""
    out: list[Any] = []
    for v in t.values_of(name):
        if t.type_name(v) == lang_type:
            shown = v.get("r", v)
            if not out or out[-1] != shown:
                out.append(shown)
    return out


def test_standard_values_show_their_data(record) -> None:
    plain, recorded, trace_dir = record(["std_values.py"])
    assert recorded.returncode == plain.returncode == 0, recorded.stderr
    # No __repr__/__str__/isoformat of a subclass or impostor ran.
    assert recorded.stdout == plain.stdout == b"done []\n"
    assert b"layout" not in recorded.stderr  # every self-check passed
    t = Trace(trace_dir)
    expected = {
        ("c", "complex"): "(1+2j)",
        ("j", "complex"): "2.5j",
        ("d", "Decimal"): "Decimal('2.75')",
        ("big", "Decimal"): "Decimal('-12345678901234567890123.4500')",
        ("tiny", "Decimal"): "Decimal('1E-9')",
        ("nan", "Decimal"): "Decimal('NaN')",
        ("loud", "Loud"): "Loud('2.5')",
        ("fr", "Fraction"): "Fraction(5, 4)",
        ("day", "date"): "date(2024, 1, 2)",
        ("moment", "datetime"): "datetime(2024, 1, 2, 3, 4, 5, 7)",
        ("precise", "datetime"): "datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)",
        ("clock", "time"): "time(13, 30)",
        ("span", "timedelta"): "timedelta(days=4, seconds=20)",
        ("stamp", "Stamp"): "Stamp(2020, 5, 6, 7, 8)",
        ("u", "UUID"): "UUID('12345678-1234-5678-1234-567812345678')",
        ("p", "PosixPath"): "PosixPath('/a/b/c')",
        ("pp", "PurePosixPath"): "PurePosixPath('x/y')",
        ("pw", "PureWindowsPath"): "PureWindowsPath('C:/a', 'b')",
        ("red", "Color"): "<Color.RED: 1>",
        ("green", "Color"): "<Color.GREEN: 'g'>",
        ("rw", "Perm"): "<Perm.R|W: 6>",
    }
    for (name, lang_type), text in expected.items():
        v = _last(t, name, lang_type)
        assert v["kind"] == "Raw" and v["r"] == text, (name, v)
        assert t.types[v["type_id"]]["kind"] == 16  # Raw
    # Every value the variable held, in order (change detection sees each).
    assert _history(t, "d", "Decimal") == ["Decimal('1.50')", "Decimal('2.75')"]
    assert _history(t, "fr", "Fraction") == ["Fraction(3, 4)", "Fraction(5, 4)"]
    spans = _history(t, "span", "timedelta")
    assert spans == ["timedelta(days=1, seconds=5)", "timedelta(days=2, seconds=10)", "timedelta(days=4, seconds=20)"]
    amounts = [[e["r"] for e in v["elements"]] for v in _history(t, "amounts", "list")]
    assert amounts[0] == ["Decimal('1.1')", "Decimal('2.2')"] and amounts[-1] == ["Decimal('2.2')", "Decimal('4.4')"]
    assert ["Decimal('2.2')", "Decimal('2.2')"] in amounts
    box = _last(t, "box", "list")
    assert [e["r"] for e in box["elements"]] == ["Decimal('1.50')", "Fraction(5, 4)", "<Color.RED: 1>"]
    # A class pretending to be a Decimal (through __class__) is shown as what it is.
    fake = _last(t, "fake", "Fake")
    assert "Decimal" not in str(fake)
    # The str the program made of a path is the one shown for the path.
    assert _last(t, "s", "str")["text"] == "/a/b/c"
