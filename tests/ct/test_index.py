"""The sqlite index: versioned schema, atomic ids, parameterised writes."""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct._index import SCHEMA_VERSION, Index, IndexUnavailable, Trace


def trace(trace_id: int, program: str = "app.py") -> Trace:
    return Trace(
        id=trace_id,
        program=program,
        args=["a", "b c"],
        cwd="/w",
        language="python-db",
        interpreter="/bin/python3",
        python_executable="/usr/bin/python3.12",
        python_version="3.12.1",
        recorder_version="0.4.0",
        exit_status=3,
        with_diff=False,
        status="complete",
        error_code=None,
        created_at="2025-01-01T00:00:00Z",
        folder="/d/traces/1",
    )


def test_schema_is_versioned(tmp_path):
    Index(tmp_path / "i.sqlite3").close()
    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    Index(tmp_path / "i.sqlite3").close()
    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(IndexUnavailable, match="newer than this ct"):
        Index(tmp_path / "i.sqlite3")


def test_roundtrip_and_quotes_are_data(tmp_path):
    with Index(tmp_path / "i.sqlite3") as index:
        trace_id = index.allocate_id()
        evil = "x'); DROP TABLE traces; --"
        index.add(trace(trace_id, evil))
        got = index.get(trace_id)
    assert got == trace(trace_id, evil)
    assert got.args == ["a", "b c"]


def test_ids_are_never_reused(tmp_path):
    with Index(tmp_path / "i.sqlite3") as index:
        first = index.allocate_id()
        index.add(trace(first))
        assert index.delete(first)
        assert not index.delete(first)
        assert index.allocate_id() == first + 1


def test_concurrent_allocations_are_distinct(tmp_path):
    Index(tmp_path / "i.sqlite3").close()
    got: list = []

    def worker() -> None:
        with Index(tmp_path / "i.sqlite3") as index:
            got.extend(index.allocate_id() for _ in range(20))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(1, 81))


def test_a_version_1_index_is_migrated_and_keeps_its_traces(tmp_path):
    from codetracer_ct._index import MIGRATIONS, Upload

    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO id_allocations (allocated_at) VALUES ('2025-01-01T00:00:00Z')")
        db.execute(
            "INSERT INTO traces VALUES (1, 'app.py', '[]', '/w', 'python-db', 'python3', '/usr/bin/python3', "
            "'3.12.1', '0.4.0', 0, 0, 'complete', NULL, '2025-01-01T00:00:00Z', '/d/traces/1')"
        )
    with Index(tmp_path / "i.sqlite3") as index:
        assert index.get(1).program == "app.py"
        assert index.uploads(1) == [] and index.latest_uploads() == {}
        upload = Upload(
            trace_id=1,
            folder="/d/traces/1",
            recording_id="0190" + "0" * 28,
            base_url="https://x",
            tenant="t",
            share_url="https://x/s",
            archive_name="a.zip",
            archive_size=3,
            archive_sha256="ab",
            uploaded_at="2025-01-02T00:00:00Z",
        )
        index.add_upload(upload)
        assert index.uploads(1) == [upload] and index.latest_uploads() == {1: upload}
        assert index.delete(1) and index.uploads(1) == []
    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_a_version_2_index_loses_its_upload_sessions_and_keeps_its_uploads(tmp_path):
    from codetracer_ct._index import MIGRATIONS

    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        db.executescript(MIGRATIONS[0] + MIGRATIONS[1])
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO uploads (trace_id, folder, recording_id, base_url, tenant, share_url, archive_name, "
            "archive_size, archive_sha256, uploaded_at) VALUES (NULL, '/f', 'r', 'https://x', 't', "
            "'https://x/s', 'a.zip', 3, 'ab', '2025-01-02T00:00:00Z')"
        )
        db.execute("INSERT INTO upload_sessions VALUES ('r', 'https://x', 't', 'ab', 3, 's1', '2025-01-02T00:00:00Z')")
    with Index(tmp_path / "i.sqlite3"):
        pass
    with sqlite3.connect(str(tmp_path / "i.sqlite3")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "upload_sessions" not in tables
        assert db.execute("SELECT share_url FROM uploads").fetchall() == [("https://x/s",)]
