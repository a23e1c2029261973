"""No default or hard-coded credential in the single sign-on, and the manager only for
the admin sources and the admin group."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from municloud.core import paths

from .sso import Sso, staff_login

ROLE = paths.ROLES / "identity"
# LemonLDAP::NG's demo accounts and unsafe defaults (shared/notes/lemonldap-ng.md).
DEMO_USERS = ("dwho", "rtyler", "msmith")
UNSAFE = [re.compile(p) for p in (r"\bdwho\b", r"\brtyler\b", r"\bmsmith\b", r"timelords",
                                   r"example\.com", r'"authentication":\s*"Demo"',
                                   r'"securedCookie":\s*0\b', r"\bwso2carbon\b",
                                   r"password\s*[:=]\s*['\"]?admin\b")]


def _newest_conf(host: Any) -> dict[str, Any]:
    name = host.check_output("ls -1v /var/lib/lemonldap-ng/conf/ | grep '^lmConf-' | tail -n1")
    data: dict[str, Any] = json.loads(host.check_output(f"cat /var/lib/lemonldap-ng/conf/{name}"))
    return data


@pytest.mark.control("SSO-CRED-01")
def test_no_default_credential_in_the_role_or_the_configuration(sso: Sso, target: Any) -> None:
    found = []
    for f in sorted(p for p in ROLE.rglob("*") if p.is_file()):
        text = f.read_text(errors="replace")
        found += [f"{f.relative_to(paths.REPO)}: {rx.pattern}" for rx in UNSAFE
                  if rx.search(text)]
    # No generated secret was ever written into the repository's identity files.
    generated = [p.read_text().strip() for p in (sso.secrets / "identity").rglob("*")
                 if p.is_file()]
    generated += [(sso.secrets / "directory" / "identity.password").read_text().strip()]
    for f in [*ROLE.rglob("*"), *paths.INVENTORIES.glob("*/identity.yml")]:
        if f.is_file():
            text = f.read_text(errors="replace")
            found += [f"{f}: a generated secret" for g in generated if g and g in text]
    assert not found, found
    conf = _newest_conf(target(sso.host))
    rendered = json.dumps(conf)
    bad = [rx.pattern for rx in UNSAFE if rx.search(rendered)]
    assert not bad, bad
    assert conf["authentication"] == "Choice" and conf["securedCookie"] == 1
    assert conf["domain"] == sso.decl["public_name"]


@pytest.mark.control("SSO-CRED-01")
def test_demo_accounts_cannot_log_in(sso: Sso) -> None:
    for user in DEMO_USERS:
        r = staff_login(sso, sso.browser(), user, user)
        assert r.get("result") == 0, (user, r)


def _manager(sso: Sso, s: requests.Session, address: str) -> requests.Response:
    name = sso.decl["manager"]["name"]
    # The manager's own name, pinned to the identity host (it is not published).
    from ..webclient import pinned

    with pinned({name: address}):
        return s.get(f"https://{name}:9444/manager.html", allow_redirects=False, timeout=30)


@pytest.mark.control("SSO-MGR-01")
def test_manager_only_for_admin_sources_and_admin_group(sso: Sso, lab: dict[str, Any],
                                                       target: Any) -> None:
    hosts = lab["all"]["hosts"]
    idp = hosts[sso.host]["municloud_address"]
    # From a services host (not an admin source): dropped by the firewall.
    other = next(h for h, v in hosts.items() if "webmail" in v["municloud_services"])
    res = target(other).run(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 "
                            f"https://{idp}:9444/")
    assert res.stdout.strip() in ("000", ""), res.stdout
    # From the controller (management network): no session -> sent to the portal.
    anon = _manager(sso, sso.browser(), idp)
    assert anon.status_code in (302, 303, 401), anon.status_code
    assert sso.decl["public_name"] in anon.headers.get("Location", ""), anon.headers
    # A staff member outside the admin group: refused; an admin (people.yml): in.
    for uid, status in (("nikos", 403), ("maria", 200)):
        s = sso.browser()
        pw = (sso.secrets / "people" / f"{uid}.password").read_text().strip()
        assert staff_login(sso, s, uid, pw).get("result") == 1, uid
        cookie = next(c for c in s.cookies if c.name == "municloud_sso")
        s.cookies.set("municloud_sso", cookie.value,
                      domain=sso.decl["manager"]["name"])
        assert _manager(sso, s, idp).status_code == status, uid
