"""Stage ``resources/python/``: the recorder wheel(s) unpacked into an
importable folder with PyPA's ``installer``, the ``.whl`` files kept beside
them for ``pip install``, and the ``ct`` runtime package copied next to them.

Layout (docs/interfaces.md §4)::

    dest/codetracer_python_recorder/            unpacked wheel(s)
    dest/codetracer_python_recorder-X.Y.Z.dist-info/
    dest/codetracer_ct/                         the ct runtime
    dest/wheels/*.whl
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from ._config import defaults, repo_root
from ._errors import InputRefused, MissingInput
from ._log import info

__all__ = ["stage", "StagingConflict"]

_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


class StagingConflict(InputRefused):
    """Two wheels put different bytes at the same path outside .dist-info."""


class _Folder(SchemeDictionaryDestination):
    """An installer destination that is a plain folder shared by several
    wheels (e.g. per-version builds of one package):

    - no console scripts (they would name the build machine's interpreter;
      the launcher shims replace them);
    - a file that another wheel already wrote with the same bytes is fine,
      different bytes are a :class:`StagingConflict`, except inside
      ``*.dist-info/`` where the last wheel's metadata wins.
    """

    def write_to_fs(self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool) -> RecordEntry:
        target = Path(self.scheme_dict[scheme]) / path
        if target.exists():
            data = stream.read()
            in_dist_info = path.split("/", 1)[0].endswith(".dist-info")
            if target.read_bytes() != data and not in_dist_info:
                raise StagingConflict(f"two wheels disagree about {path}")
            target.unlink()
            stream = io.BytesIO(data)
        return super().write_to_fs(scheme, path, stream, is_executable)

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        return RecordEntry(f"(script {name} not staged)", None, None)

    def finalize_installation(
        self, scheme: Scheme, record_file_path: str, records: Iterable[tuple[Scheme, RecordEntry]]
    ) -> None:
        kept = [(s, r) for s, r in records if s != "scripts"]
        super().finalize_installation(scheme, record_file_path, kept)


def _unpack(wheel: Path, dest: Path) -> None:
    folder = _Folder(
        scheme_dict={name: str(dest) for name in _SCHEMES},
        interpreter=sys.executable,
        script_kind="posix",
        bytecode_optimization_levels=(),
    )
    with WheelFile.open(wheel) as source:
        install(source, folder, additional_metadata={"INSTALLER": b"ctbundle\n"})


def stage(dest: Path, wheels: Sequence[Path], *, ct_package: Path | None = None) -> Path:
    """Create ``dest`` afresh from ``wheels`` and the ``ct`` runtime package
    (default: ``ct/codetracer_ct`` of the checkout); return ``dest``."""
    if not wheels:
        raise ValueError("stage() needs at least one wheel")
    d = defaults()["stage"]
    ct_src = ct_package if ct_package is not None else repo_root() / d["ct_package"]
    if not (ct_src / "__init__.py").is_file() and not (ct_src / "__main__.py").is_file():
        raise MissingInput(f"the ct runtime package is missing: {ct_src}")
    missing = [w for w in wheels if not Path(w).is_file()]
    if missing:
        raise MissingInput(f"no such wheel: {', '.join(map(str, missing))}")

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    kept = dest / d["wheels_subdir"]
    kept.mkdir()
    for wheel in wheels:
        info(f"staging {Path(wheel).name} into {dest}")
        _unpack(Path(wheel), dest)
        shutil.copyfile(wheel, kept / Path(wheel).name)
    shutil.copytree(ct_src, dest / ct_src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    info(f"staged {dest} ({len(wheels)} wheel(s) + {ct_src.name})")
    return dest
