"""Downloads that never hang: a connect/read timeout and an overall deadline per file,
streamed to a temporary file beside the target and moved into place only when complete.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 16
USER_AGENT = "municloud-artifacts/1"


class DownloadError(Exception):
    """A download failed; the message names the URL and the reason."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _chunks(url: str, timeout: float, deadline: float,
            context: ssl.SSLContext | None) -> Iterator[bytes]:
    """The body of `url` in chunks; every failure becomes one DownloadError naming the URL."""
    end = time.monotonic() + deadline
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                if time.monotonic() > end:
                    raise DownloadError(f"{url}: not complete after {deadline:.0f}s (deadline)")
                yield chunk
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: {_reason(exc.reason, timeout)}") from exc
    except TimeoutError as exc:
        raise DownloadError(f"{url}: no answer within {timeout:.0f}s (timeout)") from exc
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{url}: {exc}") from exc


def fetch(url: str, dest: Path, *, timeout: float = 15.0, deadline: float = 1800.0,
          context: ssl.SSLContext | None = None) -> str:
    """Download `url` to `dest`; return the sha256 of the bytes written.

    `timeout` bounds the connection and each read, `deadline` the whole transfer.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        with part.open("wb") as out:
            for chunk in _chunks(url, timeout, deadline, context):
                h.update(chunk)
                out.write(chunk)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return h.hexdigest()


def fetch_bytes(url: str, *, timeout: float = 15.0, deadline: float = 300.0,
                context: ssl.SSLContext | None = None, limit: int = 64 << 20) -> bytes:
    """A small document (a key, an index) into memory."""
    data = bytearray()
    for chunk in _chunks(url, timeout, deadline, context):
        data += chunk
        if len(data) > limit:
            raise DownloadError(f"{url}: larger than {limit} bytes")
    return bytes(data)


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout:.0f}s (timeout)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)
