"""What the topology allows, as plain facts the cloud rules compare an estate with.

`expectations(topo)` derives them from the topology and the service declarations through
`municloud.core.ports.host_rules`, the same function that writes each host's firewall, so the
plan-time policy, the live audit and the firewall agree on every port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from municloud.core.ports import ANYWHERE, host_rules, source_cidrs
from municloud.core.services import load_services
from municloud.core.topology import Topology

SSH_PORT = 22
REQUIRED_METADATA: tuple[str, ...] = ("municloud_services", "environment", "owner")
# Web ports an edge host may open to the internet even if no service on it declares them.
ALWAYS_PUBLIC: frozenset[tuple[str, int]] = frozenset({("tcp", 80), ("tcp", 443)})


@dataclass(frozen=True)
class HostFacts:
    """One topology host as the rules need it."""

    name: str
    services: tuple[str, ...]
    edge: bool  # on a network of purpose edge
    internet_ports: frozenset[tuple[str, int, int]]  # (proto, first, last) declared from internet
    ssh_sources: tuple[str, ...]  # CIDRs its declarations admit to TCP 22
    stateful: bool  # runs a service with backup paths
    restricted_egress: bool  # its network says egress: restricted


@dataclass(frozen=True)
class Expectations:
    environment: str
    ssh_sources: tuple[str, ...]  # management CIDRs and access.admin_sources
    hosts: Mapping[str, HostFacts] = field(default_factory=dict)
    stateful_services: frozenset[str] = frozenset()
    internal_cidrs: tuple[str, ...] = ()  # every network of the topology
    encrypted_volume_type: str | None = None
    required_metadata: tuple[str, ...] = REQUIRED_METADATA
    replicated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> hosts
    # The web services the edge publishes (a public name and a publish declaration), the
    # edge hosts and the edge network's virtual address (CLOUD-HA-02).
    published: tuple[str, ...] = ()
    edge_hosts: tuple[str, ...] = ()
    virtual_address: str | None = None

    def host(self, name: str) -> HostFacts | None:
        return self.hosts.get(name)


def expectations(topo: Topology) -> Expectations:
    services = load_services()
    stateful = frozenset(n for n, s in services.items() if s.stateful)
    baseline_ssh = source_cidrs(topo, "management") + source_cidrs(topo, "admin")
    hosts: dict[str, HostFacts] = {}
    for h in topo.hosts:
        net = topo.network(h.network)
        rules = host_rules(topo, h)
        ssh = list(baseline_ssh)
        for r in rules:
            if r.proto == "tcp" and r.port <= SSH_PORT <= r.end:
                # A declaration may admit other tiers to 22 (borg over SSH); never the internet.
                ssh.extend(c for c in r.sources if c not in ssh and c not in ANYWHERE)
        hosts[h.name] = HostFacts(
            name=h.name,
            services=tuple(h.services),
            edge=net.purpose == "edge",
            internet_ports=frozenset((r.proto, r.port, r.end) for r in rules if r.from_internet),
            ssh_sources=tuple(ssh),
            stateful=any(s in stateful for s in h.services),
            restricted_egress=net.egress == "restricted",
        )
    replicated = {s: tuple(h.name for h in topo.hosts_running(s)) for s in topo.services()}
    return Expectations(
        environment=topo.environment,
        ssh_sources=baseline_ssh,
        hosts=hosts,
        stateful_services=stateful,
        internal_cidrs=tuple(n.cidr for n in topo.networks),
        encrypted_volume_type=topo.openstack.encrypted_volume_type if topo.openstack else None,
        replicated={s: names for s, names in replicated.items() if len(names) > 1},
        published=tuple(s for s in topo.public_names
                        if s in services and services[s].publish is not None),
        edge_hosts=tuple(h.name for h in topo.hosts_running("edge")),
        virtual_address=topo.virtual_address(),
    )
