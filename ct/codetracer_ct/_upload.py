"""`ct upload`: the client of the trace-sharing HTTP API (the contract is in
docs/ct.md, "Upload"). Standard library only: http.client, one connection
per request, bodies streamed from disk in 1 MiB chunks.

- Small archives: ask for an upload URL, PUT the archive to it (the URL is
  presigned: it never gets the bearer token), confirm, ask for the link.
- Large archives: an upload session in slices, each with its SHA-256 (sent
  when asking for its URL and with the PUT, checked by the store), each
  confirmed to the API; then finalize with the whole archive's SHA-256,
  confirm and ask for the link. The session id is kept in the index until
  the upload completes, so running the same command again after Ctrl-C or a
  network drop resumes after the slices the server confirmed.
- Transient failures (no connection, timeouts, HTTP 429 / 5xx, a slice whose
  checksum the store rejects) are retried with exponential backoff; every
  other failure ends the upload with its own exit status (`_exitcodes`).
"""
from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Protocol, TextIO, Tuple
from urllib.parse import quote, urlsplit

from . import __version__, _archive, _exitcodes
from ._index import UploadSession
from ._uploadconfig import Settings

API = "/api/v1"
CHUNK = 1 << 20
MAX_ANSWER = 8 << 20  # an API answer larger than this is not one ct can use
CHECKSUM_HEADER = "X-Checksum-SHA256"
CHECKSUM_MISMATCH = "checksum-mismatch"  # the "error" of a 400/422 answer when a checksum disagrees
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0


class UploadFailed(Exception):
    """The upload did not complete; `exit_status` is ct's (`_exitcodes`)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class _Transient(Exception):
    """A failure worth another attempt (network, 429/5xx, a checksum the
    store rejected); ends the upload with `exit_status` once retries run out."""

    def __init__(self, message: str, exit_status: int, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status
        self.retry_after = retry_after


class SessionStore(Protocol):
    """Where resumable sessions are kept (the index)."""

    def upload_session(self, recording_id: str, base_url: str, tenant: str) -> Optional[UploadSession]: ...

    def save_upload_session(self, session: UploadSession) -> None: ...

    def drop_upload_session(self, recording_id: str, base_url: str, tenant: str) -> None: ...


@dataclass(frozen=True)
class Result:
    recording_id: str
    share_url: str
    archive_name: str
    content_type: str
    archive_size: int
    archive_sha256: str
    sliced: bool
    slices: int
    slices_resumed: int


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self, what: str) -> Dict[str, Any]:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UploadFailed(f"{what}: the server's answer (HTTP {self.status}) is not a JSON object",
                               _exitcodes.UPLOAD_SERVER)
        return data


def _field(data: Dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise UploadFailed(f"{what}: the server's answer has no usable {name!r}", _exitcodes.UPLOAD_SERVER)
    return value


def _url(data: Dict[str, Any], name: str, what: str) -> str:
    value = _field(data, name, str, what)
    if urlsplit(value).scheme not in ("http", "https"):
        raise UploadFailed(f"{what}: the server's {name!r} is not an http(s) URL", _exitcodes.UPLOAD_SERVER)
    return value


def size_text(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


class Progress:
    """One line on a terminal, redrawn in place: bytes, rate, ETA. Silent
    when the stream is not a terminal (logs and pipes get no \\r noise)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0
        self.sent = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.width = 0

    def skip(self, count: int) -> None:
        self.done += count
        self._draw()

    def advance(self, count: int) -> None:
        self.done += count
        self.sent += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.drawn < 0.2):
            return
        self.drawn = now
        rate = self.sent / max(now - self.started, 1e-3)
        left = max(self.total - self.done, 0)
        eta = "--:--" if rate <= 0 else "%d:%02d" % divmod(int(left / rate + 0.5), 60)
        line = f"ct: uploading {size_text(self.done)} / {size_text(self.total)}  {size_text(rate)}/s  ETA {eta}"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.enabled and self.width:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


class Client:
    """The API of one server and tenant, with retries."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep,
                 warn: Callable[[str], None] = lambda text: None) -> None:
        self.settings = settings
        self.sleep = sleep
        self.warn = warn
        self._tls: Optional[ssl.SSLContext] = None

    # --- one exchange -------------------------------------------------------------

    def redact(self, text: str) -> str:
        token = self.settings.token
        return text.replace(token, "<token>") if token else text

    def api(self, *parts: str) -> str:
        return self.settings.base_url + API + "".join("/" + quote(part, safe="") for part in parts)

    def exchange(self, method: str, url: str, *, body: Optional[bytes] = None,
                 file: Optional[Tuple[Path, int, int]] = None, headers: Optional[Dict[str, str]] = None,
                 auth: bool = True, progress: Optional[Progress] = None, what: str = "") -> _Answer:
        """One request, no retry. `file` = (path, start, length) is streamed
        as the body. Network failures raise _Transient."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        where = f"{host}:{parts.port}" if parts.port else host
        try:
            if parts.scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, parts.port, timeout=self.settings.timeout, context=self._tls)
            else:
                connection = http.client.HTTPConnection(host, parts.port, timeout=self.settings.timeout)
        except ValueError as exc:  # e.g. a malformed port
            raise UploadFailed(f"{url.split('?')[0]} is not a usable URL: {exc}", _exitcodes.USAGE) from exc
        handle = None
        if file is not None:
            try:
                handle = open(file[0], "rb")
            except OSError as exc:
                connection.close()
                raise UploadFailed(f"cannot read {file[0]}: {exc.strerror}", _exitcodes.ENVIRONMENT) from exc
        sent = 0
        try:
            connection.putrequest(method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                                  skip_accept_encoding=True)
            fields = {"User-Agent": f"ct/{__version__}", "Accept": "application/json"}
            fields.update(headers or {})
            if auth:
                fields["Authorization"] = "Bearer " + self.settings.token
            fields["Content-Length"] = str(len(body) if body is not None else (file[2] if file else 0))
            for name, value in fields.items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                if body is not None:
                    connection.send(body)
                elif file is not None and handle is not None:
                    path, start, length = file
                    handle.seek(start)
                    while sent < length:
                        chunk = handle.read(min(CHUNK, length - sent))
                        if not chunk:
                            raise UploadFailed(f"{path} shrank while it was being uploaded", _exitcodes.ENVIRONMENT)
                        connection.send(chunk)
                        sent += len(chunk)
                        if progress:
                            progress.advance(len(chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass  # a server may answer (413, 401) before reading the whole body: read that answer
            response = connection.getresponse()
            data = response.read(MAX_ANSWER)
            return _Answer(response.status, response.headers, data)
        except ssl.SSLCertVerificationError as exc:
            raise UploadFailed(f"{what}: the TLS certificate of {where} is not trusted ({exc.verify_message})",
                               _exitcodes.UPLOAD_NETWORK) from exc
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise _Transient(f"{what}: cannot reach {where}: {reason}", _exitcodes.UPLOAD_NETWORK) from exc
        finally:
            connection.close()
            if handle is not None:
                handle.close()
            if progress and sent:
                progress.advance(-sent)  # counted again once the store acknowledged them

    def check(self, what: str, answer: _Answer, not_found: str, store: bool = False) -> _Answer:
        """`answer` if it is a success; else the failure it means."""
        status = answer.status
        if 200 <= status < 300:
            return answer
        detail = ""
        code = None
        try:
            data = json.loads(answer.body.decode("utf-8"))
            if isinstance(data, dict):
                code = data.get("error")
                detail = str(data.get("message") or code or "")
        except ValueError:
            detail = answer.body[:200].decode("utf-8", "replace").strip()
        detail = self.redact(detail[:300])
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        if code == CHECKSUM_MISMATCH and status in (400, 409, 422):
            raise _Transient(f"{what}: the server received bytes whose SHA-256 differs from what ct sent ({said})",
                             _exitcodes.UPLOAD_INTEGRITY)
        if status in (401, 403):
            if store:
                raise UploadFailed(f"{what}: the object store refused the upload URL the server gave ({said})",
                                   _exitcodes.UPLOAD_AUTH)
            raise UploadFailed(
                f"{what}: the server refused the token ({said}); check CODETRACER_TOKEN or run `ct login`, "
                f"and that it may upload to tenant {self.settings.tenant!r}", _exitcodes.UPLOAD_AUTH)
        if status == 404:
            raise UploadFailed(f"{what}: {not_found} ({said})", _exitcodes.UPLOAD_NOT_FOUND)
        if status == 413:
            raise UploadFailed(f"{what}: the server refuses a trace this large ({said})", _exitcodes.UPLOAD_TOO_LARGE)
        if status == 429 or status >= 500:
            retry_after: Optional[float] = None
            try:
                retry_after = float(answer.headers.get("Retry-After", ""))
            except ValueError:
                pass
            raise _Transient(f"{what}: the server failed ({said})", _exitcodes.UPLOAD_SERVER, retry_after)
        raise UploadFailed(f"{what}: unexpected answer from the server ({said})", _exitcodes.UPLOAD_SERVER)

    def retrying(self, what: str, attempt: Callable[[], Any]) -> Any:
        """`attempt()` until it succeeds, a failure is not transient, or the
        retries run out (exponential backoff, Retry-After honoured)."""
        failures = 0
        while True:
            try:
                return attempt()
            except _Transient as exc:
                if failures >= self.settings.retries:
                    attempts = "1 attempt" if failures == 0 else f"{failures + 1} attempts"
                    raise UploadFailed(f"{exc} (gave up after {attempts})", exc.exit_status) from None
                delay = min(BACKOFF_CAP, self.settings.backoff * (2 ** failures))
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, RETRY_AFTER_CAP))
                failures += 1
                self.warn(f"{exc}; retry {failures} of {self.settings.retries} in {delay:.1f} s")
                self.sleep(delay)

    def call(self, what: str, method: str, url: str, payload: Optional[Dict[str, Any]] = None,
             not_found: str = "the server does not know it") -> Dict[str, Any]:
        """A JSON API request with retries; its JSON answer."""
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {} if payload is None else {"Content-Type": "application/json"}

        def attempt() -> _Answer:
            return self.check(what, self.exchange(method, url, body=body, headers=headers, what=what), not_found)

        return self.retrying(what, attempt).json(what)

    def put(self, what: str, url: str, file: Tuple[Path, int, int], sha256: str, content_type: str,
            progress: Progress) -> str:
        """One PUT of a byte range to a presigned URL (no token); its ETag."""
        headers = {"Content-Type": content_type, CHECKSUM_HEADER: sha256}
        answer = self.check(what, self.exchange("PUT", url, file=file, headers=headers, auth=False, progress=progress,
                                          what=what),
                            "the upload URL the server gave does not exist", store=True)
        progress.advance(file[2])
        etag = answer.headers.get("ETag")
        if not etag:
            raise UploadFailed(f"{what}: the object store answered without an ETag", _exitcodes.UPLOAD_SERVER)
        return etag


# --- the two ways of uploading ----------------------------------------------------------

def _single(client: Client, source: _archive.TraceSource, archive: Path, size: int, sha256: str,
            progress: Progress) -> str:
    tenant = client.settings.tenant
    offer = {"recordingId": source.recording_id, "fileName": source.file_name,
             "contentType": source.content_type, "size": size, "sha256": sha256}

    def attempt() -> str:
        answer = client.check("asking for an upload URL", client.exchange(
            "POST", client.api("tenants", tenant, "traces", "upload-url"),
            body=json.dumps(offer).encode(), headers={"Content-Type": "application/json"},
            what="asking for an upload URL"),
            f"tenant {tenant!r} does not exist on {client.settings.base_url}")
        url = _url(answer.json("asking for an upload URL"), "uploadUrl", "asking for an upload URL")
        return client.put("uploading the trace", url, (archive, 0, size), sha256, source.content_type, progress)

    return client.retrying("uploading the trace", attempt)


class _Sliced:
    """A sliced upload: counters for the result and the interruption message."""

    def __init__(self, client: Client, store: SessionStore, source: _archive.TraceSource, archive: Path,
                 size: int, sha256: str, progress: Progress) -> None:
        self.client, self.store, self.source, self.archive = client, store, source, archive
        self.size, self.sha256, self.progress = size, sha256, progress
        self.session_id: Optional[str] = None
        self.count = 0
        self.confirmed = 0
        self.resumed = 0

    def _key(self) -> Tuple[str, str, str]:
        return self.source.recording_id, self.client.settings.base_url, self.client.settings.tenant

    def _resume(self) -> Optional[Dict[str, Any]]:
        saved = self.store.upload_session(*self._key())
        if saved is None:
            return None
        if (saved.archive_sha256, saved.archive_size) != (self.sha256, self.size):
            self.client.warn("the trace changed since its interrupted upload: starting a new one")
            return None
        try:
            status = self.client.call("resuming the upload", "GET",
                                      self.client.api("traces", saved.session_id, "upload-session"))
        except UploadFailed as exc:
            if exc.exit_status != _exitcodes.UPLOAD_NOT_FOUND:
                raise
            self.client.warn("the server no longer has the interrupted upload: starting a new one")
            return None
        if status.get("sha256") not in (None, self.sha256) or status.get("state") == "finalized":
            return None
        status.setdefault("sessionId", saved.session_id)
        return status

    def run(self) -> str:
        client, tenant = self.client, self.client.settings.tenant
        session = self._resume()
        if session is None:
            session = client.call(
                "starting a sliced upload", "POST", client.api("tenants", tenant, "traces", "upload-session"),
                {"recordingId": self.source.recording_id, "fileName": self.source.file_name,
                 "contentType": self.source.content_type, "size": self.size, "sha256": self.sha256,
                 "sliceSize": client.settings.slice_size},
                not_found=f"tenant {tenant!r} does not exist on {client.settings.base_url}")
        what = "the upload session"
        self.session_id = _field(session, "sessionId", str, what)
        slice_size = _field(session, "sliceSize", int, what)
        if slice_size <= 0:
            raise UploadFailed(f"{what}: the server asks for slices of {slice_size} bytes", _exitcodes.UPLOAD_SERVER)
        self.store.save_upload_session(UploadSession(*self._key(), archive_sha256=self.sha256,
                                                     archive_size=self.size, session_id=self.session_id))
        done = {}
        for entry in session.get("slices") or []:
            if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                done[entry["index"]] = entry
        self.count = max(1, -(-self.size // slice_size))
        for index in range(self.count):
            start = index * slice_size
            length = min(slice_size, self.size - start)
            sha256 = _archive.digest(self.archive, start, length)
            previous = done.get(index)
            if previous and previous.get("sha256") == sha256 and previous.get("size", length) == length:
                self.progress.skip(length)
                self.resumed += 1
                self.confirmed += 1
                continue
            self._slice(index, start, length, sha256)
            self.confirmed += 1
        answer = client.call(
            "finalizing the upload", "POST", client.api("traces", self.session_id, "finalize"),
            {"size": self.size, "sha256": self.sha256, "sliceCount": self.count},
            not_found="the server no longer has this upload session")
        return _field(answer, "etag", str, "finalizing the upload")

    def _slice(self, index: int, start: int, length: int, sha256: str) -> None:
        client = self.client
        what = f"slice {index + 1} of {self.count}"

        def attempt() -> None:
            answer = client.check(f"{what}: asking for its URL", client.exchange(
                "POST", client.api("traces", self.session_id or "", "slice-upload-url"),
                body=json.dumps({"index": index, "size": length, "sha256": sha256}).encode(),
                headers={"Content-Type": "application/json"}, what=f"{what}: asking for its URL"),
                "the server no longer has this upload session")
            url = _url(answer.json(what), "uploadUrl", what)
            etag = client.put(what, url, (self.archive, start, length), sha256, "application/octet-stream",
                              self.progress)
            try:
                client.check(f"{what}: confirming it", client.exchange(
                    "POST", client.api("traces", self.session_id or "", "confirm-slice"),
                    body=json.dumps({"index": index, "size": length, "sha256": sha256, "etag": etag}).encode(),
                    headers={"Content-Type": "application/json"}, what=f"{what}: confirming it"),
                    "the server no longer has this upload session")
            except BaseException:
                self.progress.advance(-length)
                raise

        client.retrying(what, attempt)


# --- the whole command ----------------------------------------------------------------------

def upload(source: _archive.TraceSource, settings: Settings, store: SessionStore,
           stream: TextIO = sys.stderr, sleep: Callable[[float], None] = time.sleep) -> Result:
    """Pack `source`, upload it, confirm it, and return its share link.
    Raises UploadFailed (Ctrl-C included) with the exit status to use."""

    def warn(text: str) -> None:
        stream.write(f"\nct: {text}\n" if progress.width else f"ct: {text}\n")
        stream.flush()

    client = Client(settings, sleep, lambda text: warn(client.redact(text)))
    progress = Progress(0, stream, enabled=stream.isatty())
    sliced: Optional[_Sliced] = None
    try:
        with tempfile.TemporaryDirectory(prefix="ct-upload-") as scratch:
            if source.ct_file is not None:
                archive = source.ct_file
            else:
                archive = Path(scratch, source.file_name)
                try:
                    with open(archive, "wb") as out:
                        links = _archive.pack_zip(source.folder, out)
                except OSError as exc:
                    raise UploadFailed(f"cannot pack the trace into {archive}: {exc}", _exitcodes.ENVIRONMENT) from exc
                for link in links:
                    warn(f"left out {link}: a symbolic link (only the trace's own files are uploaded)")
            size = os.path.getsize(archive)
            sha256 = _archive.digest(archive)
            progress.total = size
            if size > settings.sliced_above:
                sliced = _Sliced(client, store, source, archive, size, sha256, progress)
                etag = sliced.run()
            else:
                etag = _single(client, source, archive, size, sha256, progress)
            progress.close()
            progress.width = 0
            recording = source.recording_id
            client.call("confirming the upload", "POST", client.api("traces", recording, "confirm-upload"),
                        {"etag": etag, "size": size, "sha256": sha256},
                        not_found="the server does not know this trace's upload")
            answer = client.call("asking for the share link", "GET", client.api("traces", recording, "download-url"),
                                 not_found="the server does not know this trace")
            link = _url(answer, "downloadUrl", "asking for the share link")
    except KeyboardInterrupt:
        progress.close()
        raise UploadFailed("upload interrupted" + _resume_note(sliced), _exitcodes.INTERRUPTED) from None
    except UploadFailed as exc:
        progress.close()
        if exc.exit_status == _exitcodes.UPLOAD_INTEGRITY and sliced is not None and sliced.confirmed == sliced.count:
            store.drop_upload_session(source.recording_id, settings.base_url, settings.tenant)
        elif exc.exit_status in (_exitcodes.UPLOAD_NETWORK, _exitcodes.UPLOAD_SERVER):
            raise UploadFailed(str(exc) + _resume_note(sliced), exc.exit_status) from None
        raise
    return Result(recording_id=source.recording_id, share_url=link, archive_name=source.file_name,
                  content_type=source.content_type, archive_size=size, archive_sha256=sha256,
                  sliced=sliced is not None, slices=sliced.count if sliced else 1,
                  slices_resumed=sliced.resumed if sliced else 0)


def _resume_note(sliced: Optional[_Sliced]) -> str:
    if sliced is None or sliced.session_id is None:
        return "; nothing was uploaded: run the same command again to start over"
    return (f" after {sliced.confirmed} of {sliced.count} slices were confirmed; "
            "run the same command again to resume from there")
