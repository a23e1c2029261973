"""The requests the `wso2` provider sends to WSO2 Identity Server's management API:
every body validated against WSO2's published OpenAPI files (skipped, saying why, where
they are absent), and the module's convergence (create, then send nothing; update what
changed) against a double of the API that refuses bodies the files reject."""

from __future__ import annotations

import base64
import copy
import importlib.util
from types import ModuleType

import pytest
from doubles.wso2_api import Client, HTTPError, Wso2Api

from municloud.core import paths
from municloud.identity import wso2_api
from unit.identity_samples import secrets, wso2_identity
from unit.wso2_openapi import reference, validate


def load_module() -> ModuleType:
    path = paths.ROLES / "identity" / "library" / "wso2_resource.py"
    spec = importlib.util.spec_from_file_location("wso2_resource", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def planned() -> list[wso2_api.Resource]:
    reference()  # skip the module's API tests without WSO2's files
    return wso2_api.resources(wso2_identity(), secrets())


def all_requests(res: list[wso2_api.Resource]) -> list[tuple[str, wso2_api.Request]]:
    return [(f"{r.kind} {r.name} {q.method} {q.path}", q)
            for r in res for q in (r.create, *r.updates)]


def test_every_body_matches_the_published_api(planned: list[wso2_api.Resource]) -> None:
    reqs = all_requests(planned)
    assert len(reqs) >= 20
    for label, req in reqs:
        try:
            validate(req.method, req.path, req.body)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from exc


def test_the_validator_catches_a_wrong_body(planned: list[wso2_api.Resource]) -> None:
    """The guard can fail: a typo'd field, a wrong type, a read-only field, a wrong path."""
    idp = next(r for r in planned if r.kind == "identity_provider")
    body = copy.deepcopy(idp.create.body)
    body["federatedAuthenticators"]["authenticators"][0]["isEnabled"] = "yes"
    with pytest.raises(AssertionError, match="is not of type 'boolean'"):
        validate("POST", idp.create.path, body)
    body = copy.deepcopy(idp.create.body)
    body["idpIssuer"] = "typo"
    with pytest.raises(AssertionError, match=r"does not declare.*idpIssuer"):
        validate("POST", idp.create.path, body)
    body = copy.deepcopy(idp.create.body)
    body["federatedAuthenticators"]["authenticators"][0]["name"] = "read-only"
    with pytest.raises(AssertionError):
        validate("POST", idp.create.path, body)
    with pytest.raises(AssertionError, match="no such operation"):
        validate("POST", wso2_api.API + "/identity-provider", idp.create.body)
    app = next(r for r in planned if r.kind == "application")
    broken = copy.deepcopy(app.create.body)
    del broken["inboundProtocolConfiguration"]["oidc"]["grantTypes"]
    with pytest.raises(AssertionError, match="grantTypes"):
        validate("POST", app.create.path, broken)


def test_authenticator_ids_are_wso2s() -> None:
    # The value of WSO2's own Google sample (wso2/samples-is).
    assert wso2_api.authenticator_id("GoogleOIDCAuthenticator") == \
        "R29vZ2xlT0lEQ0F1dGhlbnRpY2F0b3I"
    assert wso2_api.authenticator_id("OpenIDConnectAuthenticator") == \
        "T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I"


def test_taxisnet_goes_through_the_bridge(planned: list[wso2_api.Resource]) -> None:
    idp = next(r for r in planned if r.name == "taxisnet")
    body = idp.create.body
    props = {p["key"]: p["value"]
             for p in body["federatedAuthenticators"]["authenticators"][0]["properties"]}
    assert props["OAuth2AuthzEPUrl"] == "https://id.heraklion.gr/gsis-bridge/authorize"
    assert props["OAuth2TokenEPUrl"] == "http://127.0.0.1:8471/token"
    # WSO2 is the bridge's own client; the bridge holds GSIS's credentials.
    assert props["ClientId"] == "identity" and props["ClientSecret"] == "bridge-secret"
    assert props["callbackUrl"] == "https://id.heraklion.gr/commonauth"
    assert body["idpIssuerName"] == "https://id.heraklion.gr/gsis-bridge"
    assert body["certificate"] == {"jwksUri": "http://127.0.0.1:8471/jwks"}
    assert {"idpClaim": "taxid", "localClaim": {"uri": "http://wso2.org/claims/tax_id"}} in \
        body["claims"]["mappings"]
    assert body["claims"]["provisioningClaims"][0]["defaultValue"] == "full"
    assert body["provisioning"]["jit"]["isEnabled"] is False


def test_a_staff_only_service_offers_only_the_staff_login(
        planned: list[wso2_api.Resource]) -> None:
    webmail = next(r for r in planned if r.name == "webmail")
    steps = webmail.create.body["authenticationSequence"]["steps"]
    local = {"idp": "LOCAL", "authenticator": "BasicAuthenticator"}
    assert steps == [{"id": 1, "options": [local]}]
    script = webmail.create.body["authenticationSequence"]["script"]
    assert 'var accepted = ["staff"];' in script and "sendError(" in script
    portal = next(r for r in planned if r.name == "eservices")
    idps = [o["idp"] for o in portal.create.body["authenticationSequence"]["steps"][0]["options"]]
    assert idps == ["taxisnet", "google", "facebook", "LOCAL"]
    oidc = portal.create.body["inboundProtocolConfiguration"]["oidc"]
    assert oidc["callbackURLs"] == [
        r"regexp=(https://eservices\.heraklion\.gr/callback|https://eservices\.heraklion\.gr/)"]
    assert oidc["idToken"]["audience"] == ["eservices"]


def test_a_missing_secret_is_named() -> None:
    s = secrets()
    del s["google"]
    with pytest.raises(KeyError, match="google"):
        wso2_api.resources(wso2_identity(), s)


def test_no_default_credential_in_any_body(planned: list[wso2_api.Resource]) -> None:
    for label, req in all_requests(planned):
        text = repr(req.body).lower()
        assert "'admin'" not in text and "wso2carbon" not in text, label


def test_second_run_sends_nothing_and_a_change_is_sent_again(
        planned: list[wso2_api.Resource]) -> None:
    mod = load_module()
    api = Wso2Api(validate)
    first = mod.converge(Client(api), [r.as_dict() for r in planned])
    assert {a["action"] for a in first} == {"created"} and len(api.writes) == len(planned)
    api.writes.clear()
    second = mod.converge(Client(api), [r.as_dict() for r in planned])
    assert {a["action"] for a in second} == {"unchanged"} and api.writes == []
    # A rotated Google secret: the Google identity provider alone is updated.
    rotated = secrets() | {"google": "rotated"}
    third = mod.converge(Client(api), [r.as_dict() for r in
                                       wso2_api.resources(wso2_identity(), rotated)])
    assert [a["name"] for a in third if a["action"] == "updated"] == ["google"]
    assert api.writes and all("/identity-providers/" in w for w in api.writes)
    # Check mode: reports the change, sends only look-ups.
    api.writes.clear()
    again = secrets() | {"google": "rotated-twice"}
    checked = mod.converge(Client(api), [r.as_dict() for r in
                                         wso2_api.resources(wso2_identity(), again)], True)
    assert [a["action"] for a in checked if a["name"] == "google"] == ["updated"]
    assert api.writes == []


def test_the_double_refuses_an_invalid_body(planned: list[wso2_api.Resource]) -> None:
    api = Wso2Api(validate)
    with pytest.raises(HTTPError) as err:
        api.call("POST", wso2_api.API + "/identity-providers", {"description": "no name"})
    assert err.value.code == 400


def test_module_client_sends_basic_auth() -> None:
    mod = load_module()
    c = mod.Client("https://127.0.0.1:9443", "municloud-admin", "p:w", None)
    sent = base64.b64encode(b"municloud-admin:p:w").decode()
    assert c.headers["Authorization"] == f"Basic {sent}"


def test_dialect_id_of_oidc_claims() -> None:
    assert wso2_api.dialect_id("http://wso2.org/oidc/claim") == \
        "aHR0cDovL3dzbzIub3JnL29pZGMvY2xhaW0"


