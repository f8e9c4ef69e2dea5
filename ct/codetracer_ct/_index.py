"""The local trace index: one sqlite database, one row per kept trace.

- Ids come from `id_allocations` (AUTOINCREMENT, in a write transaction), so
  two concurrent `ct record` runs never get the same id and an id is never
  reused, even after `ct delete`.
- A `traces` row is written only once its folder holds a complete trace (or
  one marked partial): no row ever points at a missing trace.
- `uploads` gets a row only once a server confirmed an upload and gave its
  share link (`ct upload`).
- The schema is versioned with `PRAGMA user_version` and migrated in order;
  every write is one transaction; SQL is parameterised only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._errors import IndexUnavailable

SCHEMA_VERSION = 3

# MIGRATIONS[n] brings a database from user_version n to n + 1.
MIGRATIONS = (
    """
    CREATE TABLE id_allocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        allocated_at TEXT NOT NULL
    );
    CREATE TABLE traces (
        id INTEGER PRIMARY KEY REFERENCES id_allocations(id),
        program TEXT NOT NULL,
        args TEXT NOT NULL,
        cwd TEXT NOT NULL,
        language TEXT NOT NULL,
        interpreter TEXT NOT NULL,
        python_executable TEXT NOT NULL,
        python_version TEXT NOT NULL,
        recorder_version TEXT NOT NULL,
        exit_status INTEGER,
        with_diff INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('complete', 'partial')),
        error_code TEXT,
        created_at TEXT NOT NULL,
        folder TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE uploads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id INTEGER REFERENCES id_allocations(id),
        folder TEXT NOT NULL,
        recording_id TEXT NOT NULL,
        base_url TEXT NOT NULL,
        tenant TEXT NOT NULL,
        share_url TEXT NOT NULL,
        archive_name TEXT NOT NULL,
        archive_size INTEGER NOT NULL,
        archive_sha256 TEXT NOT NULL,
        uploaded_at TEXT NOT NULL
    );
    CREATE INDEX uploads_by_trace ON uploads (trace_id);
    CREATE TABLE upload_sessions (
        recording_id TEXT NOT NULL,
        base_url TEXT NOT NULL,
        tenant TEXT NOT NULL,
        archive_sha256 TEXT NOT NULL,
        archive_size INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (recording_id, base_url, tenant)
    );
    """,
    # The resumable sliced uploads of an API CodeTracer's service does not
    # have (docs/ct.md, "Upload"): `ct upload` sends one zip, as CodeTracer's does.
    """
    DROP TABLE upload_sessions;
    """,
)

COLUMNS = (
    "id",
    "program",
    "args",
    "cwd",
    "language",
    "interpreter",
    "python_executable",
    "python_version",
    "recorder_version",
    "exit_status",
    "with_diff",
    "status",
    "error_code",
    "created_at",
    "folder",
)

UPLOAD_COLUMNS = (
    "trace_id",
    "folder",
    "recording_id",
    "base_url",
    "tenant",
    "share_url",
    "archive_name",
    "archive_size",
    "archive_sha256",
    "uploaded_at",
)


@dataclass(frozen=True)
class Upload:
    """A completed upload: the server confirmed it and gave `share_url`."""

    trace_id: Optional[int]  # None: a folder that is not in the index
    folder: str
    recording_id: str
    base_url: str
    tenant: str
    share_url: str
    archive_name: str
    archive_size: int
    archive_sha256: str
    uploaded_at: str

    def as_json(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Trace:
    id: int
    program: str
    args: List[str]
    cwd: str
    language: str
    interpreter: str
    python_executable: str
    python_version: str
    recorder_version: str
    exit_status: Optional[int]
    with_diff: bool
    status: str
    error_code: Optional[str]
    created_at: str
    folder: str
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Index:
    """The sqlite index at `path` (created and migrated on first use)."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: ct opens every transaction itself.
            self._db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise IndexUnavailable(
                f"cannot use the trace index {path}: {exc} (set CODETRACER_DATA_DIR to a writable folder)"
            ) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up
        front so concurrent writers queue instead of failing mid-way."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise IndexUnavailable(
                    f"the trace index {self.path} has schema version {version}, newer than this ct "
                    f"understands ({SCHEMA_VERSION}): upgrade ct"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer.
                db.execute(f"PRAGMA user_version = {int(step + 1)}")

    def allocate_id(self) -> int:
        with self._write() as db:
            cursor = db.execute("INSERT INTO id_allocations (allocated_at) VALUES (?)", (utc_now(),))
            assert cursor.lastrowid is not None  # an INSERT sets it
            return cursor.lastrowid

    def add(self, trace: Trace) -> None:
        row = trace.as_json()
        row["args"] = json.dumps(trace.args)
        row["with_diff"] = int(trace.with_diff)
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._write() as db:
            db.execute(
                f"INSERT INTO traces ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                tuple(row[column] for column in COLUMNS),
            )

    def get(self, trace_id: int) -> Optional[Trace]:
        row = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM traces WHERE id = ?", (trace_id,)).fetchone()
        return _trace(row) if row else None

    def all(self) -> List[Trace]:
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM traces ORDER BY id").fetchall()
        return [_trace(row) for row in rows]

    def delete(self, trace_id: int) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM uploads WHERE trace_id = ?", (trace_id,))
            return db.execute("DELETE FROM traces WHERE id = ?", (trace_id,)).rowcount > 0

    def find_by_folder(self, folder: str) -> Optional[Trace]:
        row = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM traces WHERE folder = ? ORDER BY id DESC", (folder,)
        ).fetchone()
        return _trace(row) if row else None

    # --- uploads -----------------------------------------------------------------

    def add_upload(self, upload: Upload) -> None:
        """Called only after the server confirmed the upload."""
        row = upload.as_json()
        placeholders = ", ".join("?" for _ in UPLOAD_COLUMNS)
        with self._write() as db:
            db.execute(
                f"INSERT INTO uploads ({', '.join(UPLOAD_COLUMNS)}) VALUES ({placeholders})",
                tuple(row[column] for column in UPLOAD_COLUMNS),
            )

    def uploads(self, trace_id: int) -> List[Upload]:
        rows = self._db.execute(
            f"SELECT {', '.join(UPLOAD_COLUMNS)} FROM uploads WHERE trace_id = ? ORDER BY id", (trace_id,)
        ).fetchall()
        return [Upload(**dict(zip(UPLOAD_COLUMNS, row))) for row in rows]

    def latest_uploads(self) -> Dict[int, Upload]:
        """trace id -> its most recent upload."""
        rows = self._db.execute(
            f"SELECT {', '.join(UPLOAD_COLUMNS)} FROM uploads WHERE trace_id IS NOT NULL ORDER BY id"
        ).fetchall()
        return {
            upload.trace_id: upload
            for upload in (Upload(**dict(zip(UPLOAD_COLUMNS, row))) for row in rows)
            if upload.trace_id is not None
        }


def _trace(row: Tuple[Any, ...]) -> Trace:
    data = dict(zip(COLUMNS, row))
    data["args"] = json.loads(data["args"])
    data["with_diff"] = bool(data["with_diff"])
    return Trace(**data)
