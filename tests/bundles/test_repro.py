"""ctbundle._repro: SOURCE_DATE_EPOCH, normalised trees, SHA256SUMS, manifests."""

from __future__ import annotations

import json
import os
import platform
import re
import stat
import sys
from importlib import metadata
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
from ctbundle import _repro
from ctbundle._config import defaults

sys.path.pop(0)


def test_source_date_epoch_from_the_environment(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    assert _repro.source_date_epoch() == 1234567890
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ValueError, match="whole number"):
        _repro.source_date_epoch()


def test_source_date_epoch_defaults_to_the_commit_time_not_now(monkeypatch, tmp_path):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert _repro.source_date_epoch(tmp_path) == _repro.ZIP_EPOCH  # not a git checkout
    assert _repro.source_date_epoch() == _repro.source_date_epoch()


def test_normalize_tree_sets_times_and_modes(tmp_path):
    (tmp_path / "d").mkdir()
    script = tmp_path / "d" / "run"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o700)
    data = tmp_path / "d" / "data"
    data.write_text("x")
    data.chmod(0o600)
    (tmp_path / "link").symlink_to("d/data")
    _repro.normalize_tree(tmp_path, 1700000000)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert stat.S_IMODE(data.stat().st_mode) == 0o644
    for p in (tmp_path, tmp_path / "d", script, data):
        assert p.stat().st_mtime == 1700000000
    assert os.lstat(tmp_path / "link").st_mtime == 1700000000


def test_sha256sums_keep_one_sorted_line_per_artefact(tmp_path):
    b, a = tmp_path / "b.bin", tmp_path / "a.bin"
    b.write_bytes(b"bee")
    a.write_bytes(b"ay")
    _repro.record_artefact(b, kind="x", recorder="1.0", epoch=1)
    _repro.record_artefact(a, kind="x", recorder="1.0", epoch=1)
    b.write_bytes(b"bee2")
    _repro.record_artefact(b, kind="x", recorder="1.0", epoch=1)
    assert (tmp_path / "SHA256SUMS").read_text() == (
        f"{_repro.sha256_file(a)}  a.bin\n{_repro.sha256_file(b)}  b.bin\n"
    )


def test_manifest_records_the_build_tools_versions(tmp_path):
    """Each manifest names the interpreter and the Python build tools it
    was built with; each of those tools is pinned, with hashes, in the lock
    `make setup` installs (requirements-dev.txt)."""
    artefact = tmp_path / "a.bin"
    artefact.write_bytes(b"ay")
    manifest = json.loads(_repro.record_artefact(artefact, kind="x", recorder="1.0", epoch=1).read_text())
    tools = defaults()["repro"]["build_tools"]
    assert manifest["build_tools"]["python"] == platform.python_version()
    assert set(manifest["build_tools"]) == {"python", *tools}
    assert manifest["build_tools"]["jinja2"] == metadata.version("jinja2")
    lock = (_repro.REPO / "requirements-dev.txt").read_text()
    for tool in tools:
        assert re.search(rf"^{re.escape(tool)}==\S+ \\\n    --hash=sha256:[0-9a-f]{{64}}", lock, re.M), tool
