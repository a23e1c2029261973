"""HTTPS to the lab's edge from the controller, with the public names pinned to an edge
address (the controller's resolver does not know lab names) and certificates verified
against the municipal CA of the environment."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

# A browser User-Agent: Horde serves its dynamic view only to browsers it recognises.
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")

_real_getaddrinfo = socket.getaddrinfo
# Pinned names of every block running now, in every thread, with the thread that pinned
# them (scripts/bench-sso runs many sessions at once; a test asks both edge hosts for the
# same names at once): the resolver is replaced while at least one block runs, and a
# thread's own pins come before any other thread's.
_pins: list[tuple[int, dict[str, str]]] = []
_pins_lock = threading.Lock()


def _pinned_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    me = threading.get_ident()
    with _pins_lock:
        mine = [p for tid, p in reversed(_pins) if tid == me]
        others = [p for tid, p in reversed(_pins) if tid != me]
        target = next((p[host] for p in mine + others if host in p), host)
    return _real_getaddrinfo(target, *args, **kwargs)


@contextlib.contextmanager
def pinned(names: dict[str, str]) -> Iterator[None]:
    """Resolve the given names to the given addresses while the block runs (thread-safe:
    blocks in other threads keep their own names)."""
    entry = (threading.get_ident(), names)
    with _pins_lock:
        _pins.append(entry)
        socket.getaddrinfo = _pinned_getaddrinfo
    try:
        yield
    finally:
        with _pins_lock:
            _pins.remove(entry)
            if not _pins:
                socket.getaddrinfo = _real_getaddrinfo


class EdgeSession(requests.Session):
    """A requests session whose public names go to one edge address."""

    def __init__(self, address: str, names: list[str], ca: Path) -> None:
        super().__init__()
        self._names = dict.fromkeys(names, address)
        self.trust_env = False  # no proxy, and no CA bundle from the environment
        self.verify = str(ca)
        self.headers["User-Agent"] = BROWSER_UA

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with pinned(self._names):
            return super().send(request, **kwargs)


def ca_file(secrets_dir: str) -> Path:
    return Path(secrets_dir) / "pki" / "ca.crt"


def handshake(address: str, name: str, ca: Path, version: ssl.TLSVersion) -> str:
    """TLS handshake with exactly one protocol version; returns the negotiated version or
    raises ssl.SSLError. The client side allows old versions (SECLEVEL=0) so that a
    refusal comes from the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca))
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection((address, 443), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=name) as tls:
        return str(tls.version())


def access_logs(host: Any, expected: str, timeout: float = 10.0) -> str:
    """The nginx logs of a host once `expected` shows in them (or after `timeout` seconds):
    nginx writes a request's line after the response has gone out, so a client that reads
    the log at once can come before it."""
    deadline = time.monotonic() + timeout
    while True:
        logs: str = host.check_output("cat /var/log/nginx/*.log")
        if expected in logs or time.monotonic() > deadline:
            return logs
        time.sleep(0.3)
