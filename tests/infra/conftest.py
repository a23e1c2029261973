"""Fixtures for testinfra tests against a converged environment (the lab by default).

- `MUNICLOUD_ENV` picks the environment (default `lab`).
- Without a reachable environment the tests skip with the reason, except when
  `MUNICLOUD_REQUIRE_LAB=1` (CI), where they fail.
- `lab_host` parametrizes a test over every host; `@pytest.mark.service("mail")` narrows it
  to the hosts running a service. `target(name)` gives a testinfra host over the generated
  SSH config (ControlMaster: one connection per host for the whole run).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest
import testinfra

from municloud import inventory, paths

ENV = os.environ.get("MUNICLOUD_ENV", "lab")
REQUIRE = os.environ.get("MUNICLOUD_REQUIRE_LAB") == "1"


@cache
def _inventory() -> dict[str, Any] | None:
    if not inventory.ssh_config_file(ENV).exists():
        return None
    return inventory.for_env(ENV)


def _unavailable() -> str:
    return (f"environment '{ENV}' is not up (no {inventory.ssh_config_file(ENV)}): "
            f"run `municloud lab up && municloud deploy {ENV}`")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "service(name): run only on hosts running this service")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lab_host" not in metafunc.fixturenames:
        return
    inv = _inventory()
    if inv is None:
        metafunc.parametrize("lab_host", [pytest.param(None, id="no-lab")])
        return
    marker = metafunc.definition.get_closest_marker("service")
    hosts = inv["all"]["hosts"]
    names = [h for h, v in hosts.items()
             if marker is None or marker.args[0] in v["municloud_services"]]
    metafunc.parametrize("lab_host", names or [pytest.param(None, id="no-host")])


@pytest.fixture(scope="session")
def lab() -> dict[str, Any]:
    inv = _inventory()
    if inv is None:
        if REQUIRE:
            pytest.fail(_unavailable())
        pytest.skip(_unavailable())
    return inv


@pytest.fixture(scope="session")
def ssh_config() -> str:
    return str(inventory.ssh_config_file(ENV))


@pytest.fixture(scope="session")
def target(lab: dict[str, Any], ssh_config: str) -> Any:
    made: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in made:
            made[name] = testinfra.get_host(f"ssh://{name}", ssh_config=ssh_config)
        return made[name]

    return get


@pytest.fixture
def host(lab: dict[str, Any], target: Any, lab_host: str | None) -> Any:
    if lab_host is None:
        pytest.skip("no host in this environment runs the service")
    return target(lab_host)


@pytest.fixture
def hostvars(lab: dict[str, Any], lab_host: str | None) -> dict[str, Any]:
    if lab_host is None:
        pytest.skip("no host in this environment runs the service")
    merged = dict(lab["all"]["vars"])
    merged.update(lab["all"]["hosts"][lab_host])
    merged["inventory_hostname"] = lab_host
    return merged


@pytest.fixture(scope="session")
def state_dir() -> str:
    return str(paths.env_state(ENV))
