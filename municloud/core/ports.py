"""From service declarations to concrete firewall rules for one host.

Only what can run is reachable: a service whose role is not implemented, or a port of a
vendor part the environment's artifact manifest cannot supply, gets no rule at all.

One function, `host_rules`, feeds the host firewall (nftables in the `common` role, via
the inventory), the OpenStack security groups (the Pulumi program), the live audit and the
tests that check which ports listen. Nothing else turns declarations into rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from municloud.core import deployable
from municloud.core.services import (
    IP_PROTOCOLS,
    PROVIDERS,
    Service,
    host_services,
    load_services,
)
from municloud.core.topology import Host, Topology

ANYWHERE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Rule:
    service: str
    purpose: str
    proto: str
    port: int
    end: int
    sources: tuple[str, ...]
    from_internet: bool

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d

    @property
    def ports(self) -> str:
        return str(self.port) if self.end == self.port else f"{self.port}-{self.end}"


@dataclass(frozen=True)
class ProtocolRule:
    """An IP protocol without ports admitted from the host's peers (their addresses)."""

    service: str
    purpose: str
    protocol: str
    number: int
    peers: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["peers"] = list(self.peers)
        return d


def consumer_cidrs(topo: Topology, provider: Service,
                   services: Mapping[str, Service] | None = None) -> tuple[str, ...]:
    """The networks (CIDRs, in topology order) of the hosts running a service of this
    topology that declares a need `provider` provides. Networks, not host addresses: the
    security groups are planned before OpenStack hands out addresses."""
    declared = load_services() if services is None else services
    kinds = {k for k, v in PROVIDERS.items() if v == provider.name}
    consumers = {s.name for s in declared.values() if kinds & set(s.needed())}
    nets = {h.network for h in topo.hosts if consumers & set(h.services)}
    return tuple(n.cidr for n in topo.networks if n.name in nets)


def source_cidrs(topo: Topology, source: str, provider: Service | None = None,
                 services: Mapping[str, Service] | None = None) -> tuple[str, ...]:
    """The CIDRs a declared source stands for in this topology (`consumers` needs the
    providing service)."""
    if source == "internet":
        return ANYWHERE
    if source == "admin":
        return tuple(topo.access.admin_sources)
    if source == "consumers":
        if provider is None:
            raise ValueError("source 'consumers' needs the providing service")
        return consumer_cidrs(topo, provider, services)
    return tuple(n.cidr for n in topo.networks_with_purpose(source))


def service_rules(topo: Topology, service: Service,
                  services: Mapping[str, Service] | None = None) -> list[Rule]:
    """The rules of the service's ports that something serves in this environment: none
    for a role not implemented, none for a vendor part its manifest cannot supply
    (municloud.core.deployable). Declared but not deployed is never reachable."""
    rules = []
    for p in service.ports:
        if not deployable.port_open(topo.environment, service, p):
            continue
        cidrs: list[str] = []
        for src in p.sources:
            cidrs.extend(c for c in source_cidrs(topo, src, service, services)
                         if c not in cidrs)
        if not cidrs:  # declared for local use only (`from: []`): reachable from nowhere
            continue
        rules.append(Rule(service=service.name, purpose=p.purpose, proto=p.proto, port=p.port,
                          end=p.end or p.port, sources=tuple(cidrs),
                          from_internet="internet" in p.sources))
    return rules


def host_rules(topo: Topology, host: Host) -> list[Rule]:
    """Every inbound rule of a host: the baseline's and those of the services it runs."""
    return [r for svc in host_services(host.services) for r in service_rules(topo, svc)]


def protocol_rules(topo: Topology, host: Host,
                   addresses: Mapping[str, str] | None = None) -> list[ProtocolRule]:
    """The port-less protocols a host admits (its services' `protocols:`), each from its
    peers: the other hosts running that service on the same network, by address
    (`addresses`: a platform's, else the topology's). VRRP only where the host's network has
    a virtual address (nothing else speaks it), and nothing for a service not implemented
    or without a peer."""
    found = []
    net = topo.network(host.network)
    for svc in host_services(host.services):
        if not svc.implemented:
            continue
        peer_hosts = [h for h in topo.hosts_running(svc.name)
                      if h.name != host.name and h.network == host.network]
        # Addresses where known (a platform's, else the topology's); the security groups
        # need none (they admit the group's own members).
        peers = tuple(a for a in ((addresses or {}).get(h.name) or h.address
                                  for h in peer_hosts) if a)
        for p in svc.protocols:
            if not peer_hosts or (p.protocol == "vrrp" and not net.virtual_address):
                continue
            found.append(ProtocolRule(service=svc.name, purpose=p.purpose, protocol=p.protocol,
                                      number=IP_PROTOCOLS[p.protocol], peers=peers))
    return found


def listening_ports(topo: Topology, host: Host) -> set[tuple[str, int]]:
    """(proto, port) pairs a host may listen on for other hosts."""
    out: set[tuple[str, int]] = set()
    for r in host_rules(topo, host):
        out.update((r.proto, p) for p in range(r.port, r.end + 1))
    return out
