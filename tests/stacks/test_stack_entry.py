"""The program's entry point: stack config, topology errors before any resource."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mock_cloud
import pytest
import yaml

from municloud.core import topology
from municloud.core.errors import InvalidInput
from municloud.core.services import load_services

STACKS = mock_cloud.STACKS


def test_project_and_stacks_point_at_valid_topologies() -> None:
    project = yaml.safe_load((STACKS / "Pulumi.yaml").read_text())
    assert project["name"] == mock_cloud.PROJECT
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == "../.venv"
    for env in ("production", "staging"):
        stack = yaml.safe_load((STACKS / f"Pulumi.{env}.yaml").read_text())
        path = (STACKS / stack["config"]["municloud:topology"]).resolve()
        assert path == topology.topology_file(env).resolve()
        topo = topology.load(env)
        assert topo.platform == "openstack" and topo.environment == env


def test_staging_runs_clean() -> None:
    from policies import check
    from pulumi_estate import estate_from_resources

    from municloud.audit.cloud_rules import RULES

    run = mock_cloud.run(topology.load("staging"))
    assert len(run.of_type("openstack:compute/instance:Instance")) == 8
    found = []
    for control, rule in RULES.items():
        check(control, rule, run.resources, lambda m, urn=None: found.append(m))
    assert found == []
    # The two edge hosts (behind the virtual address) are the one replicated service.
    assert [g.name for g in estate_from_resources(run.resources).estate.server_groups] == [
        "staging-edge"]


def test_main_exports_the_inventory() -> None:
    mocks, error = mock_cloud.run_main("staging", "../inventories/staging/topology.yml")
    assert error is None
    assert len([r for r in mocks.resources
                if r.resource_type == "openstack:compute/instance:Instance"]) == 8


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["hosts"][0].update(services=["nosuch"]), "unknown service 'nosuch'"),
    (lambda d: d["openstack"].update(image="debian-12-latest"), "is not pinned"),
    (lambda d: d["hosts"][2]["volumes"][0].pop("size_gb"), "has no size"),
])
def test_bad_topology_fails_before_any_resource(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str,
) -> None:
    data = yaml.safe_load(topology.topology_file("production").read_text())
    change(data)
    f = tmp_path / "topology.yml"
    f.write_text(yaml.safe_dump(data))
    mocks, error = mock_cloud.run_main("production", str(f))
    assert error is not None and message in str(error)
    assert str(f) in str(error)
    assert mocks.resources == []


def test_environment_must_match_the_stack() -> None:
    mocks, error = mock_cloud.run_main("production", "../inventories/staging/topology.yml")
    assert error is not None and "does not match stack 'production'" in str(error)
    assert mocks.resources == []


def test_missing_flavor_fails_before_any_resource(tmp_path: Path) -> None:
    data = yaml.safe_load(topology.topology_file("production").read_text())
    del data["sizes"]["small"]["flavor"]
    f = tmp_path / "topology.yml"
    f.write_text(yaml.safe_dump(data))
    topo = topology.load_file(f, load_services())
    with pytest.raises(InvalidInput, match=r"sizes\.small\.flavor: no Nova flavor"):
        mock_cloud.run(topo)
