"""`lab up` waits for each node's sshd and its ed25519 host key, and when it gives up it
says which of the two it never saw (a fresh root's `podman exec` that looked at the
controller's own / instead of the node's showed as "SSH did not answer" although sshd did)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from municloud.core import topology
from municloud.core.errors import UserError
from municloud.lab import nodes


class _Sshd:
    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    def __enter__(self) -> _Sshd:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def recv(self, _size: int) -> bytes:
        return b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"


def _refused(*_: Any, **__: Any) -> None:
    raise ConnectionRefusedError


@pytest.fixture
def one_host() -> tuple[topology.Topology, list[topology.Host]]:
    topo = topology.load("lab")
    return topo, [topo.hosts[0]]


def test_sshd_answers_without_host_key(monkeypatch: pytest.MonkeyPatch,
                                       one_host: tuple[topology.Topology,
                                                       list[topology.Host]]) -> None:
    topo, hosts = one_host
    monkeypatch.setattr(socket, "create_connection", _Sshd)
    monkeypatch.setattr(nodes, "_has_host_key", lambda _t, _h: False)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    with pytest.raises(UserError, match=r"sshd answers, but `podman exec municloud-lab-\w+ "
                                        r"test -s /etc/ssh/ssh_host_ed25519_key.pub`"):
        nodes.wait_for_ssh(topo, hosts, timeout=0.05)


def test_sshd_silent(monkeypatch: pytest.MonkeyPatch,
                     one_host: tuple[topology.Topology, list[topology.Host]]) -> None:
    topo, hosts = one_host
    monkeypatch.setattr(socket, "create_connection", _refused)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    with pytest.raises(UserError, match=r"SSH did not answer within 0 s; see `podman logs "):
        nodes.wait_for_ssh(topo, hosts, timeout=0.05)


def test_ready_when_both(monkeypatch: pytest.MonkeyPatch,
                         one_host: tuple[topology.Topology, list[topology.Host]]) -> None:
    topo, hosts = one_host
    monkeypatch.setattr(socket, "create_connection", _Sshd)
    monkeypatch.setattr(nodes, "_has_host_key", lambda _t, _h: True)
    ready: list[str] = []
    nodes.wait_for_ssh(topo, hosts, timeout=5, on_ready=lambda h: ready.append(h.name))
    assert ready == [hosts[0].name]
