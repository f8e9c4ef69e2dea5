"""PYTHONPATH composition: the recorder folder first, never an empty entry,
the original recorded for the recorder to restore."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct._pythonpath import child_environment, prepend


def test_prepend_never_creates_an_empty_entry():
    assert prepend(["/rec"], None, ":") == "/rec"
    assert prepend(["/rec"], "", ":") == "/rec"
    assert prepend(["/rec"], "/a:/b", ":") == "/rec:/a:/b"
    assert prepend(["/rec"], "/a", ";") == "/rec;/a"


def test_the_users_own_empty_entries_are_theirs():
    assert prepend(["/rec"], ":/a", ":") == "/rec::/a"


def test_child_environment_unset():
    env = child_environment({"HOME": "/h"}, "/rec", ":")
    assert env == {"HOME": "/h", "PYTHONPATH": "/rec", "CODETRACER_ORIG_PYTHONPATH": "unset"}


def test_child_environment_empty_and_set():
    assert child_environment({"PYTHONPATH": ""}, "/rec", ":") == {
        "PYTHONPATH": "/rec",
        "CODETRACER_ORIG_PYTHONPATH": "set:",
    }
    assert child_environment({"PYTHONPATH": "/a:/b"}, "/rec", ":") == {
        "PYTHONPATH": "/rec:/a:/b",
        "CODETRACER_ORIG_PYTHONPATH": "set:/a:/b",
    }


def test_a_launchers_record_of_the_original_is_kept():
    upstream = {"PYTHONPATH": "/staged:/a", "CODETRACER_ORIG_PYTHONPATH": "set:/a"}
    assert child_environment(upstream, "/rec", ":") == {
        "PYTHONPATH": "/rec:/staged:/a",
        "CODETRACER_ORIG_PYTHONPATH": "set:/a",
    }


def test_folder_already_on_pythonpath_changes_nothing():
    upstream = {"PYTHONPATH": "/staged", "CODETRACER_ORIG_PYTHONPATH": "unset"}
    assert child_environment(upstream, "/staged", ":") == upstream


def test_no_folder_changes_nothing():
    assert child_environment({"PYTHONPATH": "/a"}, None, ":") == {"PYTHONPATH": "/a"}
