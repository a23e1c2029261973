"""Firewall on every host: default deny, exactly the declared ports open, nothing else
listening; and an undeclared port really is unreachable from another host.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from typing import Any

import pytest

from municloud.core import topology
from municloud.core.ports import host_rules, listening_ports

from ..environment import ENV

PROBE_PORT = 47123  # a port no service declares (checked below)


def topo_host(name: str) -> tuple[topology.Topology, topology.Host]:
    topo = topology.load(ENV)
    return topo, next(h for h in topo.hosts if h.name == name)


def is_loopback(addr: str) -> bool:
    addr = addr.strip("[]").split("%")[0]
    if addr == "*":
        return False
    return ipaddress.ip_address(addr).is_loopback


def listeners(host: Any) -> set[tuple[str, str, int]]:
    """(proto, address, port) of every listening TCP and UDP socket."""
    out = host.check_output("ss -H -l -n -t -u")
    found = set()
    for line in out.splitlines():
        netid, _state, _rq, _sq, local, *_ = line.split()
        addr, _, port = local.rpartition(":")
        found.add((netid, addr, int(port)))
    return found


@pytest.mark.host_lock("probe-port")
@pytest.mark.control("BASE-FW-02")
def test_only_declared_ports_listen(host: Any, env_host: str) -> None:
    topo, h = topo_host(env_host)
    allowed = listening_ports(topo, h)
    extra = sorted((proto, addr, port) for proto, addr, port in listeners(host)
                   if not is_loopback(addr) and (proto, port) not in allowed)
    assert not extra, f"listening but not declared in roles/*/meta/service.yml: {extra}"


Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: Any) -> list[Net]:
    """Networks of one nft JSON address: a prefix, a range (nft merges adjacent
    prefixes of a set into ranges) or a single address."""
    if isinstance(spec, dict) and "prefix" in spec:
        return [ipaddress.ip_network(f"{spec['prefix']['addr']}/{spec['prefix']['len']}")]
    if isinstance(spec, dict) and "range" in spec:
        first, last = (ipaddress.ip_address(a) for a in spec["range"])
        return list(ipaddress.summarize_address_range(first, last))
    return [ipaddress.ip_network(str(spec))]


def collapse(found: dict[tuple[str, int, int], list[Net]]) -> dict[tuple[str, int, int], set[Net]]:
    """Per (proto, port, end): the covered sources as a minimal set of networks."""
    out = {}
    for key, nets in found.items():
        v4 = [n for n in nets if n.version == 4]
        v6 = [n for n in nets if n.version == 6]
        out[key] = set(ipaddress.collapse_addresses(v4)) | set(ipaddress.collapse_addresses(v6))
    return out


def nft_accepts(host: Any) -> tuple[str, dict[tuple[str, int, int], set[Net]]]:
    """The input chain's policy and, per (proto, port, end), the sources it accepts."""
    data = json.loads(host.check_output("nft -j list chain inet municloud input"))
    policy = ""
    found: dict[tuple[str, int, int], list[Net]] = {}
    for item in data["nftables"]:
        if "chain" in item:
            policy = item["chain"].get("policy", "")
        rule = item.get("rule")
        if not rule or not any("accept" in e for e in rule["expr"]):
            continue
        sources: list[Net] = []
        key = None
        for e in rule["expr"]:
            m = e.get("match")
            if not m or "payload" not in m["left"]:
                continue
            field = m["left"]["payload"]
            right = m["right"]
            if field.get("field") == "saddr":
                items = right["set"] if isinstance(right, dict) and "set" in right else [right]
                sources += [n for it in items for n in networks(it)]
            elif field.get("field") == "dport":
                if isinstance(right, dict) and "range" in right:
                    key = (field["protocol"], *right["range"])
                else:
                    key = (field["protocol"], int(right), int(right))
        if key is not None:
            found.setdefault(key, []).extend(sources)
    return policy, collapse(found)


@pytest.mark.control("BASE-FW-01")
def test_ruleset_opens_exactly_the_declared_rules(host: Any, env_host: str) -> None:
    topo, h = topo_host(env_host)
    declared: dict[tuple[str, int, int], list[Net]] = {}
    for r in host_rules(topo, h):
        declared.setdefault((r.proto, r.port, r.end), []).extend(
            ipaddress.ip_network(s, strict=False) for s in r.sources)
    policy, opened = nft_accepts(host)
    assert policy == "drop"
    assert opened == collapse(declared)


def connect(address: str, port: int, timeout: float = 1.5) -> str:
    """'open', 'refused' or 'timeout' for a TCP connection from the controller. An open or
    closed port answers within milliseconds on the management network; only a dropped SYN
    waits out the timeout."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


LISTENER = (
    "import socket\n"
    "s = socket.socket(socket.AF_INET)\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', {port}))\n"
    "s.listen()\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'municloud-probe')\n"
    "    c.close()\n"
)


@pytest.mark.host_lock("probe-port")
@pytest.mark.control("BASE-FW-01")
def test_undeclared_port_is_dropped(host: Any, hostvars: dict[str, Any], env_host: str) -> None:
    topo, h = topo_host(env_host)
    assert ("tcp", PROBE_PORT) not in listening_ports(topo, h), "probe port is declared"
    address = hostvars["municloud_address"]
    # The method can succeed: the declared SSH port answers the controller.
    assert connect(address, 22) == "open"
    pid = host.check_output(
        "setsid timeout 120 python3 -c %s </dev/null >/dev/null 2>&1 & echo $!",
        LISTENER.format(port=PROBE_PORT))
    try:
        deadline = time.monotonic() + 20
        while not host.run(f"ss -H -ltn 'sport = :{PROBE_PORT}' | grep -q LISTEN").succeeded:
            assert time.monotonic() < deadline, "the probe listener did not start"
            time.sleep(0.1)
        # It answers on the host itself (from its own address) ...
        local = host.run("python3 -c \"import socket; print(socket.create_connection("
                         f"('{address}', {PROBE_PORT}), 5).recv(64).decode())\"")
        assert local.stdout.strip() == "municloud-probe", local.stderr
        # ... and is silently dropped from the controller (no answer, not even a reset).
        assert connect(address, PROBE_PORT) == "timeout"
    finally:
        host.run(f"kill {int(pid)}")
    deadline = time.monotonic() + 20
    while host.run(f"ss -H -ltn 'sport = :{PROBE_PORT}' | grep -q LISTEN").succeeded:
        assert time.monotonic() < deadline, "the probe listener outlived its kill"
        time.sleep(0.1)
