"""A neutral picture of an OpenStack estate: only the facts the cloud rules judge.

Names, not IDs, link the objects: a server lists the names of its networks and security
groups, a volume the names of the servers it is attached to, a floating IP the name of
its server. An adapter resolves the platform's IDs to names before building these.
Anything an adapter cannot know (a value Pulumi computes only at `up`) is None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ANYWHERE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class SecurityGroupRule:
    """One Neutron security-group rule.

    `protocol` None means any protocol; `port_min`/`port_max` None means every port.
    A rule with neither `remote_ip_prefix` nor `remote_group` admits any address
    (Neutron's meaning), so `from_anywhere` is true for it.
    """

    group: str
    direction: Literal["ingress", "egress"]
    ethertype: Literal["IPv4", "IPv6"] = "IPv4"
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group: str | None = None

    @property
    def from_anywhere(self) -> bool:
        if self.remote_group is not None:
            return False
        if self.remote_ip_prefix is None:
            return True
        try:
            return ipaddress.ip_network(self.remote_ip_prefix, strict=False).prefixlen == 0
        except ValueError:
            return False

    def covers(self, proto: str, port: int) -> bool:
        """Does this rule admit `proto`/`port`?"""
        if self.protocol not in (None, "", "any") and self.protocol != proto:
            return False
        low = 1 if self.port_min is None else self.port_min
        high = 65535 if self.port_max is None else self.port_max
        return low <= port <= high

    @property
    def ports(self) -> str:
        if self.port_min is None and self.port_max is None:
            return "all ports"
        low, high = self.port_min or 1, self.port_max or self.port_min or 65535
        return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class Server:
    """A Nova server. `image` is the image name (or ID when only the ID is known);
    `security_groups` are the groups on its ports; `server_group` the name of the
    server group it was scheduled into."""

    name: str
    image: str | None = None
    flavor: str | None = None
    networks: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    server_group: str | None = None

    @property
    def services(self) -> tuple[str, ...]:
        """The services its `municloud_services` metadata names (comma-separated)."""
        raw = self.metadata.get("municloud_services", "")
        return tuple(s.strip() for s in raw.split(",") if s.strip())


@dataclass(frozen=True)
class ServerGroup:
    name: str
    policy: str | None = None  # anti-affinity, soft-anti-affinity, affinity, ...


@dataclass(frozen=True)
class Volume:
    """A Cinder volume. `root` marks a server's boot volume (not a data volume)."""

    name: str
    size_gb: int | None = None
    volume_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    attached_to: tuple[str, ...] = ()
    root: bool = False


@dataclass(frozen=True)
class FloatingIp:
    address: str | None = None
    server: str | None = None  # the server its port belongs to; None when unassociated
    port: str | None = None  # the name of the port it is bound to (a VIP port has no server)


@dataclass(frozen=True)
class NetPort:
    """A Neutron port: the server it belongs to (None for a port no server uses, such as
    the one holding a virtual address), its fixed addresses and the addresses its
    allowed-address-pairs let it answer for."""

    name: str
    server: str | None = None
    fixed_ips: tuple[str, ...] = ()
    allowed_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Estate:
    servers: tuple[Server, ...] = ()
    security_group_rules: tuple[SecurityGroupRule, ...] = ()
    volumes: tuple[Volume, ...] = ()
    floating_ips: tuple[FloatingIp, ...] = ()
    server_groups: tuple[ServerGroup, ...] = ()
    ports: tuple[NetPort, ...] = ()

    def rules_of(self, server: Server) -> list[SecurityGroupRule]:
        groups = set(server.security_groups)
        return [r for r in self.security_group_rules if r.group in groups]

    def server_group(self, name: str | None) -> ServerGroup | None:
        return next((g for g in self.server_groups if g.name == name), None)


@dataclass(frozen=True)
class Finding:
    """One violation: the control it breaks, the object (kind and name), and why."""

    control: str
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.control} {self.kind} {self.name}: {self.message}"
