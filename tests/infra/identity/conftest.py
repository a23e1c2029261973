"""Fixtures of the single sign-on tests: the declaration as the inventory exports it, and
the upstream test doubles (tests/doubles) started on the lab controller's management
gateway address, where the identity host reaches them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from doubles import tls
from doubles.oidc_upstream import Upstream

from .sso import Sso, from_inventory

# The test people the doubles log in (one each).
PEOPLE: dict[str, dict[str, Any]] = {
    "google": {"sub": "g-4711", "email": "eleftheria.citizen@gmail.test",
               "name": "Eleftheria Citizen", "given_name": "Eleftheria",
               "family_name": "Citizen", "email_verified": True},
    "facebook": {"sub": "fb-1001", "email": "citizen@facebook.test", "name": "Fb Citizen"},
}


@pytest.fixture(scope="session")
def sso(lab: dict[str, Any]) -> Sso:
    found = from_inventory(lab)
    if found.decl.get("provider") != "lemonldap":
        pytest.skip(f"the lab's identity provider is {found.decl.get('provider')!r}: these "
                    "tests drive LemonLDAP::NG")
    return found


def start_double(sso: Sso, name: str, tmp: Path) -> Upstream:
    choice = next(c for c in sso.decl["choices"] if c["name"] == name)
    secret_file = Path(choice["client_secret"]["file"])
    if not secret_file.exists():
        pytest.fail(f"no {secret_file}: converge the identity host first (the role generates "
                    "the doubles' client secrets)")
    url = urlsplit(choice["endpoints"]["authorize"])
    assert url.hostname and url.port
    cert, key = tls.issue(sso.secrets / "pki", url.hostname, tmp)
    return Upstream(name=name, client_id=choice["client_id"],
                    client_secret=secret_file.read_text().strip(),
                    redirect_uri=sso.decl["upstream_callback"], person=PEOPLE[name],
                    host=url.hostname, port=url.port).start(cert, key)


@pytest.fixture(scope="module")
def google(sso: Sso, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    double = start_double(sso, "google", tmp_path_factory.mktemp("google-double"))
    yield double
    double.stop()
