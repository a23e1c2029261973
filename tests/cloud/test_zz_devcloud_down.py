"""Last in tests/cloud: after `devcloud down` nothing listens on the OpenStack ports."""

from __future__ import annotations

import pytest

from municloud.devcloud import PORTS, control, processes

pytestmark = pytest.mark.devcloud


def test_nothing_listens_after_down(devcloud):
    assert set(control.listening()) == set(PORTS)  # devcloud is up: every port listens
    stopped = control.down()
    assert "keystone" in stopped and "mariadb" in stopped
    assert [p for p in PORTS.values() if processes.port_open(p)] == []
    assert all(processes.pid_of(p.name) is None for p in processes.all_procs())
