"""Where `ct upload` sends traces and with which token: the flags, else the
environment (`CODETRACER_BASE_URL`, `CODETRACER_TENANT`, `CODETRACER_TOKEN`),
else `<data dir>/upload.json` (written by `ct login`, owner-only). The
token is never taken from the command line (other users see argv) and never
printed or logged."""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional
from urllib.parse import urlsplit

from . import _env, _exitcodes
from ._errors import ConfigError

CONFIG_FILE = "upload.json"
ENVIRONMENT = {"base_url": _env.BASE_URL.name, "tenant": _env.TENANT.name, "token": _env.TOKEN.name}
# Tuning, from the environment (docs/ct.md): name -> (default, minimum).
TUNING = {
    _env.UPLOAD_RETRIES.name: (5, 0),  # retries of one request after its first attempt
    _env.UPLOAD_BACKOFF.name: (1.0, 0.0),  # first wait between attempts, doubled each time (s)
    _env.UPLOAD_TIMEOUT.name: (60.0, 0.1),  # connect / read timeout of one request (s)
}


@dataclass(frozen=True)
class Settings:
    base_url: str
    tenant: str
    token: str = field(repr=False)  # never in a repr, a log or a message
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 60.0


def config_path(data: Path) -> Path:
    return data / CONFIG_FILE


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the base URL {url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"the base URL {url!r} must have no query, fragment or credentials")
    return url.strip().rstrip("/")


def read_file(data: Path) -> Dict[str, str]:
    path = config_path(data)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", _exitcodes.ENVIRONMENT) from exc
    try:
        data_ = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data_, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    if os.name == "posix" and data_.get("token"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            sys.stderr.write(
                f"ct: warning: {path} holds a token and others can read it (mode {mode:o}): run `chmod 600 {path}`\n"
            )
    return {key: value for key, value in data_.items() if isinstance(value, str) and value}


def _tuning(environ: Mapping[str, str]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for name, (default, minimum) in TUNING.items():
        text = environ.get(name)
        value = default
        if text:
            try:
                value = type(default)(float(text)) if isinstance(default, int) else float(text)
            except ValueError:
                raise ConfigError(f"{name}={text!r} is not a number") from None
            if value < minimum:
                raise ConfigError(f"{name}={text!r} is below {minimum}")
        out[name] = value
    return out


def resolve(
    data: Path, base_url: Optional[str] = None, tenant: Optional[str] = None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """The effective settings: flag, else environment, else config file."""
    stored = read_file(data)
    given = {"base_url": base_url, "tenant": tenant, "token": None}
    chosen: Dict[str, str] = {}
    for key, variable in ENVIRONMENT.items():
        value = given[key] or environ.get(variable) or stored.get(key)
        if not value:
            flag = {"base_url": "give --base-url URL, ", "tenant": "give --tenant T, ", "token": ""}[key]
            raise ConfigError(
                f"no {key.replace('_', ' ')} to upload with: {flag}set {variable}, "
                f"or run `ct login` (it saves {config_path(data)})"
            )
        chosen[key] = value
    tuning = _tuning(environ)
    return Settings(
        base_url=normalise_base_url(chosen["base_url"]),
        tenant=chosen["tenant"],
        token=chosen["token"],
        retries=int(tuning[_env.UPLOAD_RETRIES.name]),
        backoff=tuning[_env.UPLOAD_BACKOFF.name],
        timeout=tuning[_env.UPLOAD_TIMEOUT.name],
    )


def save(data: Path, values: Mapping[str, str]) -> Path:
    """Merge `values` into the config file, which is created (and stays)
    readable and writable by its owner only."""
    path = config_path(data)
    current = read_file(data)
    current.update({key: value for key, value in values.items() if value})
    data.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    try:
        if staging.exists():
            staging.unlink()
        # O_EXCL + 0o600: the token is never, not even for an instant, in a
        # file others may read.
        descriptor = os.open(str(staging), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(current, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(str(staging), 0o600)
        os.replace(str(staging), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}", _exitcodes.ENVIRONMENT) from exc
    return path
