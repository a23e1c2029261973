"""TURN REST API credentials and turnutils_uclient (ships with coturn) on a lab host."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shlex
import time
from typing import Any


def credentials(secret: str, name: str, ttl: int = 600,
                now: float | None = None) -> tuple[str, str]:
    """(username, password) of the TURN REST API: "<expiry>:<name>" and
    base64(HMAC-SHA1(secret, username))."""
    user = f"{int((now or time.time()) + ttl)}:{name}"
    pw = base64.b64encode(hmac.new(secret.encode(), user.encode(), hashlib.sha1).digest())
    return user, pw.decode()


# Milliseconds between a client's messages. At uclient's default (20 ms) the first ones
# leave before the peer's relay permission is in place; uclient then waits out each lost
# one (over TLS: 13-15 s a run, 2 of 3 lost; at 100 ms: ~5 s, none lost).
INTERVAL_MS = 100


def uclient(host: Any, server: str, user: str, password: str, *, tls: bool = False,
            messages: int = 3) -> tuple[bool, str]:
    """Run turnutils_uclient on `host` against `server`: two clients allocate relays and
    send each other `messages` messages through them (-y). True when the allocations
    succeeded and the messages came back."""
    args = ["timeout", "30", "turnutils_uclient", "-y", "-n", str(messages), "-m", "1",
            "-z", str(INTERVAL_MS), "-c", "-u", user, "-w", password]
    args += ["-t", "-S", "-p", "5349"] if tls else ["-p", "3478"]
    args.append(server)
    # uclient exits 255 on a refusal, which testinfra would take for a lost SSH session.
    r = host.run(" ".join(shlex.quote(a) for a in args) + "; echo \"uclient-rc=$?\"")
    out = r.stdout + r.stderr
    rc = int(out.rsplit("uclient-rc=", 1)[1].split()[0]) if "uclient-rc=" in out else -1
    # Success: both allocations made and the messages came back through the relays
    # ("start_mclient: tot_send_msgs=6, tot_recv_msgs=6"); a refused allocation prints
    # "ERROR: Cannot complete Allocation" and exits non-zero.
    totals = [line for line in out.splitlines() if "start_mclient: tot_send_msgs=" in line]
    ok = rc == 0 and "ERROR" not in out and bool(totals) and \
        not totals[-1].rstrip().endswith("tot_recv_msgs=0")
    return ok, out
