"""Adapter: a live OpenStack project, read with openstacksdk -> the neutral
`municloud.audit.cloud_rules.Estate` that the cloud rules judge (the Pulumi policy pack builds
the same picture from plan-time props in `stacks/policy/pulumi_estate.py`).

One list call per kind of object (servers, ports, networks, security groups and rules,
floating IPs, volumes, server groups, images): the cost does not grow with calls per
server, so 100 servers are read in a handful of requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from municloud.audit.cloud_rules import (
    Estate,
    FloatingIp,
    NetPort,
    SecurityGroupRule,
    Server,
    ServerGroup,
    Volume,
)


def _all(call: Callable[[], Iterable[Any]]) -> list[Any]:
    return list(call())


def _listings(conn: Any) -> dict[str, list[Any]]:
    project = conn.current_project_id
    calls: dict[str, Callable[[], Iterable[Any]]] = {
        "servers": lambda: conn.compute.servers(details=True),
        "ports": lambda: conn.network.ports(project_id=project),
        "networks": lambda: conn.network.networks(),
        "groups": lambda: conn.network.security_groups(project_id=project),
        "rules": lambda: conn.network.security_group_rules(project_id=project),
        "ips": lambda: conn.network.ips(project_id=project),
        "volumes": lambda: conn.block_storage.volumes(details=True),
        "server_groups": lambda: conn.compute.server_groups(),
        "images": lambda: conn.image.images(),
    }
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {k: pool.submit(_all, f) for k, f in calls.items()}
        return {k: f.result() for k, f in futures.items()}


def _flavor(server: Any) -> str | None:
    f = server.flavor or {}
    return f.get("original_name") or f.get("name") or f.get("id")


def estate(conn: Any) -> Estate:
    """The estate of the project `conn` is scoped to."""
    data = _listings(conn)
    group_name = {g.id: g.name for g in data["groups"]}
    net_name = {n.id: n.name for n in data["networks"]}
    image_name = {i.id: i.name for i in data["images"]}
    server_name = {s.id: s.name for s in data["servers"]}
    ports_of: dict[str, list[Any]] = {}
    for p in data["ports"]:
        ports_of.setdefault(p.device_id or "", []).append(p)
    port_server = {p.id: server_name.get(p.device_id) for p in data["ports"]}
    member_of = {m: g.name for g in data["server_groups"] for m in (g.member_ids or [])}

    servers = []
    for s in data["servers"]:
        ports = ports_of.get(s.id, [])
        image = (s.image or {}).get("id")
        servers.append(Server(
            name=s.name,
            image=image_name.get(image, image) if image else None,
            flavor=_flavor(s),
            networks=tuple(dict.fromkeys(net_name.get(p.network_id, p.network_id)
                                         for p in ports)),
            security_groups=tuple(dict.fromkeys(group_name.get(g, g) for p in ports
                                                for g in p.security_group_ids or [])),
            metadata={str(k): str(v) for k, v in (s.metadata or {}).items()},
            server_group=member_of.get(s.id)))

    rules = tuple(SecurityGroupRule(
        group=group_name.get(r.security_group_id, r.security_group_id),
        direction="egress" if r.direction == "egress" else "ingress",
        ethertype="IPv6" if r.ether_type == "IPv6" else "IPv4",
        protocol=r.protocol or None, port_min=r.port_range_min, port_max=r.port_range_max,
        remote_ip_prefix=r.remote_ip_prefix or None,
        remote_group=(group_name.get(r.remote_group_id, r.remote_group_id)
                      if r.remote_group_id else None))
        for r in data["rules"])

    root_device = {s.id: s.root_device_name for s in data["servers"]}
    volumes = []
    for v in data["volumes"]:
        attachments = v.attachments or []
        volumes.append(Volume(
            name=v.name or v.id, size_gb=v.size, volume_type=v.volume_type,
            metadata={str(k): str(val) for k, val in (v.metadata or {}).items()},
            attached_to=tuple(server_name.get(a.get("server_id"), a.get("server_id"))
                              for a in attachments),
            root=any(a.get("device") and a.get("device") == root_device.get(a.get("server_id"))
                     for a in attachments)))

    port_name = {p.id: p.name or p.id for p in data["ports"]}
    ips = tuple(FloatingIp(address=ip.floating_ip_address,
                           server=port_server.get(ip.port_id) if ip.port_id else None,
                           port=port_name.get(ip.port_id) if ip.port_id else None)
                for ip in data["ips"])
    net_ports = tuple(NetPort(
        name=p.name or p.id, server=port_server.get(p.id),
        fixed_ips=tuple(f["ip_address"] for f in p.fixed_ips or [] if f.get("ip_address")),
        allowed_addresses=tuple(a["ip_address"] for a in p.allowed_address_pairs or []
                                if a.get("ip_address")))
        for p in data["ports"])
    sgroups = tuple(ServerGroup(g.name, g.policy or (g.policies or [None])[0])
                    for g in data["server_groups"])
    return Estate(servers=tuple(servers), security_group_rules=rules, volumes=tuple(volumes),
                  floating_ips=ips, server_groups=sgroups, ports=net_ports)
