"""Prosody of the meet role with a real XMPP client (slixmpp): only account holders of the
directory log in on the secure domain; guests join rooms an account holder opened and
never open one."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from ..environment import Person
from . import xmpp
from .conftest import Meet


@pytest.fixture(scope="module")
def member(account_holders: list[Person]) -> Person:
    return account_holders[0]


@pytest.fixture(scope="module")
def bystander(account_holders: list[Person]) -> Person:
    return account_holders[-1]


@pytest.mark.control("MEET-AUTH-01")
def test_account_holder_logs_in_with_the_directory_password(meet: Meet, c2s: int,
                                                           member: Person) -> None:
    out = xmpp.session(c2s, f"{member.uid}@{meet.domain}", member.password or "", meet.ca)
    assert out.authenticated, f"{member.uid} refused: {out.failure}"


# A person's failed logins add up across services (the directory locks after 5): the
# tests that mistype the bystander's password take turns (test_mail.py does the same).
@pytest.mark.host_lock("mistyped-password")
@pytest.mark.control("MEET-AUTH-01")
def test_wrong_password_is_refused(meet: Meet, c2s: int, bystander: Person) -> None:
    out = xmpp.session(c2s, f"{bystander.uid}@{meet.domain}", f"wrong-{bystander.password}",
                       meet.ca)
    assert not out.authenticated
    assert out.failure == "not-authorized", out
    # The right password gets in, which clears the directory's failure count.
    again = xmpp.session(c2s, f"{bystander.uid}@{meet.domain}", bystander.password or "", meet.ca)
    assert again.authenticated, again


@pytest.mark.control("MEET-AUTH-01")
def test_unknown_user_is_refused(meet: Meet, c2s: int, member: Person) -> None:
    nobody = xmpp.session(c2s, f"nobody-{uuid.uuid4().hex[:6]}@{meet.domain}",
                          member.password or "", meet.ca)
    assert not nobody.authenticated and nobody.failure == "not-authorized", nobody


@pytest.mark.control("MEET-AUTH-01")
def test_anonymous_login_on_the_secure_domain_is_refused(meet: Meet, c2s: int) -> None:
    out = xmpp.session(c2s, meet.domain, "", meet.ca)
    assert not out.authenticated, "an anonymous session was opened on the secure domain"
    # Only PLAIN (a bind at the directory, inside TLS) is offered: no mechanism fits.
    assert out.failure == "no usable mechanism", out


@pytest.mark.control("MEET-AUTH-01")
def test_prosody_checks_passwords_at_the_directory_over_starttls(meet: Meet,
                                                                target: Any) -> None:
    cfg = target(meet.host).check_output("cat /etc/prosody/prosody.cfg.lua")
    block = cfg.split(f'VirtualHost "{meet.domain}"', 1)[1].split("VirtualHost", 1)[0]
    assert 'authentication = "ldap"' in block
    assert "ldap_tls = true" in block and 'ldap_mode = "bind"' in block, block


@pytest.mark.control("MEET-GUEST-01")
def test_guest_joins_a_room_a_member_opened_but_cannot_open_one(meet: Meet, c2s: int,
                                                                member: Person) -> None:
    room = f"probe-{uuid.uuid4().hex[:8]}@{meet.muc_domain}"
    opened: dict[str, xmpp.Outcome] = {}

    def host_meeting() -> None:
        opened["member"] = xmpp.session(
            c2s, f"{member.uid}@{meet.domain}", member.password or "", meet.ca,
            xmpp.join(room, "host", "open", configure=True), xmpp.hold(8), timeout=30)

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
def test_guest_cannot_reopen_a_room_after_the_member_left(meet: Meet, c2s: int,
                                                          member: Person) -> None:
    room = f"probe-{uuid.uuid4().hex[:8]}@{meet.muc_domain}"
    first = xmpp.session(c2s, f"{member.uid}@{meet.domain}", member.password or "", meet.ca,
                         xmpp.join(room, "host", "open", configure=True))
    assert first.results == {"open": "created"}, first
    time.sleep(1)
    guest = xmpp.session(c2s, meet.guest_domain, "", meet.ca, xmpp.join(room, "guest", "j"))
    assert guest.results == {"j": "not-allowed"}, guest
