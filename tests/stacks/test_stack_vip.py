"""The edge tier's virtual address in the Pulumi program (issue 15): a port holding it, the
public floating IP on that port, the address in the allowed-address-pairs of both edge
ports, VRRP admitted between the edge hosts only; and the policy rule CLOUD-HA-02 on the
planned estate, passing and failing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mock_cloud
import pytest
from pulumi_estate import estate_from_resources

from municloud.audit.cloud_rules import RULES, expectations
from municloud.core.topology import Topology

PORT = "openstack:networking/port:Port"
SEC_GROUP = "openstack:networking/secGroup:SecGroup"
SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
FLOATING_IP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"


def ports(run: mock_cloud.Run) -> dict[str, dict[str, Any]]:
    return {p.props["name"]: p.props for p in run.of_type(PORT)}


def pairs(props: dict[str, Any]) -> list[str]:
    return [a["ipAddress"] for a in props.get("allowedAddressPairs") or []]


@pytest.mark.control("EDGE-HA-01")
def test_the_vip_port_holds_the_address_and_the_floating_ip(
        production: Topology, production_run: mock_cloud.Run) -> None:
    vip = production.virtual_address()
    assert vip == "10.20.10.10"
    by_name = ports(production_run)
    held = by_name["production-edge-vip"]
    assert [f["ipAddress"] for f in held["fixedIps"]] == [vip]
    assert "deviceId" not in held or not held["deviceId"]  # no server uses it
    by_id = production_run.by_id()
    bound = [a for a in production_run.of_type(FLOATING_IP_ASSOCIATE)
             if by_id[a.props["portId"]].props["name"] == "production-edge-vip"]
    assert len(bound) == 1 and bound[0].props["fixedIp"] == vip
    # Both edge ports may answer for it; no other port may.
    carrying = sorted(n for n, p in by_name.items() if vip in pairs(p))
    assert carrying == ["edge1-edge", "edge2-edge"]


@pytest.mark.control("EDGE-HA-01")
def test_vrrp_is_admitted_from_the_edge_group_only(production_run: mock_cloud.Run) -> None:
    groups = {g.id: g.props["name"] for g in production_run.of_type(SEC_GROUP)}
    vrrp = [r.props for r in production_run.of_type(SEC_GROUP_RULE)
            if r.props.get("protocol") in ("vrrp", "112")]
    assert vrrp, "no security group rule admits VRRP"
    for r in vrrp:
        assert r["direction"] == "ingress"
        assert groups[r["securityGroupId"]] == "production-edge"
        assert groups[r["remoteGroupId"]] == "production-edge"  # the other edge hosts
        assert not r.get("remoteIpPrefix")


@pytest.mark.control("CLOUD-HA-02")
def test_published_services_have_two_backends(production: Topology,
                                              production_run: mock_cloud.Run) -> None:
    estate = estate_from_resources(production_run.resources).estate
    assert RULES["CLOUD-HA-02"](estate, expectations(production)) == []


@pytest.mark.control("CLOUD-HA-02")
def test_one_edge_backend_is_a_finding(
        production: Topology,
        variant: Callable[[Callable[[dict[str, Any]], None]], Topology]) -> None:
    def one_edge(d: dict[str, Any]) -> None:  # edge2 becomes a second mail host
        next(h for h in d["hosts"] if h["name"] == "edge2")["services"] = ["files"]
        d["networks"][0].pop("virtual_address")
    single = variant(one_edge)
    found = RULES["CLOUD-HA-02"](estate_from_resources(mock_cloud.run(single).resources).estate,
                                 expectations(single))
    assert [(f.kind, f.name) for f in found] == [("topology", "production")]
    assert "single point of failure" in found[0].message
    # The production topology against a plan that lost edge2's allowed address pair:
    # every published service is named.
    run = mock_cloud.run(production)
    estate = estate_from_resources(run.resources).estate
    from dataclasses import replace
    lost = replace(estate, ports=tuple(
        replace(p, allowed_addresses=()) if p.server == "edge2" else p for p in estate.ports))
    found = RULES["CLOUD-HA-02"](lost, expectations(production))
    assert sorted(f.name for f in found) == sorted(expectations(production).published)
    assert all("1 backend(s) (edge1)" in f.message for f in found)
    # ... and one whose floating IP is not on the VIP port.
    unbound = replace(estate, floating_ips=tuple(
        replace(f, port=None) if f.port == "production-edge-vip" else f
        for f in estate.floating_ips))
    found = RULES["CLOUD-HA-02"](unbound, expectations(production))
    assert [(f.kind, f.name) for f in found] == [("port", "production-edge-vip")]
