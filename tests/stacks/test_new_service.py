"""Acceptance of issue 12: a new service costs its folder. A throwaway service declared
here (a port, a backup path, a database need, a publish) plus its topology line and
public name gets, with no other edit: its firewall rule, its security-group rule (the
Pulumi graph under mocks), its database and user (the db role's own templates rendered by
Ansible), its backup set, its edge site and its place in the converge order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mock_cloud
import pytest

from municloud.core import inventory, order, paths, services, topology

pytestmark = pytest.mark.control("BASE-TOPO-01")

THING = {
    "name": "thing",
    "summary": "A throwaway service of the acceptance test",
    "role": "thing",
    "requires": ["edge"],
    "ports": [{"port": 8765, "proto": "tcp", "from": ["edge"], "purpose": "https-upstream"}],
    "publish": {"upstream_port": 8765},
    "paths": {"data": "/srv/thing"},
    "backup": {"paths": ["/srv/thing"]},
    "needs": {"database": {"name": "thingdb"}},
}
HOST = {"name": "thing1", "services": ["thing"], "size": "small", "network": "services",
        "address": "10.20.20.77"}


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, services.Service]]:
    """Every real declaration plus `thing`, as if roles/thing/meta/service.yml existed:
    each module reading the declarations gets them (no file of the repository changes)."""
    loader = services.load_services
    real = loader()
    with_thing = {**real, "thing": services.Service.model_validate(THING)}

    def load(roles_dir: Path = paths.ROLES) -> dict[str, services.Service]:
        return with_thing

    for module in list(sys.modules.values()):
        if getattr(module, "load_services", None) is loader:
            monkeypatch.setattr(module, "load_services", load)
    yield with_thing


@pytest.fixture
def topo(declared: dict[str, services.Service],
         variant: Callable[[Callable[[dict[str, Any]], None]], topology.Topology]
         ) -> topology.Topology:
    def change(d: dict[str, Any]) -> None:
        d["hosts"].append(dict(HOST))  # the topology line
        d["public_names"]["thing"] = f"thing.{d['municipality']['domain']}"
    return variant(change)


def _cidr(topo: topology.Topology, purpose: str) -> str:
    return topo.networks_with_purpose(purpose)[0].cidr


def test_firewall_backup_set_edge_site_and_consumers(topo: topology.Topology) -> None:
    inv = inventory.build(topo)
    hv = inv["all"]["hosts"]["thing1"]
    assert {"service": "thing", "purpose": "https-upstream", "proto": "tcp", "port": 8765,
            "end": 8765, "sources": [_cidr(topo, "edge")], "from_internet": False} \
        in hv["municloud_firewall_rules"]
    assert hv["municloud_backup_set"]["paths"] == ["/srv/thing"]
    assert [s["name"] for s in hv["municloud_backup_set"]["services"]] == ["thing"]
    v = inv["all"]["vars"]
    site = next(s for s in v["municloud_published_sites"] if s["service"] == "thing")
    assert site["name"] == "thing.heraklion.gr" and site["upstream_port"] == 8765
    assert site["upstreams"][0]["address"] == HOST["address"]
    assert {"service": "thing", "hosts": [HOST["address"]], "name": "thingdb"} in \
        v["municloud_consumers"]["database"]
    assert v["municloud_declarations"]["thing"]["paths"] == {"data": "/srv/thing"}
    assert "thing" in inv["all"]["children"]


def test_security_group_rule_in_the_pulumi_graph(topo: topology.Topology) -> None:
    run = mock_cloud.run(topo)
    groups = {r.id: r.props["name"] for r in run.of_type(
        "openstack:networking/secGroup:SecGroup")}
    rules = {(groups[r.props["securityGroupId"]], r.props["portRangeMin"],
              r.props["remoteIpPrefix"])
             for r in run.of_type("openstack:networking/secGroupRule:SecGroupRule")
             if r.props["direction"] == "ingress" and "portRangeMin" in r.props}
    assert ("production-thing", 8765, _cidr(topo, "edge")) in rules
    # The database's port now opens to the tier of its new consumer too (it was there).
    assert ("production-db", 3306, _cidr(topo, "services")) in rules
    servers = [r for r in run.of_type("openstack:compute/instance:Instance")
               if r.props["name"] == "thing1"]
    assert len(servers) == 1


def test_database_and_user_rendered_by_the_db_role(topo: topology.Topology,
                                                   tmp_path: Path) -> None:
    """The db role's own defaults and vars, rendered by Ansible against the inventory."""
    inv = inventory.build(topo)
    facts = {**inv["all"]["vars"], **inv["all"]["hosts"]["db1"]}
    (tmp_path / "vars.json").write_text(json.dumps(facts))
    (tmp_path / "render.yml").write_text(f"""
- name: Render the db role's accounts
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Load the role's defaults and vars
      ansible.builtin.include_vars: "{{{{ item }}}}"
      loop: ["{paths.ROLES}/db/defaults/main.yml", "{paths.ROLES}/db/vars/main.yml"]
    - name: Write what the role would create
      ansible.builtin.copy:
        dest: "{tmp_path}/out.json"
        content: "{{{{ {{'databases': db_databases, 'accounts': __db_accounts}} | to_json }}}}"
        mode: "0600"
""")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "render.yml")],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_STRATEGY": "linear",
             "ANSIBLE_LOCALHOST_WARNING": "false", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert {"name": "thingdb", "user": "thingdb", "from_service": "thing"} in out["databases"]
    assert {"db": "thingdb", "user": "thingdb", "service": "thing",
            "host": HOST["address"]} in out["accounts"]


def test_place_in_the_converge_order(declared: dict[str, services.Service]) -> None:
    placed = [s.name for s in order.converge_order(declared)]
    assert placed.index("edge") < placed.index("thing")  # requires
    assert placed.index("db") < placed.index("thing")  # needs a database
    assert placed.index("thing") < placed.index("backup_server")  # backed up after
    plays = order.site_plays(declared)
    assert {"name": "Service thing: A throwaway service of the acceptance test",
            "hosts": "thing", "gather_facts": True, "roles": [{"role": "thing"}]} in plays
