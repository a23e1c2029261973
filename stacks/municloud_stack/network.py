"""A network tier: one Neutron network and subnet per topology network, its interface on
the router, and the tier's egress security group (open, or restricted to the topology's
own networks where the topology says `egress: restricted`)."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_openstack as openstack

from municloud.core.ports import ANYWHERE
from municloud.core.topology import Network, Topology


def allocation_pool(cidr: str) -> tuple[str, str]:
    """Addresses Neutron hands out: the upper half of the subnet, so the lower half stays
    free for the fixed addresses the topology assigns (and the gateway, the first one)."""
    net = ipaddress.ip_network(cidr)
    hosts = list(net.hosts()) if net.num_addresses <= 4096 else None
    if hosts is None:
        first, last = net.network_address + net.num_addresses // 2, net.broadcast_address - 1
        return str(first), str(last)
    return str(hosts[len(hosts) // 2]), str(hosts[-1])


def ethertype(cidr: str) -> str:
    return "IPv6" if ipaddress.ip_network(cidr).version == 6 else "IPv4"


class NetworkTier(pulumi.ComponentResource):
    network: openstack.networking.Network
    subnet: openstack.networking.Subnet
    egress: openstack.networking.SecGroup

    def __init__(self, topo: Topology, net: Network, router: openstack.networking.Router,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        env = topo.environment
        super().__init__("municloud:network:Tier", f"{env}-{net.name}", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = [f"municloud_env={env}", f"municloud_purpose={net.purpose}"]
        self.network = openstack.networking.Network(
            f"{env}-{net.name}", name=f"{env}-{net.name}", admin_state_up=True, tags=tags,
            opts=child)
        start, end = allocation_pool(net.cidr)
        self.subnet = openstack.networking.Subnet(
            f"{env}-{net.name}", name=f"{env}-{net.name}", network_id=self.network.id,
            cidr=net.cidr, ip_version=ipaddress.ip_network(net.cidr).version,
            dns_nameservers=list(net.dns_nameservers),
            allocation_pools=[openstack.networking.SubnetAllocationPoolArgs(start=start, end=end)],
            tags=tags, opts=child)
        openstack.networking.RouterInterface(
            f"{env}-{net.name}", router_id=router.id, subnet_id=self.subnet.id, opts=child)
        self.egress = openstack.networking.SecGroup(
            f"{env}-{net.name}-egress", name=f"{env}-{net.name}-egress",
            description=f"egress of the {net.name} tier ({net.egress})",
            delete_default_rules=True, tags=tags, opts=child)
        targets = ANYWHERE if net.egress == "open" else tuple(n.cidr for n in topo.networks)
        for cidr in targets:
            openstack.networking.SecGroupRule(
                f"{env}-{net.name}-egress-{cidr}", security_group_id=self.egress.id,
                direction="egress", ethertype=ethertype(cidr), remote_ip_prefix=cidr,
                description=f"{net.name} egress {net.egress}", opts=child)
        self.register_outputs({"network_id": self.network.id, "subnet_id": self.subnet.id})
