"""The edge tier's virtual address without hosts (issue 15): VRRP admitted from the peers
only, exported to the firewall and keepalived; the lab's DNS answering the public names
with the virtual address; a declaration naming an unknown protocol refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from pydantic import ValidationError

from municloud.core import inventory, paths, ports, topology
from municloud.lab import daemons

from .declarations import service

pytestmark = pytest.mark.control("EDGE-HA-01")


@pytest.fixture(scope="module")
def lab() -> topology.Topology:
    return topology.load("lab")


def _without_vip(topo: topology.Topology) -> topology.Topology:
    nets = [n.model_copy(update={"virtual_address": None}) for n in topo.networks]
    return topo.model_copy(update={"networks": nets})


def test_vrrp_only_between_the_edge_hosts(lab: topology.Topology) -> None:
    rules = {h.name: ports.protocol_rules(lab, h) for h in lab.hosts}
    assert [(r.protocol, r.number, r.peers) for r in rules["edge1"]] == [
        ("vrrp", 112, ("10.70.1.12",))]
    assert [r.peers for r in rules["edge2"]] == [("10.70.1.11",)]
    # mail1 and meet1 share the edge network, but not the service: nothing for them.
    assert {h for h, r in rules.items() if r} == {"edge1", "edge2"}
    # Platform addresses win over the topology's.
    moved = ports.protocol_rules(lab, lab.host("edge1"), {"edge2": "10.70.1.99"})
    assert moved[0].peers == ("10.70.1.99",)


def test_no_virtual_address_no_vrrp(lab: topology.Topology) -> None:
    bare = _without_vip(lab)
    assert bare.virtual_address() is None
    assert all(ports.protocol_rules(bare, h) == [] for h in bare.hosts)


def test_the_inventory_hands_out_the_address_and_the_rules(lab: topology.Topology) -> None:
    inv = inventory.build(lab)
    assert inv["all"]["vars"]["municloud_virtual_address"] == "10.70.1.10"
    assert inv["all"]["vars"]["municloud_virtual_floating_address"] is None
    edge1 = inv["all"]["hosts"]["edge1"]
    assert edge1["municloud_firewall_protocols"] == [
        {"service": "edge", "purpose": "vrrp", "protocol": "vrrp", "number": 112,
         "peers": ["10.70.1.12"]}]
    assert "keepalived.service" in edge1["municloud_units"]
    assert inv["all"]["hosts"]["db1"]["municloud_firewall_protocols"] == []


def test_the_firewall_admits_vrrp_from_the_peer_only(lab: topology.Topology) -> None:
    """The nftables template renders the rule, and `nft -c` accepts the file."""
    inv = inventory.build(lab)
    host = inv["all"]["hosts"]["edge1"]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(paths.ROLES / "common/templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.tests["search"] = lambda value, pattern: pattern in value
    text = env.get_template("nftables.conf.j2").render(
        ansible_managed="test", inventory_hostname="edge1", common_firewall_table="municloud",
        common_firewall_extra_rules=[], common_firewall_log_drops=False, **host)
    rule = [line.strip() for line in text.splitlines() if "ip protocol" in line]
    assert rule == ['ip saddr { 10.70.1.12 } ip protocol 112 accept comment "edge: vrrp"']
    nft = shutil.which("nft")
    if nft is None:
        pytest.skip("nft is not installed here")
    check = subprocess.run([nft, "-c", "-f", "-"], input=text, capture_output=True,
                           text=True, check=False)
    if "Operation not permitted" in check.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert check.returncode == 0, check.stderr


def test_lab_dns_answers_the_public_names_with_the_virtual_address(
        lab: topology.Topology) -> None:
    records = daemons.hosts_file(lab).splitlines()
    for name in lab.public_names.values():
        assert [r.split()[0] for r in records if r.split()[1:] == [name]] == ["10.70.1.10"]
    # The hosts keep their own names.
    assert "10.70.1.11 edge1.heraklion.gr edge1" in records
    bare = daemons.hosts_file(_without_vip(lab)).splitlines()
    assert sorted(r.split()[0] for r in bare if r.endswith(" webmail.heraklion.gr")) == [
        "10.70.1.11", "10.70.1.12"]


def test_changed_records_reach_a_running_dnsmasq(lab: topology.Topology, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(daemons, "running_pid",
                        lambda run_dir, d: 4242 if d.name == "dnsmasq" else None)
    monkeypatch.setattr(os, "kill", lambda pid, sig: signalled.append((pid, sig)))
    assert daemons.write_hosts_file(lab, tmp_path, tmp_path) is True
    assert (tmp_path / "dnsmasq" / "hosts").read_text() == daemons.hosts_file(lab)
    assert signalled == [(4242, signal.SIGHUP)]
    assert daemons.write_hosts_file(lab, tmp_path, tmp_path) is False  # unchanged: no signal
    assert len(signalled) == 1


@pytest.mark.parametrize(("decl", "words"), [
    ({"protocol": "gre", "from": ["peers"], "purpose": "x"}, "protocol"),
    ({"protocol": "vrrp", "from": ["internet"], "purpose": "x"}, "from"),
    ({"protocol": "vrrp", "from": [], "purpose": "x"}, "from"),
])
def test_a_bad_protocol_declaration_is_refused(decl: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        service("thing", protocols=[decl])
    assert words in str(err.value)


def test_the_edge_declares_vrrp_from_its_peers() -> None:
    data = yaml.safe_load((paths.ROLES / "edge/meta/service.yml").read_text())
    assert data["protocols"] == [{"protocol": "vrrp", "from": ["peers"], "purpose": "vrrp"}]
