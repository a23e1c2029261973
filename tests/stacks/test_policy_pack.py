"""The whole policy pack against the resources the mocked program registered."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import mock_cloud
import pytest
import yaml
from policies import policies  # plain module: building policies starts no gRPC server
from pulumi_policy import StackValidationArgs, StackValidationPolicy

from municloud.core import topology
from municloud.core.services import load_services


def run_pack(resources: list[mock_cloud.Registered]) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    # What the engine passes; the mocks' resources offer what PolicyResource does.
    args = cast(StackValidationArgs,
                SimpleNamespace(resources=resources, stack_tags={}, get_config=dict))
    for policy in policies():
        def report(message: str, urn: str | None = None,
                   _p: StackValidationPolicy = policy) -> None:
            found.append((_p.name, message, urn))
        policy.validate(args, report)
    return found


@pytest.mark.control("CLOUD-NET-01", "CLOUD-NET-02", "CLOUD-NET-03", "CLOUD-NET-04",
                     "CLOUD-DATA-01", "CLOUD-DATA-02", "CLOUD-META-01", "CLOUD-HA-01",
                     "CLOUD-HA-02", "CLOUD-IMG-01")
def test_production_passes_the_pack(production_run: mock_cloud.Run) -> None:
    assert len(policies()) == 10
    assert run_pack(production_run.resources) == []


@pytest.mark.control("CLOUD-NET-01", "CLOUD-DATA-01", "CLOUD-DATA-02")
def test_bad_topology_gives_exactly_the_expected_violations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = yaml.safe_load(topology.topology_file("production").read_text())
    for h in data["hosts"]:
        if h["name"] == "mail1":  # SMTP/IMAP from the internet, but on the services tier
            h.update(network="services", address="10.20.20.99")
        if h["name"] == "db1":  # a stateful volume on the unencrypted type
            h["volumes"][0]["type"] = "ceph-ssd"
        if h["name"] == "dir1":  # a stateful volume left out of the backup
            h["volumes"][0]["backup"] = False
    f = tmp_path / "topology.yml"
    f.write_text(yaml.safe_dump(data))
    topo = topology.load_file(f, load_services())  # valid for the topology checker
    monkeypatch.setenv("MUNICLOUD_TOPOLOGY", str(f))
    found = run_pack(mock_cloud.run(topo).resources)
    # mail's 25, 587, 993 from 0.0.0.0/0 and ::/0 on a non-edge host: 6 rules
    assert Counter(name for name, _, _ in found) == {
        "cloud-net-01": 6, "cloud-data-01": 1, "cloud-data-02": 1}
    assert all("mail1" in m for n, m, _ in found if n == "cloud-net-01")
    assert any("dir1-ldap" in m for n, m, _ in found if n == "cloud-data-01")
    assert any("db1-mysql" in m for n, m, _ in found if n == "cloud-data-02")
    assert all(urn and urn.startswith("urn:pulumi:production::municloud::") for *_, urn in found)
