"""Fixtures of the end-to-end `ct` tests: the REAL recorder wheel, installed
in venvs (tests/conftest.py `recorder_python`), unpacked into a folder (what
the bundle stages in resources/python/), and a staged folder holding both
the recorder and `codetracer_ct`, as the release toolkit lays it out."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from ..conftest import CT_SOURCE, recorder_wheel


@pytest.fixture(scope="session")
def recorder_site(tmp_path_factory) -> Path:
    """The unpacked recorder wheel: a folder that makes the recorder
    importable when it is on PYTHONPATH."""
    folder = tmp_path_factory.mktemp("recorder-site")
    with zipfile.ZipFile(recorder_wheel()) as wheel:
        wheel.extractall(folder)
    assert (folder / "codetracer_python_recorder" / "__init__.py").is_file()
    return folder


@pytest.fixture(scope="session")
def staged(tmp_path_factory, recorder_site: Path) -> Path:
    """resources/python/: the recorder plus the ct package next to it."""
    folder = tmp_path_factory.mktemp("resources") / "python"
    shutil.copytree(recorder_site, folder)
    shutil.copytree(CT_SOURCE / "codetracer_ct", folder / "codetracer_ct", ignore=shutil.ignore_patterns("__pycache__"))
    return folder
