"""The program: topology -> OpenStack resources -> the `inventory` output.

Reads like the topology: a router, one `NetworkTier` per network, one
`ServiceSecurityGroup` per service, an anti-affinity server group per replicated
service, one `ServiceHost` per host. Every port rule comes from `municloud.core.ports`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
import pulumi_openstack as openstack

from municloud.core import topology
from municloud.core.errors import InvalidInput, Problem, UserError
from municloud.core.ports import host_rules, protocol_rules, service_rules
from municloud.core.services import host_services, load_services
from municloud.core.topology import Topology
from municloud_stack.host import HostPlan, ServiceHost, Shared
from municloud_stack.network import NetworkTier
from municloud_stack.security import ServiceSecurityGroup
from municloud_stack.vip import VirtualAddress

STACKS = Path(__file__).resolve().parent.parent


def check_openstack(topo: Topology, shown: str) -> list[Problem]:
    """What the topology checker leaves to the platform: an openstack section, and a
    Nova flavor for every size a host uses."""
    problems = []
    if topo.openstack is None:
        problems.append(Problem(shown, "openstack", "the Pulumi stack needs an openstack section",
                                "cloud, external_network, image"))
    used = {h.size for h in topo.hosts}
    for name, size in topo.sizes.items():
        if name in used and not size.flavor:
            problems.append(Problem(shown, f"sizes.{name}.flavor", "no Nova flavor for this size",
                                    "the name of a flavor of the cloud, e.g. m1.small"))
    return problems


def metadata(topo: Topology, services: list[str]) -> dict[str, str]:
    return {"municloud_services": ",".join(services), "environment": topo.environment,
            "owner": topo.municipality.name}


def build(topo: Topology, shown: str = "topology") -> dict[str, pulumi.Output[Any]]:
    """Register every resource of the environment; return the stack outputs."""
    problems = check_openstack(topo, shown)
    if problems:
        raise InvalidInput(problems)
    assert topo.openstack is not None
    os_ = topo.openstack
    env = topo.environment
    declared = load_services()

    provider = openstack.Provider(f"{env}-openstack", cloud=os_.cloud)
    invoke = pulumi.InvokeOptions(provider=provider)
    opts = pulumi.ResourceOptions(provider=provider)

    external = openstack.networking.get_network_output(name=os_.external_network, opts=invoke)
    router = openstack.networking.Router(
        f"{env}-router", name=f"{env}-router", admin_state_up=True,
        external_network_id=external.id, tags=[f"municloud_env={env}"], opts=opts)
    tiers = {n.name: NetworkTier(topo, n, router, opts) for n in topo.networks}

    used = {s.name: s for h in topo.hosts for s in host_services(h.services)}
    peer_protocols = {name: [r for h in topo.hosts_running(name)
                             for r in protocol_rules(topo, h) if r.service == name]
                      for name in used}
    groups = {name: ServiceSecurityGroup(topo, name, service_rules(topo, svc), opts,
                                         protocols=peer_protocols[name])
              for name, svc in used.items()}

    replicated = [s for s in topo.services() if len(topo.hosts_running(s)) > 1]
    server_groups = {
        s: openstack.compute.ServerGroup(f"{env}-{s}", name=f"{env}-{s}",
                                         policies="anti-affinity", opts=opts)
        for s in replicated
    }
    admin_key = topo.admins[0].ssh_keys[0]
    keypair = openstack.compute.Keypair(f"{env}-{os_.keypair}", name=os_.keypair,
                                        public_key=admin_key, opts=opts)
    image_id = None
    if any(h.boot_from_volume for h in topo.hosts):
        image_id = openstack.images.get_image_output(name=os_.image, opts=invoke).id
    zone_id = None
    if os_.dns_zone:
        zone_id = openstack.dns.get_dns_zone_output(name=os_.dns_zone, opts=invoke).id
    shared = Shared(keypair=keypair, external_network=os_.external_network, image_id=image_id,
                    dns_zone=os_.dns_zone, dns_zone_id=zone_id)

    # The edge tier's virtual address: its hosts answer for it (allowed address pairs) and
    # reach the internet through its floating IP alone, not one of their own.
    vip_address = topo.virtual_address()
    vip_net = next((n for n in topo.networks_with_purpose("edge") if n.virtual_address), None)
    vip_hosts = set(topo.virtual_address_hosts())
    vip = None
    if vip_address is not None and vip_net is not None:
        vip = VirtualAddress(
            topo, vip_address, tiers[vip_net.name],
            [*(groups[s.name].group.id for s in host_services(["edge"])),
             tiers[vip_net.name].egress.id], os_.external_network, opts)

    hosts: dict[str, ServiceHost] = {}
    for h in topo.hosts:
        size = topo.sizes[h.size]
        group = next((server_groups[s] for s in h.services if s in server_groups), None)
        plan = HostPlan(
            host=h, flavor=size.flavor or h.size, disk_gb=size.disk_gb,
            security_groups=[groups[s.name].group.id for s in host_services(h.services)],
            server_group=group,
            public=(topo.network(h.network).purpose == "edge" and h.name not in vip_hosts
                    and any(r.from_internet for r in host_rules(topo, h))),
            stateful=any(declared[s].stateful for s in h.services if s in declared),
            metadata=metadata(topo, h.services),
            allowed_addresses=(vip_address,) if vip_address and h.name in vip_hosts else ())
        hosts[h.name] = ServiceHost(topo, plan, tiers[h.network], shared, opts)

    return {"inventory": inventory_output(topo, hosts, vip)}


def inventory_output(topo: Topology, hosts: dict[str, ServiceHost],
                     vip: VirtualAddress | None = None) -> pulumi.Output[Any]:
    """The outputs document of `municloud.core.inventory` (the lab writes the same shape),
    with the edge tier's virtual address and its floating IP where there is one."""
    def entry(name: str) -> pulumi.Output[dict[str, Any]]:
        h = topo.host(name)
        return pulumi.Output.all(hosts[name].address, hosts[name].floating_address).apply(
            lambda a: {"address": a[0], "floating_address": a[1], "network": h.network,
                       "services": list(h.services)})
    def document(entries: list[Any]) -> dict[str, Any]:
        *host_entries, vip_floating = entries
        doc: dict[str, Any] = {
            "hosts": {h.name: e for h, e in zip(topo.hosts, host_entries, strict=True)}}
        if vip is not None:
            doc["virtual_address"] = {"address": vip.address, "floating_address": vip_floating}
        return doc
    floating = vip.floating_address if vip is not None else pulumi.Output.from_input(None)
    return pulumi.Output.all(*[entry(h.name) for h in topo.hosts], floating).apply(document)


def topology_path(configured: str | None, stack: str) -> Path:
    """`municloud:topology` from the stack config, relative to stacks/; by default the
    stack's own environment."""
    path = Path(configured or f"../inventories/{stack}/topology.yml")
    return path if path.is_absolute() else (STACKS / path).resolve()


@contextmanager
def no_full_collections() -> Iterator[None]:
    """Registering thousands of resources creates millions of objects that live until the
    program ends; the cyclic garbage collector would rescan them again and again, making
    the run grow faster than linearly (scripts/bench-stacks). `main()` pauses it for the
    rest of the process; in-process runs (the mocked tests) use this around the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def main() -> None:
    """Entry point of `pulumi preview/up` (stacks/__main__.py)."""
    config = pulumi.Config("municloud")
    stack = pulumi.get_stack()
    path = topology_path(config.get("topology"), stack)
    try:
        topo = topology.load_file(path, load_services())
        if topo.environment != stack and not config.get_bool("allowOtherEnvironment"):
            raise UserError(f"{path}: environment {topo.environment!r} does not match stack "
                            f"{stack!r} (allowed: the topology of this stack's environment)")
        # The engine drives the registrations after main() returns, until the process
        # exits: pause the collector for the rest of this short-lived process.
        gc.disable()
        outputs = build(topo, str(path))
    except UserError as exc:
        raise pulumi.RunError(str(exc)) from exc
    for name, value in outputs.items():
        pulumi.export(name, value)
