"""The TAXISnet bridge's translation: GSIS's XML userinfo -> OIDC claims, authorize
redirects, client authentication, tokens (roles/identity/files/taxisnet_bridge.py)."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from doubles.gsis import Person
from jwt.algorithms import RSAAlgorithm

from unit.bridge_loader import load_bridge

tb = load_bridge()

CLIENT = "heraklion-sso"
CALLBACK = "https://id.heraklion.gr/oidc/callback"
GSIS = "https://oauth2.gsis.gr/oauth2server"


def config(**over: Any) -> Any:
    data = {"issuer": "http://127.0.0.1:8471", "gsis_authorize": f"{GSIS}/oauth/authorize",
            "gsis_token": f"{GSIS}/oauth/token", "gsis_userinfo": f"{GSIS}/userinfo?format=xml",
            "gsis_logout": f"{GSIS}/logout/{CLIENT}/", "key_file": "/nonexistent",
            "client_ids": [CLIENT], "redirect_uris": [CALLBACK],
            **over}
    return tb.Config.from_dict(data)


@pytest.fixture(scope="module")
def key() -> Any:
    return tb.SigningKey.from_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_userinfo_values_are_trimmed_and_mapped() -> None:
    claims = tb.parse_userinfo_xml(Person(lastname="ΠΑΠΑΔΟΠΟΥΛΟΣ").xml(pad=5))
    assert claims == {"gsis_userid": "User068933130", "taxid": "068933130",
                      "family_name": "ΠΑΠΑΔΟΠΟΥΛΟΣ", "given_name": "ΓΕΩΡΓΙΟΣ",
                      "father_name": "ΙΩΑΝΝΗΣ", "mother_name": "ΜΑΡΙΑ", "birth_year": "1970"}  # noqa: RUF001


def test_userinfo_without_root_wrapper_is_read_too() -> None:
    body = b'<userinfo userid="u" taxid=" 123456789 " lastname="A" firstname="B"/>'
    assert tb.parse_userinfo_xml(body)["taxid"] == "123456789"


@pytest.mark.parametrize(("body", "why"), [
    (b'<root><userinfo taxid="   " lastname="A"/></root>', "no valid tax id"),
    (b'<root><userinfo taxid="12345" lastname="A"/></root>', "no valid tax id"),
    (b'<root><userinfo taxid="12345678X"/></root>', "no valid tax id"),
    (b"<root><other/></root>", "no <userinfo>"),
    (b'{"taxid": "068933130"}', "not XML"),
    (b'<!DOCTYPE r [<!ENTITY a "x">]><root><userinfo taxid="&a;"/></root>', "DTD"),
])
def test_userinfo_without_a_usable_tax_id_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(tb.OAuthError) as err:
        tb.parse_userinfo_xml(body)
    assert why in err.value.description and err.value.status == 502


def test_claims_carry_the_tax_id_as_subject_and_full_access() -> None:
    claims = tb.person_claims({"taxid": "068933130", "given_name": "Γ", "family_name": "Π"},
                              "full")
    assert claims["sub"] == "068933130" and claims["access_level"] == "full"
    assert claims["name"] == "Γ Π" and claims["amr"] == ["taxisnet"]
    assert "email" not in claims


def test_authorize_goes_to_gsis_with_its_scope_and_the_relying_party_state() -> None:
    loc = tb.authorize_location(config(), {
        "response_type": "code", "client_id": CLIENT, "redirect_uri": CALLBACK,
        "state": "s-1", "scope": "openid profile", "nonce": "n-1", "prompt": "login"})
    url = urllib.parse.urlsplit(loc)
    assert f"{url.scheme}://{url.netloc}{url.path}" == \
        "https://oauth2.gsis.gr/oauth2server/oauth/authorize"
    q = dict(urllib.parse.parse_qsl(url.query))
    assert q == {"client_id": CLIENT, "redirect_uri": CALLBACK, "state": "s-1",
                 "response_type": "code", "scope": "read"}


@pytest.mark.parametrize(("query", "error"), [
    ({"response_type": "token", "client_id": CLIENT, "redirect_uri": CALLBACK},
     "unsupported_response_type"),
    ({"response_type": "code", "client_id": "other", "redirect_uri": CALLBACK},
     "unauthorized_client"),
    ({"response_type": "code", "client_id": CLIENT, "redirect_uri": "https://evil.example/cb"},
     "invalid_request"),
])
def test_authorize_refuses_what_was_not_registered(query: dict[str, str], error: str) -> None:
    with pytest.raises(tb.OAuthError) as err:
        tb.authorize_location(config(), query)
    assert err.value.error == error


def test_logout_goes_to_gsis_logout_with_the_return_url() -> None:
    loc = tb.logout_location(config(), {"post_logout_redirect_uri": "https://id.heraklion.gr/"})
    assert loc == ("https://oauth2.gsis.gr/oauth2server/logout/heraklion-sso/"
                   "?url=https%3A%2F%2Fid.heraklion.gr%2F")


def test_client_credentials_basic_and_post() -> None:
    basic = "Basic " + base64.b64encode(b"heraklion-sso:s%3Acret").decode()
    assert tb.client_credentials(basic, {}) == (CLIENT, "s:cret")
    assert tb.client_credentials(None, {"client_id": CLIENT, "client_secret": "x"}) == \
        (CLIENT, "x")
    with pytest.raises(tb.OAuthError) as err:
        tb.client_credentials(None, {"client_id": CLIENT})
    assert err.value.status == 401 and err.value.error == "invalid_client"


def test_id_token_verifies_with_the_published_key_only(key: Any) -> None:
    cfg = config()
    token = tb.mint(key, cfg, CLIENT, {"sub": "068933130", "access_level": "full"}, 1_700_000_000)
    assert jwt.get_unverified_header(token)["kid"] == key.kid == key.jwk["kid"]
    public = RSAAlgorithm.from_jwk(key.jwk)
    assert isinstance(public, rsa.RSAPublicKey)  # a JWK without the private numbers
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=CLIENT,
                        issuer=cfg.issuer, options={"verify_exp": False})
    assert claims["sub"] == "068933130" and claims["exp"] - claims["iat"] == cfg.token_lifetime
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["RS256"], audience=CLIENT,
                   options={"verify_exp": False})


def test_userinfo_accepts_the_bridge_access_token_not_an_id_token(key: Any) -> None:
    import time
    cfg = config()
    now = int(time.time())
    access = tb.mint(key, cfg, CLIENT, {"sub": "068933130", "scope": "openid"}, now,
                     typ="at+jwt")
    assert tb.read_access_token(key, cfg, access) == {"sub": "068933130"}
    id_token = tb.mint(key, cfg, CLIENT, {"sub": "068933130"}, now)
    with pytest.raises(tb.OAuthError):
        tb.read_access_token(key, cfg, id_token)
    expired = tb.mint(key, cfg, CLIENT, {"sub": "1"}, now - 3600, typ="at+jwt")
    with pytest.raises(tb.OAuthError):
        tb.read_access_token(key, cfg, expired)


def test_key_id_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1's example key and thumbprint.
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
         "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
         "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
         "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    assert tb.jwk_thumbprint({"kty": "RSA", "e": "AQAB", "n": n}) == \
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(("over", "why"), [
    ({"gsis_token": "http://oauth2.gsis.gr/oauth2server/oauth/token"}, "must be https"),
    ({"colour": "blue"}, "unknown settings: colour"),
    ({"client_ids": []}, "'client_ids' \\(or 'client_id'\\) is required"),
    ({"issuer": "http://127.0.0.1:8471/"}, "must not end with '/'"),
])
def test_bad_configuration_is_refused_naming_the_setting(over: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        config(**over)


def test_discovery_names_the_bridge_endpoints() -> None:
    doc = tb.discovery(config(issuer="https://id.heraklion.gr/gsis-bridge",
                              backchannel_base="http://127.0.0.1:8471"))
    assert doc["issuer"] == "https://id.heraklion.gr/gsis-bridge"
    assert doc["authorization_endpoint"] == "https://id.heraklion.gr/gsis-bridge/authorize"
    assert doc["end_session_endpoint"] == "https://id.heraklion.gr/gsis-bridge/logout"
    assert doc["token_endpoint"] == "http://127.0.0.1:8471/token"
    assert doc["jwks_uri"] == "http://127.0.0.1:8471/jwks"
    assert "access_level" in doc["claims_supported"]
