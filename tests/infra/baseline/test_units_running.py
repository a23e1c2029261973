"""A declared unit left failed is started by the next converge (BASE-SVC-01).

What a package does on a fresh host: it starts its daemon before the service's role has
written the configuration, the daemon fails, and the restart policy's retries end in
systemd's start limit, where a later start is refused until the failure is cleared. Here
that is made on purpose: a runtime drop-in makes chrony's start fail until the start
limit is hit, then goes (the configuration is right again, the unit stays failed). The
converge's last play (playbooks/units.yml) must clear the failure and start the unit;
the run after it changes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .. import playbook
from .test_restart import unit_state

UNIT = "chrony.service"
BREAK = f"/run/systemd/system/{UNIT}.d/zz-municloud-test-fail.conf"
# The restart policy's burst and delay (roles/common defaults) end in the start limit
# within a few seconds; bounded all the same.
FAIL_WITHIN = 120


def _host(lab: dict[str, Any]) -> str:
    hosts = lab["all"]["hosts"]
    return str(sorted(h for h, v in hosts.items() if UNIT in v["municloud_units"])[0])


def _fail_into_the_start_limit(host: Any) -> dict[str, str]:
    host.check_output(f"mkdir -p /run/systemd/system/{UNIT}.d && printf '%s\\n' "
                      f"'[Service]' 'ExecStartPre=/bin/false' > {BREAK} && "
                      f"systemctl daemon-reload && (systemctl restart {UNIT} || true)")
    deadline = time.monotonic() + FAIL_WITHIN
    state = unit_state(host, UNIT)
    while state.get("ActiveState") != "failed" and time.monotonic() < deadline:
        time.sleep(2)
        state = unit_state(host, UNIT)
    host.check_output(f"rm -f {BREAK} && systemctl daemon-reload")
    return state


@pytest.mark.disruptive
@pytest.mark.control("BASE-SVC-01")
def test_a_unit_left_failed_is_started_by_the_converge(lab: dict[str, Any],
                                                       target: Any) -> None:
    name = _host(lab)
    host = target(name)
    try:
        state = _fail_into_the_start_limit(host)
        assert state.get("ActiveState") == "failed", state

        code, out, stats = playbook.run("units.yml", name, {})
        assert code == 0, out[-3000:]
        assert stats[name]["changed"] >= 1, stats
        after = unit_state(host, UNIT)
        assert (after["ActiveState"], after["SubState"]) == ("active", "running"), after

        code, out, stats = playbook.run("units.yml", name, {})
        assert code == 0, out[-3000:]
        assert stats[name]["changed"] == 0, stats
    finally:
        host.run(f"rm -f {BREAK}; systemctl daemon-reload; systemctl reset-failed {UNIT}; "
                 f"systemctl start {UNIT}")
