"""Only the declared ports of meet1 and files1 answer, seen from another tier; the ports of
vendor parts that are not deployed stay closed."""

from __future__ import annotations

from typing import Any

import pytest

from municloud.core import topology
from municloud.core.ports import host_rules

from ..environment import ENV
from . import scan


def _reachable_from(topo: topology.Topology, host: str, purpose: str) -> set[int]:
    """TCP ports of `host` that a host on a `purpose` network may reach (declarations)."""
    h = next(x for x in topo.hosts if x.name == host)
    nets = {n.cidr for n in topo.networks_with_purpose(purpose)}
    out: set[int] = set()
    for r in host_rules(topo, h):
        if r.proto == "tcp" and (r.from_internet or nets & set(r.sources)):
            out.update(range(r.port, r.end + 1))
    return out


def _scanner(topo: topology.Topology, target_host: str) -> tuple[str, str]:
    """A host on another tier than `target_host` (name, tier purpose)."""
    t = next(x for x in topo.hosts if x.name == target_host)
    tier = {n.name: n.purpose for n in topo.networks}
    for other in topo.hosts:
        if tier[other.network] != tier[t.network] and tier[other.network] in ("edge", "services"):
            return other.name, tier[other.network]
    pytest.skip(f"no host on another tier than {target_host}")


@pytest.mark.parametrize("service", ["meet", "files"])
@pytest.mark.control("MEET-PORTS-01", "FILES-DEPLOY-01")
def test_only_declared_ports_answer_from_another_tier(lab: dict[str, Any], target: Any,
                                                      service: str) -> None:
    topo = topology.load(ENV)
    hosts = topo.hosts_running(service)
    if not hosts:
        pytest.skip(f"no host runs {service}")
    for h in hosts:
        scanner, purpose = _scanner(topo, h.name)
        allowed = _reachable_from(topo, h.name, purpose)
        assert h.address, f"{h.name} has no address in the topology"
        found = scan.open_ports(target(scanner), h.address)
        assert found <= allowed, (f"{h.name} answers {sorted(found - allowed)} to {scanner} "
                                  f"({purpose} tier); declared for it: {sorted(allowed)}")


@pytest.mark.control("MEET-JITSI-01", "MEET-PORTS-01")
def test_jitsi_parts_not_deployed_leave_their_ports_closed(lab: dict[str, Any],
                                                           target: Any) -> None:
    topo = topology.load(ENV)
    for h in topo.hosts_running("meet"):
        host = target(h.name)
        facts = host.file("/etc/municloud/services/jitsi.json")
        assert facts.exists, f"{h.name}: the Java parts' status is not recorded"
        if '"status": "deployed"' in facts.content_string:
            pytest.skip("the Jitsi artifact is deployed here: see test_jicofo_health")
        assert "artifact unavailable" in facts.content_string, facts.content_string
        udp = host.check_output("ss -H -l -n -u")
        assert ":10000 " not in udp, f"{h.name}: something listens on UDP 10000:\n{udp}"
        for unit in ("jicofo", "jitsi-videobridge2"):
            assert not host.service(unit).is_running, f"{h.name}: {unit} runs"
        assert not host.package("jicofo").is_installed


@pytest.mark.control("MEET-JITSI-01")
def test_jicofo_health_and_a_registered_bridge(lab: dict[str, Any], target: Any) -> None:
    topo = topology.load(ENV)
    for h in topo.hosts_running("meet"):
        host = target(h.name)
        facts = host.file("/etc/municloud/services/jitsi.json").content_string
        if '"status": "deployed"' not in facts:
            pytest.skip(f"Jitsi's Java parts are not deployed on {h.name} (artifact "
                        "unavailable: no municipal mirror with the Jitsi packages here)")
        assert host.run("curl -fsS http://127.0.0.1:8888/about/health").rc == 0
        stats = host.check_output("curl -fsS http://127.0.0.1:8888/stats")
        assert '"bridge_selector"' in stats and '"operational_bridge_count":0' not in \
            stats.replace(" ", ""), stats
