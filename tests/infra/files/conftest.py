"""Fixtures of the files tests: the oCIS host and whether oCIS is deployed on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Files:
    host: str
    address: str
    public_name: str
    deployed: bool
    reason: str


@pytest.fixture(scope="session")
def files(lab: dict[str, Any], target: Any) -> Files:
    hosts = lab["all"]["vars"]["municloud_service_hosts"].get("files", [])
    if not hosts:
        pytest.skip("no host runs the files service in this environment")
    v = lab["all"]["vars"]
    h = hosts[0]
    f = target(h["name"]).file("/etc/municloud/services/ocis.json")
    assert f.exists, f"{h['name']}: /etc/municloud/services/ocis.json missing (role files not run)"
    status = json.loads(f.content_string)
    name = v["municloud_public_names"].get("files", f"files.{v['municloud_domain']}")
    return Files(host=h["name"], address=h["address"], public_name=name,
                 deployed=status["status"] == "deployed", reason=status.get("reason", ""))
