"""`ct upload`: the client of CodeTracer's trace-sharing API, speaking it as
CodeTracer's own `ct upload` does (its src/ct/online_sharing/upload.nim,
api_client.nim, file_transfer.nim and tenant_resolver.nim; the table is in
docs/ct.md, "Upload"). Standard library only: http.client, one connection
per request, the archive streamed from disk in 1 MiB chunks.

The steps: pack the whole trace folder into one zip (`_archive`); resolve
the tenant (an organisation slug, or a tenant id used as it is); ask for an
upload URL; PUT the zip to it (the URL is presigned: it never gets the
bearer token); confirm the upload with the store's ETag; ask for the
download URL. The link printed is the one CodeTracer's `ct upload` prints:
the trace's replay page, `{base}/{organisation}/replay/confirm/{recordingId}`.

Transient failures (no connection, timeouts, HTTP 429 / 5xx) are retried
with exponential backoff, honouring Retry-After; the PUT is retried whole
(a presigned PUT cannot resume). Every other failure ends the upload with
its own exit status (`_exitcodes`).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import re
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TextIO, Tuple, TypeVar
from urllib.parse import quote, urlsplit

from . import __version__, _archive, _exitcodes
from ._errors import UploadFailed
from ._uploadconfig import Settings

API = "/api/v1"
CHUNK = 1 << 20
MAX_ANSWER = 8 << 20  # an API answer larger than this is not one ct can use
# What CodeTracer's `uploadTrace` sends: its zip is always named tmp.zip
# ("import to be tmp.zip for the codetracer-ci service"), declared
# application/zip to the API and PUT as application/octet-stream.
ARCHIVE_NAME = "tmp.zip"
ARCHIVE_TYPE = "application/zip"
PUT_TYPE = "application/octet-stream"
TENANT_ID = re.compile(r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0
_T = TypeVar("_T")


class _Transient(UploadFailed):
    """A failure worth another attempt (network, 429/5xx); ends the upload
    with `exit_status` once retries run out."""

    def __init__(self, message: str, exit_status: int, retry_after: Optional[float] = None) -> None:
        super().__init__(message, exit_status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Result:
    recording_id: str
    share_url: str  # the replay page: what CodeTracer's `ct upload` prints
    download_url: str  # presigned, valid until download_expires_at
    download_expires_at: str
    archive_name: str
    content_type: str
    archive_size: int
    archive_sha256: str


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
            raise UploadFailed(
                f"{what}: the server's answer (HTTP {self.status}) is not a JSON object", _exitcodes.UPLOAD_SERVER
            )
        return data


def _field(data: Dict[str, Any], name: str, what: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or value == "":
        raise UploadFailed(f"{what}: the server's answer has no usable {name!r}", _exitcodes.UPLOAD_SERVER)
    return value


def _url(data: Dict[str, Any], name: str, what: str) -> str:
    value = _field(data, name, what)
    if urlsplit(value).scheme not in ("http", "https"):
        raise UploadFailed(f"{what}: the server's {name!r} is not an http(s) URL", _exitcodes.UPLOAD_SERVER)
    return value


def _retry_after(text: Optional[str]) -> Optional[float]:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
        self.started = time.monotonic()
        self.drawn = 0.0
        self.width = 0

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.drawn < 0.2):
            return
        self.drawn = now
        rate = max(self.done, 0) / max(now - self.started, 1e-3)
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
            self.width = 0


class Client:
    """The API of one server, with retries."""

    def __init__(
        self,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
        warn: Callable[[str], None] = lambda text: None,
    ) -> None:
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

    def exchange(
        self,
        method: str,
        url: str,
        *,
        body: Optional[bytes] = None,
        file: Optional[Tuple[Path, int]] = None,
        headers: Optional[Dict[str, str]] = None,
        progress: Optional[Progress] = None,
        what: str = "",
    ) -> _Answer:
        """One request, no retry. `file` = (path, size) is streamed as the
        body. Network failures raise _Transient."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        where = f"{host}:{parts.port}" if parts.port else host
        try:
            if parts.scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, parts.port, timeout=self.settings.timeout, context=self._tls
                )
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
            connection.putrequest(
                method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), skip_accept_encoding=True
            )
            fields = {"User-Agent": f"ct/{__version__}"}
            fields.update(headers or {})
            if body is not None or file is not None:
                fields["Content-Length"] = str(len(body) if body is not None else file[1] if file else 0)
            for name, value in fields.items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                if body is not None:
                    connection.send(body)
                elif file is not None and handle is not None:
                    path, length = file
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
            raise UploadFailed(
                f"{what}: the TLS certificate of {where} is not trusted ({exc.verify_message})",
                _exitcodes.UPLOAD_NETWORK,
            ) from exc
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
        try:
            data = json.loads(answer.body.decode("utf-8"))
            if isinstance(data, dict):
                detail = str(data.get("message") or data.get("error") or data.get("title") or "")
        except ValueError:
            detail = answer.body[:200].decode("utf-8", "replace").strip()
        detail = self.redact(detail[:300])
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status in (401, 403):
            if store:
                raise UploadFailed(
                    f"{what}: the object store refused the upload URL the server gave ({said})", _exitcodes.UPLOAD_AUTH
                )
            raise UploadFailed(
                f"{what}: the server refused the token ({said}); check CODETRACER_TOKEN or run `ct login`, "
                f"and that it may upload to tenant {self.settings.tenant!r}",
                _exitcodes.UPLOAD_AUTH,
            )
        if status == 404:
            raise UploadFailed(f"{what}: {not_found} ({said})", _exitcodes.UPLOAD_NOT_FOUND)
        if status == 413:
            raise UploadFailed(f"{what}: the server refuses a trace this large ({said})", _exitcodes.UPLOAD_TOO_LARGE)
        if status == 429 or status >= 500:
            raise _Transient(
                f"{what}: the server failed ({said})",
                _exitcodes.UPLOAD_SERVER,
                _retry_after(answer.headers.get("Retry-After")),
            )
        raise UploadFailed(f"{what}: unexpected answer from the server ({said})", _exitcodes.UPLOAD_SERVER)

    def retrying(self, what: str, attempt: Callable[[], _T]) -> _T:
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
                delay = min(BACKOFF_CAP, self.settings.backoff * (2**failures))
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, RETRY_AFTER_CAP))
                failures += 1
                self.warn(f"{exc}; retry {failures} of {self.settings.retries} in {delay:.1f} s")
                self.sleep(delay)

    def call(
        self,
        what: str,
        method: str,
        url: str,
        payload: Optional[Dict[str, Any]] = None,
        not_found: str = "the server does not know it",
    ) -> _Answer:
        """An API request with retries and CodeTracer's headers (the bearer
        token and `Content-Type: application/json`, on every request); its
        successful answer."""
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Authorization": "Bearer " + self.settings.token, "Content-Type": "application/json"}

        def attempt() -> _Answer:
            return self.check(what, self.exchange(method, url, body=body, headers=headers, what=what), not_found)

        return self.retrying(what, attempt)

    def put(self, what: str, url: str, archive: Path, size: int, progress: Progress) -> str:
        """The PUT of the archive to a presigned URL (no token), retried whole;
        the store's ETag, without its quotes (as CodeTracer's `putFile`)."""

        def attempt() -> _Answer:
            answer = self.exchange(
                "PUT", url, file=(archive, size), headers={"Content-Type": PUT_TYPE}, progress=progress, what=what
            )
            return self.check(what, answer, "the upload URL the server gave does not exist", store=True)

        answer = self.retrying(what, attempt)
        progress.advance(size)
        etag = (answer.headers.get("ETag") or "").strip('"')
        if not etag:
            raise UploadFailed(f"{what}: the object store answered without an ETag", _exitcodes.UPLOAD_SERVER)
        return etag


# --- the steps ------------------------------------------------------------------------------------


def resolve_tenant(client: Client) -> Tuple[str, str]:
    """(tenant id, organisation slug) of the tenant setting, as CodeTracer's
    `resolveTenantId`: a tenant id is used as it is (and is its own slug);
    a slug is looked up, case-insensitively, in `GET tenants`."""
    tenant = client.settings.tenant
    if TENANT_ID.match(tenant):
        return tenant, tenant
    what = "looking up the organisation"
    data = client.call(what, "GET", client.api("tenants")).json(what)
    entries = data.get("tenants")
    if not isinstance(entries, list):
        raise UploadFailed(f"{what}: the server's answer has no usable 'tenants'", _exitcodes.UPLOAD_SERVER)
    slugs: List[str] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("slug"), str):
            slugs.append(entry["slug"])
            if entry["slug"].lower() == tenant.lower():
                return _field(entry, "tenantId", what), entry["slug"]
    available = ", ".join(slugs) if slugs else "none"
    raise UploadFailed(
        f"{what}: organisation {tenant!r} not found on {client.settings.base_url} "
        f"(the token's organisations: {available})",
        _exitcodes.UPLOAD_NOT_FOUND,
    )


def upload(
    source: _archive.TraceSource,
    settings: Settings,
    stream: TextIO = sys.stderr,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Pack `source`, upload it, confirm it, and return its links.
    Raises UploadFailed (Ctrl-C included) with the exit status to use."""

    def warn(text: str) -> None:
        stream.write(f"\nct: {text}\n" if progress.width else f"ct: {text}\n")
        stream.flush()

    client = Client(settings, sleep, lambda text: warn(client.redact(text)))
    progress = Progress(0, stream, enabled=stream.isatty())
    try:
        with tempfile.TemporaryDirectory(prefix="ct-upload-") as scratch:
            archive = Path(scratch, ARCHIVE_NAME)
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

            tenant_id, slug = resolve_tenant(client)
            what = "asking for an upload URL"
            offer = {
                "recordingId": source.recording_id,
                "fileName": ARCHIVE_NAME,
                "contentType": ARCHIVE_TYPE,
                "contentLength": size,
            }
            answer = client.call(
                what,
                "POST",
                client.api("tenants", tenant_id, "traces", "upload-url"),
                offer,
                not_found=f"tenant {settings.tenant!r} does not exist on {settings.base_url}",
            ).json(what)
            upload_url = _url(answer, "uploadUrl", what)
            recording_id = _field(answer, "recordingId", what)
            etag = client.put("uploading the trace", upload_url, archive, size, progress)
            progress.close()
        client.call(
            "confirming the upload",
            "POST",
            client.api("traces", recording_id, "confirm-upload"),
            {"etag": etag},
            not_found="the server does not know this trace's upload",
        )
        what = "asking for the download link"
        answer = client.call(
            what,
            "GET",
            client.api("traces", recording_id, "download-url"),
            not_found="the server does not know this trace",
        ).json(what)
        download_url = _url(answer, "downloadUrl", what)
        expires = answer.get("expiresAt")
        expires_at = expires if isinstance(expires, str) else ""
    except KeyboardInterrupt:
        progress.close()
        raise UploadFailed(
            "upload interrupted; the index records no upload: run the same command again to "
            "upload the trace from the start",
            _exitcodes.INTERRUPTED,
        ) from None
    except UploadFailed as exc:
        progress.close()
        if exc.exit_status in (_exitcodes.UPLOAD_NETWORK, _exitcodes.UPLOAD_SERVER):
            raise UploadFailed(
                f"{exc}; the index records no upload: run the same command again to upload the trace from the start",
                exc.exit_status,
            ) from None
        raise
    share_url = f"{settings.base_url}/{quote(slug, safe='')}/replay/confirm/{quote(recording_id, safe='')}"
    return Result(
        recording_id=recording_id,
        share_url=share_url,
        download_url=download_url,
        download_expires_at=expires_at,
        archive_name=ARCHIVE_NAME,
        content_type=ARCHIVE_TYPE,
        archive_size=size,
        archive_sha256=sha256,
    )
