"""Prosody of the meet role with a real XMPP client (slixmpp): no anonymous login on the
secure domain; guests join rooms an account holder (logged in with a single sign-on
token, test_meet_sso.py) opened and never open one."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from ..environment import Person
from ..identity.sso import Sso
from . import xmpp
from .conftest import Meet
from .sso import meet_token


@pytest.fixture(scope="module")
def member(account_holders: list[Person]) -> Person:
    return account_holders[0]


@pytest.mark.control("MEET-AUTH-01")
def test_anonymous_login_on_the_secure_domain_is_refused(meet: Meet, c2s: int) -> None:
    out = xmpp.session(c2s, meet.domain, "", meet.ca)
    assert not out.authenticated, "an anonymous session was opened on the secure domain"
    # Only OAUTHBEARER (a token of the single sign-on, inside TLS) is offered: without a
    # token no mechanism fits.
    assert out.failure == "no usable mechanism", out


@pytest.mark.control("MEET-GUEST-01")
def test_guest_joins_a_room_a_member_opened_but_cannot_open_one(meet: Meet, c2s: int,
                                                                sso: Sso,
                                                                member: Person) -> None:
    room = f"probe-{uuid.uuid4().hex[:8]}@{meet.muc_domain}"
    token = meet_token(sso, member)
    opened: dict[str, xmpp.Outcome] = {}

    def host_meeting() -> None:
        opened["member"] = xmpp.session(
            c2s, f"{member.uid}@{meet.domain}", "", meet.ca,
            xmpp.join(room, "host", "open", configure=True), xmpp.hold(8), timeout=30,
            token=token)

    t = threading.Thread(target=host_meeting)
    t.start()
    time.sleep(4)
    guest = xmpp.session(c2s, meet.guest_domain, "", meet.ca,
                         xmpp.join(room, "guest", "join"),
                         xmpp.join(f"guest-{uuid.uuid4().hex[:8]}@{meet.muc_domain}",
                                   "guest", "open"))
    t.join(40)
    assert opened["member"].authenticated, opened["member"]
    assert opened["member"].results == {"open": "created"}, opened["member"]
    assert guest.authenticated, f"anonymous login on {meet.guest_domain} refused: {guest}"
    assert guest.results is not None
    assert guest.results["join"] == "joined", guest.results
    assert guest.results["open"] == "not-allowed", guest.results


@pytest.mark.control("MEET-GUEST-01")
def test_guest_cannot_reopen_a_room_after_the_member_left(meet: Meet, c2s: int, sso: Sso,
                                                          member: Person) -> None:
    room = f"probe-{uuid.uuid4().hex[:8]}@{meet.muc_domain}"
    first = xmpp.session(c2s, f"{member.uid}@{meet.domain}", "", meet.ca,
                         xmpp.join(room, "host", "open", configure=True),
                         token=meet_token(sso, member))
    assert first.results == {"open": "created"}, first
    time.sleep(1)
    guest = xmpp.session(c2s, meet.guest_domain, "", meet.ca, xmpp.join(room, "guest", "j"))
    assert guest.results == {"j": "not-allowed"}, guest
