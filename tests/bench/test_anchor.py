from __future__ import annotations

import pytest

from ctbench.anchor import Anchor, AnchorError, parse_anchor


def test_parses_the_line_among_other_stderr_output() -> None:
    stderr = "warning: something\nANCHOR_RESULT 0.123456 9871 102\nbye\n"
    assert parse_anchor(stderr) == Anchor(0.123456, "9871 102")


def test_check_value_keeps_inner_spaces_and_signs() -> None:
    assert parse_anchor("ANCHOR_RESULT 1.5 -0.169075164 -0.169059907\n").check == "-0.169075164 -0.169059907"


def test_missing_line_is_an_error_quoting_the_stderr_tail() -> None:
    with pytest.raises(AnchorError, match="no ANCHOR_RESULT.*Traceback"):
        parse_anchor("Traceback (most recent call last):\n")


def test_two_lines_are_an_error() -> None:
    with pytest.raises(AnchorError, match="2 ANCHOR_RESULT"):
        parse_anchor("ANCHOR_RESULT 1 a\nANCHOR_RESULT 2 a\n")
