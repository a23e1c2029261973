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
import json
import shlex
from typing import Any

import pytest

from municloud.core import ports, topology

from ..environment import ENV

pytestmark = pytest.mark.control("BASE-FW-03", "EDGE-HA-01")

# Common ports a scanner tries first, none of which is declared in the lab: remote shells
# and desktops, file sharing, databases and caches, container and cluster APIs, web and
# admin consoles (the declared ones are added from the declarations).
SAMPLE = (21, 23, 53, 80, 110, 111, 135, 139, 143, 443, 445, 465, 873, 1433, 1521, 2049,
          2375, 2376, 2379, 3000, 3128, 3306, 3389, 4369, 5000, 5432, 5601, 5672, 5900, 5985,
          6379, 6443, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9090, 9100, 9200, 9300, 9443,
          10000, 10250, 11211, 15672, 25672, 27017)
CONNECT_TIMEOUT = 2.0  # seconds: a SYN-ACK or RST on the lab bridge takes milliseconds

SCANNER = r"""
import errno, json, selectors, socket, sys, time
targets = json.loads(sys.argv[1])
timeout = float(sys.argv[2])
result = {}
sel = selectors.DefaultSelector()
for addr, port in targets:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((addr, port))
    if rc in (0, errno.EINPROGRESS):
        sel.register(s, selectors.EVENT_WRITE, (addr, port))
    else:
        result[f"{addr} {port}"] = "unreachable"
        s.close()
deadline = time.monotonic() + timeout
while sel.get_map() and time.monotonic() < deadline:
    for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
        s, (addr, port) = key.fileobj, key.data
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        result[f"{addr} {port}"] = ("open" if err == 0 else "refused"
                                    if err == errno.ECONNREFUSED else "unreachable")
        sel.unregister(s)
        s.close()
for key in list(sel.get_map().values()):
    result[f"{key.data[0]} {key.data[1]}"] = "timeout"
    key.fileobj.close()
print(json.dumps(result))
"""


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


def scan(host: Any, targets: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    # Linux starts refusing new sockets near 1024 open files: scan in batches.
    found: dict[tuple[str, int], str] = {}
    for i in range(0, len(targets), 400):
        batch = targets[i:i + 400]
        out = host.check_output(f"python3 -c {shlex.quote(SCANNER)} "
                                f"{shlex.quote(json.dumps(batch))} {CONNECT_TIMEOUT}")
        for key, state in json.loads(out).items():
            addr, port = key.split()
            found[(addr, int(port))] = state
    return found


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
