"""The production topology's resource graph, registered against Pulumi mocks."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mock_cloud
import pytest

from municloud.core import inventory
from municloud.core.ports import host_rules
from municloud.core.services import Port, load_services
from municloud.core.topology import Topology

INSTANCE = "openstack:compute/instance:Instance"
PORT = "openstack:networking/port:Port"
SEC_GROUP = "openstack:networking/secGroup:SecGroup"
SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
VOLUME = "openstack:blockstorage/volume:Volume"
VOLUME_ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
FLOATING_IP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
NETWORK = "openstack:networking/network:Network"
SUBNET = "openstack:networking/subnet:Subnet"
SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"


def server(run: mock_cloud.Run, name: str) -> mock_cloud.Registered:
    return next(r for r in run.of_type(INSTANCE) if r.props["name"] == name)


def port_of(run: mock_cloud.Run, srv: mock_cloud.Registered) -> mock_cloud.Registered:
    return run.by_id()[srv.props["networks"][0]["port"]]


def ingress_of(run: mock_cloud.Run,
               srv: mock_cloud.Registered) -> set[tuple[str, int, int, str]]:
    """(proto, first, last, source) of every ingress rule with ports in the server's port's
    groups (the port-less VRRP between the edge hosts: tests/stacks/test_stack_vip.py)."""
    groups = set(port_of(run, srv).props["securityGroupIds"])
    return {(r.props["protocol"], r.props["portRangeMin"], r.props["portRangeMax"],
             r.props["remoteIpPrefix"])
            for r in run.of_type(SEC_GROUP_RULE)
            if r.props["securityGroupId"] in groups and r.props["direction"] == "ingress"
            and "portRangeMin" in r.props}


def public_hosts(topo: Topology) -> set[str]:
    """Hosts on an edge network with something that serves the internet: a floating IP
    each, except the edge hosts sharing the virtual address (the internet reaches them
    through its floating IP alone)."""
    return {h.name for h in topo.hosts if topo.network(h.network).purpose == "edge"
            and any(r.from_internet for r in host_rules(topo, h))
            and not (topo.virtual_address() and "edge" in h.services)}


def test_counts_per_type(production: Topology, production_run: mock_cloud.Run) -> None:
    counts = Counter(r.resource_type for r in production_run.resources)
    edge_hosts = public_hosts(production)
    # One port per host, and the port holding the edge tier's virtual address.
    assert counts[INSTANCE] == counts[PORT] - 1 == len(production.hosts) == 10
    assert counts[NETWORK] == counts[SUBNET] == len(production.networks)
    assert counts[VOLUME] == counts[VOLUME_ATTACH] == sum(len(h.volumes) for h in production.hosts)
    assert counts[FLOATING_IP] == counts[FLOATING_IP_ASSOCIATE] == len(edge_hosts) + 1
    assert counts[SERVER_GROUP] == 1  # edge runs on edge1 and edge2
    assert counts["openstack:networking/router:Router"] == 1
    interfaces = counts["openstack:networking/routerInterface:RouterInterface"]
    assert interfaces == len(production.networks)
    assert counts["openstack:compute/keypair:Keypair"] == 1
    assert counts["openstack:dns/recordSet:RecordSet"] == len(production.hosts)


@pytest.mark.control("CLOUD-NET-01", "CLOUD-NET-02")
def test_security_groups_equal_the_firewall_rules(production: Topology,
                                                  production_run: mock_cloud.Run) -> None:
    """Security groups and the host firewall come from one declaration: ports.host_rules."""
    for h in production.hosts:
        expected = {(r.proto, r.port, r.end, cidr) for r in host_rules(production, h)
                    for cidr in r.sources}
        assert ingress_of(production_run, server(production_run, h.name)) == expected, h.name


def test_each_server_on_its_tier_with_its_service_groups(production: Topology,
                                                         production_run: mock_cloud.Run) -> None:
    runs = production_run
    nets = {r.id: r.props["name"] for r in runs.of_type(NETWORK)}
    groups = {r.id: r.props["name"] for r in runs.of_type(SEC_GROUP)}
    for h in production.hosts:
        port = port_of(runs, server(runs, h.name))
        assert nets[port.props["networkId"]] == f"production-{h.network}"
        assert [f["ipAddress"] for f in port.props["fixedIps"]] == [h.address]
        assert {groups[g] for g in port.props["securityGroupIds"]} == {
            "production-common", f"production-{h.network}-egress",
            *(f"production-{s}" for s in h.services)}


@pytest.mark.control("CLOUD-NET-04")
def test_restricted_tier_has_no_egress_to_anywhere(production: Topology,
                                                   production_run: mock_cloud.Run) -> None:
    egress = [r for r in production_run.of_type(SEC_GROUP_RULE)
              if r.props["direction"] == "egress"]
    restricted = {r.id for r in production_run.of_type(SEC_GROUP)
                  if r.props["name"] == "production-data-egress"}
    data_targets = {r.props["remoteIpPrefix"] for r in egress
                    if r.props["securityGroupId"] in restricted}
    assert data_targets == {n.cidr for n in production.networks}
    assert all(r.props["deleteDefaultRules"] for r in production_run.of_type(SEC_GROUP))


@pytest.mark.control("CLOUD-DATA-01", "CLOUD-DATA-02")
def test_volumes_attached_to_their_servers(production: Topology,
                                           production_run: mock_cloud.Run) -> None:
    by_id = production_run.by_id()
    attached = {(by_id[a.props["instanceId"]].props["name"],
                 by_id[a.props["volumeId"]].props["name"])
                for a in production_run.of_type(VOLUME_ATTACH)}
    assert attached == {(h.name, f"{h.name}-{v.name}") for h in production.hosts for v in h.volumes}
    vols = {v.props["name"]: v.props for v in production_run.of_type(VOLUME)}
    for h in production.hosts:
        for v in h.volumes:
            props = vols[f"{h.name}-{v.name}"]
            assert props["size"] == v.size_gb
            assert props["metadata"]["municloud_backup"] == str(v.backup).lower()
    assert vols["db1-mysql"]["volumeType"] == "ceph-ssd-luks"  # stateful: encrypted type
    assert vols["backup1-borg"]["volumeType"] == "ceph-ssd"  # backup_server is not stateful


@pytest.mark.control("CLOUD-NET-03")
def test_floating_ips_only_on_edge_hosts(production: Topology,
                                         production_run: mock_cloud.Run) -> None:
    by_id = production_run.by_id()
    fips = {f.props["address"]: f for f in production_run.of_type(FLOATING_IP)}
    ports = {fips[a.props["floatingIp"]].name: by_id[a.props["portId"]]
             for a in production_run.of_type(FLOATING_IP_ASSOCIATE)}
    owners = {p.props["name"].split("-")[0] for p in ports.values()
              if p.props["name"] != "production-edge-vip"}
    assert owners == public_hosts(production)
    assert "meet1" in owners  # coturn (Debian, running) answers the internet
    # The published names' floating IP is on the port of the edge's virtual address.
    assert "production-edge-vip" in {p.props["name"] for p in ports.values()}


@pytest.mark.control("CLOUD-META-01", "CLOUD-IMG-01", "CLOUD-HA-01")
def test_servers_metadata_image_flavor_and_groups(production: Topology,
                                                  production_run: mock_cloud.Run) -> None:
    groups = {g.id: g.props for g in production_run.of_type(SERVER_GROUP)}
    assert production.openstack is not None
    for h in production.hosts:
        p = server(production_run, h.name).props
        assert p["metadata"] == {"municloud_services": ",".join(h.services),
                                 "environment": "production",
                                 "owner": "Municipality of Heraklion"}
        assert p["imageName"] == production.openstack.image
        assert p["flavorName"] == production.sizes[h.size].flavor
        assert p["keyPair"] == production.openstack.keypair
        assert "ssh-ed25519" in p["userData"] and "sysadmin" in p["userData"]
        hints = [groups[s["group"]] for s in p.get("schedulerHints") or []]
        replicated = len(production.hosts_running(h.services[0])) > 1
        assert [g["policies"] for g in hints] == (["anti-affinity"] if replicated else [])
        assert bool(p.get("blockDevices")) == h.boot_from_volume


def test_inventory_output_is_what_the_topology_implies(production: Topology,
                                                       production_run: mock_cloud.Run) -> None:
    out = copy.deepcopy(production_run.outputs["inventory"])
    inventory.check_outputs(production, out, "stack output")
    floating = {f.props["address"] for f in production_run.of_type(FLOATING_IP)}
    expected = inventory.outputs_from_topology(production)
    for name, entry in out["hosts"].items():
        fip = entry.pop("floating_address")
        assert (fip in floating) if name in public_hosts(production) else fip is None, name
        expected["hosts"][name].pop("floating_address")
    vip = out.pop("virtual_address")
    assert vip["address"] == production.virtual_address() and vip["floating_address"] in floating
    assert out == expected


# Changing the topology or a declaration changes the graph -------------------------------

def test_added_host_and_volume_appear(
    variant: Callable[[Callable[[dict[str, Any]], None]], Topology],
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["hosts"].append({"name": "files2", "services": ["files"], "size": "large",
                           "network": "services", "address": "10.20.20.32",
                           "volumes": [{"name": "ocis", "size_gb": 50, "mount": "/srv/ocis"}]})
    topo = variant(change)
    run = mock_cloud.run(topo)
    assert len(run.of_type(INSTANCE)) == 11
    assert "files2-ocis" in {v.props["name"] for v in run.of_type(VOLUME)}
    assert {g.props["name"] for g in run.of_type(SERVER_GROUP)} == {
        "production-edge", "production-files"}
    assert ingress_of(run, server(run, "files2")) == {
        (r.proto, r.port, r.end, c) for r in host_rules(topo, topo.host("files2"))
        for c in r.sources}


def test_declared_port_reaches_the_security_group(production: Topology,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import municloud.core.services as services

    real = load_services()
    mail = real["mail"]
    extra = Port.model_validate({"port": 4190, "proto": "tcp", "from": ["services"],
                                 "purpose": "managesieve"})
    changed = dict(real, mail=mail.model_copy(update={"ports": [*mail.ports, extra]}))
    monkeypatch.setattr(services, "load_services", lambda *a, **k: changed)
    run = mock_cloud.run(production)
    assert ("tcp", 4190, 4190, "10.20.20.0/24") in ingress_of(run, server(run, "mail1"))
    assert ingress_of(run, server(run, "mail1")) == {
        (r.proto, r.port, r.end, c) for r in host_rules(production, production.host("mail1"))
        for c in r.sources}


def test_inventory_output_feeds_municloud_inventory_from_stack(production: Topology,
                                                               production_run: mock_cloud.Run,
                                                               tmp_path: Path) -> None:
    import json

    from municloud.core.inventory import stack_outputs

    saved = tmp_path / "outputs.json"  # what `pulumi stack output --json` prints
    saved.write_text(json.dumps(production_run.outputs))
    outputs = stack_outputs(str(saved), "production")
    assert outputs == production_run.outputs["inventory"]
    built = inventory.build(production, outputs)
    # The edge hosts face the internet through the virtual address; mail keeps its own.
    assert built["all"]["hosts"]["edge1"]["municloud_floating_address"] is None
    assert built["all"]["hosts"]["mail1"]["municloud_floating_address"] is not None
    assert built["all"]["vars"]["municloud_virtual_address"] == "10.20.10.10"
    assert built["all"]["vars"]["municloud_virtual_floating_address"] is not None
    assert built["all"]["hosts"]["db1"]["ansible_host"] == "10.20.30.21"


# Declared but not deployed opens nothing ---------------------------------------------------

MEET_PORTS = {("udp", 10000), ("udp", 3478), ("tcp", 5349)}


def _opened(run: mock_cloud.Run, host: str) -> set[tuple[str, int]]:
    return {(proto, first) for proto, first, _, _ in ingress_of(run, server(run, host))}


@pytest.mark.control("CLOUD-NET-01")
def test_meet_opens_its_debian_parts_but_not_the_undeployed_videobridge(
    production: Topology, production_run: mock_cloud.Run,
) -> None:
    assert load_services()["meet"].implemented
    opened = _opened(production_run, "meet1")
    assert ("udp", 10000) not in opened  # jitsi-videobridge2: no artifact pinned
    assert {("tcp", 22), ("udp", 3478), ("tcp", 5349)} <= opened  # sshd, coturn


@pytest.mark.control("CLOUD-NET-01")
def test_vendor_port_opens_only_when_its_component_can_be_deployed(
    production: Topology, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """meet implemented: the Debian parts' ports open (coturn), the videobridge's only once
    the manifest lets hosts obtain jitsi-videobridge2."""
    import municloud.core.services as services
    from municloud.core import deployable

    real = load_services()
    ports = [Port.model_validate(p) for p in (
        {"port": 3478, "proto": "udp", "from": ["internet"], "purpose": "turn"},
        {"port": 5349, "proto": "tcp", "from": ["internet"], "purpose": "turns"},
        {"port": 10000, "proto": "udp", "from": ["internet"], "purpose": "jvb-media",
         "component": "jitsi-videobridge2"})]
    meet = real["meet"].model_copy(update={"implemented": True, "ports": ports})
    monkeypatch.setattr(services, "load_services", lambda *a, **k: dict(real, meet=meet))
    assert "jitsi-videobridge2" not in deployable.deployable_components("production")
    run = mock_cloud.run(production)
    assert _opened(run, "meet1") == {("tcp", 22), ("udp", 3478), ("tcp", 5349)}

    monkeypatch.setattr(deployable, "deployable_components",
                        lambda env: frozenset({"jitsi", "jitsi-videobridge2"}))
    run = mock_cloud.run(production)
    assert _opened(run, "meet1") == {("tcp", 22), *MEET_PORTS}
