"""Access levels: a Google login (the test double) carries access_level=limited; a staff
relying party refuses it with a page saying why, an e-services one accepts it."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from doubles.oidc_upstream import Upstream

from .sso import Sso, authorize, code_from, pkce, token, upstream_login

# What the refusal page says (identity_lemonldap_refused_text, roles/identity/defaults).
REFUSAL = "Staff services accept only the staff account"


@pytest.mark.control("SSO-LEVEL-01")
def test_google_login_is_limited_and_refused_by_a_staff_service(sso: Sso,
                                                               google: Upstream) -> None:
    s = sso.browser()
    r = upstream_login(sso, s, "google")
    assert "GET /authorize" in google.requests, google.requests
    assert "POST /token" in google.requests, (google.requests, r.url, r.text[:500])
    me = s.get(f"{sso.base}/", headers={"Accept": "application/json"}, timeout=30).json()
    assert me.get("result") == 1 or me.get("error") in (None, 0), me

    verifier, challenge = pkce()
    refused = authorize(sso, s, "staffportal", challenge)
    assert code_from(refused, sso.rp("staffportal")["redirect_uris"][0]) is None, \
        refused.headers
    page = refused.text if refused.status_code != 302 else \
        s.get(refused.headers["Location"], timeout=30).text
    assert REFUSAL in page, page[:2000]

    code = code_from(authorize(sso, s, "eservices", challenge),
                     sso.rp("eservices")["redirect_uris"][0])
    assert code, "the e-services portal refused a limited login"
    ok = token(sso, s, "eservices", code, verifier)
    assert ok.status_code == 200, ok.text
    claims: dict[str, Any] = jwt.decode(ok.json()["id_token"],
                                        options={"verify_signature": False})
    assert claims["access_level"] == "limited", claims
    assert claims["sub"] == "google:g-4711", claims
    assert claims["aud"] in ("eservices", ["eservices"]), claims
