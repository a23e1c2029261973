"""Access tokens of the single sign-on for the meeting service, as its web app would hold
them: a person logs in at the portal (through the edge), the meet relying party runs the
authorization-code flow with PKCE and redeems the code with its client secret."""

from __future__ import annotations

import requests

from ..environment import Person
from ..identity.sso import Sso, authorize, code_from, pkce, staff_login, token

CLIENT = "meet"


def rp_token(sso: Sso, s: requests.Session, rp: str) -> str | None:
    """The access token relying party `rp` obtains for the person logged in on `s`, or
    None when the provider issues it no code (the person's level is not accepted)."""
    verifier, challenge = pkce()
    code = code_from(authorize(sso, s, rp, challenge), sso.rp(rp)["redirect_uris"][0])
    if code is None:
        return None
    r = token(sso, s, rp, code, verifier)
    assert r.status_code == 200, (rp, r.status_code, r.text[:300])
    access: str = r.json()["access_token"]
    return access


def staff_session(sso: Sso, person: Person) -> requests.Session:
    """A browser logged in at the portal with `person`'s staff account."""
    s = sso.browser()
    answer = staff_login(sso, s, person.uid, person.password or "")
    assert answer.get("result") == 1, f"staff login of {person.uid} refused: {answer}"
    return s


def meet_token(sso: Sso, person: Person) -> str:
    """An access token of the meet relying party for `person` (staff login)."""
    access = rp_token(sso, staff_session(sso, person), CLIENT)
    assert access, f"no meet token for the staff login of {person.uid}"
    return access


def logout(sso: Sso, s: requests.Session) -> None:
    """End the person's single sign-on session (the portal's logout)."""
    r = s.get(f"{sso.base}/", params={"logout": "1"}, timeout=30)
    assert r.status_code == 200, r.status_code
