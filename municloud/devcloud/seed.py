"""What a fresh devcloud holds besides the services: the `municloud` project and user,
generous quotas, flavors matching the topologies' sizes, a tiny image (also under the
production topology's pinned image name), the volume types the topologies name and an
external flat network. Every step finds before it creates: seeding twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from municloud.core import paths
from municloud.core.topology import Topology, load
from municloud.devcloud import PROJECT, USER, Secrets

TINY_IMAGE = "cirros-tiny"
EXTERNAL_CIDR = "203.0.113.0/24"  # TEST-NET-3: floating IPs that route nowhere
QUOTAS = {
    "compute": {"instances": 200, "cores": 2000, "ram": 4_096_000},
    "volume": {"volumes": 200, "gigabytes": 100_000},
    "network": {"floatingip": 100, "security_group": 100, "security_group_rule": 1000,
                "network": 100, "subnet": 100, "port": 1000, "router": 20},
}


def openstack_topologies() -> list[Topology]:
    topos = [load(env) for env in paths.known_environments()]
    return [t for t in topos if t.openstack is not None]


def project_and_user(conn: Any, s: Secrets) -> Any:
    ident = conn.identity
    project = ident.find_project(PROJECT, domain_id="default") or ident.create_project(
        name=PROJECT, domain_id="default", description="municloud rehearsals")
    user = ident.find_user(USER, domain_id="default") or ident.create_user(
        name=USER, password=s.user, domain_id="default", default_project_id=project.id)
    for role in ("member", "reader"):
        ident.assign_project_role_to_user(project, user, ident.find_role(role))
    return project


def quotas(conn: Any, project: Any) -> None:
    conn.set_compute_quotas(project.id, **QUOTAS["compute"])
    conn.set_volume_quotas(project.id, **QUOTAS["volume"])
    conn.set_network_quotas(project.id, **QUOTAS["network"])


def flavors(conn: Any, topos: list[Topology]) -> None:
    existing = {f.name for f in conn.compute.flavors(is_public=None)}
    for topo in topos:
        for name, size in topo.sizes.items():
            flavor = size.flavor or name
            if flavor not in existing:
                conn.compute.create_flavor(name=flavor, vcpus=size.vcpus, ram=size.ram_mb,
                                           disk=size.disk_gb, is_public=True)
                existing.add(flavor)


def images(conn: Any, topos: list[Topology]) -> None:
    names = [TINY_IMAGE, *(t.openstack.image for t in topos if t.openstack)]
    for name in dict.fromkeys(names):
        if conn.image.find_image(name) is None:
            conn.image.create_image(name=name, data=b"\0" * 1024, disk_format="raw",
                                    container_format="bare", visibility="public",
                                    allow_duplicates=True)


def volume_types(conn: Any, topos: list[Topology]) -> None:
    """Plain volume types under the topologies' names (devcloud has no key manager, so the
    'encrypted' type carries no encryption spec here)."""
    for topo in topos:
        o = topo.openstack
        for name in (o.volume_type, o.encrypted_volume_type) if o else ():
            if name and conn.block_storage.find_type(name) is None:
                conn.block_storage.create_type(name=name)


def external_networks(conn: Any, topos: list[Topology]) -> None:
    for name in dict.fromkeys(t.openstack.external_network for t in topos if t.openstack):
        net = conn.network.find_network(name)
        if net is None:
            net = conn.network.create_network(
                name=name, is_router_external=True, is_shared=False,
                provider_network_type="flat", provider_physical_network="physnet1")
        if not list(conn.network.subnets(network_id=net.id)):
            conn.network.create_subnet(network_id=net.id, name=f"{name}-subnet",
                                       ip_version=4, cidr=EXTERNAL_CIDR, enable_dhcp=False,
                                       gateway_ip="203.0.113.1")


def seed(conn: Any, s: Secrets) -> None:
    topos = openstack_topologies()
    project = project_and_user(conn, s)
    quotas(conn, project)
    flavors(conn, topos)
    images(conn, topos)
    volume_types(conn, topos)
    external_networks(conn, topos)
