"""Which of the ports that meet's and files' services use or would open accept a TCP
connection from another lab host (another tier): tests/infra/portscan.py's scan, run
there."""

from __future__ import annotations

from typing import Any

from ..portscan import scan

# Ports that services of meet and files use on loopback or would open: prosody (c2s,
# direct TLS, s2s, components, HTTP/HTTPS), coturn (plain TCP, alternates, CLI), Jitsi
# (jicofo REST, bridge private HTTP, bridge TCP), oCIS (proxy, supervisor, debug ports).
CANDIDATES = sorted({22, 80, 443, 3478, 3479, 4443, 5222, 5223, 5269, 5280, 5281, 5347,
                     5349, 5350, 5766, 8080, 8443, 8888, 9090, 9200, 9250, 9205, 9229,
                     10000})


def open_ports(scanner: Any, address: str, ports: list[int] | None = None) -> set[int]:
    seen = scan(scanner, [(address, p) for p in ports or CANDIDATES])
    return {port for (_, port), state in seen.items() if state == "open"}
