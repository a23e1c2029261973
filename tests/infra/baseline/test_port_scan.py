"""A port scan from another tier: from one host of each network, a TCP connect scan of
every other host proves that only the declared ports answer, and only to the declared
sources (municloud.core.ports.host_rules, the rules the firewall is written from).

The scan is bounded: every TCP port any host declares plus a sample of common ports no
host declares, each connection with a short timeout, all of one scanner's connections in
parallel (a few seconds per scanner). Targets are the lab hosts' addresses only.

The edge tier's virtual address (topology `networks[].virtual_address`) is a target too,
from every scanner that is not an edge host itself (to its holder the address is local):
it must answer exactly the ports the edge hosts declare, to the sources they declare them
for, and nothing else. (The lab has no internet side; in production the internet reaches
the edge tier through the virtual address's floating IP alone, tests/stacks/test_stack_vip.py.)

Per (target, port) the scanner sees `open` (SYN-ACK), `refused` (RST: the firewall let it
through, nothing listens), `unreachable` (an ICMP error) or `timeout` (silently dropped).
A port the target declares for the scanner's network must answer (open or refused);
every other port must not answer at all (timeout, or an ICMP rejection).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from municloud.core import ports, topology

from ..environment import ENV
from ..portscan import scan

pytestmark = pytest.mark.control("BASE-FW-03", "EDGE-HA-01")

# Common ports a scanner tries first, none of which is declared in the lab: remote shells
# and desktops, file sharing, databases and caches, container and cluster APIs, web and
# admin consoles (the declared ones are added from the declarations).
SAMPLE = (21, 23, 53, 80, 110, 111, 135, 139, 143, 443, 445, 465, 873, 1433, 1521, 2049,
          2375, 2376, 2379, 3000, 3128, 3306, 3389, 4369, 5000, 5432, 5601, 5672, 5900, 5985,
          6379, 6443, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9090, 9100, 9200, 9300, 9443,
          10000, 10250, 11211, 15672, 25672, 27017)


def _topo() -> topology.Topology:
    return topology.load(ENV)


def scanners(topo: topology.Topology) -> list[str]:
    """The first host of each network: one scanner per tier."""
    seen: dict[str, str] = {}
    for h in topo.hosts:
        seen.setdefault(h.network, h.name)
    return list(seen.values())


def scanned_ports(topo: topology.Topology) -> list[int]:
    declared = {p for h in topo.hosts for proto, p in ports.listening_ports(topo, h)
                if proto == "tcp"}
    return sorted(declared | set(SAMPLE))


def allowed(topo: topology.Topology, target: topology.Host, port: int,
            source: str) -> list[str]:
    """The declared rules of `target` admitting `source` on TCP `port` (service: purpose)."""
    addr = ipaddress.ip_address(source)
    return [f"{r.service}: {r.purpose}" for r in ports.host_rules(topo, target)
            if r.proto == "tcp" and r.port <= port <= r.end
            and any(addr in ipaddress.ip_network(c, strict=False) for c in r.sources)]


@pytest.mark.parametrize("scanner", scanners(_topo()))
def test_only_declared_ports_answer_and_only_to_declared_sources(
        lab: dict[str, Any], target: Any, scanner: str) -> None:
    topo = _topo()
    me = topo.host(scanner)
    hosts = lab["all"]["hosts"]
    source = hosts[scanner]["municloud_address"]
    others = [h for h in topo.hosts if h.name != scanner]
    plan = [(hosts[h.name]["municloud_address"], p) for h in others for p in scanned_ports(topo)]
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(topo.network(h.network).cidr)
               for h in others for a in [hosts[h.name]["municloud_address"]]), \
        "a scan target is not a lab host address"
    by_addr = {hosts[h.name]["municloud_address"]: h for h in others}
    vip, edges = topo.virtual_address(), topo.hosts_running("edge")
    if vip is not None and edges and scanner not in {h.name for h in edges}:
        # The edge hosts declare the same rules: whichever holds the address answers so.
        assert ipaddress.ip_address(vip) in ipaddress.ip_network(
            topo.network(edges[0].network).cidr), "the virtual address is not a lab address"
        plan += [(vip, p) for p in scanned_ports(topo)]
        by_addr[vip] = edges[0]
    seen = scan(target(scanner), plan)
    assert set(seen) == set(plan)

    leaks, blocked = [], []
    answered = 0
    for (addr, port), state in sorted(seen.items()):
        h = by_addr[addr]
        rules = allowed(topo, h, port, source)
        answers = state in ("open", "refused")
        answered += answers
        what = "the virtual address" if addr == vip else h.name
        if answers and not rules:
            leaks.append(f"{what} ({addr}) tcp/{port}: {state} to {scanner} "
                         f"({me.network} tier), but no rule declares it for {source}")
        elif rules and not answers:
            blocked.append(f"{what} ({addr}) tcp/{port}: {state} from {scanner}, but "
                           f"{', '.join(rules)} admits {source}")
    assert not leaks, "undeclared ports answer:\n" + "\n".join(leaks)
    assert not blocked, "declared ports do not answer:\n" + "\n".join(blocked)
    assert answered, f"nothing answered {scanner}: the scan itself does not work"
