"""The meeting site through the edge: BOSH and XMPP over websocket reach prosody over
HTTPS with the municipal CA chain; the web app says honestly whether it is deployed."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import struct
from pathlib import Path
from typing import Any

import pytest

from ..webclient import EdgeSession, ca_file
from .conftest import Meet

BOSH_OPEN = ("<body rid='{rid}' to='{domain}' xml:lang='en' wait='10' hold='1' ver='1.6' "
             "xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' "
             "xmlns:xmpp='urn:xmpp:xbosh'/>")


def _ca(lab: dict[str, Any]) -> Path:
    return ca_file(lab["all"]["vars"]["municloud_secrets_dir"])


def _edges(lab: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["name"], h["address"])
            for h in lab["all"]["vars"]["municloud_service_hosts"].get("edge", [])]


@pytest.fixture(scope="module")
def edges(lab: dict[str, Any]) -> list[tuple[str, str]]:
    found = _edges(lab)
    if not found:
        pytest.skip("no edge host in this environment")
    return found


@pytest.mark.control("MEET-WEB-01")
def test_bosh_answers_through_every_edge(lab: dict[str, Any], meet: Meet,
                                         edges: list[tuple[str, str]]) -> None:
    for edge, address in edges:
        s = EdgeSession(address, [meet.domain], _ca(lab))
        r = s.post(f"https://{meet.domain}/http-bind",
                   data=BOSH_OPEN.format(rid=1000, domain=meet.domain),
                   headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        assert r.status_code == 200, f"{edge}: {r.status_code} {r.text[:300]}"
        assert "sid=" in r.text, f"{edge}: no BOSH session: {r.text[:300]}"
        # Prosody's stream features on the secure domain: only OAUTHBEARER (a login with an
        # access token of the single sign-on, checked at the provider), no password, no guest.
        assert "<mechanism>OAUTHBEARER</mechanism>" in r.text, f"{edge}: {r.text[:500]}"
        assert "<mechanism>PLAIN</mechanism>" not in r.text, f"{edge}: {r.text[:500]}"
        assert "ANONYMOUS" not in r.text, f"{edge}: anonymous offered on {meet.domain}"


def _ws_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    n = len(payload)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _ws_read(tls: ssl.SSLSocket) -> str:
    hdr = tls.recv(2)
    n = hdr[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", tls.recv(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", tls.recv(8))[0]
    data = b""
    while len(data) < n:
        chunk = tls.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


@pytest.mark.control("MEET-WEB-01")
def test_xmpp_websocket_answers_through_every_edge(lab: dict[str, Any], meet: Meet,
                                                   edges: list[tuple[str, str]]) -> None:
    ctx = ssl.create_default_context(cafile=str(_ca(lab)))
    for edge, address in edges:
        key = base64.b64encode(os.urandom(16)).decode()
        with socket.create_connection((address, 443), timeout=15) as raw, \
                ctx.wrap_socket(raw, server_hostname=meet.domain) as tls:
            tls.sendall((f"GET /xmpp-websocket HTTP/1.1\r\nHost: {meet.domain}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(1)
                if not chunk:
                    break
                head += chunk
            assert head.startswith(b"HTTP/1.1 101"), f"{edge}: {head[:300]!r}"
            tls.sendall(_ws_frame(f"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' "
                                  f"to='{meet.domain}' version='1.0'/>"))
            opened = _ws_read(tls)
            features = _ws_read(tls)
        assert "<open" in opened and f"from='{meet.domain}'" in opened.replace('"', "'"), \
            f"{edge}: {opened[:300]}"
        assert "OAUTHBEARER" in features and "ANONYMOUS" not in features, \
            f"{edge}: {features[:400]}"
        assert "PLAIN" not in features, f"{edge}: {features[:400]}"


@pytest.mark.control("MEET-WEB-01", "MEET-JITSI-01")
def test_the_web_app_is_served_or_honestly_not_deployed(lab: dict[str, Any], meet: Meet,
                                                        edges: list[tuple[str, str]],
                                                        target: Any) -> None:
    facts = target(meet.host).file("/etc/municloud/services/jitsi.json").content_string
    deployed = '"status": "deployed"' in facts
    s = EdgeSession(edges[0][1], [meet.domain], _ca(lab))
    r = s.get(f"https://{meet.domain}/", timeout=30)
    if deployed:
        assert r.status_code == 200 and "config.js" in r.text, r.text[:300]
    else:
        assert r.status_code == 503, r.status_code
        assert "not deployed" in r.text and "artifact unavailable" in r.text, r.text[:500]
