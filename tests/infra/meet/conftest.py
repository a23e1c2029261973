"""Fixtures of the meet tests: the meeting host, its domains as the role derives them,
the people of the directory with their passwords, the single sign-on whose tokens open
meetings and the Google double (a limited login)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doubles.oidc_upstream import Upstream

from ..environment import Person, missing
from ..identity.sso import Sso, lemonldap, running_double
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


@pytest.fixture(scope="session")
def account_holders(people: list[Person]) -> list[Person]:
    """Present people with a password: the first opens meetings, the last is the
    bystander whose password the wrong-password tests mistype (as the mail tests do)."""
    usable = [p for p in people if p.state == "present" and p.password]
    if len(usable) < 3:
        missing(f"need 3 present people with a password in <secrets>/people/, found {len(usable)}")
    return usable


@pytest.fixture(scope="session")
def sso(lab: dict[str, Any]) -> Sso:
    """The single sign-on whose tokens open meetings (LemonLDAP::NG in the lab)."""
    return lemonldap(lab)


@pytest.fixture
def google(sso: Sso, tmp_path: Path) -> Iterator[Upstream]:
    """The Google double (its person logs in with access level limited), for one test:
    the identity tests start it on the same port."""
    with running_double(sso, "google", tmp_path) as double:
        yield double
