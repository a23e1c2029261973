"""Fixtures of the meet tests: the meeting host, its domains as the role derives them,
the people of the directory with their passwords, a TURN client on a lab host."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import paths

from ..conftest import ENV
from ..webclient import ca_file
from . import xmpp


@dataclass(frozen=True)
class Meet:
    host: str
    address: str
    domain: str
    guest_domain: str
    muc_domain: str
    ca: Path
    secrets: Path
    c2s_port: int = 5222


@pytest.fixture(scope="session")
def meet(lab: dict[str, Any]) -> Meet:
    hosts = lab["all"]["vars"]["municloud_service_hosts"].get("meet", [])
    if not hosts:
        pytest.skip("no host runs the meet service in this environment")
    v = lab["all"]["vars"]
    domain = v["municloud_public_names"].get("meet", f"meet.{v['municloud_domain']}")
    return Meet(host=hosts[0]["name"], address=hosts[0]["address"], domain=domain,
                guest_domain=f"guest.{domain}", muc_domain=f"conference.{domain}",
                ca=ca_file(v["municloud_secrets_dir"]), secrets=Path(v["municloud_secrets_dir"]))


@pytest.fixture(scope="session")
def c2s(meet: Meet, ssh_config: str) -> Iterator[int]:
    """A local port forwarded to prosody's client port on the meeting host's loopback."""
    with xmpp.tunnel(ssh_config, meet.host, meet.c2s_port) as port:
        yield port


@dataclass(frozen=True)
class Person:
    uid: str
    password: str


def _people(meet: Meet) -> list[Person]:
    f = paths.INVENTORIES / ENV / "group_vars" / "all" / "people.yml"
    data = yaml.safe_load(f.read_text()) if f.exists() else {}
    found = []
    for p in (data or {}).get("directory_people", []):
        pw = meet.secrets / "people" / f"{p['uid']}.password"
        if p.get("state", "present") == "present" and pw.exists():
            found.append(Person(p["uid"], pw.read_text().strip()))
    if len(found) < 3:
        pytest.skip(f"need 3 present people with a password in {meet.secrets}/people")
    return found


@pytest.fixture(scope="session")
def member(meet: Meet) -> Person:
    return _people(meet)[0]


@pytest.fixture(scope="session")
def bystander(meet: Meet) -> Person:
    """The person whose password the wrong-password tests mistype (as the mail tests)."""
    return _people(meet)[-1]
