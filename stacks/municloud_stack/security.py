"""One security group per service, from the service's port declarations through
`municloud.core.ports.service_rules` - the same rules the host firewall gets - and its
port-less protocols (`municloud.core.ports.protocol_rules`: VRRP between the edge hosts)
admitted from the group itself, i.e. from the other hosts of the service."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from municloud.core.ports import ProtocolRule, Rule
from municloud.core.topology import Topology
from municloud_stack.network import ethertype


class ServiceSecurityGroup(pulumi.ComponentResource):
    group: openstack.networking.SecGroup

    def __init__(self, topo: Topology, service: str, rules: list[Rule],
                 opts: pulumi.ResourceOptions | None = None,
                 protocols: list[ProtocolRule] | None = None) -> None:
        env = topo.environment
        name = f"{env}-{service}"
        super().__init__("municloud:security:ServiceGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # No default rules: egress comes from the tier's group, so `egress: restricted` holds.
        self.group = openstack.networking.SecGroup(
            name, name=name, description=f"ingress of {service}, from roles/*/meta/service.yml",
            delete_default_rules=True,
            tags=[f"municloud_env={env}", f"municloud_service={service}"],
            opts=child)
        for r in rules:
            for cidr in r.sources:
                openstack.networking.SecGroupRule(
                    f"{name}-{r.proto}{r.ports}-{cidr}", security_group_id=self.group.id,
                    direction="ingress", ethertype=ethertype(cidr), protocol=r.proto,
                    port_range_min=r.port, port_range_max=r.end, remote_ip_prefix=cidr,
                    description=f"{service} {r.purpose}", opts=child)
        for pr in {(p.protocol, p.purpose): p for p in protocols or []}.values():
            # From the peers: the members of this very group (Neutron's remote group).
            openstack.networking.SecGroupRule(
                f"{name}-{pr.protocol}-peers", security_group_id=self.group.id,
                direction="ingress", ethertype="IPv4", protocol=pr.protocol,
                remote_group_id=self.group.id,
                description=f"{service} {pr.purpose} from its peers", opts=child)
        self.register_outputs({"id": self.group.id})
