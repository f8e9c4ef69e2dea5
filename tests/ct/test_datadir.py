from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct._datadir import data_dir


def test_order_of_sources():
    env = {"CODETRACER_DATA_DIR": "/ct", "XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}
    assert data_dir(env, "linux") == Path("/ct")
    del env["CODETRACER_DATA_DIR"]
    assert data_dir(env, "linux") == Path("/xdg/codetracer")
    del env["XDG_DATA_HOME"]
    assert data_dir(env, "linux") == Path("/home/u/.local/share/codetracer")


def test_relative_xdg_is_ignored():
    assert data_dir({"XDG_DATA_HOME": "rel", "HOME": "/home/u"}, "linux") == Path("/home/u/.local/share/codetracer")


def test_platform_defaults():
    assert data_dir({"HOME": "/Users/u"}, "darwin") == Path("/Users/u/Library/Application Support/codetracer")
    assert data_dir({"HOME": "/h", "LOCALAPPDATA": "/lad"}, "win32") == Path("/lad/codetracer")
