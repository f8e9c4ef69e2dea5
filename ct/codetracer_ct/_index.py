"""The local trace index: one sqlite database, one row per kept trace.

- Ids come from `id_allocations` (AUTOINCREMENT, in a write transaction), so
  two concurrent `ct record` runs never get the same id and an id is never
  reused, even after `ct delete`.
- A `traces` row is written only once its folder holds a complete trace (or
  one marked partial): no row ever points at a missing trace.
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
from typing import Any, Dict, Iterator, List, Optional

SCHEMA_VERSION = 1

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
)

COLUMNS = (
    "id", "program", "args", "cwd", "language", "interpreter", "python_executable", "python_version",
    "recorder_version", "exit_status", "with_diff", "status", "error_code", "created_at", "folder",
)


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


class IndexUnavailable(Exception):
    """The index cannot be opened or migrated; the message says why."""


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
            raise IndexUnavailable(f"cannot use the trace index {path}: {exc} "
                                   "(set CODETRACER_DATA_DIR to a writable folder)") from exc

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
            return int(cursor.lastrowid)

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
        row = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM traces WHERE id = ?", (trace_id,)
        ).fetchone()
        return _trace(row) if row else None

    def all(self) -> List[Trace]:
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM traces ORDER BY id").fetchall()
        return [_trace(row) for row in rows]

    def delete(self, trace_id: int) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM traces WHERE id = ?", (trace_id,)).rowcount > 0


def _trace(row: tuple) -> Trace:
    data = dict(zip(COLUMNS, row))
    data["args"] = json.loads(data["args"])
    data["with_diff"] = bool(data["with_diff"])
    return Trace(**data)
