"""The inventory: one builder for the lab and production, read through the Ansible plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from municloud.core import inventory, paths, ports, topology
from municloud.core.errors import UserError


@pytest.mark.control("BASE-TOPO-01")
@pytest.mark.parametrize("env", ["lab", "production"])
def test_a_group_per_service_and_addresses(env: str) -> None:
    topo = topology.load(env)
    inv = inventory.build(topo)
    groups = inv["all"]["children"]
    for h in topo.hosts:
        hv = inv["all"]["hosts"][h.name]
        assert hv["ansible_host"] == h.address
        assert hv["municloud_services"] == h.services
        for svc in h.services:
            assert h.name in groups[svc]["hosts"]
        assert hv["municloud_firewall_rules"] == [r.as_dict() for r in ports.host_rules(topo, h)]
    assert set(groups) == set(topo.services())


@pytest.mark.control("SSO-MGR-01")
@pytest.mark.parametrize("env", ["lab", "production"])
def test_the_identity_hosts_certificate_carries_the_managers_name(env: str) -> None:
    topo = topology.load(env)
    hosts = inventory.build(topo)["all"]["hosts"]
    for name, hv in hosts.items():
        if "identity" in hv["municloud_services"]:
            manager = hv["municloud_identity"]["manager"]["name"]
            assert manager == f"manager.{hv['municloud_identity']['public_name']}"
            assert hv["municloud_tls_names"] == [manager], name
        else:
            assert hv["municloud_tls_names"] == [], name


@pytest.mark.control("BASE-TOPO-01")
def test_firewall_rules_follow_the_declarations() -> None:
    topo = topology.load("lab")
    rules = {(r.service, r.port): r for r in ports.host_rules(topo, topo.host("mail1"))}
    assert rules[("mail", 25)].sources == ports.ANYWHERE
    assert rules[("mail", 587)].sources == ("0.0.0.0/0", "::/0", "10.70.2.0/24")
    assert rules[("common", 22)].sources == ("10.70.4.0/24",)
    assert ("directory", 389) not in rules
    db = {(r.service, r.port): r for r in ports.host_rules(topo, topo.host("db1"))}
    assert db[("db", 3306)].sources == ("10.70.2.0/24",)


@pytest.mark.control("BASE-TOPO-01")
def test_outputs_must_match_the_topology() -> None:
    topo = topology.load("production")
    outputs = inventory.outputs_from_topology(topo)
    del outputs["hosts"]["db1"]
    with pytest.raises(UserError, match="missing: db1"):
        inventory.build(topo, outputs)
    outputs = inventory.outputs_from_topology(topo)
    outputs["hosts"]["edge1"]["floating_address"] = "203.0.113.10"
    outputs["hosts"]["edge1"]["address"] = "10.20.10.99"
    inv = inventory.build(topo, outputs)
    assert inv["all"]["hosts"]["edge1"]["ansible_host"] == "10.20.10.99"
    assert inv["all"]["hosts"]["edge1"]["municloud_floating_address"] == "203.0.113.10"


def _plain(value: Any) -> Any:
    """Drop ansible-inventory's `{"__ansible_unsafe": ...}` wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.control("BASE-TOPO-01")
def test_ansible_reads_the_same_inventory(tmp_path: Path) -> None:
    """ansible-inventory, through the plugin, yields the builder's hosts, groups and vars."""
    env = dict(__import__("os").environ, MUNICLOUD_STATE=str(tmp_path),
               ANSIBLE_CONFIG=str(paths.REPO / "ansible.cfg"))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i",
                           "inventories/production/municloud.yml", "--list"],
                          cwd=paths.REPO, env=env, capture_output=True, text=True, check=True)
    listed = _plain(json.loads(proc.stdout))
    built = inventory.build(topology.load("production"))
    assert set(listed["_meta"]["hostvars"]) == set(built["all"]["hosts"])
    for svc, spec in built["all"]["children"].items():
        assert sorted(listed[svc]["hosts"]) == sorted(spec["hosts"])
    edge1 = listed["_meta"]["hostvars"]["edge1"]
    assert edge1["municloud_firewall_rules"] == built["all"]["hosts"]["edge1"][
        "municloud_firewall_rules"]
    assert edge1["municloud_domain"] == "heraklion.gr"
