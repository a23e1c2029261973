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


def uclient(host: Any, server: str, user: str, password: str, *, tls: bool = False,
            messages: int = 3) -> tuple[bool, str]:
    """Run turnutils_uclient on `host` against `server`: two clients allocate relays and
    send each other `messages` messages through them (-y). True when the allocations
    succeeded and the messages came back."""
    args = ["timeout", "30", "turnutils_uclient", "-y", "-n", str(messages), "-m", "1",
            "-c", "-u", user, "-w", password]
    args += ["-t", "-S", "-p", "5349"] if tls else ["-p", "3478"]
    args.append(server)
    r = host.run(" ".join(shlex.quote(a) for a in args))
    out = r.stdout + r.stderr
    ok = r.rc == 0 and "allocate response received" in out.lower() and \
        "error" not in out.lower().split("total")[0].replace("errors: 0", "")
    return ok, out
