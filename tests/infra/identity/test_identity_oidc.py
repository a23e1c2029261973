"""The OpenID Connect provider through the edge: discovery, keys, the authorization-code
flow with PKCE, and audiences."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .sso import Sso, authorize, code_from, pkce, staff_login, token


def _staff(sso: Sso) -> tuple[str, str]:
    uid = "nikos"
    return uid, (sso.secrets / "people" / f"{uid}.password").read_text().strip()


def _jwks(sso: Sso) -> jwt.PyJWKClient:
    meta = sso.browser().get(f"{sso.base}/.well-known/openid-configuration", timeout=30).json()
    client = jwt.PyJWKClient(meta["jwks_uri"])
    s = sso.browser()
    client.fetch_data = lambda: s.get(meta["jwks_uri"], timeout=30).json()  # type: ignore[method-assign]
    return client


@pytest.mark.control("SSO-OIDC-01")
def test_discovery_and_keys_through_the_edge(sso: Sso) -> None:
    s = sso.browser()  # verifies TLS against the municipal CA only
    r = s.get(f"{sso.base}/.well-known/openid-configuration", timeout=30)
    assert r.status_code == 200, r.text[:300]
    meta = r.json()
    assert meta["issuer"] == sso.decl["issuer"]
    for ep in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[ep].startswith(sso.base + "/"), (ep, meta[ep])
    assert meta["response_types_supported"] == ["code"], meta["response_types_supported"]
    keys = s.get(meta["jwks_uri"], timeout=30).json()["keys"]
    assert any(k["kty"] == "RSA" and k.get("use", "sig") == "sig" for k in keys), keys
    assert all(k.get("kid") for k in keys), keys


@pytest.mark.control("SSO-OIDC-01")
def test_the_signing_key_is_the_one_kept_on_the_host(sso: Sso, target: Any) -> None:
    """The published key is the host's key file (generated once, kept across converges)."""
    s = sso.browser()
    meta = s.get(f"{sso.base}/.well-known/openid-configuration", timeout=30).json()
    keys = s.get(meta["jwks_uri"], timeout=30).json()["keys"]
    host = target(sso.host)
    pem = host.check_output("cat /etc/lemonldap-ng/municloud/oidc-sig.pub")
    kept = serialization.load_pem_public_key(pem.encode())
    assert isinstance(kept, rsa.RSAPublicKey)
    published = [int.from_bytes(jwt.utils.base64url_decode(k["n"]), "big") for k in keys]
    assert kept.public_numbers().n in published, "the published key is not the host's key"


@pytest.mark.control("SSO-PKCE-01")
def test_authorization_code_flow_with_pkce(sso: Sso) -> None:
    s = sso.browser()
    uid, password = _staff(sso)
    assert staff_login(sso, s, uid, password).get("result") == 1
    rp = sso.rp("staffportal")
    verifier, challenge = pkce()
    nonce = secrets.token_hex(8)
    code = code_from(authorize(sso, s, "staffportal", challenge, nonce), rp["redirect_uris"][0])
    assert code, "no authorization code for a staff login"
    # A wrong verifier: refused, and the code is spent.
    bad = token(sso, s, "staffportal", code, "x" * 50)
    assert bad.status_code == 400, bad.text
    code = code_from(authorize(sso, s, "staffportal", challenge, nonce), rp["redirect_uris"][0])
    assert code
    missing = token(sso, s, "staffportal", code, None)
    assert missing.status_code == 400, missing.text
    code = code_from(authorize(sso, s, "staffportal", challenge, nonce), rp["redirect_uris"][0])
    assert code
    good = token(sso, s, "staffportal", code, verifier)
    assert good.status_code == 200, good.text
    body: dict[str, Any] = good.json()
    signing = _jwks(sso).get_signing_key_from_jwt(body["id_token"]).key
    claims = jwt.decode(body["id_token"], signing, algorithms=["RS256"],
                        audience=rp["client_id"], issuer=sso.decl["issuer"])
    assert claims["sub"] == uid and claims["nonce"] == nonce
    assert claims["access_level"] == "staff"
    assert "staff" in claims["groups"], claims
    info = sso.browser().get(f"{sso.base}/oauth2/userinfo",
                 headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=30)
    assert info.status_code == 200 and info.json()["access_level"] == "staff", info.text


@pytest.mark.control("SSO-PKCE-01")
def test_authorize_without_pkce_is_refused(sso: Sso) -> None:
    s = sso.browser()
    uid, password = _staff(sso)
    assert staff_login(sso, s, uid, password).get("result") == 1
    r = authorize(sso, s, "staffportal", None)
    assert code_from(r, sso.rp("staffportal")["redirect_uris"][0]) is None, r.headers


@pytest.mark.control("SSO-AUD-01")
def test_a_token_for_one_relying_party_is_refused_by_another(sso: Sso) -> None:
    s = sso.browser()
    uid, password = _staff(sso)
    assert staff_login(sso, s, uid, password).get("result") == 1
    verifier, challenge = pkce()
    code = code_from(authorize(sso, s, "staffportal", challenge),
                     sso.rp("staffportal")["redirect_uris"][0])
    assert code
    # Another relying party cannot redeem it with its own credentials...
    stolen = sso.browser().post(
        f"{sso.base}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
              "redirect_uri": sso.rp("staffportal")["redirect_uris"][0]},
        auth=(sso.rp("eservices")["client_id"], sso.rp_secret("eservices")), timeout=30)
    assert stolen.status_code in (400, 401), stolen.text
    assert "access_token" not in stolen.text
    # ...and an ID token issued to one does not verify for the other's audience.
    code = code_from(authorize(sso, s, "staffportal", challenge),
                     sso.rp("staffportal")["redirect_uris"][0])
    assert code
    ok = token(sso, s, "staffportal", code, verifier)
    assert ok.status_code == 200, ok.text
    id_token = ok.json()["id_token"]
    key = _jwks(sso).get_signing_key_from_jwt(id_token).key
    jwt.decode(id_token, key, algorithms=["RS256"], audience="staffportal")
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(id_token, key, algorithms=["RS256"], audience="eservices")
