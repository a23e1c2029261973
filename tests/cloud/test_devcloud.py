"""The cloud tooling against devcloud's real OpenStack APIs (no mocks): preflight, the live
audit on a compliant and a non-compliant estate, the dynamic inventory, the smoke playbook.
Tests run in file order: the estate is built once, checked, then broken on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud import cli
from municloud.audit.cloud import audit
from municloud.core import inventory, paths, topology
from municloud.core.preflight import preflight

from . import estate_builder

pytestmark = pytest.mark.devcloud
ENV = "staging"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def topo() -> topology.Topology:
    return topology.load(ENV)


@pytest.fixture(scope="module")
def servers(conn: Any, topo: topology.Topology) -> Any:
    estate_builder.destroy(conn)
    built = estate_builder.build(conn, topo)
    yield built
    estate_builder.destroy(conn)


def test_preflight_passes_then_fails_when_quota_is_lowered(
    conn: Any, admin: Any, topo: topology.Topology, capsys: pytest.CaptureFixture[str],
) -> None:
    checks = preflight(conn, topo)
    assert [c for c in checks if not c.ok] == []
    assert cli.main(["preflight", ENV, "--cloud", "devcloud"]) == 0
    project = admin.identity.find_project("municloud", domain_id="default")
    before = admin.get_compute_quotas(project.id)
    admin.set_compute_quotas(project.id, instances=len(topo.hosts) - 1)
    try:
        failed = [c.name for c in preflight(conn, topo) if not c.ok]
        assert failed == ["quota instances"]
        capsys.readouterr()
        assert cli.main(["preflight", ENV, "--cloud", "devcloud"]) == 1
        assert "quota instances" in capsys.readouterr().out
    finally:
        admin.set_compute_quotas(project.id, instances=before.instances)


@pytest.mark.control("CLOUD-NET-01", "CLOUD-NET-02", "CLOUD-NET-03", "CLOUD-NET-04",
                     "CLOUD-DATA-01", "CLOUD-DATA-02", "CLOUD-META-01", "CLOUD-HA-01",
                     "CLOUD-IMG-01", "CLOUD-DRIFT-01", "CLOUD-DRIFT-02", "CLOUD-DRIFT-03")
def test_compliant_estate_has_no_findings(servers: Any, topo: topology.Topology) -> None:
    report = audit("devcloud", ENV)
    assert report.servers == len(topo.hosts)
    assert [str(f) for f in report.findings] == []


def _safe(d: dict[str, Any]) -> Any:
    """ansible-inventory marks values from the cloud as unsafe: {"__ansible_unsafe": v}."""
    return d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d


def test_dynamic_inventory_groups_match_metadata(servers: Any, topo: topology.Topology,
                                                 tmp_path: Path) -> None:
    source = yaml.safe_load((paths.INVENTORIES / ENV / "openstack.yml").read_text())
    source["only_clouds"] = ["devcloud"]
    (tmp_path / "openstack.yml").write_text(yaml.safe_dump(source))
    out = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(tmp_path / "openstack.yml"),
                          "--list"], capture_output=True, text=True, check=True,
                         cwd=paths.REPO, env={**os.environ}).stdout
    live = json.loads(out, object_hook=_safe)
    expected = inventory.build(topo)["all"]
    groups = {g: set(v["hosts"]) for g, v in expected["children"].items()}
    assert {g: set(live[g]["hosts"]) for g in groups if g in live} == groups
    hostvars = live["_meta"]["hostvars"]
    for name, want in expected["hosts"].items():
        assert hostvars[name]["municloud_services"] == want["municloud_services"]
        assert hostvars[name]["ansible_host"] == want["ansible_host"]


@pytest.mark.control("CLOUD-NET-01", "CLOUD-NET-02", "CLOUD-NET-03", "CLOUD-META-01",
                     "CLOUD-DRIFT-03")
def test_noncompliant_estate_reports_exactly_the_violations(
    conn: Any, servers: Any, topo: topology.Topology, capsys: pytest.CaptureFixture[str],
) -> None:
    assert topo.openstack is not None
    env = topo.environment
    edge = conn.network.find_security_group(f"{env}-edge")
    conn.network.create_security_group_rule(  # SSH open to the world
        security_group_id=edge.id, direction="ingress", ether_type="IPv4", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0")
    db_port = next(conn.network.ports(device_id=servers["db1"].id))
    external = conn.network.find_network(topo.openstack.external_network)
    fip = conn.network.create_ip(floating_network_id=external.id, port_id=db_port.id)
    conn.compute.delete_server_metadata(  # a server without metadata
        servers["webmail1"], ["municloud_services", "environment", "owner"])
    idp = conn.network.find_security_group(f"{env}-identity")
    conn.network.create_security_group_rule(  # a port nobody declared
        security_group_id=idp.id, direction="ingress", ether_type="IPv4", protocol="tcp",
        port_range_min=8080, port_range_max=8080, remote_ip_prefix=topo.network("edge").cidr)

    found = {(f.control, f.kind, f.name) for f in audit("devcloud", ENV).findings}
    edge_hosts = [h.name for h in topo.hosts_running("edge")]  # all carry the edge group
    assert len(edge_hosts) == 2
    assert found == {
        *((control, "server", h) for h in edge_hosts
          for control in ("CLOUD-NET-01", "CLOUD-NET-02", "CLOUD-DRIFT-03")),
        ("CLOUD-NET-03", "floating_ip", fip.floating_ip_address),
        ("CLOUD-META-01", "server", "webmail1"),
        ("CLOUD-DRIFT-03", "server", "idp1"),
    }
    capsys.readouterr()
    assert cli.main(["audit", "cloud", "--cloud", "devcloud", "--env", ENV, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {(f["control"], f["kind"], f["name"]) for f in report["findings"]} == found


def test_wrong_password_is_one_clear_line(devcloud: str, tmp_path: Path) -> None:
    clouds = yaml.safe_load(Path(os.environ["OS_CLIENT_CONFIG_FILE"]).read_text())
    clouds["clouds"]["devcloud"]["auth"]["password"] = "not-the-password"
    f = tmp_path / "clouds.yaml"
    f.write_text(yaml.safe_dump(clouds))
    r = subprocess.run([str(BIN / "municloud"), "audit", "cloud", "--cloud", "devcloud",
                        "--env", ENV], capture_output=True, text=True,
                       env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(f)})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "municloud: error: cloud 'devcloud': authentication refused by "
        "http://127.0.0.1:5000/v3 (wrong user name, password or project in clouds.yaml)"]


def test_smoke_playbook_passes(devcloud: str) -> None:
    r = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/cloud-smoke.yml",
                        "-e", "smoke_cloud=devcloud"], cwd=paths.REPO, capture_output=True,
                       text=True, env={**os.environ})
    assert r.returncode == 0, r.stdout[-3000:]
    assert "failed=0" in r.stdout
