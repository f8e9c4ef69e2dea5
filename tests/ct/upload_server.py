"""A local CodeTracer sharing server for the `ct upload` tests, on 127.0.0.1,
standard library only: the endpoints CodeTracer's own `ct upload` uses and
nothing else, with its field names exactly (CodeTracer's
src/ct/online_sharing/api_client.nim and file_transfer.nim; docs/ct.md,
"Upload"), and a presigned object store. An unknown endpoint or method is
404; a body with an unknown, missing or mistyped field is 400; an API
request without the bearer token is 401 and one without
`Content-Type: application/json` 415. Bodies are streamed to disk, so a
200 MB trace costs the test process no memory. Knobs inject failures; every
request is logged."""

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
from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple, Union
from urllib.parse import parse_qs, quote, urlsplit

CHUNK = 1 << 20
API = "/api/v1"

# (method, route, path): CodeTracer's api_client.nim, and the presigned store.
ROUTES: List[Tuple[str, str, "re.Pattern[str]"]] = [
    ("GET", "tenants", re.compile(rf"{API}/tenants")),
    ("POST", "upload-url", re.compile(rf"{API}/tenants/([^/]+)/traces/upload-url")),
    ("POST", "confirm-upload", re.compile(rf"{API}/traces/([^/]+)/confirm-upload")),
    ("GET", "download-url", re.compile(rf"{API}/traces/([^/]+)/download-url")),
    ("PUT", "store-put", re.compile(r"/store/([A-Za-z0-9._-]+)")),
    ("GET", "store-get", re.compile(r"/store/([A-Za-z0-9._-]+)")),
]

# The request bodies, field by field (buildUploadUrlBody, confirmTraceUpload).
BODIES: Dict[str, Dict[str, type]] = {
    "upload-url": {"recordingId": str, "fileName": str, "contentType": str, "contentLength": int},
    "confirm-upload": {"etag": str},
}
PUT_TYPE = "application/octet-stream"  # file_transfer.nim's putFile
EXPIRES_AT = "2099-01-01T00:00:00Z"

Injected = Union[int, Tuple[int, Dict[str, str]]]


class Reply(Exception):
    def __init__(
        self,
        status: int,
        body: Optional[Dict[str, Any]] = None,
        headers: Optional[Dict[str, str]] = None,
        text: Optional[str] = None,
    ):
        super().__init__(status)
        self.status, self.body, self.headers, self.text = status, body, headers or {}, text


def error(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> Reply:
    """An error answer: plain text (CodeTracer's client shows the body as it is)."""
    return Reply(status, headers=headers, text=message)


class Cloud:
    """The server. Knobs (set them before or during a run):
    fail[route] = [status | (status, headers)]   answer these first, one per request
    max_size                   413 for a larger contentLength
    on_request(route)          called as each request arrives (e.g. to interrupt ct)
    down                       drop every connection without an answer
    """

    def __init__(self, root: Path, token: str = "s3cr3t-t0ken", slugs: Tuple[str, ...] = ("acme",)) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.tenants = [
            {"tenantId": str(uuid.uuid4()), "displayName": slug.title(), "slug": slug, "role": "owner"}
            for slug in slugs
        ]
        self.fail: Dict[str, List[Injected]] = {}
        self.max_size: Optional[int] = None
        self.on_request: Optional[Callable[[str], None]] = None
        self.down = False
        self.log: List[Dict[str, Any]] = []
        self.meta: Dict[str, Dict[str, Any]] = {}  # object key -> {size, etag}
        self.uploads: Dict[str, Dict[str, Any]] = {}  # recording id -> {key, tenantId, state, offer}
        self.lock = threading.Lock()
        self._secret = os.urandom(16)
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                cloud._handle(self)

            do_PUT = do_POST = do_DELETE = do_PATCH = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def tenant_id(self, slug: str) -> str:
        return next(t["tenantId"] for t in self.tenants if t["slug"] == slug)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the tests look at ----------------------------------------------------------------

    def requests(self, route: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [entry for entry in self.log if entry["route"] == route]

    def routes(self) -> List[Optional[str]]:
        with self.lock:
            return [entry["route"] for entry in self.log]

    def archive(self, recording_id: str) -> Path:
        """The object the trace's upload left in the store."""
        return self.objects / self.uploads[recording_id]["key"]

    # --- the store's presigned URLs ---------------------------------------------------------------

    def _sign(self, method: str, key: str) -> str:
        return hmac.new(self._secret, f"{method} {key}".encode(), hashlib.sha256).hexdigest()

    def presign(self, method: str, key: str) -> str:
        return f"{self.base_url}/store/{quote(key)}?sig={self._sign(method, key)}"

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        entry: Dict[str, Any] = {
            "method": request.command,
            "path": parts.path,
            "route": None,
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
        }
        match = None
        for method, name, pattern in ROUTES:
            match = pattern.fullmatch(parts.path)
            if match and method == request.command:
                entry["route"] = name
                break
        if self.on_request and entry["route"]:
            self.on_request(entry["route"])
        with self.lock:
            self.log.append(entry)
            down = self.down
            injected = self.fail.get(entry["route"] or "")
            planned = injected.pop(0) if injected else None
        if down:
            request.close_connection = True
            return  # no answer at all: the client sees the connection drop
        try:
            if planned is not None:
                self._drain(request)
                status, headers = planned if isinstance(planned, tuple) else (planned, {})
                raise error(status, f"injected HTTP {status}", headers)
            if entry["route"] is None or match is None:
                self._drain(request)
                raise error(404, f"no endpoint {request.command} {parts.path}")
            if entry["route"].startswith("store-"):
                key = match.group(1)
                if parse_qs(parts.query).get("sig") != [self._sign(request.command, key)]:
                    self._drain(request)
                    raise error(403, "the URL's signature is not valid")
                if entry["route"] == "store-get":
                    return self._download(request, key)
                raise Reply(*self._store_put(request, key, entry))
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                self._drain(request)
                raise error(401, "missing or wrong bearer token")
            if request.headers.get("Content-Type") != "application/json":
                self._drain(request)
                raise error(415, "Content-Type must be application/json")
            payload = self._body(request, entry)
            handler = getattr(self, "_" + entry["route"].replace("-", "_"))
            raise Reply(200, handler(*match.groups(), payload))
        except Reply as reply:
            entry["status"] = reply.status
            if reply.text is not None:
                body, kind = reply.text.encode(), "text/plain; charset=utf-8"
            else:
                body, kind = (b"" if reply.body is None else json.dumps(reply.body).encode()), "application/json"
            request.send_response(reply.status)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            if body:
                request.send_header("Content-Type", kind)
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
    def _body(request: BaseHTTPRequestHandler, entry: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The JSON body, checked field by field against BODIES; None for a GET."""
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        fields = BODIES.get(entry["route"])
        if fields is None:
            if raw:
                raise error(400, f"{entry['route']} takes no body")
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise error(400, "the body is not JSON") from None
        entry["body"] = data
        if not isinstance(data, dict):
            raise error(400, "the body is not a JSON object")
        unknown = sorted(set(data) - set(fields))
        missing = sorted(set(fields) - set(data))
        if unknown or missing:
            raise error(400, f"unknown fields {unknown}, missing fields {missing}")
        for name, kind in fields.items():
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise error(400, f"{name} must be a {kind.__name__}")
        return data

    # --- object store -----------------------------------------------------------------------------

    def _store_put(self, request: BaseHTTPRequestHandler, key: str, entry: Dict[str, Any]) -> Tuple[int, Dict, Dict]:
        if request.headers.get("Content-Type") != PUT_TYPE:
            self._drain(request)
            raise error(403, f"the URL was signed for Content-Type {PUT_TYPE}")
        left = int(request.headers.get("Content-Length") or 0)
        entry["bytes"] = left
        offer = next((u["offer"] for u in self.uploads.values() if u["key"] == key), None)
        if offer is None or offer["contentLength"] != left:
            self._drain(request)
            raise error(400, "Content-Length is not the contentLength of the upload URL")
        md5 = hashlib.md5()
        partial = self.objects / (key + ".part")
        with open(partial, "wb") as out:
            while left > 0:
                chunk = request.rfile.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                md5.update(chunk)
                out.write(chunk)
        if left:
            partial.unlink()
            raise error(400, "the body ended early")
        os.replace(partial, self.objects / key)
        etag = f'"{md5.hexdigest()}"'  # quoted, as S3 sends it
        with self.lock:
            self.meta[key] = {"size": (self.objects / key).stat().st_size, "etag": md5.hexdigest()}
        return 200, None, {"ETag": etag}

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

    # --- API (api_client.nim: each answer has exactly the fields CodeTracer reads) -----------

    def _tenants(self, payload: None) -> Dict[str, Any]:
        return {"tenants": self.tenants}

    def _upload_url(self, tenant_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        if tenant_id not in {t["tenantId"] for t in self.tenants}:
            raise error(404, f"no tenant {tenant_id}")
        if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", payload["recordingId"]):
            raise error(400, "recordingId is not a UUID")
        if self.max_size is not None and payload["contentLength"] > self.max_size:
            raise error(413, f"traces are limited to {self.max_size} bytes")
        key = "u-" + uuid.uuid4().hex
        with self.lock:
            self.uploads[payload["recordingId"]] = {
                "key": key,
                "tenantId": tenant_id,
                "state": "pending",
                "offer": payload,
            }
        return {"recordingId": payload["recordingId"], "uploadUrl": self.presign("PUT", key), "expiresAt": EXPIRES_AT}

    def _confirm_upload(self, recording_id: str, payload: Dict[str, Any]) -> NoReturn:
        upload = self.uploads.get(recording_id)
        if upload is None:
            raise error(404, "no upload for this recording")
        meta = self.meta.get(upload["key"])
        if meta is None or meta["etag"] != payload["etag"]:
            raise error(409, "no object with this ETag was received")
        upload["state"] = "complete"
        raise Reply(204)  # CodeTracer's client reads no answer here

    def _download_url(self, recording_id: str, payload: None) -> Dict[str, Any]:
        upload = self.uploads.get(recording_id)
        if upload is None or upload["state"] != "complete":
            raise error(404, "no uploaded trace with this recording id")
        return {"downloadUrl": self.presign("GET", upload["key"]), "expiresAt": EXPIRES_AT}
