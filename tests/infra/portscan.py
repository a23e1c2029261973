"""A TCP connect scan run on a lab host: every (address, port) connection started at
once, non-blocking, and each one's outcome read as it comes (a few seconds for hundreds of
ports, however many are silently dropped). Used by the port-scan tests of every tier."""

from __future__ import annotations

import json
import shlex
from typing import Any

CONNECT_TIMEOUT = 2.0  # seconds: a SYN-ACK or RST on the lab bridge takes milliseconds
# Linux starts refusing new sockets near 1024 open files: one scanner run per batch.
BATCH = 400

# Per (address, port): `open` (SYN-ACK), `refused` (RST: the firewall let it through,
# nothing listens), `unreachable` (an ICMP error) or `timeout` (silently dropped).
SCANNER = r"""
import errno, json, selectors, socket, sys, time
targets = json.loads(sys.argv[1])
timeout = float(sys.argv[2])
result = {}
sel = selectors.DefaultSelector()
for addr, port in targets:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((addr, port))
    if rc in (0, errno.EINPROGRESS):
        sel.register(s, selectors.EVENT_WRITE, (addr, port))
    else:
        result[f"{addr} {port}"] = "unreachable"
        s.close()
deadline = time.monotonic() + timeout
while sel.get_map() and time.monotonic() < deadline:
    for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
        s, (addr, port) = key.fileobj, key.data
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        result[f"{addr} {port}"] = ("open" if err == 0 else "refused"
                                    if err == errno.ECONNREFUSED else "unreachable")
        sel.unregister(s)
        s.close()
for key in list(sel.get_map().values()):
    result[f"{key.data[0]} {key.data[1]}"] = "timeout"
    key.fileobj.close()
print(json.dumps(result))
"""


def scan(host: Any, targets: list[tuple[str, int]],
         timeout: float = CONNECT_TIMEOUT) -> dict[tuple[str, int], str]:
    """What `host` sees of each (address, port)."""
    found: dict[tuple[str, int], str] = {}
    for i in range(0, len(targets), BATCH):
        batch = targets[i:i + BATCH]
        out = host.check_output(f"python3 -c {shlex.quote(SCANNER)} "
                                f"{shlex.quote(json.dumps(batch))} {timeout}")
        for key, state in json.loads(out).items():
            addr, port = key.split()
            found[(addr, int(port))] = state
    return found
