"""The lab's life cycle, run last in the suite (it ends with the lab down):
`up` twice is a no-op, `up` recovers what a killed run leaves, `down` leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from municloud.core import topology
from municloud.lab import daemons, lifecycle, network, nodes, podman

ENV = "lab"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def municloud(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "municloud.cli", *args], capture_output=True,
                          text=True, check=False, timeout=900)


def container_ids(topo: topology.Topology) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in topo.hosts:
        info = podman.inspect("container", nodes.container(topo, h.name))
        out[h.name] = info["Id"] if info else ""
    return out


@pytest.fixture(scope="module")
def topo() -> topology.Topology:
    return topology.load(ENV)


def test_up_twice_is_a_noop(topo: topology.Topology) -> None:
    first = municloud("lab", "up")
    assert first.returncode == 0, first.stdout + first.stderr
    before = container_ids(topo)
    again = municloud("lab", "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(topo.hosts)} hosts (0 created, 0 started, {len(topo.hosts)} already running)" \
        in again.stdout
    assert container_ids(topo) == before


def test_up_recovers_from_a_killed_run(topo: topology.Topology) -> None:
    victims = [topo.hosts[0].name, topo.hosts[-1].name]
    for name in victims:
        info = podman.inspect("container", nodes.container(topo, name))
        assert info is not None
        for pid in (info["State"]["ConmonPid"], info["State"]["Pid"]):
            os.kill(pid, signal.SIGKILL)
    lp = lifecycle.lab_paths(topo)
    acng = next(d for d in daemons.daemons(topo, lp.state) if d.name == "apt-cacher-ng")
    pid = daemons.running_pid(lp.run, acng)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    assert (lp.run / "apt-cacher-ng.pid").exists(), "the killed run leaves its pid file"

    up = municloud("lab", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    status = municloud("lab", "status")
    assert status.returncode == 0, status.stdout
    for name in victims:
        ssh = subprocess.run(["ssh", "-F", str(lp.ssh / "config"), name, "systemctl",
                              "is-system-running", "--wait"], capture_output=True, text=True,
                             timeout=120, check=False)
        assert ssh.stdout.strip() in ("running", "degraded"), ssh.stdout + ssh.stderr
    with socket.create_connection((daemons.gateway(topo), daemons.APT_PORT), timeout=5):
        pass


def test_down_leaves_nothing_behind(topo: topology.Topology) -> None:
    lp = lifecycle.lab_paths(topo)
    pids = [daemons.running_pid(lp.run, d) for d in daemons.daemons(topo, lp.state)]
    down = municloud("lab", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert nodes.lab_containers(topo) == []
    assert nodes.lab_volumes(topo) == []
    assert podman.inspect("network", network.name(topo)) is None
    for pid in pids:
        assert pid is None or not nodes._pid_alive(pid), f"process {pid} survived"
    assert network.controller_address(topo) not in network.local_addresses()
    listening = subprocess.run(["ss", "-Hlntu"], capture_output=True, text=True,
                               check=True).stdout
    assert network.controller_address(topo) not in listening
    leftovers = json.loads(podman.run("ps", "-a", "--format", "json").stdout or "[]")
    assert not [c for c in leftovers if c.get("Labels", {}).get(nodes.LABEL) == ENV]
    again = municloud("lab", "down")
    assert again.returncode == 0 and "0 things removed" in again.stdout
