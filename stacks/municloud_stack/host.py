"""A service host: its port on the tier network (with the security groups of its services),
the server, its data volumes, a floating IP when it faces the internet, its DNS record."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from municloud.core.topology import Host, Topology
from municloud_stack.cloud_init import user_data
from municloud_stack.network import NetworkTier

BACKUP_TAG = "municloud_backup"


@dataclass(frozen=True)
class HostPlan:
    """What the program decided for one host, from the topology and the declarations."""

    host: Host
    flavor: str
    disk_gb: int
    security_groups: list[pulumi.Output[str]]
    server_group: openstack.compute.ServerGroup | None
    public: bool  # gets a floating IP
    stateful: bool
    metadata: dict[str, str]
    # Addresses the host may answer for besides its own (the edge tier's virtual address
    # on the edge hosts): allowed address pairs of its port.
    allowed_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shared:
    """Environment-wide things every host uses."""

    keypair: openstack.compute.Keypair
    external_network: str
    image_id: pulumi.Output[str] | None  # only needed when a host boots from a volume
    dns_zone: str | None
    dns_zone_id: pulumi.Output[str] | None


def volume_type(topo: Topology, declared: str | None, stateful: bool) -> str | None:
    """The Cinder type of a data volume: the one the volume names, else the encrypted type
    for stateful hosts where the topology names one, else the default type."""
    assert topo.openstack is not None
    if declared:
        return declared
    if stateful and topo.openstack.encrypted_volume_type:
        return topo.openstack.encrypted_volume_type
    return topo.openstack.volume_type


class ServiceHost(pulumi.ComponentResource):
    port: openstack.networking.Port
    server: openstack.compute.Instance
    volumes: list[openstack.blockstorage.Volume]
    floating_ip: openstack.networking.FloatingIp | None
    address: pulumi.Output[str]
    floating_address: pulumi.Output[str | None]

    def __init__(self, topo: Topology, plan: HostPlan, tier: NetworkTier, shared: Shared,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        assert topo.openstack is not None
        h = plan.host
        super().__init__("municloud:host:ServiceHost", h.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        fixed = openstack.networking.PortFixedIpArgs(subnet_id=tier.subnet.id,
                                                     ip_address=h.address)
        self.port = openstack.networking.Port(
            f"{h.name}-{h.network}", name=f"{h.name}-{h.network}", network_id=tier.network.id,
            fixed_ips=[fixed], security_group_ids=[*plan.security_groups, tier.egress.id],
            allowed_address_pairs=[openstack.networking.PortAllowedAddressPairArgs(ip_address=a)
                                   for a in plan.allowed_addresses] or None,
            admin_state_up=True, tags=[f"municloud_host={h.name}"], opts=child)
        boot = None
        if h.boot_from_volume:
            boot = [openstack.compute.InstanceBlockDeviceArgs(
                source_type="image", uuid=shared.image_id, destination_type="volume",
                volume_size=plan.disk_gb, volume_type=topo.openstack.volume_type,
                boot_index=0, delete_on_termination=False)]
        hints = None
        if plan.server_group is not None:
            hints = [openstack.compute.InstanceSchedulerHintArgs(group=plan.server_group.id)]
        self.server = openstack.compute.Instance(
            h.name, name=h.name, flavor_name=plan.flavor, image_name=topo.openstack.image,
            key_pair=shared.keypair.name, block_devices=boot, scheduler_hints=hints,
            networks=[openstack.compute.InstanceNetworkArgs(port=self.port.id)],
            metadata=plan.metadata, user_data=user_data(topo, h), opts=child)
        self.volumes = []
        for vol in h.volumes:
            volume = openstack.blockstorage.Volume(
                f"{h.name}-{vol.name}", name=f"{h.name}-{vol.name}", size=vol.size_gb,
                volume_type=volume_type(topo, vol.type, plan.stateful),
                description=f"{vol.mount} on {h.name}",
                metadata={BACKUP_TAG: str(vol.backup).lower(), "municloud_host": h.name,
                          "municloud_mount": vol.mount, "environment": topo.environment},
                opts=child)
            openstack.compute.VolumeAttach(f"{h.name}-{vol.name}", instance_id=self.server.id,
                                           volume_id=volume.id, opts=child)
            self.volumes.append(volume)
        self.floating_ip = None
        self.floating_address = pulumi.Output.from_input(None)
        if plan.public:
            self.floating_ip = openstack.networking.FloatingIp(
                h.name, pool=shared.external_network, description=f"{h.name} public address",
                tags=[f"municloud_host={h.name}"], opts=child)
            openstack.networking.FloatingIpAssociate(
                h.name, floating_ip=self.floating_ip.address, port_id=self.port.id, opts=child)
            self.floating_address = self.floating_ip.address
        self.address = self.port.all_fixed_ips.apply(lambda ips: ips[0])
        if shared.dns_zone and shared.dns_zone_id is not None:
            openstack.dns.RecordSet(
                h.name, zone_id=shared.dns_zone_id, name=f"{h.name}.{shared.dns_zone}",
                type="A", ttl=300, records=[self.address], opts=child)
        self.register_outputs({"address": self.address, "floating_address": self.floating_address})
