"""Bad topologies for the checker's tests: each is the lab topology with one mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from municloud.core import paths

LAB = yaml.safe_load((paths.INVENTORIES / "lab" / "topology.yml").read_text())


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Any]], None]
    path: str  # the path inside the file the message must name
    words: str  # what the message must say


def _host(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def get(t: dict[str, Any]) -> dict[str, Any]:
        return next(h for h in t["hosts"] if h["name"] == name)
    return get


def _dup_host(t: dict[str, Any]) -> None:
    t["hosts"][1]["name"] = t["hosts"][0]["name"]


def _unknown_service(t: dict[str, Any]) -> None:
    _host("edge1")(t)["services"] = ["edge", "nextcloud"]


def _service_on_no_host(t: dict[str, Any]) -> None:
    # mail requires the directory; take the directory host's service away.
    _host("dir1")(t)["services"] = ["db"]


def _overlap(t: dict[str, Any]) -> None:
    t["networks"][1]["cidr"] = "10.70.1.128/25"


def _outside(t: dict[str, Any]) -> None:
    _host("dir1")(t)["address"] = "10.70.9.11"


def _twice(t: dict[str, Any]) -> None:
    _host("db1")(t)["address"] = _host("dir1")(t)["address"]


def _no_size(t: dict[str, Any]) -> None:
    del _host("db1")(t)["volumes"][0]["size_gb"]


def _no_key(t: dict[str, Any]) -> None:
    t["admins"][0]["ssh_keys"] = []


def _bad_key(t: dict[str, Any]) -> None:
    t["admins"][0]["ssh_keys"] = ["ssh-ed25519 not-a-key"]


def _bad_domain(t: dict[str, Any]) -> None:
    t["municipality"]["domain"] = "Heraklion_GR"


def _unknown_field(t: dict[str, Any]) -> None:
    _host("edge1")(t)["flavour"] = "small"


def _bad_purpose(t: dict[str, Any]) -> None:
    t["networks"][0]["purpose"] = "dmz"


CASES = [
    Case("duplicate-host", _dup_host, "hosts[1].name", "duplicate host name 'edge1'"),
    Case("unknown-service", _unknown_service, "hosts[0].services[1]",
         "unknown service 'nextcloud'"),
    Case("service-on-no-host", _service_on_no_host, "hosts[2].services[0]",
         "requires 'directory', which runs on no host"),
    Case("overlapping-cidrs", _overlap, "networks[1].cidr", "overlaps networks[0]"),
    Case("address-outside-network", _outside, "hosts[7].address",
         "outside network data"),
    Case("address-used-twice", _twice, "hosts[8].address", "already used by dir1"),
    Case("volume-without-size", _no_size, "hosts[8].volumes[0].size_gb", "has no size"),
    Case("missing-ssh-key", _no_key, "admins[0].ssh_keys", "has no SSH key"),
    Case("malformed-ssh-key", _bad_key, "admins[0].ssh_keys[0]", "not an OpenSSH public key"),
    Case("invalid-domain", _bad_domain, "municipality.domain", "invalid domain"),
    Case("unknown-field", _unknown_field, "hosts[0].flavour", "unknown field"),
    Case("bad-network-purpose", _bad_purpose, "networks[0].purpose", "invalid value 'dmz'"),
]


def write_env(root: Path, env: str, case: Case | None) -> Path:
    """An inventories folder holding one environment: the lab topology, with a mistake."""
    data = copy.deepcopy(LAB)
    data["environment"] = env
    if case is not None:
        case.mutate(data)
    d = root / env
    d.mkdir(parents=True)
    (d / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    (d / "municloud.yml").write_text("plugin: municloud_topology\n")
    # A topology running identity needs its declaration (docs/identity.md): the lab's.
    (d / "identity.yml").write_text((paths.INVENTORIES / "lab" / "identity.yml").read_text())
    return d / "topology.yml"
