"""Meetings on the single sign-on: who may open one on the secure domain.

Each login is a real one: a person logs in at the lab's LemonLDAP::NG (staff account, or
the Google double for a limited citizen), a relying party redeems the code, and slixmpp
logs in on prosody with SASL OAUTHBEARER. Prosody asks the provider about every token
(introspection with the meet client's secret, then userinfo), and says in its log why it
refused one: each refusal test reads that reason, so it fails when the check it guards
is gone even if a later check would still refuse."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import pytest
from doubles.oidc_upstream import Upstream

from ..environment import Person
from ..identity.sso import Sso, authorize, code_from, pkce, upstream_login
from . import xmpp
from .conftest import Meet
from .sso import CLIENT, logout, meet_token, rp_token, staff_session


@pytest.fixture(scope="module")
def member(account_holders: list[Person]) -> Person:
    return account_holders[0]


@pytest.fixture(scope="module")
def colleague(account_holders: list[Person]) -> Person:
    return account_holders[1]


def refusal(target: Any, meet: Meet, since: float, user: str) -> str:
    """What prosody logged about refusing `user`'s SSO login after `since`."""
    log = target(meet.host).check_output(
        "journalctl -u prosody --no-pager -o cat --since=@%s", str(int(since) - 1))
    mark = f"SSO login of {user}@{meet.domain} refused: "
    lines = [line.split(mark, 1)[1] for line in log.splitlines() if mark in line]
    return lines[-1] if lines else f"(no refusal of {user} logged; log tail: {log[-800:]!r})"


def login(meet: Meet, c2s: int, user: str, token: str, *actions: Any) -> xmpp.Outcome:
    return xmpp.session(c2s, f"{user}@{meet.domain}", "", meet.ca, *actions, token=token)


def assert_refused(meet: Meet, c2s: int, target: Any, user: str, token: str,
                   reason: str) -> None:
    """`token` does not log `user` in, and prosody logged `reason` for it."""
    since = time.time()
    out = login(meet, c2s, user, token, xmpp.join(room(meet), "host", "open"))
    assert not out.authenticated, f"the token logged in as {user}: {out}"
    assert out.failure == "not-authorized", out
    logged = refusal(target, meet, since, user)
    assert reason in logged, logged


def room(meet: Meet) -> str:
    return f"sso-{uuid.uuid4().hex[:8]}@{meet.muc_domain}"


@pytest.mark.control("MEET-SSO-01", "MEET-AUTH-01")
def test_a_staff_login_opens_a_meeting(meet: Meet, c2s: int, sso: Sso,
                                       member: Person) -> None:
    out = login(meet, c2s, member.uid, meet_token(sso, member),
                xmpp.join(room(meet), "host", "open", configure=True))
    assert out.authenticated, f"the staff token of {member.uid} was refused: {out}"
    assert out.results == {"open": "created"}, out


@pytest.mark.control("MEET-SSO-01")
def test_a_limited_citizen_cannot_open_a_meeting(meet: Meet, c2s: int, sso: Sso,
                                                 google: Upstream, member: Person,
                                                 target: Any) -> None:
    s = sso.browser()
    upstream_login(sso, s, "google")
    assert "POST /token" in google.requests, google.requests
    # The provider issues no code for meet to a limited login ...
    _, challenge = pkce()
    refused = authorize(sso, s, CLIENT, challenge)
    assert code_from(refused, sso.rp(CLIENT)["redirect_uris"][0]) is None, refused.headers
    # ... and the token the citizen does get (the e-services portal accepts limited
    # logins) opens nothing, under the citizen's name or a staff member's.
    held = rp_token(sso, s, "eservices")
    assert held, "the e-services portal issued no token to the limited login"
    for user in (PEOPLE_SUB, member.uid):
        assert_refused(meet, c2s, target, user, held, "issued to another client (eservices)")


# The Google double's subject ("google:g-4711" at the portal) as an XMPP user name.
PEOPLE_SUB = "g-4711"


@pytest.mark.control("MEET-SSO-01", "MEET-AUTH-01")
def test_a_token_of_another_relying_party_is_refused(meet: Meet, c2s: int, sso: Sso,
                                                     member: Person, target: Any) -> None:
    """A staff token, but issued to the staff portal: the right person at the right level,
    the wrong audience."""
    other = rp_token(sso, staff_session(sso, member), "staffportal")
    assert other
    assert_refused(meet, c2s, target, member.uid, other,
                   "issued to another client (staffportal)")


@pytest.mark.control("MEET-AUTH-01")
def test_one_persons_token_does_not_log_in_another(meet: Meet, c2s: int, sso: Sso,
                                                   member: Person, colleague: Person,
                                                   target: Any) -> None:
    mine = meet_token(sso, member)
    assert_refused(meet, c2s, target, colleague.uid, mine, "another subject")


@pytest.mark.control("MEET-AUTH-01")
def test_a_forged_token_is_refused(meet: Meet, c2s: int, sso: Sso, member: Person,
                                   target: Any) -> None:
    real = meet_token(sso, member)
    for forged in (secrets.token_urlsafe(32), real[:-4] + ("AAAA" if real[-4:] != "AAAA"
                                                            else "BBBB")):
        assert_refused(meet, c2s, target, member.uid, forged, "not active")


@pytest.mark.control("MEET-AUTH-01")
def test_a_token_is_refused_after_the_person_logged_out(meet: Meet, c2s: int, sso: Sso,
                                                        member: Person,
                                                        target: Any) -> None:
    s = staff_session(sso, member)
    held = rp_token(sso, s, CLIENT)
    assert held
    assert login(meet, c2s, member.uid, held).authenticated, "the fresh token was refused"
    logout(sso, s)
    assert_refused(meet, c2s, target, member.uid, held, "not active")


# It waits out the token's lifetime (a minute in the lab): with the exercises of `verify --all` and
# scripts/test, not in the quick state checks of a plain `municloud verify`.
@pytest.mark.exercise
@pytest.mark.control("MEET-AUTH-01")
def test_an_expired_token_is_refused(meet: Meet, c2s: int, sso: Sso, member: Person,
                                     target: Any) -> None:
    """The same token, still in its SSO session, once its lifetime
    (sessions.access_token_seconds of the identity declaration) has passed."""
    ttl = int(sso.decl["sessions"]["access_token_seconds"])
    if ttl > 600:
        pytest.skip(f"access tokens live {ttl} s here: too long to wait for in a test")
    s = staff_session(sso, member)
    held = rp_token(sso, s, CLIENT)
    issued = time.time()
    assert held
    assert login(meet, c2s, member.uid, held).authenticated, "the fresh token was refused"
    time.sleep(max(0.0, issued + ttl + 5 - time.time()))
    # The SSO session itself is still open (its lifetime is hours): only the token expired.
    assert s.get(f"{sso.base}/", headers={"Accept": "application/json"},
                 timeout=30).json().get("result") == 1
    assert_refused(meet, c2s, target, member.uid, held, "not active")


@pytest.mark.control("MEET-AUTH-01")
def test_prosody_checks_tokens_at_the_provider(meet: Meet, sso: Sso, target: Any) -> None:
    """The secure domain's configuration in force: the SSO module, the provider's
    endpoints under its issuer, meet's client id, staff only (the declaration)."""
    cfg = target(meet.host).check_output("cat /etc/prosody/prosody.cfg.lua")
    block = cfg.split(f'VirtualHost "{meet.domain}"', 1)[1].split("VirtualHost", 1)[0]
    assert 'authentication = "municloud_sso"' in block, block
    assert f'sso_introspection_url = "{sso.decl["issuer"]}/oauth2/introspect"' in block
    assert f'sso_userinfo_url = "{sso.decl["issuer"]}/oauth2/userinfo"' in block
    assert f'sso_client_id = "{CLIENT}"' in block
    assert 'sso_levels = { "staff"; }' in block, block
    assert "ldap" not in block, block
