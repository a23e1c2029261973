"""Fixtures for the Pulumi program tests. The mocks live in mock_cloud.py (a plain module)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from municloud.core import topology
from municloud.core.services import load_services

if TYPE_CHECKING:
    import mock_cloud


@pytest.fixture(scope="session")
def production() -> topology.Topology:
    return topology.load("production")


@pytest.fixture(scope="session")
def production_run(production: topology.Topology) -> mock_cloud.Run:
    import mock_cloud

    return mock_cloud.run(production)


@pytest.fixture
def variant(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], topology.Topology]:
    """A changed copy of the production topology, validated by the topology checker."""
    def make(change: Callable[[dict[str, Any]], None]) -> topology.Topology:
        data = yaml.safe_load(topology.topology_file("production").read_text())
        change(data)
        f = tmp_path / "topology.yml"
        f.write_text(yaml.safe_dump(data))
        return topology.load_file(f, load_services())
    return make
