"""The environment under test, as the testinfra tests read it: which one (`MUNICLOUD_ENV`,
default `lab`), its inventory (the one builder, `municloud.core.inventory`) and its people
(`inventories/<env>/group_vars/all/people.yml`: the one loader every service's tests use).

A test that cannot run because the environment lacks something calls `missing(reason)`:
a skip, or a failure under `MUNICLOUD_REQUIRE_LAB=1` (CI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from municloud.core import inventory as _inventory
from municloud.core import paths

ENV = os.environ.get("MUNICLOUD_ENV", "lab")
REQUIRE = os.environ.get("MUNICLOUD_REQUIRE_LAB") == "1"


def missing(reason: str) -> NoReturn:
    if REQUIRE:
        pytest.fail(reason)
    pytest.skip(reason)


@cache
def inventory() -> dict[str, Any] | None:
    """The environment's inventory, or None when it is not up (no SSH configuration)."""
    if not _inventory.ssh_config_file(ENV).exists():
        return None
    return _inventory.for_env(ENV)


def unavailable() -> str:
    return (f"environment '{ENV}' is not up (no {_inventory.ssh_config_file(ENV)}): "
            f"run `municloud lab up && municloud deploy {ENV}`")


@dataclass(frozen=True)
class Person:
    """A person of people.yml, with the password the directory role generated (None when
    the secrets directory has none for them)."""

    uid: str
    mail: str
    state: str
    groups: tuple[str, ...]
    password: str | None
    declared: dict[str, Any] = field(compare=False, repr=False)


def people_file(env: str = ENV) -> Path:
    return paths.inventories() / env / "group_vars" / "all" / "people.yml"


def people(inv: dict[str, Any]) -> list[Person]:
    """Every person declared for the environment, in file order."""
    f = people_file()
    if not f.exists():
        missing(f"no {f}: the directory role's people are not declared")
    data = yaml.safe_load(f.read_text()) or {}
    v = inv["all"]["vars"]
    secrets = Path(v["municloud_secrets_dir"]) / "people"
    found = []
    for p in data.get("directory_people") or []:
        pw = secrets / f"{p['uid']}.password"
        found.append(Person(
            uid=p["uid"], mail=p.get("mail") or f"{p['uid']}@{v['municloud_domain']}",
            state=p.get("state", "present"), groups=tuple(p.get("groups", [])),
            password=pw.read_text().strip() if pw.exists() else None, declared=p))
    return found
