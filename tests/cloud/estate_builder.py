"""Build a topology's estate on devcloud with openstacksdk, the way the Pulumi program
(stacks/municloud_stack) lays it out: a router, a network, subnet and egress group per
tier, a security group per service from `municloud.core.ports.service_rules`, a port with the
fixed address and groups, a server with metadata, data volumes, floating IPs for
internet-facing edge hosts; where the edge network declares a virtual address, a port
holding it with the public floating IP, and that address as an allowed address pair on
its edge hosts' ports (which then get no floating IP of their own). devcloud has one
hypervisor, so replicas go into a soft-anti-affinity group (which CLOUD-HA-01 accepts)."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openstack.exceptions import ResourceFailure

from municloud.core.ports import ANYWHERE, host_rules, service_rules
from municloud.core.services import host_services, load_services
from municloud.core.topology import Topology

IMAGE = "cirros-tiny"


def _group(conn: Any, name: str) -> Any:
    g = conn.network.create_security_group(name=name, description="municloud test estate")
    for r in list(conn.network.security_group_rules(security_group_id=g.id)):
        conn.network.delete_security_group_rule(r)  # delete_default_rules
    return g


def _rule(conn: Any, group: Any, direction: str, cidr: str, proto: str | None = None,
          low: int | None = None, high: int | None = None) -> None:
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction=direction,
        ether_type="IPv6" if ":" in cidr else "IPv4", protocol=proto,
        port_range_min=low, port_range_max=high, remote_ip_prefix=cidr)


def build(conn: Any, topo: Topology) -> dict[str, Any]:
    """Create the estate; returns {host name: server}."""
    env = topo.environment
    assert topo.openstack is not None
    external = conn.network.find_network(topo.openstack.external_network)
    router = conn.network.create_router(name=f"{env}-router",
                                        external_gateway_info={"network_id": external.id})
    nets, subnets, egress = {}, {}, {}
    for n in topo.networks:
        nets[n.name] = conn.network.create_network(name=f"{env}-{n.name}")
        subnets[n.name] = conn.network.create_subnet(
            network_id=nets[n.name].id, name=f"{env}-{n.name}", cidr=n.cidr, ip_version=4)
        conn.network.add_interface_to_router(router, subnet_id=subnets[n.name].id)
        egress[n.name] = _group(conn, f"{env}-{n.name}-egress")
        for cidr in ANYWHERE if n.egress == "open" else [x.cidr for x in topo.networks]:
            _rule(conn, egress[n.name], "egress", cidr)
    used = {s.name: s for h in topo.hosts for s in host_services(h.services)}
    groups = {}
    for name, svc in used.items():
        groups[name] = _group(conn, f"{env}-{name}")
        for r in service_rules(topo, svc):
            for cidr in r.sources:
                _rule(conn, groups[name], "ingress", cidr, r.proto, r.port, r.end)
    server_groups = {s: conn.compute.create_server_group(name=f"{env}-{s}",
                                                         policy="soft-anti-affinity")
                     for s in topo.services() if len(topo.hosts_running(s)) > 1}
    declared = load_services()
    image = conn.image.find_image(IMAGE)
    vip, vip_hosts = topo.virtual_address(), set(topo.virtual_address_hosts())
    if vip is not None and vip_hosts:
        net = topo.host(min(vip_hosts)).network
        vip_port = conn.network.create_port(
            name=f"{env}-edge-vip", network_id=nets[net].id,
            fixed_ips=[{"subnet_id": subnets[net].id, "ip_address": vip}],
            security_group_ids=[*(groups[s.name].id for s in host_services(["edge"])),
                                egress[net].id])
        conn.network.create_ip(floating_network_id=external.id, port_id=vip_port.id)

    def host(h: Any) -> tuple[str, Any]:
        size = topo.sizes[h.size]
        port = conn.network.create_port(
            name=f"{h.name}-{h.network}", network_id=nets[h.network].id,
            fixed_ips=[{"subnet_id": subnets[h.network].id, "ip_address": h.address}],
            security_group_ids=[*(groups[s.name].id for s in host_services(h.services)),
                                egress[h.network].id],
            allowed_address_pairs=[{"ip_address": vip}] if h.name in vip_hosts else [])
        group = next((server_groups[s] for s in h.services if s in server_groups), None)
        hints = {"scheduler_hints": {"group": group.id}} if group else {}
        server = conn.compute.create_server(
            name=h.name, flavor_id=conn.compute.find_flavor(size.flavor or h.size).id,
            image_id=image.id, networks=[{"port": port.id}],
            metadata={"municloud_services": ",".join(h.services), "environment": env,
                      "owner": topo.municipality.name},
            **hints)
        server = conn.compute.wait_for_server(server, wait=300)
        stateful = any(declared[s].stateful for s in h.services if s in declared)
        for v in h.volumes:
            vtype = v.type or (topo.openstack.encrypted_volume_type if stateful  # type: ignore[union-attr]
                               else topo.openstack.volume_type)  # type: ignore[union-attr]
            vol = conn.block_storage.create_volume(
                name=f"{h.name}-{v.name}", size=v.size_gb, volume_type=vtype,
                metadata={"municloud_backup": str(v.backup).lower(), "municloud_host": h.name,
                          "environment": env})
            conn.block_storage.wait_for_status(vol, "available", wait=120)
            conn.compute.create_volume_attachment(server, volume_id=vol.id)
            conn.block_storage.wait_for_status(vol, "in-use", wait=120)
        if topo.network(h.network).purpose == "edge" and h.name not in vip_hosts and any(
                r.from_internet for r in host_rules(topo, h)):
            conn.network.create_ip(floating_network_id=external.id, port_id=port.id)
        return h.name, server

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(host, topo.hosts))


def destroy(conn: Any) -> None:
    """Delete everything in the project (servers, volumes, IPs, routers, networks, groups)."""
    servers = list(conn.compute.servers())
    for s in servers:
        conn.compute.delete_server(s)
    for s in servers:
        conn.compute.wait_for_delete(s, wait=180)
    for v in list(conn.block_storage.volumes()):
        with contextlib.suppress(ResourceFailure):  # one in error is deleted as it is
            conn.block_storage.wait_for_status(v, "available", failures=["error"], wait=120)
        conn.block_storage.delete_volume(v)
    for ip in conn.network.ips(project_id=conn.current_project_id):
        conn.network.delete_ip(ip)
    for r in conn.network.routers(project_id=conn.current_project_id):
        for p in conn.network.ports(device_id=r.id, device_owner="network:router_interface"):
            conn.network.remove_interface_from_router(r, port_id=p.id)
        conn.network.delete_router(r)
    for p in conn.network.ports(project_id=conn.current_project_id):
        if not p.device_owner:
            conn.network.delete_port(p)
    for n in conn.network.networks(project_id=conn.current_project_id):
        conn.network.delete_network(n)
    for g in conn.network.security_groups(project_id=conn.current_project_id):
        if g.name != "default":
            conn.network.delete_security_group(g)
    for g in conn.compute.server_groups():
        conn.compute.delete_server_group(g)
