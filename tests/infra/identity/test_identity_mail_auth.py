"""Mail clients' password logins while the webmail's token logins keep Dovecot's
introspection busy (roles/mail README, "Single sign-on"): many XOAUTH2 logins at once,
live tokens of the webmail client (each introspected at the identity provider) and
refused ones (another client's token, a made-up token), from the same address as the
password logins. IMAPS LOGIN and SMTP submission AUTH with the directory password must
all succeed meanwhile: no 454 (temporary failure) and no timeout within a generous bound.
The bound is not a speed goal (docs/benchmarks.md has those); it only says "not stuck".
"""

from __future__ import annotations

import secrets
import smtplib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from ..environment import Person
from ..webclient import pinned
from ..webmail.test_webmail import _person, _require_roles
from .sso import Sso, authorize, code_from, pkce, staff_login, token
from .test_identity_webmail import _imaps, _xoauth2, imap_password

# Token logins in the burst (Dovecot introspects each: max_parallel_connections at once,
# the rest queue) and password logins made while it runs.
TOKEN_LOGINS = 48
PASSWORD_LOGINS = 4
# Seconds a client waits for one answer: generous (a loaded lab), far above the 10 s after
# which Postfix gives up on Dovecot's auth and answers 454.
BOUND = 60


def _access_token(sso: Sso, rp: str, uid: str, password: str) -> str:
    s = sso.browser()
    assert staff_login(sso, s, uid, password).get("result") == 1, "portal login refused"
    verifier, challenge = pkce()
    code = code_from(authorize(sso, s, rp, challenge), sso.rp(rp)["redirect_uris"][0])
    assert code, f"no code for {rp}"
    r = token(sso, s, rp, code, verifier)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _submission_password(lab: dict[str, Any], uid: str, password: str) -> int:
    fqdn, address, ctx = _imaps(lab)
    with pinned({fqdn: address}), smtplib.SMTP(fqdn, 587, timeout=BOUND) as smtp:
        smtp.starttls(context=ctx)
        code, _ = smtp.login(uid, password)
        return code


@pytest.mark.control("SSO-MAIL-05")
def test_password_logins_are_not_held_up_by_a_burst_of_token_logins(
        sso: Sso, lab: dict[str, Any], target: Any, people: list[Person]) -> None:
    _require_roles(lab, target, "directory", "mail")
    uid, password, _ = _person(people, "present")
    live = _access_token(sso, "webmail", uid, password)
    other = _access_token(sso, "staffportal", uid, password)
    made_up = secrets.token_urlsafe(32)
    # Two thirds live (introspected, accepted), one third refused (introspected, or
    # refused as another client's token): the refusals from this address are what made
    # Dovecot delay this address's next logins beyond Postfix's patience.
    burst = [live if i % 3 else (other if i % 2 else made_up) for i in range(TOKEN_LOGINS)]
    # First a few refused ones in a row from this address, as the SSO tests make them:
    # each a different token (Dovecot does not count a repeated one again), no success in
    # between (one resets the address's penalty).
    for _ in range(5):
        assert not _xoauth2(lab, uid, secrets.token_urlsafe(32)), "a made-up token opened it"
    with ThreadPoolExecutor(max_workers=TOKEN_LOGINS + 2 * PASSWORD_LOGINS) as pool:
        tokens: list[Future[bool]] = [pool.submit(_xoauth2, lab, uid, t) for t in burst]
        imap = [pool.submit(imap_password, lab, uid, password, BOUND)
                for _ in range(PASSWORD_LOGINS)]
        smtp = [pool.submit(_submission_password, lab, uid, password)
                for _ in range(PASSWORD_LOGINS)]
        imap_results = [f.result(timeout=3 * BOUND) for f in imap]
        smtp_results = [f.result(timeout=3 * BOUND) for f in smtp]
        token_results = [f.result(timeout=3 * BOUND) for f in tokens]
    assert imap_results == [("OK", "OK")] * PASSWORD_LOGINS, imap_results
    assert smtp_results == [235] * PASSWORD_LOGINS, smtp_results
    # The burst was real: every live token opened the mailbox, no refused one did.
    assert [ok for ok, t in zip(token_results, burst, strict=True) if t == live] \
        == [True] * sum(t == live for t in burst)
    assert not any(ok for ok, t in zip(token_results, burst, strict=True) if t != live)
