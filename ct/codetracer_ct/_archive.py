"""What `ct upload` sends: the trace found at a folder (or named by its `.ct`
file), its state and recording id, and the archive packed from it.

The archive is what CodeTracer's own `ct upload` sends whatever the trace
format (its src/ct/online_sharing/upload.nim, `uploadTrace`): a zip of the
whole trace folder, every file under it by its path relative to the folder
(trace.ct or trace.json, trace_metadata.json, trace_paths.json, files/...,
and any subfolders). It is packed so that the same folder always gives the
same bytes (entries sorted by path, fixed timestamps and modes, no
directory entries), and streamed to a file in bounded memory, whatever the
size of the trace.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

from . import _record, _summary
from ._errors import TraceUnusable

CHUNK = 1 << 20
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
FILE_MODE = 0o100644
CT_SUFFIX = ".ct"
# A file whose first bytes do not shrink by a tenth under deflate is stored:
# random or already compressed data costs CPU and gains nothing.
SAMPLE = 1 << 16
STORE_ABOVE_RATIO = 0.9
RECORDING_INFO = "recording.json"  # the recorder's file in its staging folder
UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@dataclass(frozen=True)
class TraceSource:
    """A trace folder on disk, ready to pack."""

    folder: Path
    status: str  # complete | partial
    reason: Optional[str]  # why it is partial
    recording_id: str


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def inspect(path: Path, allow_partial: bool = False) -> TraceSource:
    """The trace folder at `path` (or the folder of the `.ct` file `path`):
    refuses a missing folder, a folder holding no trace, a partial trace
    unless `allow_partial`, and a trace without a recording id."""
    path = Path(os.path.abspath(str(path)))
    if path.is_file() and path.suffix == CT_SUFFIX:
        folder = path.parent
    elif not path.exists():
        raise TraceUnusable(f"the trace folder {path} does not exist")
    elif not path.is_dir():
        raise TraceUnusable(f"{path} is neither a trace folder nor a {CT_SUFFIX} trace file")
    else:
        folder = path
    status = _record._status_of(folder)
    if status is None:
        raise TraceUnusable(
            f"{folder} holds no trace: it has no trace_metadata.json (a recording writes it last) "
            f"and no {_record.PARTIAL_STAGING}/ of a recording that died"
        )
    metadata = _summary.read_metadata(folder)
    reason: Optional[str] = None
    if status == "partial":
        if metadata is None:
            reason = (
                f"the recording died before it finished (only its staging folder {_record.PARTIAL_STAGING}/ is left)"
            )
        else:
            reason = "the recorder marked it partial" + (f" ({metadata['reason']})" if metadata.get("reason") else "")
        if not allow_partial:
            raise TraceUnusable(
                f"the trace in {folder} is PARTIAL: {reason}; it may end early or miss events. "
                "Upload it anyway with --allow-partial"
            )
    info = metadata if metadata is not None else _read_json(folder / _record.PARTIAL_STAGING / RECORDING_INFO)
    recording_id = (info or {}).get("recording_id")
    if not isinstance(recording_id, str) or not UUID.match(recording_id.lower()):
        raise TraceUnusable(
            f"the trace in {folder} has no valid recording_id in its metadata (found {recording_id!r}); "
            "a trace recorded by codetracer_python_recorder has one: record it again"
        )
    return TraceSource(folder=folder, status=status, reason=reason, recording_id=recording_id.lower())


def members(folder: Path) -> Tuple[List[Tuple[str, Path]], List[Path]]:
    """(archive name, file) of every regular file under `folder`, sorted by
    name; and the symbolic links left out (a link could point anywhere on
    the user's disk: nothing outside the trace leaves the machine)."""
    found: List[Tuple[str, Path]] = []
    links: List[Path] = []
    for root, dirs, files in os.walk(str(folder)):
        for name in list(dirs):
            if os.path.islink(os.path.join(root, name)):
                links.append(Path(root, name))
                dirs.remove(name)
        for name in files:
            path = Path(root, name)
            if path.is_symlink():
                links.append(path)
            elif path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    found.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))
    return found, sorted(links)


def _compress_type(path: Path) -> int:
    with open(path, "rb") as handle:
        sample = handle.read(SAMPLE)
    if not sample or len(zlib.compress(sample, 1)) > STORE_ABOVE_RATIO * len(sample):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def pack_zip(folder: Path, out: BinaryIO) -> List[Path]:
    """Write the deterministic zip of `folder` to the seekable `out`; returns
    the symbolic links left out."""
    found, links = members(folder)
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for name, path in found:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # unix, whatever the platform
            info.external_attr = FILE_MODE << 16
            info.compress_type = _compress_type(path)
            info.file_size = path.stat().st_size  # lets zipfile choose zip64 up front
            with open(path, "rb") as source, archive.open(info, "w") as sink:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    sink.write(chunk)
    return links


def digest(path: Path) -> str:
    """SHA-256 (hex) of the file `path`, read in chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
