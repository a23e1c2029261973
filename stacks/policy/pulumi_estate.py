"""Adapter: Pulumi resources (as the policy engine reports them, camelCase props) ->
the neutral `municloud.audit.cloud_rules.Estate` the cloud rules judge.

References between resources (a port's security groups, a volume attachment's server)
are followed through the engine's `property_dependencies` (at plan time IDs are not
known yet) or, when a resource carries a known `id`, by matching that ID.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from municloud.audit.cloud_rules import (
    Estate,
    FloatingIp,
    NetPort,
    SecurityGroupRule,
    Server,
    ServerGroup,
    Volume,
)

INSTANCE = "openstack:compute/instance:Instance"
SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"
VOLUME_ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
VOLUME = "openstack:blockstorage/volume:Volume"
NETWORK = "openstack:networking/network:Network"
PORT = "openstack:networking/port:Port"
SEC_GROUP = "openstack:networking/secGroup:SecGroup"
SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
FLOATING_IP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"


class ResourceLike(Protocol):
    """What `pulumi_policy.PolicyResource` offers (and a test double can); read only."""

    @property
    def resource_type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def property_dependencies(self) -> Mapping[str, Sequence[Any]]: ...


@dataclass
class PulumiEstate:
    estate: Estate
    urns: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> urn

    def urn(self, kind: str, name: str) -> str | None:
        return self.urns.get((kind, name))


def _name(res: ResourceLike) -> str:
    return str(res.props.get("name") or res.name)


class _Links:
    def __init__(self, resources: list[ResourceLike]) -> None:
        self.by_key: dict[str, list[ResourceLike]] = {}
        for res in resources:
            for key in ("id", "address"):
                value = res.props.get(key) or (getattr(res, "id", None) if key == "id" else None)
                if isinstance(value, str) and value:
                    self.by_key.setdefault(value, []).append(res)

    def follow(self, res: ResourceLike, prop: str, values: Iterable[Any],
               kind: str) -> list[ResourceLike]:
        """The resources of type `kind` that `res.props[prop]` refers to."""
        deps = [d for d in res.property_dependencies.get(prop, []) if d.resource_type == kind]
        found = {id(d): d for d in deps}
        for v in values:
            for target in self.by_key.get(v, []) if isinstance(v, str) else []:
                if target.resource_type == kind:
                    found.setdefault(id(target), target)
        return list(found.values())


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value else None


def _policy(value: Any) -> str | None:
    """`policies` is one policy name (a list of exactly one in older provider versions)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return str(value) if value else None


def estate_from_resources(resources: Iterable[ResourceLike]) -> PulumiEstate:
    res = list(resources)
    links = _Links(res)
    of = {t: [r for r in res if r.resource_type == t] for t in
          (INSTANCE, SERVER_GROUP, VOLUME_ATTACH, VOLUME, PORT, SEC_GROUP_RULE, FLOATING_IP,
           FLOATING_IP_ASSOCIATE)}
    urns: dict[tuple[str, str], str] = {}

    rules = []
    for r in of[SEC_GROUP_RULE]:
        p = r.props
        groups = links.follow(r, "securityGroupId", [p.get("securityGroupId")], SEC_GROUP)
        remote = links.follow(r, "remoteGroupId", [p.get("remoteGroupId")], SEC_GROUP)
        owners: list[ResourceLike | None] = [*groups] or [None]
        for g in owners:
            rules.append(SecurityGroupRule(
                group=_name(g) if g is not None else str(p.get("securityGroupId") or r.name),
                direction="egress" if p.get("direction") == "egress" else "ingress",
                ethertype="IPv6" if p.get("ethertype") == "IPv6" else "IPv4",
                protocol=p.get("protocol") or None,
                port_min=_int(p.get("portRangeMin")), port_max=_int(p.get("portRangeMax")),
                remote_ip_prefix=p.get("remoteIpPrefix") or None,
                remote_group=_name(remote[0]) if remote else p.get("remoteGroupId") or None))

    servers = []
    server_of_port: dict[int, str] = {}
    for s in of[INSTANCE]:
        p = s.props
        nets = _list(p.get("networks"))
        ports = links.follow(s, "networks", [n.get("port") for n in nets if isinstance(n, dict)],
                             PORT)
        networks = [str(n["name"]) for n in nets if isinstance(n, dict) and n.get("name")]
        group_names = [str(g) for g in _list(p.get("securityGroups"))]
        for port in ports:
            server_of_port[id(port)] = _name(s)
            networks += [_name(n) for n in links.follow(
                port, "networkId", [port.props.get("networkId")], NETWORK)]
            group_names += [_name(g) for g in links.follow(
                port, "securityGroupIds", _list(port.props.get("securityGroupIds")), SEC_GROUP)]
        hints = _list(p.get("schedulerHints"))
        sgroups = links.follow(s, "schedulerHints",
                               [h.get("group") for h in hints if isinstance(h, dict)],
                               SERVER_GROUP)
        servers.append(Server(
            name=_name(s), image=p.get("imageName") or p.get("imageId") or None,
            flavor=p.get("flavorName") or p.get("flavorId") or None,
            networks=tuple(dict.fromkeys(networks)),
            security_groups=tuple(dict.fromkeys(group_names)),
            metadata={str(k): str(v) for k, v in (p.get("metadata") or {}).items()},
            server_group=_name(sgroups[0]) if sgroups else None))
        urns[("server", _name(s))] = s.urn

    attached: dict[int, list[str]] = {}
    for a in of[VOLUME_ATTACH]:
        inst = links.follow(a, "instanceId", [a.props.get("instanceId")], INSTANCE)
        for v in links.follow(a, "volumeId", [a.props.get("volumeId")], VOLUME):
            attached.setdefault(id(v), []).extend(_name(i) for i in inst)
    volumes = []
    for v in of[VOLUME]:
        p = v.props
        volumes.append(Volume(
            name=_name(v), size_gb=_int(p.get("size")), volume_type=p.get("volumeType") or None,
            metadata={str(k): str(val) for k, val in (p.get("metadata") or {}).items()},
            attached_to=tuple(attached.get(id(v), []))))
        urns[("volume", _name(v))] = v.urn

    def port_of(holder: ResourceLike) -> ResourceLike | None:
        ports = links.follow(holder, "portId", [holder.props.get("portId")], PORT)
        return ports[0] if ports else None

    def server_of(holder: ResourceLike) -> str | None:
        port = port_of(holder)
        return server_of_port.get(id(port)) if port is not None else None

    def port_name(holder: ResourceLike) -> str | None:
        port = port_of(holder)
        return _name(port) if port is not None else None

    fips: dict[int, FloatingIp] = {}
    for f in of[FLOATING_IP]:
        fips[id(f)] = FloatingIp(address=f.props.get("address") or None, server=server_of(f),
                                 port=port_name(f))
        urns[("floating_ip", f.props.get("address") or _name(f))] = f.urn
    for assoc in of[FLOATING_IP_ASSOCIATE]:
        server, bound = server_of(assoc), port_name(assoc)
        targets = links.follow(assoc, "floatingIp", [assoc.props.get("floatingIp")], FLOATING_IP)
        for f in targets:
            fips[id(f)] = FloatingIp(address=fips[id(f)].address, server=server, port=bound)
        if not targets:
            fips[id(assoc)] = FloatingIp(address=assoc.props.get("floatingIp"), server=server,
                                         port=bound)

    net_ports = []
    for port in of[PORT]:
        p = port.props
        net_ports.append(NetPort(
            name=_name(port), server=server_of_port.get(id(port)),
            fixed_ips=tuple(str(f["ipAddress"]) for f in _list(p.get("fixedIps"))
                            if isinstance(f, dict) and f.get("ipAddress")),
            allowed_addresses=tuple(str(a["ipAddress"])
                                    for a in _list(p.get("allowedAddressPairs"))
                                    if isinstance(a, dict) and a.get("ipAddress"))))
        urns[("port", _name(port))] = port.urn

    return PulumiEstate(
        estate=Estate(
            servers=tuple(servers), security_group_rules=tuple(rules), volumes=tuple(volumes),
            floating_ips=tuple(fips.values()), ports=tuple(net_ports),
            server_groups=tuple(ServerGroup(_name(g), _policy(g.props.get("policies")))
                                for g in of[SERVER_GROUP])),
        urns=urns)
