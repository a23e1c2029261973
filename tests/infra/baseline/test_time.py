"""Time: chrony follows the environment's time servers and has selected one."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

SYNC_WAIT = 180  # seconds: chrony needs a few polls after a restart (iburst: ~10 s)


def sources(host: Any) -> list[tuple[str, str]]:
    """(mode+state, address) of chrony's sources, e.g. ('^*', '10.70.4.1')."""
    out = host.check_output("chronyc -n sources")
    rows = [line.split() for line in out.splitlines() if re.match(r"[\^=#][*+\-?x~] ", line)]
    return [(r[0], r[1]) for r in rows]


@pytest.mark.control("BASE-TIME-01")
def test_chrony_uses_exactly_the_time_servers(host: Any, hostvars: dict[str, Any]) -> None:
    assert host.service("chrony").is_running
    assert sorted(a for _, a in sources(host)) == sorted(hostvars["municloud_time_servers"])


@pytest.mark.control("BASE-TIME-01")
def test_a_time_server_is_selected(host: Any, hostvars: dict[str, Any]) -> None:
    deadline = time.monotonic() + SYNC_WAIT
    while True:
        selected = [a for state, a in sources(host) if state == "^*"]
        if selected or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert selected, f"no source selected after {SYNC_WAIT}s: {sources(host)}"
    assert selected[0] in hostvars["municloud_time_servers"]
    tracking = host.check_output("chronyc -n tracking")
    assert "Leap status     : Normal" in tracking, tracking
