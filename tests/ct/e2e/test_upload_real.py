"""`ct upload` of a trace the REAL recorder wrote, with ct and the recorder
staged as the bundle stages them (resources/python/): the recording id the
recorder puts in trace_metadata.json is the one the server gets, and what
it keeps is one zip of the trace folder holding the recording's trace.ct
(ct's default format) byte for byte, with trace_metadata.json and
trace_paths.json; a recording of threads and a forked child sends every
trace of the folder, with threads.json and session.toml."""

from __future__ import annotations

import json
import re
import urllib.request
import zipfile
from pathlib import Path

from ..conftest import User, metadata
from ..upload_server import Cloud

APP = "def square(x):\n    return x * x\nprint(sum(square(i) for i in range(5)))\n"
THREADED = """\
import os, threading
def square(x):
    return x * x
pid = os.fork()
if pid == 0:
    square(4)
    os._exit(0)
os.waitpid(pid, 0)
worker = threading.Thread(target=square, args=(3,), name="worker")
worker.start()
worker.join()
print(square(5))
"""


def cloud_env(user: User, staged: Path, cloud: Cloud) -> dict[str, str]:
    """The user's environment with the staged ct and the test cloud as CodeTracer's service."""
    return dict(
        user.env,
        PYTHONPATH=str(staged),
        CODETRACER_ORIG_PYTHONPATH="unset",
        CODETRACER_BASE_URL=cloud.base_url,
        CODETRACER_TENANT="acme",
        CODETRACER_TOKEN=cloud.token,
    )


def test_upload_a_real_recording(user: User, python312: Path, staged: Path, tmp_path: Path):
    cloud = Cloud(tmp_path / "cloud")
    try:
        user.use_python(python312)
        user.write("app.py", APP)
        env = cloud_env(user, staged, cloud)
        launcher = ["python3", "-m", "codetracer_ct"]
        recorded = user.ct("record", "app.py", env=env, launcher=launcher)
        assert recorded.returncode == 0, recorded.stderr
        folder = user.data / "traces" / "1"
        recording_id = metadata(folder)["recording_id"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", recording_id)

        done = user.ct("upload", "1", "--json", env=env, launcher=launcher)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["recording_id"] == recording_id and result["id"] == 1 and result["status"] == "complete"
        assert cloud.uploads[recording_id]["state"] == "complete"
        # ct records CTFS by default; the whole folder goes as one zip, as CodeTracer's `ct upload` sends it.
        assert result["content_type"] == "application/zip"
        assert result["share_url"] == f"{cloud.base_url}/acme/replay/confirm/{recording_id}"
        received = tmp_path / "got.zip"
        with urllib.request.urlopen(result["download_url"], timeout=60) as answer:
            received.write_bytes(answer.read())
        with zipfile.ZipFile(received) as opened:
            names = set(opened.namelist())
            for name in ("trace.ct", "trace_metadata.json", "trace_paths.json"):
                assert opened.read(name) == (folder / name).read_bytes(), name
        assert names == {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        listed = json.loads(user.ct("list", "--json", env=env, launcher=launcher).stdout)
        assert listed[0]["upload"]["share_url"] == result["share_url"]
    finally:
        cloud.close()


def test_upload_a_recording_of_threads_and_a_child(user: User, python312: Path, staged: Path, tmp_path: Path):
    cloud = Cloud(tmp_path / "cloud")
    try:
        user.use_python(python312)
        user.write("threaded.py", THREADED)
        env = cloud_env(user, staged, cloud)
        launcher = ["python3", "-m", "codetracer_ct"]
        recorded = user.ct("record", "threaded.py", env=env, launcher=launcher)
        assert recorded.returncode == 0, recorded.stderr
        folder = user.data / "traces" / "1"
        child = json.loads((folder / "threads.json").read_text())["processes"][0]["folder"]
        done = user.ct("upload", "1", "--json", env=env, launcher=launcher)
        assert done.returncode == 0, done.stderr
        received = tmp_path / "got.zip"
        with urllib.request.urlopen(json.loads(done.stdout)["download_url"], timeout=60) as answer:
            received.write_bytes(answer.read())
        with zipfile.ZipFile(received) as opened:
            names = set(opened.namelist())
            for trace in (".", "threads/1-worker", child):
                for name in ("trace.ct", "trace_metadata.json", "trace_paths.json"):
                    path = f"{trace}/{name}".removeprefix("./")
                    assert opened.read(path) == (folder / path).read_bytes(), path
            for name in ("threads.json", "session.toml"):
                assert opened.read(name) == (folder / name).read_bytes(), name
            assert 'path = "threads/1-worker"' in opened.read("session.toml").decode()
        assert names == {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    finally:
        cloud.close()
