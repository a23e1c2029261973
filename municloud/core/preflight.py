"""`municloud preflight <env> --cloud NAME`: can this cloud host this topology?

Checks, each a row of the table: the external network, the pinned image, a flavor for
every size the hosts use (at least as big as the size), the volume types, quota headroom
(instances, cores, RAM, volumes, gigabytes, floating IPs, security groups and rules) and
that the topology's CIDRs collide with no subnet the project sees (the environment's own
networks, already deployed, excepted).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from municloud.core.ports import host_rules, service_rules
from municloud.core.services import host_services
from municloud.core.topology import Topology


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Needs:
    instances: int
    cores: int
    ram_mb: int
    volumes: int
    gigabytes: int
    floating_ips: int
    security_groups: int
    security_group_rules: int


def needs(topo: Topology) -> Needs:
    """What the topology consumes, counted the way the Pulumi program provisions it: one
    security group per service used (a rule per port and source) plus an egress group per
    network, a floating IP per edge host facing the internet, a root volume per host that
    boots from a volume."""
    sizes = [topo.sizes[h.size] for h in topo.hosts]
    volumes = [v for h in topo.hosts for v in h.volumes]
    boot = [topo.sizes[h.size].disk_gb for h in topo.hosts if h.boot_from_volume]
    used = {s.name: s for h in topo.hosts for s in host_services(h.services)}
    rules = sum(len(r.sources) for s in used.values() for r in service_rules(topo, s))
    egress = sum(2 if n.egress == "open" else len(topo.networks) for n in topo.networks)
    public = [h for h in topo.hosts if topo.network(h.network).purpose == "edge"
              and any(r.from_internet for r in host_rules(topo, h))]
    return Needs(
        instances=len(topo.hosts), cores=sum(s.vcpus for s in sizes),
        ram_mb=sum(s.ram_mb for s in sizes), volumes=len(volumes) + len(boot),
        gigabytes=sum(v.size_gb or 0 for v in volumes) + sum(boot),
        floating_ips=len(public), security_groups=len(used) + len(topo.networks),
        security_group_rules=rules + egress)


def _quota(name: str, need: int, limit: int | None, used: int | None) -> Check:
    if limit is None or limit < 0:
        return Check(f"quota {name}", True, f"need {need}, unlimited")
    free = limit - (used or 0)
    return Check(f"quota {name}", need <= free,
                 f"need {need}, free {free} (limit {limit}, used {used or 0})")


def quota_checks(conn: Any, n: Needs) -> list[Check]:
    c = conn.compute.get_limits().absolute
    b = conn.block_storage.get_limits().absolute
    q = conn.network.get_quota(conn.current_project_id, details=True)

    def net(field: str) -> tuple[int | None, int | None]:
        d = getattr(q, field) or {}
        return d.get("limit"), (d.get("used") or 0) + (d.get("reserved") or 0)

    return [
        _quota("instances", n.instances, c.instances, c.instances_used),
        _quota("cores", n.cores, c.total_cores, c.total_cores_used),
        _quota("ram_mb", n.ram_mb, c.total_ram, c.total_ram_used),
        _quota("volumes", n.volumes, b.max_total_volumes, b.total_volumes_used),
        _quota("gigabytes", n.gigabytes, b.max_total_volume_gigabytes, b.total_gigabytes_used),
        _quota("floating_ips", n.floating_ips, *net("floating_ips")),
        _quota("security_groups", n.security_groups, *net("security_groups")),
        _quota("security_group_rules", n.security_group_rules, *net("security_group_rules")),
    ]


def resource_checks(conn: Any, topo: Topology) -> list[Check]:
    assert topo.openstack is not None
    o = topo.openstack
    out = []
    ext = conn.network.find_network(o.external_network)
    out.append(Check(f"external network {o.external_network}",
                     ext is not None and bool(ext.is_router_external),
                     "missing" if ext is None else
                     ("router:external" if ext.is_router_external else "not router:external")))
    image = conn.image.find_image(o.image)
    out.append(Check(f"image {o.image}", image is not None and image.status == "active",
                     "missing" if image is None else image.status))
    flavors = {f.name: f for f in conn.compute.flavors(details=True)}
    for size_name in dict.fromkeys(h.size for h in topo.hosts):
        size = topo.sizes[size_name]
        name = size.flavor or size_name
        f = flavors.get(name)
        if f is None:
            out.append(Check(f"flavor {name}", False, f"missing (size {size_name})"))
            continue
        small = [what for what, have, want in (("vcpus", f.vcpus, size.vcpus),
                                               ("ram_mb", f.ram, size.ram_mb),
                                               ("disk_gb", f.disk, size.disk_gb)) if have < want]
        out.append(Check(f"flavor {name}", not small,
                         f"{f.vcpus} vcpus, {f.ram} MB, {f.disk} GB" +
                         (f"; smaller than size {size_name} in {', '.join(small)}" if small
                          else "")))
    for vt in dict.fromkeys(t for t in (o.volume_type, o.encrypted_volume_type) if t):
        found = conn.block_storage.find_type(vt)
        out.append(Check(f"volume type {vt}", found is not None,
                         "present" if found else "missing"))
    return out


def cidr_checks(conn: Any, topo: Topology) -> list[Check]:
    net_name = {n.id: n.name for n in conn.network.networks()}
    subnets = [(s, net_name.get(s.network_id, s.network_id)) for s in conn.network.subnets()]
    out = []
    for n in topo.networks:
        mine = ipaddress.ip_network(n.cidr)
        clashes = [f"{s.name or s.id} {s.cidr} ({owner})" for s, owner in subnets
                   if ipaddress.ip_network(s.cidr).overlaps(mine)
                   and not (owner == f"{topo.environment}-{n.name}" and s.cidr == n.cidr)]
        out.append(Check(f"cidr {n.name} {n.cidr}", not clashes,
                         f"overlaps {', '.join(clashes)}" if clashes else "free"))
    return out


def preflight(conn: Any, topo: Topology) -> list[Check]:
    return [*resource_checks(conn, topo), *quota_checks(conn, needs(topo)),
            *cidr_checks(conn, topo)]
