"""A TCP connect scan of a lab host, run from another lab host (another tier): which of
the candidate ports accept a connection."""

from __future__ import annotations

import json
import shlex
from typing import Any

# Ports that services of meet and files use on loopback or would open: prosody (c2s,
# direct TLS, s2s, components, HTTP/HTTPS), coturn (plain TCP, alternates, CLI), Jitsi
# (jicofo REST, bridge private HTTP, bridge TCP), oCIS (proxy, supervisor, debug ports).
CANDIDATES = sorted({22, 80, 443, 3478, 3479, 4443, 5222, 5223, 5269, 5280, 5281, 5347,
                     5349, 5350, 5766, 8080, 8443, 8888, 9090, 9200, 9250, 9205, 9229,
                     10000})

SCAN = (
    "import json, socket, sys\n"
    "out = {}\n"
    "for p in json.loads(sys.argv[2]):\n"
    "    s = socket.socket(); s.settimeout(1.0)\n"
    "    try:\n"
    "        s.connect((sys.argv[1], p)); out[p] = 'open'\n"
    "    except ConnectionRefusedError:\n"
    "        out[p] = 'refused'\n"
    "    except OSError:\n"
    "        out[p] = 'timeout'\n"
    "    finally:\n"
    "        s.close()\n"
    "print(json.dumps(out))\n"
)


def open_ports(scanner: Any, address: str, ports: list[int] | None = None) -> set[int]:
    todo = json.dumps(ports or CANDIDATES)
    out = scanner.check_output(
        f"python3 -c {shlex.quote(SCAN)} {shlex.quote(address)} {shlex.quote(todo)}")
    return {int(p) for p, state in json.loads(out).items() if state == "open"}
