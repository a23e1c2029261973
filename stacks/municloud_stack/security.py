"""One security group per service, from the service's port declarations through
`municloud.core.ports.service_rules` - the same rules the host firewall gets."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from municloud.core.ports import Rule
from municloud.core.topology import Topology
from municloud_stack.network import ethertype


class ServiceSecurityGroup(pulumi.ComponentResource):
    group: openstack.networking.SecGroup

    def __init__(self, topo: Topology, service: str, rules: list[Rule],
                 opts: pulumi.ResourceOptions | None = None) -> None:
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
        self.register_outputs({"id": self.group.id})
