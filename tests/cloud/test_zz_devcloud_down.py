"""Last in tests/cloud: after `devcloud down` nothing listens on the OpenStack ports."""

from __future__ import annotations

import pytest

from municloud.devcloud import PORTS, control, processes

pytestmark = pytest.mark.devcloud


def test_nothing_listens_after_down(devcloud: str) -> None:
    assert set(control.listening()) == set(PORTS)  # devcloud is up: every port listens
    stopped = control.down()
    assert "keystone" in stopped and "mariadb" in stopped
    assert [p for p in PORTS.values() if processes.port_open(p)] == []
    assert all(processes.pid_of(p.name) is None for p in processes.all_procs())


def test_a_second_up_after_down_comes_up_and_answers(devcloud: str) -> None:
    """The second `up` of a machine (after an up, the tests and a down) once hung for over
    ten minutes: a threaded keystone worker died in eventlet and nova waited on it forever.
    Every wait is bounded now; this `up` must finish within its own deadlines and leave
    keystone answering."""
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "municloud"
    try:
        r = subprocess.run([str(cli), "devcloud", "up"], capture_output=True, text=True,
                           timeout=900, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert processes.answers_http(PORTS["keystone"])
        assert set(control.listening()) == set(PORTS)
    finally:
        control.down()
    assert [p for p in PORTS.values() if processes.port_open(p)] == []
