"""`ct upload` end to end: ct as a real process against a local sharing
server (tests/ct/upload_server.py: the endpoints and field names of
CodeTracer's own client, nothing else, and a presigned object store on
127.0.0.1). What is asserted is what a user sees: exit status, stdout /
stderr, the index, and the bytes the server ends up with."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from .conftest import FAKE_RECORDER, LAUNCHER, User, pyenv_python
from .upload_server import EXPIRES_AT, Cloud

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ct"))
from codetracer_ct import _archive

MiB = 1 << 20
APP = "def f(x):\n    return x + 1\nprint(f(1))\n"
CTFS = b"CTFS" + bytes(range(256)) * 50  # stands for a trace.ct: ct sends it as bytes


# --- helpers --------------------------------------------------------------------------------------


def make_trace(folder: Path, payload: int = 0, partial: Optional[str] = None, seed: int = 1, fmt: str = "json") -> str:
    """A trace folder as the recorder leaves it (+ `payload` random bytes in
    files/blob.bin); returns its recording id. partial: None, "marked"
    (metadata says partial) or "died" (only the staging folder); fmt: the
    trace file, trace.json or (ctfs) trace.ct."""
    recording_id = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
    folder.mkdir(parents=True)
    metadata = {
        "workdir": "/w",
        "program": "app.py",
        "args": [],
        "recording_id": recording_id,
        "partial": partial == "marked",
        **({"reason": "ERR_IO"} if partial == "marked" else {}),
    }
    if partial == "died":
        (folder / ".codetracer-partial").mkdir()
        (folder / ".codetracer-partial" / "recording.json").write_text(json.dumps(metadata))
        (folder / ".codetracer-partial" / "events.bin").write_bytes(b"\x01\x02" * 100)
    else:
        if fmt == "ctfs":
            (folder / "trace.ct").write_bytes(CTFS)
        else:
            (folder / "trace.json").write_text(
                json.dumps([{"Path": "/w/app.py"}] + [{"Step": {"path_id": 0, "line": 1}}] * 500)
            )
        (folder / "trace_paths.json").write_text('["/w/app.py"]')
        (folder / "trace_metadata.json").write_text(json.dumps(metadata))
        (folder / "files" / "w").mkdir(parents=True)
        (folder / "files" / "w" / "app.py").write_text(APP)
    if payload:
        generator = random.Random(seed)
        with open(folder / "files" / "blob.bin", "wb") as out:
            left = payload
            while left:
                step = min(8 * MiB, left)
                out.write(generator.randbytes(step))
                left -= step
    return recording_id


def file_digests(folder: Path) -> Dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): _archive.digest(path)
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def zip_digests(archive: Path) -> Dict[str, str]:
    out = {}
    with zipfile.ZipFile(archive) as opened:
        for name in opened.namelist():
            sha = hashlib.sha256()
            with opened.open(name) as member:
                for chunk in iter(lambda: member.read(MiB), b""):
                    sha.update(chunk)
            out[name] = sha.hexdigest()
    return out


def download(url: str, to: Path) -> Path:
    with urllib.request.urlopen(url, timeout=60) as answer, open(to, "wb") as out:
        for chunk in iter(lambda: answer.read(MiB), b""):
            out.write(chunk)
    return to


def uploads_rows(user: User) -> List[Dict[str, object]]:
    db = user.data / "index.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(str(db)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM uploads ORDER BY id")]


# A small process that runs the command and writes the command's peak RSS
# (wait4's rusage) to a file. Measured from here, a child forked by a big
# pytest process would carry pytest's own high-water mark across its exec.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss * 1024))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(user: User, *args: str, on_start=None) -> Tuple[int, bytes, bytes, int]:
    """ct run by a small measuring process: (status, stdout, stderr, peak RSS
    in bytes of ct itself). With `on_start` (told ct's pid, to signal it) ct
    is this process's own child and its peak is not measured (-1)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as scratch:
        peak_file = os.path.join(scratch, "peak")
        ct = [sys.executable, str(LAUNCHER)] + list(args)
        measure = [] if on_start else [sys.executable, "-c", _MEASURE, peak_file]
        child = subprocess.Popen(
            measure + ct, env=user.env, cwd=str(user.cwd), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        if on_start:
            on_start(child.pid)
        child.wait()
        out.seek(0)
        err.seek(0)
        peak = -1
        if not on_start:
            with open(peak_file) as f:
                peak = int(f.read())
        return child.returncode, out.read(), err.read(), peak


@pytest.fixture
def cloud(tmp_path: Path):
    server = Cloud(tmp_path / "cloud")
    yield server
    server.close()


@pytest.fixture
def uploader(user: User, cloud: Cloud) -> User:
    user.env.update(
        CODETRACER_BASE_URL=cloud.base_url,
        CODETRACER_TENANT="acme",
        CODETRACER_TOKEN=cloud.token,
        CODETRACER_UPLOAD_BACKOFF="0.01",
    )
    return user


@pytest.fixture
def recorded(uploader: User) -> User:
    """A user with one trace recorded (by the fake recorder) as id 1."""
    uploader.use_python(pyenv_python("3.12"))
    uploader.env["CODETRACER_RECORDER_PATH"] = str(FAKE_RECORDER)
    uploader.write("app.py", APP)
    done = uploader.ct("record", "app.py")
    assert done.returncode == 0, done.stderr
    return uploader


def assert_no_secret(user: User, cloud: Cloud, *outputs: bytes) -> None:
    token = cloud.token.encode()
    for output in outputs:
        assert token not in output
    for path in user.data.rglob("*"):
        if path.is_file() and path.name != "upload.json":
            assert token not in path.read_bytes(), path
    # the presigned store URLs never get the token
    assert all(
        entry["authorization"] is None for entry in cloud.log if entry["route"] and entry["route"].startswith("store-")
    )


def replay_link(cloud: Cloud, recording_id: str, slug: str = "acme") -> str:
    return f"{cloud.base_url}/{slug}/replay/confirm/{recording_id}"


# --- what is sent: CodeTracer's requests, one zip of the whole folder ---------------------------------


def test_upload_by_id_speaks_codetracers_api_and_prints_the_replay_link(recorded: User, cloud: Cloud, tmp_path: Path):
    folder = recorded.data / "traces" / "1"
    recording_id = json.loads((folder / "trace_metadata.json").read_text())["recording_id"]
    assert recorded.ct("list").stdout.decode().splitlines()[1].split()[4] == "no"

    done = recorded.ct("upload", "1")
    assert done.returncode == 0, done.stderr
    link = replay_link(cloud, recording_id)
    assert done.stdout == (link + "\n").encode()
    assert done.stderr.decode().startswith(f"ct: trace 1 uploaded to {cloud.base_url} (tenant acme): a zip of ")
    # CodeTracer's sequence (upload.nim uploadFile, tenant_resolver.nim): the slug is
    # looked up, then upload-url -> PUT -> confirm-upload; and ct asks for the download URL.
    assert cloud.routes() == ["tenants", "upload-url", "store-put", "confirm-upload", "download-url"]
    assert all(e["status"] in (200, 204) for e in cloud.log)
    tenant_id = cloud.tenant_id("acme")
    size = cloud.archive(recording_id).stat().st_size
    [offer] = cloud.requests("upload-url")
    assert offer["path"] == f"/api/v1/tenants/{tenant_id}/traces/upload-url"
    assert offer["body"] == {
        "recordingId": recording_id,
        "fileName": "tmp.zip",
        "contentType": "application/zip",
        "contentLength": size,
    }
    [put] = cloud.requests("store-put")
    assert (put["content_type"], put["bytes"], put["authorization"]) == ("application/octet-stream", size, None)
    [confirm] = cloud.requests("confirm-upload")
    assert confirm["path"] == f"/api/v1/traces/{recording_id}/confirm-upload"
    assert confirm["body"] == {"etag": hashlib.md5(cloud.archive(recording_id).read_bytes()).hexdigest()}
    assert {e["authorization"] for e in cloud.log if not e["route"].startswith("store-")} == {f"Bearer {cloud.token}"}

    # Every file of the folder, byte for byte, nothing else.
    assert zip_digests(cloud.archive(recording_id)) == file_digests(folder)
    assert {"trace.json", "trace_metadata.json", "trace_paths.json"} <= set(file_digests(folder))

    listing = recorded.ct("list").stdout.decode().splitlines()
    assert listing[0].split()[4] == "UPLOADED" and listing[1].split()[4] == "yes"
    [row] = json.loads(recorded.ct("list", "--json").stdout)
    assert row["upload"]["share_url"] == link and row["upload"]["tenant"] == "acme"
    assert row["upload"]["archive_name"] == "tmp.zip"
    assert row["upload"]["archive_sha256"] == _archive.digest(cloud.archive(recording_id))
    shown = json.loads(recorded.ct("show", "1", "--json").stdout)
    assert [u["share_url"] for u in shown["uploads"]] == [link]
    assert f"uploaded:    {link}  (" in recorded.ct("show", "1").stdout.decode()
    assert_no_secret(recorded, cloud, done.stdout, done.stderr)


@pytest.mark.parametrize("fmt,trace_file", [("ctfs", "trace.ct"), ("json", "trace.json")])
def test_a_trace_folder_arrives_as_one_zip_of_the_whole_folder(
    uploader: User, cloud: Cloud, tmp_path: Path, fmt: str, trace_file: str
):
    folder = tmp_path / "t"
    recording_id = make_trace(folder, fmt=fmt)
    targets = [folder] + ([folder / "trace.ct"] if fmt == "ctfs" else [])  # a .ct file names its folder
    for target in targets:
        done = uploader.ct("upload", str(target), "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["content_type"] == "application/zip" and result["folder"] == str(folder)
        assert result["share_url"] == replay_link(cloud, recording_id)
        assert result["download_expires_at"] == EXPIRES_AT
        received = download(result["download_url"], tmp_path / "got.zip")
        assert received.read_bytes() == cloud.archive(recording_id).read_bytes()
        with zipfile.ZipFile(received) as opened:
            names = opened.namelist()
            assert opened.read(trace_file) == (folder / trace_file).read_bytes()
        assert names == sorted([trace_file, "trace_metadata.json", "trace_paths.json", "files/w/app.py"])
        assert zip_digests(received) == file_digests(folder)


def test_a_folder_with_subfolders_is_zipped_recursively(uploader: User, cloud: Cloud, tmp_path: Path):
    # One folder holding more traces below it (as a session of one trace per test will).
    folder = tmp_path / "out"
    recording_id = make_trace(folder, fmt="ctfs")
    (folder / "session.toml").write_text('tests = ["a", "b"]\n')
    for name in ("a", "b"):
        make_trace(folder / "tests" / name, fmt="ctfs", seed=ord(name))
    done = uploader.ct("upload", str(folder))
    assert done.returncode == 0, done.stderr
    got = zip_digests(cloud.archive(recording_id))
    assert got == file_digests(folder)
    assert {"session.toml", "tests/a/trace.ct", "tests/b/trace_metadata.json", "tests/b/trace_paths.json"} <= set(got)


def test_one_test_of_a_test_run_with_test(uploader: User, cloud: Cloud, tmp_path: Path):
    """`ct upload FOLDER --test ID` sends that test's trace folder alone,
    named by its test id or its folder name (the run's tests.json)."""
    folder = tmp_path / "run"
    make_trace(folder, fmt="ctfs")
    ids = {}
    for seed, (_test_id, name) in enumerate(
        [("t.py::test_a[x/y]", "t.py_test_a_x_y"), ("t.py::test_b", "t.py_test_b")]
    ):
        ids[name] = make_trace(folder / "tests" / name, fmt="ctfs", seed=10 + seed)
    (folder / "tests.json").write_text(
        json.dumps(
            {
                "framework": "pytest",
                "traces": [
                    {"id": "t.py::test_a[x/y]", "kind": "test", "folder": "tests/t.py_test_a_x_y", "outcome": "failed"},
                    {"id": "t.py::test_b", "kind": "test", "folder": "tests/t.py_test_b", "outcome": "passed"},
                ],
            }
        )
    )
    for given, name in (("t.py::test_a[x/y]", "t.py_test_a_x_y"), ("t.py_test_b", "t.py_test_b")):
        done = uploader.ct("upload", str(folder), "--test", given, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["folder"] == str(folder / "tests" / name)
        assert zip_digests(cloud.archive(ids[name])) == file_digests(folder / "tests" / name)
    missing = uploader.ct("upload", str(folder), "--test", "t.py::nope")
    assert missing.returncode == 1 and b"'t.py::nope' is not a test of" in missing.stderr


def test_a_200_mb_trace_goes_as_one_zip_with_bounded_memory(uploader: User, cloud: Cloud, tmp_path: Path):
    folder = tmp_path / "big"
    recording_id = make_trace(folder, payload=200 * MiB)
    status, out, err, peak = run_measured(uploader, "upload", str(folder), "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["archive_size"] > os.path.getsize(folder / "files" / "blob.bin")
    assert result["trace_id"] is None and result["folder"] == str(folder) and result["recording_id"] == recording_id
    assert peak < 100 * MiB, f"ct peaked at {peak / MiB:.0f} MiB for a 200 MiB trace"
    [put] = cloud.requests("store-put")
    assert put["bytes"] == result["archive_size"]
    received = cloud.archive(recording_id)
    assert _archive.digest(received) == result["archive_sha256"]
    assert zip_digests(received) == file_digests(folder)
    [row] = uploads_rows(uploader)
    assert row["trace_id"] is None and row["share_url"] == result["share_url"]


def test_the_archive_is_deterministic_and_leaves_links_out(uploader: User, cloud: Cloud, tmp_path: Path):
    folder = tmp_path / "t"
    make_trace(folder, payload=100_000)
    (folder / "link").symlink_to("/etc/hostname")
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    with open(first, "wb") as out:
        assert _archive.pack_zip(folder, out) == [folder / "link"]
    os.utime(folder / "trace.json", (1, 1))
    (folder / "files" / "w" / "app.py").chmod(0o755)
    with open(second, "wb") as out:
        _archive.pack_zip(folder, out)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as opened:
        names = opened.namelist()
        infos = opened.infolist()
    assert names == sorted(names) and "link" not in names
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    kinds = {info.filename: info.compress_type for info in infos}
    assert kinds["trace.json"] == zipfile.ZIP_DEFLATED and kinds["files/blob.bin"] == zipfile.ZIP_STORED
    # Two uploads of the same folder send the same bytes.
    sent = []
    for _ in range(2):
        done = uploader.ct("upload", str(folder), "--json")
        assert done.returncode == 0, done.stderr
        assert f"ct: left out {folder / 'link'}: a symbolic link" in done.stderr.decode()
        sent.append(json.loads(done.stdout)["archive_sha256"])
    assert sent[0] == sent[1] == _archive.digest(first)


def test_a_tenant_id_is_used_as_it_is(uploader: User, cloud: Cloud, tmp_path: Path):
    folder = tmp_path / "t"
    recording_id = make_trace(folder)
    tenant_id = cloud.tenant_id("acme")
    done = uploader.ct("upload", str(folder), "--tenant", tenant_id)
    assert done.returncode == 0, done.stderr
    assert cloud.routes() == ["upload-url", "store-put", "confirm-upload", "download-url"]  # no look-up
    assert done.stdout.decode() == replay_link(cloud, recording_id, slug=tenant_id) + "\n"


def test_the_test_server_knows_only_codetracers_endpoints_and_fields(cloud: Cloud):
    def ask(method: str, path: str, body: Optional[dict] = None) -> Tuple[int, str]:
        request = urllib.request.Request(
            cloud.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {cloud.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    tenant = cloud.tenant_id("acme")
    rid = str(uuid.uuid4())
    good = {"recordingId": rid, "fileName": "tmp.zip", "contentType": "application/zip", "contentLength": 3}
    # ct's former dialect: endpoints CodeTracer's service does not have ...
    assert ask("POST", f"/api/v1/tenants/{tenant}/traces/upload-session", {})[0] == 404
    assert ask("POST", f"/api/v1/traces/{rid}/confirm-slice", {})[0] == 404
    assert ask("GET", f"/api/v1/traces/{rid}/upload-session")[0] == 404
    # ... and fields it does not know, or lacks.
    assert ask("POST", f"/api/v1/tenants/{tenant}/traces/upload-url", dict(good, sha256="ab"))[0] == 400
    assert (
        ask(
            "POST",
            f"/api/v1/tenants/{tenant}/traces/upload-url",
            {k: v for k, v in good.items() if k != "contentLength"},
        )[0]
        == 400
    )
    assert ask("POST", f"/api/v1/tenants/{tenant}/traces/upload-url", dict(good, contentLength="3"))[0] == 400
    status, answer = ask("POST", f"/api/v1/tenants/{tenant}/traces/upload-url", good)
    assert status == 200 and set(json.loads(answer)) == {"recordingId", "uploadUrl", "expiresAt"}
    assert ask("POST", f"/api/v1/traces/{rid}/confirm-upload", {"etag": "x", "size": 3})[0] == 400


# --- interruptions ----------------------------------------------------------------------------------


def test_ctrl_c_mid_upload_claims_nothing_and_the_same_command_uploads_again(
    uploader: User, cloud: Cloud, tmp_path: Path
):
    folder = tmp_path / "t"
    recording_id = make_trace(folder, payload=3 * MiB)
    child: Dict[str, int] = {}

    def interrupt(route: str) -> None:
        if route == "store-put":
            os.kill(child["pid"], signal.SIGINT)
            time.sleep(0.5)  # ct dies before the store answers

    cloud.on_request = interrupt
    status, out, err, _ = run_measured(uploader, "upload", str(folder), on_start=lambda pid: child.update(pid=pid))
    assert (status, out) == (130, b""), err
    assert err.decode().strip().splitlines()[-1] == (
        "ct: error: upload interrupted; the index records no upload: run the same command again to upload the "
        "trace from the start"
    )
    assert uploads_rows(uploader) == [] and cloud.requests("confirm-upload") == []
    cloud.on_request = None
    done = uploader.ct("upload", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    assert zip_digests(cloud.archive(recording_id)) == file_digests(folder) and len(uploads_rows(uploader)) == 1


def test_a_network_drop_during_the_put_is_retried_then_fails_with_the_network_status(
    uploader: User, cloud: Cloud, tmp_path: Path
):
    folder = tmp_path / "t"
    make_trace(folder, payload=1 * MiB)
    uploader.env.update(CODETRACER_UPLOAD_RETRIES="2")

    def drop(route: str) -> None:
        if route == "store-put":
            cloud.down = True  # from now on, every connection is dropped without an answer

    cloud.on_request = drop
    failed = uploader.ct("upload", str(folder))
    assert (failed.returncode, failed.stdout) == (11, b"")
    lines = failed.stderr.decode().strip().splitlines()
    assert sum("; retry " in line for line in lines) == 2
    assert len(cloud.requests("store-put")) == 3 and len(cloud.requests("upload-url")) == 1, lines  # the PUT alone
    assert lines[-1].startswith("ct: error: uploading the trace: cannot reach 127.0.0.1:")
    assert lines[-1].endswith(
        "(gave up after 3 attempts); the index records no upload: run the same command "
        "again to upload the trace from the start"
    )
    assert uploads_rows(uploader) == []

    cloud.down, cloud.on_request = False, None
    done = uploader.ct("upload", str(folder))
    assert done.returncode == 0, done.stderr


# --- the server says no ------------------------------------------------------------------------------


def test_401_wrong_token(recorded: User, cloud: Cloud):
    recorded.env["CODETRACER_TOKEN"] = "not-the-token"
    done = recorded.ct("upload", "1")
    assert (done.returncode, done.stdout) == (12, b"")
    assert done.stderr.decode() == (
        "ct: error: looking up the organisation: the server refused the token (HTTP 401: missing or wrong bearer "
        "token); check CODETRACER_TOKEN or run `ct login`, and that it may upload to tenant 'acme'\n"
    )
    assert b"not-the-token" not in done.stderr
    assert len(cloud.log) == 1 and uploads_rows(recorded) == []
    assert json.loads(recorded.ct("show", "1", "--json").stdout)["uploads"] == []


def test_the_store_refusing_its_url_is_an_auth_failure(recorded: User, cloud: Cloud):
    cloud.fail["store-put"] = [403]
    done = recorded.ct("upload", "1")
    assert (done.returncode, done.stdout) == (12, b"")
    assert done.stderr.decode() == (
        "ct: error: uploading the trace: the object store refused the upload URL the "
        "server gave (HTTP 403: injected HTTP 403)\n"
    )
    assert cloud.requests("confirm-upload") == []


def test_no_token_at_all_is_a_usage_error(recorded: User, cloud: Cloud):
    del recorded.env["CODETRACER_TOKEN"]
    done = recorded.ct("upload", "1")
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.decode().startswith(
        "ct: error: cannot upload: no token to upload with: set CODETRACER_TOKEN, or run `ct login`"
    )
    assert cloud.log == []


def test_413_too_large(recorded: User, cloud: Cloud):
    cloud.max_size = 100
    done = recorded.ct("upload", "1")
    assert (done.returncode, done.stdout) == (14, b"")
    assert done.stderr.decode() == (
        "ct: error: asking for an upload URL: the server refuses a trace this large "
        "(HTTP 413: traces are limited to 100 bytes)\n"
    )
    assert uploads_rows(recorded) == []


def test_503_then_200_is_retried_and_retry_after_is_honoured(recorded: User, cloud: Cloud):
    cloud.fail["upload-url"] = [503, (503, {"Retry-After": "1"})]
    cloud.fail["store-put"] = [500]
    cloud.fail["confirm-upload"] = [(429, {"Retry-After": "1"})]
    started = time.monotonic()
    done = recorded.ct("upload", "1")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 2  # two waits of Retry-After: 1
    assert [e["status"] for e in cloud.requests("upload-url")] == [503, 503, 200]
    assert [e["status"] for e in cloud.requests("store-put")] == [500, 200]
    assert [e["status"] for e in cloud.requests("confirm-upload")] == [429, 204]
    lines = done.stderr.decode().splitlines()
    assert lines[:2] == [
        "ct: asking for an upload URL: the server failed (HTTP 503: injected HTTP 503); retry 1 of 5 in 0.0 s",
        "ct: asking for an upload URL: the server failed (HTTP 503: injected HTTP 503); retry 2 of 5 in 1.0 s",
    ]
    assert "ct: confirming the upload: the server failed (HTTP 429: injected HTTP 429); retry 1 of 5 in 1.0 s" in lines
    assert len([line for line in lines if "; retry " in line]) == 4
    assert len(uploads_rows(recorded)) == 1


def test_5xx_after_the_retries_fails_and_claims_nothing(recorded: User, cloud: Cloud):
    cloud.fail["download-url"] = [503] * 10
    recorded.env["CODETRACER_UPLOAD_RETRIES"] = "2"
    done = recorded.ct("upload", "1")
    assert (done.returncode, done.stdout) == (15, b"")
    assert done.stderr.decode().splitlines()[-1] == (
        "ct: error: asking for the download link: the server failed (HTTP 503: injected HTTP 503) "
        "(gave up after 3 attempts); the index records no upload: run the same command again to upload the "
        "trace from the start"
    )
    assert uploads_rows(recorded) == [] and "no" in recorded.ct("list").stdout.decode().splitlines()[1].split()


def test_an_organisation_the_server_does_not_list(recorded: User, cloud: Cloud):
    done = recorded.ct("upload", "1", "--tenant", "nobody")
    assert (done.returncode, done.stdout) == (13, b"")
    assert done.stderr.decode() == (
        f"ct: error: looking up the organisation: organisation 'nobody' not found on "
        f"{cloud.base_url} (the token's organisations: acme)\n"
    )
    assert cloud.routes() == ["tenants"]
    unknown_id = str(uuid.uuid4())
    done = recorded.ct("upload", "1", "--tenant", unknown_id)
    assert (done.returncode, done.stdout) == (13, b"")
    assert done.stderr.decode() == (
        f"ct: error: asking for an upload URL: tenant '{unknown_id}' does not exist on "
        f"{cloud.base_url} (HTTP 404: no tenant {unknown_id})\n"
    )


def test_no_network(recorded: User):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorded.env.update(CODETRACER_UPLOAD_RETRIES="1")
    done = recorded.ct("upload", "1", "--base-url", f"http://127.0.0.1:{port}")
    assert (done.returncode, done.stdout) == (11, b"")
    last = done.stderr.decode().splitlines()[-1]
    assert last.startswith(f"ct: error: looking up the organisation: cannot reach 127.0.0.1:{port}: ")
    assert "gave up after 2 attempts" in last and uploads_rows(recorded) == []


# --- traces that cannot be uploaded ---------------------------------------------------------------------


def test_a_partial_trace_is_refused_unless_allowed(recorded: User, cloud: Cloud):
    recorded.env["FAKE_RECORDER_PARTIAL"] = "1"
    assert recorded.ct("record", "app.py").returncode == 0
    refused = recorded.ct("upload", "2")
    assert (refused.returncode, refused.stdout) == (3, b"")
    assert refused.stderr.decode() == (
        f"ct: error: cannot upload: the trace in {recorded.data / 'traces' / '2'} is PARTIAL: the recorder marked "
        "it partial; it may end early or miss events. Upload it anyway with --allow-partial\n"
    )
    assert cloud.log == []
    allowed = recorded.ct("upload", "2", "--allow-partial", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.decode().startswith("ct: uploading a PARTIAL trace (--allow-partial): ")
    assert json.loads(allowed.stdout)["status"] == "partial" and json.loads(allowed.stdout)["id"] == 2


def test_a_recording_that_died_is_partial_too(uploader: User, cloud: Cloud, tmp_path: Path):
    folder = tmp_path / "died"
    make_trace(folder, partial="died")
    refused = uploader.ct("upload", str(folder))
    assert refused.returncode == 3
    assert "PARTIAL: the recording died before it finished" in refused.stderr.decode()
    assert "--allow-partial" in refused.stderr.decode()
    allowed = uploader.ct("upload", str(folder), "--allow-partial", "--json")
    assert allowed.returncode == 0, allowed.stderr
    got = zip_digests(download(json.loads(allowed.stdout)["download_url"], tmp_path / "got.zip"))
    assert got == file_digests(folder) and ".codetracer-partial/recording.json" in got


def test_missing_folders_ids_and_non_traces(recorded: User, cloud: Cloud, tmp_path: Path):
    unknown = recorded.ct("upload", "7")
    assert (unknown.returncode, unknown.stderr) == (1, b"ct: no trace with id 7 (see `ct list`)\n")
    import shutil

    shutil.rmtree(recorded.data / "traces" / "1")
    gone = recorded.ct("upload", "1")
    assert (gone.returncode, gone.stderr.decode()) == (
        3,
        f"ct: error: cannot upload: the trace folder {recorded.data / 'traces' / '1'} does not exist\n",
    )
    (tmp_path / "empty").mkdir()
    empty = recorded.ct("upload", str(tmp_path / "empty"))
    assert empty.returncode == 3 and "holds no trace: it has no trace_metadata.json" in empty.stderr.decode()
    no_id = tmp_path / "old"
    make_trace(no_id)
    (no_id / "trace_metadata.json").write_text('{"program": "app.py"}')
    old = recorded.ct("upload", str(no_id))
    assert old.returncode == 3 and "has no valid recording_id" in old.stderr.decode()
    assert cloud.log == [] and uploads_rows(recorded) == []


# --- settings -----------------------------------------------------------------------------------------------


def test_login_saves_an_owner_only_config_and_flags_win(recorded: User, cloud: Cloud):
    token = cloud.token
    for name in ("CODETRACER_BASE_URL", "CODETRACER_TENANT", "CODETRACER_TOKEN"):
        del recorded.env[name]
    login = subprocess.run(
        [sys.executable, str(LAUNCHER), "login", "--base-url", cloud.base_url + "/", "--tenant", "acme"],
        input=(token + "\n").encode(),
        env=recorded.env,
        capture_output=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    config = recorded.data / "upload.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"base_url": cloud.base_url, "tenant": "acme", "token": token}
    assert token.encode() not in login.stdout + login.stderr
    assert login.stdout.decode() == (
        f"saved in {config} (readable by you only): base URL {cloud.base_url}, tenant acme, token set\n"
    )

    done = recorded.ct("upload", "1")  # everything from the file
    assert done.returncode == 0, done.stderr
    recorded.env["CODETRACER_TENANT"] = "nobody"  # the environment beats the file ...
    assert recorded.ct("upload", "1").returncode == 13
    assert recorded.ct("upload", "1", "--tenant", "acme").returncode == 0  # ... and a flag beats both
    assert_no_secret(recorded, cloud, done.stdout, done.stderr)

    config.chmod(0o644)
    warned = recorded.ct("upload", "1", "--tenant", "acme")
    assert warned.returncode == 0
    assert f"ct: warning: {config} holds a token and others can read it (mode 644)" in warned.stderr.decode()


def test_progress_line_on_a_terminal_only(uploader: User, cloud: Cloud, tmp_path: Path):
    folder = tmp_path / "t"
    make_trace(folder, payload=2 * MiB)
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "upload", str(folder)],
            env=uploader.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out = child.stdout.read()
        child.stdout.close()
        assert child.wait() == 0, seen
    finally:
        os.close(leader)
    text = seen.decode()
    assert "\rct: uploading " in text and " / " in text and "/s  ETA " in text
    assert out.decode().startswith(cloud.base_url)
    plain = uploader.ct("upload", str(folder))  # not a terminal: no progress line
    assert plain.returncode == 0 and b"\r" not in plain.stderr and b"ETA" not in plain.stderr


def test_ct_imports_the_standard_library_only():
    import ast

    source = Path(_archive.__file__).parent
    imported = set()
    for path in source.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert {"http", "hashlib", "zipfile", "sqlite3"} <= imported
    assert imported - set(sys.stdlib_module_names) - {"__future__"} == set()
