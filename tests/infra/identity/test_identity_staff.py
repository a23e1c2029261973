"""Staff log in at the portal against the directory over LDAPS: the right password opens a
session, a wrong one does not, and the directory's lockout counts portal failures."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from .sso import Sso, staff_login

# The dedicated test person (inventories/lab/group_vars/all/people.yml): its failures never
# add up on a real person's account.
PROBE = "ssoprobe"
COOKIE = "municloud_sso"  # identity_lemonldap_cookie_name (roles/identity/defaults)
MAX_FAILURE = 5  # directory_password_policy.max_failure (roles/directory/defaults)

# Both tests log the probe in, and `probe` clears its lock before and after each: verify's
# workers must not run them side by side, or one test's unlock lets the other's right
# password in after its lockout (seen once in five runs: SSO-LOCK-01 failed).
pytestmark = pytest.mark.host_lock("sso-probe-account")


def _password(sso: Sso, uid: str) -> str:
    f = sso.secrets / "people" / f"{uid}.password"
    if not f.exists():
        pytest.fail(f"no {f}: run playbooks/users.yml (the test person {uid} is declared in "
                    "people.yml)")
    return f.read_text().strip()


def _directory(lab: dict[str, Any]) -> str:
    return str(next(h for h, v in lab["all"]["hosts"].items()
                    if "directory" in v["municloud_services"]))


def _unlock(host: Any, dn: str) -> None:
    """Clear the ppolicy state of the probe (lock and failure count), as an operator does."""
    for attr in ("pwdAccountLockedTime", "pwdFailureTime"):
        host.run("ldapmodify -Q -Y EXTERNAL -H ldapi:/// <<'EOF'\n"
                 f"dn: {dn}\nchangetype: modify\ndelete: {attr}\nEOF")


@pytest.fixture
def probe(sso: Sso, lab: dict[str, Any], target: Any) -> Iterator[tuple[str, str]]:
    base = lab["all"]["vars"]["municloud_ldap_base_dn"]
    dn = f"uid={PROBE},ou=people,{base}"
    host = target(_directory(lab))
    _unlock(host, dn)
    yield PROBE, _password(sso, PROBE)
    _unlock(host, dn)


@pytest.mark.control("SSO-STAFF-01")
def test_right_password_opens_a_session_wrong_one_does_not(sso: Sso,
                                                           probe: tuple[str, str]) -> None:
    uid, password = probe
    s = sso.browser()
    wrong = staff_login(sso, s, uid, "wrong-" + secrets.token_hex(6))
    assert wrong.get("result") == 0, wrong
    assert wrong.get("error") == 5, wrong  # PE_BADCREDENTIALS
    assert not wrong.get("id"), wrong
    assert not [c for c in s.cookies if c.name == COOKIE and c.value not in ("", "0")], \
        "a wrong password left a session cookie"
    # The portal does not know this browser.
    me = s.get(f"{sso.base}/", headers={"Accept": "application/json"}, timeout=30)
    assert str(me.json().get("error")) == "9", me.text  # PE_FIRSTACCESS: not authenticated
    right = staff_login(sso, s, uid, password)
    assert right.get("result") == 1, right
    assert right.get("id"), right


@pytest.mark.control("SSO-LOCK-01")
def test_five_wrong_passwords_lock_the_directory_account(sso: Sso, probe: tuple[str, str],
                                                         lab: dict[str, Any],
                                                         target: Any) -> None:
    uid, password = probe
    for _ in range(MAX_FAILURE):
        r = staff_login(sso, sso.browser(), uid, "wrong-" + secrets.token_hex(6))
        assert r.get("result") == 0, r
    locked = staff_login(sso, sso.browser(), uid, password)
    assert locked.get("result") == 0, "the right password was accepted after the lockout"
    assert locked.get("error") in (5, 21), locked  # bad credentials / PE_PP_ACCOUNT_LOCKED
    # The directory itself locked the account (ppolicy), not the portal.
    base = lab["all"]["vars"]["municloud_ldap_base_dn"]
    entry = target(_directory(lab)).check_output(
        f"ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b uid={uid},ou=people,{base} "
        "-s base pwdAccountLockedTime")
    assert "pwdAccountLockedTime:" in entry, entry
