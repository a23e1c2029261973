"""From service declarations to concrete firewall rules for one host.

One function, `host_rules`, feeds the host firewall (nftables in the `common` role, via
the inventory), the OpenStack security groups (the Pulumi program), the live audit and the
tests that check which ports listen. Nothing else turns declarations into rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from municloud.core.services import Service, host_services
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


def source_cidrs(topo: Topology, source: str) -> tuple[str, ...]:
    """The CIDRs a declared source stands for in this topology."""
    if source == "internet":
        return ANYWHERE
    if source == "admin":
        return tuple(topo.access.admin_sources)
    return tuple(n.cidr for n in topo.networks_with_purpose(source))


def service_rules(topo: Topology, service: Service) -> list[Rule]:
    rules = []
    for p in service.ports:
        cidrs: list[str] = []
        for src in p.sources:
            cidrs.extend(c for c in source_cidrs(topo, src) if c not in cidrs)
        rules.append(Rule(service=service.name, purpose=p.purpose, proto=p.proto, port=p.port,
                          end=p.end or p.port, sources=tuple(cidrs),
                          from_internet="internet" in p.sources))
    return rules


def host_rules(topo: Topology, host: Host) -> list[Rule]:
    """Every inbound rule of a host: the baseline's and those of the services it runs."""
    return [r for svc in host_services(host.services) for r in service_rules(topo, svc)]


def listening_ports(topo: Topology, host: Host) -> set[tuple[str, int]]:
    """(proto, port) pairs a host may listen on for other hosts."""
    out: set[tuple[str, int]] = set()
    for r in host_rules(topo, host):
        out.update((r.proto, p) for p in range(r.port, r.end + 1))
    return out
