"""The edge tier's virtual address in OpenStack: a Neutron port that holds the address
(no server uses it), the public floating IP bound to that port, and - on the edge hosts'
own ports (`ServiceHost`) - the address as an allowed address pair, so that Neutron's port
security lets whichever edge host keepalived elects answer for it (role edge_vip).

Chosen over an Octavia load balancer: the datacenter's reference cloud (devcloud) has no
Octavia, keepalived is the same mechanism the lab proves by fault injection, and the edge
hosts already are the load balancers (nginx); docs/devcloud.md says more.
"""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from municloud.core.topology import Topology
from municloud_stack.network import NetworkTier


class VirtualAddress(pulumi.ComponentResource):
    port: openstack.networking.Port
    floating_ip: openstack.networking.FloatingIp
    address: str
    floating_address: pulumi.Output[str]

    def __init__(self, topo: Topology, address: str, tier: NetworkTier,
                 security_groups: list[pulumi.Output[str]], external_network: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        env = topo.environment
        super().__init__("municloud:network:VirtualAddress", f"{env}-edge-vip", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.address = address
        self.port = openstack.networking.Port(
            f"{env}-edge-vip", name=f"{env}-edge-vip", network_id=tier.network.id,
            fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=tier.subnet.id,
                                                            ip_address=address)],
            security_group_ids=security_groups, admin_state_up=True,
            description="the edge tier's virtual address (keepalived on the edge hosts)",
            tags=[f"municloud_env={env}", "municloud_vip=edge"], opts=child)
        self.floating_ip = openstack.networking.FloatingIp(
            f"{env}-edge-vip", pool=external_network,
            description="public address of the published names (the edge's virtual address)",
            tags=[f"municloud_env={env}", "municloud_vip=edge"], opts=child)
        openstack.networking.FloatingIpAssociate(
            f"{env}-edge-vip", floating_ip=self.floating_ip.address, port_id=self.port.id,
            fixed_ip=address, opts=child)
        self.floating_address = self.floating_ip.address
        self.register_outputs({"address": address, "floating_address": self.floating_address})
