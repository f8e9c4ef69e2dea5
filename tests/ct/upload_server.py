"""A local CodeTracer sharing server for the `ct upload` tests: the API of
docs/ct.md ("Upload") and a presigned object store, on 127.0.0.1, standard
library only. Bodies are streamed to disk, so a 200 MB trace costs the test
process no memory. Knobs to inject failures, and a log of every request."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, quote, urlsplit

CHUNK = 1 << 20
API = "/api/v1"

ROUTES: List[Tuple[str, str, "re.Pattern[str]"]] = [
    ("POST", "upload-url", re.compile(rf"{API}/tenants/([^/]+)/traces/upload-url")),
    ("POST", "upload-session", re.compile(rf"{API}/tenants/([^/]+)/traces/upload-session")),
    ("GET", "session-status", re.compile(rf"{API}/traces/([^/]+)/upload-session")),
    ("POST", "slice-upload-url", re.compile(rf"{API}/traces/([^/]+)/slice-upload-url")),
    ("POST", "confirm-slice", re.compile(rf"{API}/traces/([^/]+)/confirm-slice")),
    ("POST", "finalize", re.compile(rf"{API}/traces/([^/]+)/finalize")),
    ("POST", "confirm-upload", re.compile(rf"{API}/traces/([^/]+)/confirm-upload")),
    ("GET", "download-url", re.compile(rf"{API}/traces/([^/]+)/download-url")),
    ("PUT", "store-put", re.compile(r"/store/([A-Za-z0-9._-]+)")),
    ("GET", "store-get", re.compile(r"/store/([A-Za-z0-9._-]+)")),
]


class Reply(Exception):
    def __init__(self, status: int, body: Optional[Dict[str, Any]] = None, headers: Optional[Dict[str, str]] = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body or {}, headers or {}


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": code, "message": message})


class Cloud:
    """The server. Knobs (set them before or during a run):
    fail[route] = [statuses]   answer these first, one per request
    corrupt[slice index] = n   flip a byte of that slice's next n PUTs (the store's checksum catches it)
    max_size                   413 for a larger archive
    slice_size                 the slice size the server imposes (None: the client's)
    on_confirm(index, count)   called when a slice is confirmed (count: confirmed so far)
    down                       drop every connection without an answer
    """

    def __init__(self, root: Path, token: str = "s3cr3t-t0ken", tenants: Tuple[str, ...] = ("acme",)) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.token, self.tenants = token, set(tenants)
        self.fail: Dict[str, List[int]] = {}
        self.corrupt: Dict[int, int] = {}
        self.max_size: Optional[int] = None
        self.slice_size: Optional[int] = None
        self.on_confirm: Optional[Callable[[int, int], None]] = None
        self.down = False
        self.log: List[Dict[str, Any]] = []
        self.confirmations: List[int] = []
        self.meta: Dict[str, Dict[str, Any]] = {}      # object key -> {sha256, size, etag}
        self.sessions: Dict[str, Dict[str, Any]] = {}
        self.uploads: Dict[str, Dict[str, Any]] = {}   # recording id -> {key, sha256, size, etag, state, ...}
        self.lock = threading.Lock()
        self._secret = os.urandom(16)
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                cloud._handle(self)

            do_PUT = do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the tests look at ----------------------------------------------------------------

    def requests(self, route: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [entry for entry in self.log if entry["route"] == route]

    def archive(self, recording_id: str) -> Path:
        return self.objects / self.uploads[recording_id]["key"]

    def confirmed_slices(self) -> List[int]:
        """Every slice confirmation the server accepted, in order."""
        with self.lock:
            return list(self.confirmations)

    # --- the store's presigned URLs ---------------------------------------------------------------

    def _sign(self, method: str, key: str) -> str:
        return hmac.new(self._secret, f"{method} {key}".encode(), hashlib.sha256).hexdigest()

    def presign(self, method: str, key: str) -> str:
        return f"{self.base_url}/store/{quote(key)}?sig={self._sign(method, key)}"

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        entry: Dict[str, Any] = {"method": request.command, "path": parts.path, "route": None,
                                 "authorization": request.headers.get("Authorization")}
        for method, name, pattern in ROUTES:
            match = pattern.fullmatch(parts.path)
            if match and method == request.command:
                entry["route"] = name
                break
        with self.lock:
            self.log.append(entry)
            down = self.down
            injected = self.fail.get(entry["route"] or "")
            status = injected.pop(0) if injected else None
        if down:
            request.close_connection = True
            return  # no answer at all: the client sees the connection drop
        try:
            if status is not None:
                self._drain(request)
                raise error(status, "injected", f"injected HTTP {status}")
            if entry["route"] is None:
                raise error(404, "no-route", f"no route {request.command} {parts.path}")
            if entry["route"].startswith("store-"):
                key = match.group(1)  # type: ignore[union-attr]
                if parse_qs(parts.query).get("sig") != [self._sign(request.command, key)]:
                    self._drain(request)
                    raise error(403, "bad-signature", "the URL's signature is not valid")
                if entry["route"] == "store-get":
                    return self._download(request, key)
                raise Reply(*self._store_put(request, key, entry))
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                self._drain(request)
                raise error(401, "unauthorized", "missing or wrong bearer token")
            payload = self._json(request)
            handler = getattr(self, "_" + entry["route"].replace("-", "_"))
            raise Reply(200, handler(match.group(1), payload))  # type: ignore[union-attr]
        except Reply as reply:
            entry["status"] = reply.status
            body = json.dumps(reply.body).encode()
            request.send_response(reply.status)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

    @staticmethod
    def _drain(request: BaseHTTPRequestHandler) -> None:
        left = int(request.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = request.rfile.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)

    @staticmethod
    def _json(request: BaseHTTPRequestHandler) -> Dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            data = json.loads(request.rfile.read(length))
        except ValueError:
            raise error(400, "bad-json", "the body is not JSON")
        if not isinstance(data, dict):
            raise error(400, "bad-json", "the body is not a JSON object")
        return data

    # --- object store -----------------------------------------------------------------------------

    def _store_put(self, request: BaseHTTPRequestHandler, key: str, entry: Dict[str, Any]) -> Tuple[int, Dict, Dict]:
        left = int(request.headers.get("Content-Length") or 0)
        entry["bytes"] = left
        match = re.fullmatch(r"s-(.+)-(\d+)", key)
        index = int(match.group(2)) if match else None
        entry["index"] = index
        with self.lock:
            flip = index is not None and self.corrupt.get(index, 0) > 0
            if flip:
                self.corrupt[index] -= 1  # type: ignore[index]
        sha, md5 = hashlib.sha256(), hashlib.md5()
        partial = self.objects / (key + ".part")
        with open(partial, "wb") as out:
            first = True
            while left > 0:
                chunk = request.rfile.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                if first and flip:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]  # damaged "in transit"
                first = False
                sha.update(chunk)
                md5.update(chunk)
                out.write(chunk)
        if left:
            partial.unlink()
            raise error(400, "short-body", "the body ended early")
        if sha.hexdigest() != request.headers.get("X-Checksum-SHA256"):
            partial.unlink()
            raise error(400, "checksum-mismatch", "the body's SHA-256 is not the one declared")
        os.replace(partial, self.objects / key)
        etag = f'"{md5.hexdigest()}"'
        size = (self.objects / key).stat().st_size
        with self.lock:
            self.meta[key] = {"sha256": sha.hexdigest(), "size": size, "etag": etag}
        return 200, {}, {"ETag": etag}

    def _download(self, request: BaseHTTPRequestHandler, key: str) -> None:
        path = self.objects / key
        request.send_response(200)
        request.send_header("Content-Length", str(path.stat().st_size))
        request.end_headers()
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                request.wfile.write(chunk)

    # --- API -------------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> None:
        if tenant not in self.tenants:
            raise error(404, "no-tenant", f"no tenant {tenant}")

    def _offer(self, tenant: str, payload: Dict[str, Any]) -> None:
        self._tenant(tenant)
        if not re.fullmatch(r"[0-9a-f-]{36}", str(payload.get("recordingId"))):
            raise error(400, "bad-recording-id", "recordingId is not a UUID")
        if self.max_size is not None and int(payload.get("size", 0)) > self.max_size:
            raise error(413, "too-large", f"traces are limited to {self.max_size} bytes")

    def _upload_url(self, tenant: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        self._offer(tenant, payload)
        key = "u-" + uuid.uuid4().hex
        with self.lock:
            self.uploads[payload["recordingId"]] = {
                "key": key, "tenant": tenant, "state": "pending", "fileName": payload.get("fileName"),
                "contentType": payload.get("contentType")}
        return {"uploadUrl": self.presign("PUT", key)}

    def _upload_session(self, tenant: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        self._offer(tenant, payload)
        session_id = uuid.uuid4().hex
        slice_size = self.slice_size or int(payload["sliceSize"])
        with self.lock:
            self.sessions[session_id] = {
                "recordingId": payload["recordingId"], "tenant": tenant, "size": int(payload["size"]),
                "sha256": payload["sha256"], "sliceSize": slice_size, "slices": {}, "state": "open",
                "fileName": payload.get("fileName"), "contentType": payload.get("contentType")}
        return {"sessionId": session_id, "sliceSize": slice_size, "slices": []}

    def _session(self, session_id: str) -> Dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise error(404, "no-session", "no such upload session")
        return session

    def _session_status(self, session_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        session = self._session(session_id)
        with self.lock:
            slices = [dict(value, index=index) for index, value in sorted(session["slices"].items())
                      if value.get("confirmed")]
        return {"sessionId": session_id, "sliceSize": session["sliceSize"], "size": session["size"],
                "sha256": session["sha256"], "state": session["state"],
                "slices": [{k: s[k] for k in ("index", "size", "sha256", "etag")} for s in slices]}

    def _slice_upload_url(self, session_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        session = self._session(session_id)
        index = int(payload["index"])
        count = -(-session["size"] // session["sliceSize"])
        if not 0 <= index < count:
            raise error(400, "bad-index", f"slice {index} is out of range")
        return {"uploadUrl": self.presign("PUT", f"s-{session_id}-{index}")}

    def _confirm_slice(self, session_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        session = self._session(session_id)
        index = int(payload["index"])
        meta = self.meta.get(f"s-{session_id}-{index}")
        if meta is None or meta["etag"] != payload.get("etag"):
            raise error(409, "no-slice", f"slice {index} was not received")
        if meta["sha256"] != payload.get("sha256"):
            raise error(422, "checksum-mismatch", f"slice {index}'s SHA-256 differs")
        with self.lock:
            session["slices"][index] = dict(meta, confirmed=True)
            self.confirmations.append(index)
            count = sum(1 for value in session["slices"].values() if value.get("confirmed"))
        if self.on_confirm:
            self.on_confirm(index, count)
        return {"index": index, "confirmed": True}

    def _finalize(self, session_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        session = self._session(session_id)
        count = -(-session["size"] // session["sliceSize"])
        missing = [i for i in range(count) if not session["slices"].get(i, {}).get("confirmed")]
        if missing:
            raise error(409, "missing-slices", f"slices {missing} are missing")
        key = "f-" + session_id
        sha, md5 = hashlib.sha256(), hashlib.md5()
        with open(self.objects / key, "wb") as out:
            for index in range(count):
                with open(self.objects / f"s-{session_id}-{index}", "rb") as part:
                    while True:
                        chunk = part.read(CHUNK)
                        if not chunk:
                            break
                        sha.update(chunk)
                        md5.update(chunk)
                        out.write(chunk)
        if sha.hexdigest() != payload.get("sha256") or sha.hexdigest() != session["sha256"]:
            raise error(422, "checksum-mismatch", "the archive's SHA-256 is not the one declared")
        etag = f'"{md5.hexdigest()}-{count}"'
        size = (self.objects / key).stat().st_size
        with self.lock:
            session["state"] = "finalized"
            self.meta[key] = {"sha256": sha.hexdigest(), "size": size, "etag": etag}
            self.uploads[session["recordingId"]] = {
                "key": key, "tenant": session["tenant"], "state": "pending", "fileName": session["fileName"],
                "contentType": session["contentType"], "sessionId": session_id}
        return {"etag": etag}

    def _confirm_upload(self, recording_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        upload = self.uploads.get(recording_id)
        if upload is None:
            raise error(404, "no-upload", "no upload for this trace")
        meta = self.meta.get(upload["key"])
        if meta is None or meta["etag"] != payload.get("etag"):
            raise error(409, "not-received", "the archive was not received")
        if meta["sha256"] != payload.get("sha256") or meta["size"] != payload.get("size"):
            raise error(422, "checksum-mismatch", "the archive's SHA-256 or size differs")
        upload["state"] = "complete"
        return {"recordingId": recording_id, "state": "complete"}

    def _download_url(self, recording_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        upload = self.uploads.get(recording_id)
        if upload is None or upload["state"] != "complete":
            raise error(404, "no-trace", "no uploaded trace with this id")
        return {"downloadUrl": self.presign("GET", upload["key"])}
