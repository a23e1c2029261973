"""WSO2 Identity Server management REST API: every request the `wso2` provider sends,
built from the identity declaration (`municloud_identity`, see declaration.py).

The role never writes a request body by hand: its filter plugin
(roles/identity/filter_plugins/wso2.py) calls `resources()` on the controller and hands
the result to the module `wso2_resource` (roles/identity/library/), which runs on the
identity host and, per resource, looks it up by name, creates it when absent, updates it
when the declaration changed and sends nothing otherwise. Whether the declaration
changed is told by a revision (a hash of the bodies, secrets included, so a rotated
secret is sent again) that the resource carries in its description; claims, which have no
such field, are compared field by field.

Every body is validated against WSO2's published OpenAPI files (identity-api-server
v1.5.31, pinned by IS 7.x) in tests/unit/test_wso2_api.py.

Paths are relative to ``https://<host>:9443/t/carbon.super/api/server/v1``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

API = "/t/carbon.super/api/server/v1"
LOCAL_DIALECT = "local"
OIDC_DIALECT_URI = "http://wso2.org/oidc/claim"
# Template of WSO2's console for a standard OIDC web application.
OIDC_WEB_APP_TEMPLATE = "b9c5e11e-fc78-484b-9bec-015d247561b8"
# Our claim names -> WSO2 local claim URIs.
LOCAL_CLAIMS: dict[str, str] = {
    "sub": "http://wso2.org/claims/userid",
    "uid": "http://wso2.org/claims/username",
    "mail": "http://wso2.org/claims/emailaddress",
    "groups": "http://wso2.org/claims/groups",
    "name": "http://wso2.org/claims/displayName",
    "given_name": "http://wso2.org/claims/givenname",
    "family_name": "http://wso2.org/claims/lastname",
    "tax_id": "http://wso2.org/claims/tax_id",
    "access_level": "http://wso2.org/claims/access_level",
}
# Local claims WSO2 does not ship: {name: (display name, description, LDAP attribute)}.
# Citizens are never provisioned into the (read-only) directory: their values come from
# the federated login; the mapping only satisfies the claim model.
CUSTOM_CLAIMS: dict[str, tuple[str, str, str]] = {
    "tax_id": ("Tax id (AFM)", "The TAXISnet tax identifier of a citizen (AFM)", "carLicense"),
    "access_level": ("Access level", "full (TAXISnet), limited (Google, Facebook) or staff",
                     "employeeType"),
}
# Upstream kind -> (federated authenticator name, console connection template).
AUTHENTICATORS: dict[str, tuple[str, str]] = {
    "oidc": ("OpenIDConnectAuthenticator", "enterprise-idp"),
    "gsis": ("OpenIDConnectAuthenticator", "enterprise-idp"),
    "facebook": ("FacebookAuthenticator", "facebook-idp"),
}
LOCAL_AUTHENTICATOR = "BasicAuthenticator"
MANAGED = "Managed by municloud from identity.yml, do not edit here"


def authenticator_id(name: str) -> str:
    """WSO2 names an authenticator by the base64url (unpadded) of its name."""
    return base64.urlsafe_b64encode(name.encode()).rstrip(b"=").decode()


def dialect_id(uri: str) -> str:
    return authenticator_id(uri)


def revision(*bodies: Any) -> str:
    data = json.dumps(bodies, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def described(rev: str) -> str:
    return f"{MANAGED} (revision {rev})"


@dataclass(frozen=True)
class Request:
    method: str
    path: str            # may hold "{id}": the id of the resource found or created
    body: Any            # JSON body (secrets included: never logged)


@dataclass(frozen=True)
class Resource:
    """One resource of the management API, converged by the module wso2_resource."""

    kind: str            # identity_provider | application | local_claim | external_claim
    name: str
    lookup: str          # GET path listing candidates (filtered by name where supported)
    list_key: str        # key of the list in the GET answer
    match_key: str       # field of a list item equal to `name`
    revision: str        # "" for claims (compared field by field instead)
    create: Request
    updates: tuple[Request, ...]
    compare: dict[str, Any] | None = None   # claims: fields that must equal

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "lookup": self.lookup,
                "list_key": self.list_key, "match_key": self.match_key,
                "revision": self.revision, "compare": self.compare,
                "create": vars(self.create), "updates": [vars(u) for u in self.updates]}


@dataclass(frozen=True)
class Site:
    """What the bodies need besides the declaration."""

    public_name: str                       # the identity public name (id.<domain>)
    secrets: dict[str, str]                # choice name / relying party name -> secret
    staff_admin_group: str = ""

    @property
    def base(self) -> str:
        return f"https://{self.public_name}"

    @property
    def commonauth(self) -> str:
        return f"{self.base}/commonauth"


def bridge_secret_key(choice: dict[str, Any]) -> str:
    """Key in `secrets` of WSO2's secret as the bridge's own client."""
    return f"{choice['name']}.bridge"


def _filter(name: str) -> str:
    return quote(f"name eq {name}", safe="")


def _revised(kind: str, collection: str, list_key: str, body: dict[str, Any],
             updates: Callable[[str], tuple[Request, ...]]) -> Resource:
    """A named resource carrying its revision in its description (set on `body` here,
    before the updates, which may send it, are built)."""
    rev = revision(body)
    body["description"] = described(rev)
    return Resource(kind=kind, name=body["name"],
                    lookup=f"{API}/{collection}?filter={_filter(body['name'])}",
                    list_key=list_key, match_key="name", revision=rev,
                    create=Request("POST", f"{API}/{collection}", body), updates=updates(rev))


# --- identity providers -----------------------------------------------------------------


def _oidc_properties(choice: dict[str, Any], site: Site) -> list[dict[str, str]]:
    ep = choice.get("endpoints") or {}
    bridge = choice.get("bridge")
    if bridge:  # TAXISnet, through the GSIS bridge: OIDC towards WSO2.
        # Browsers reach the bridge under the identity public name; WSO2 itself calls
        # it on loopback (same host).
        issuer, local = bridge["issuer"], f"http://{bridge['listen']}"
        authorize, token, userinfo = (f"{issuer}/authorize", f"{local}/token",
                                      f"{local}/userinfo")
        logout = f"{issuer}/logout"
        scopes = "openid profile"
    else:
        authorize, token, userinfo = ep["authorize"], ep["token"], ep["userinfo"]
        logout = ep.get("logout") or ""
        scopes = " ".join(choice.get("scopes") or ["openid"])
    client, secret = choice["client_id"], site.secrets[choice["name"]]
    if bridge and bridge.get("client_id"):  # the bridge's own client (it holds GSIS's)
        client, secret = bridge["client_id"], site.secrets[bridge_secret_key(choice)]
    props = {
        "ClientId": client,
        "ClientSecret": secret,
        "OAuth2AuthzEPUrl": authorize,
        "OAuth2TokenEPUrl": token,
        "UserInfoUrl": userinfo,
        "callbackUrl": site.commonauth,
        "commonAuthQueryParams": f"scope={scopes}",
        "IsUserIdInClaims": "false",
        "IsBasicAuthEnabled": "true",
    }
    if logout:
        props["OIDCLogoutEPUrl"] = logout
    return [{"key": k, "value": v} for k, v in props.items()]


def _facebook_properties(choice: dict[str, Any], site: Site) -> list[dict[str, str]]:
    props = {
        "ClientId": choice["client_id"],
        "ClientSecret": site.secrets[choice["name"]],
        "Scope": ",".join(s for s in choice.get("scopes") or ["email", "public_profile"]
                          if s != "openid"),
        "UserInfoFields": "id,name,email",
        "callBackUrl": site.commonauth,
    }
    return [{"key": k, "value": v} for k, v in props.items()]


def _idp_claims(choice: dict[str, Any]) -> dict[str, Any]:
    """Upstream attributes -> local claims; access_level from the login's level."""
    mappings = [{"idpClaim": upstream, "localClaim": {"uri": LOCAL_CLAIMS[ours]}}
                for ours, upstream in sorted((choice.get("claims") or {}).items())
                if ours in LOCAL_CLAIMS]
    subject = "sub" if choice.get("bridge") or choice["kind"] == "oidc" else \
        choice.get("subject", "sub")
    mappings.append({"idpClaim": "access_level",
                     "localClaim": {"uri": LOCAL_CLAIMS["access_level"]}})
    if choice.get("bridge"):
        mappings.append({"idpClaim": "taxid", "localClaim": {"uri": LOCAL_CLAIMS["tax_id"]}})
    seen: set[str] = set()
    unique = []
    for m in mappings:
        if m["idpClaim"] not in seen:
            seen.add(m["idpClaim"])
            unique.append(m)
    return {
        "userIdClaim": {"uri": subject},
        "mappings": unique,
        # Google and Facebook do not say it: the level comes from the login choice.
        "provisioningClaims": [{"claim": {"uri": LOCAL_CLAIMS["access_level"]},
                                "defaultValue": choice["level"]}],
    }


def identity_provider(choice: dict[str, Any], site: Site) -> Resource:
    kind = choice["kind"]
    auth_name, template = AUTHENTICATORS[kind]
    auth_id = authenticator_id(auth_name)
    props = (_facebook_properties if kind == "facebook" else _oidc_properties)(choice, site)
    authenticators = {"defaultAuthenticatorId": auth_id,
                      "authenticators": [{"authenticatorId": auth_id, "isEnabled": True,
                                          "isDefault": True, "properties": props}]}
    claims = _idp_claims(choice)
    # Citizens are not provisioned into the municipality's (read-only) directory.
    jit = {"isEnabled": False, "scheme": "PROVISION_SILENTLY", "userstore": "PRIMARY"}
    body: dict[str, Any] = {
        "name": choice["name"],
        "templateId": template,
        "federatedAuthenticators": authenticators,
        "claims": claims,
        "provisioning": {"jit": jit},
    }
    bridge = choice.get("bridge")
    issuer = bridge["issuer"] if bridge else choice.get("issuer")
    if issuer:
        body["idpIssuerName"] = issuer
    endpoints = choice.get("endpoints") or {}
    jwks = f"http://{bridge['listen']}/jwks" if bridge else endpoints.get("jwks")
    if jwks:
        body["certificate"] = {"jwksUri": jwks}
    base = f"{API}/identity-providers/{{id}}"
    return _revised("identity_provider", "identity-providers", "identityProviders", body,
                    lambda rev: (
                        Request("PUT", f"{base}/federated-authenticators", authenticators),
                        Request("PUT", f"{base}/claims", claims),
                        Request("PUT", f"{base}/provisioning/jit", jit),
                        Request("PATCH", base, [{"operation": "REPLACE", "path": "/description",
                                                 "value": described(rev)}])))


# --- applications ------------------------------------------------------------------------


def _options(rp: dict[str, Any], choices: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for c in choices:
        if c["level"] not in rp["levels"]:
            continue
        if c["kind"] == "directory":
            out.append({"idp": "LOCAL", "authenticator": LOCAL_AUTHENTICATOR})
        else:
            out.append({"idp": c["name"], "authenticator": AUTHENTICATORS[c["kind"]][0]})
    return out


def level_script(rp: dict[str, Any], choices: list[dict[str, Any]], site: Site) -> str:
    """Adaptive script: the level of the login used must be one the relying party accepts;
    otherwise the person lands on the refusal page saying why."""
    levels = {("LOCAL" if c["kind"] == "directory" else c["name"]): c["level"] for c in choices}
    refused = f"{site.base}/authenticationendpoint/retry.do"
    return (
        "var levels = " + json.dumps(levels, sort_keys=True) + ";\n"
        "var accepted = " + json.dumps(sorted(rp["levels"])) + ";\n"
        "var onLoginRequest = function (context) {\n"
        "  executeStep(1, {\n"
        "    onSuccess: function (context) {\n"
        "      var level = levels[context.steps[1].idp];\n"
        "      if (accepted.indexOf(level) < 0) {\n"
        "        sendError(" + json.dumps(refused) + ", {'status': 'access_level',\n"
        "          'statusMsg': 'This service accepts ' + accepted.join(', ') +\n"
        "            ' logins; yours is ' + level + '.'});\n"
        "      }\n"
        "    }\n"
        "  });\n"
        "};\n")


def _callbacks(rp: dict[str, Any]) -> list[str]:
    uris = list(dict.fromkeys([*rp["redirect_uris"], *rp.get("post_logout_uris", [])]))
    if len(uris) == 1:
        return uris
    return ["regexp=(" + "|".join(u.replace(".", r"\.").replace("?", r"\?") for u in uris) + ")"]


def application(rp: dict[str, Any], choices: list[dict[str, Any]], site: Site,
                sessions: dict[str, Any]) -> Resource:
    token_seconds = rp.get("access_token_seconds") or sessions["access_token_seconds"]
    oidc: dict[str, Any] = {
        "clientId": rp["client_id"],
        "clientSecret": site.secrets[rp["name"]],
        "grantTypes": ["authorization_code", "refresh_token"],
        "callbackURLs": _callbacks(rp),
        "publicClient": False,
        "pkce": {"mandatory": False, "supportPlainTransformAlgorithm": False},
        "accessToken": {"type": "JWT",
                        "userAccessTokenExpiryInSeconds": token_seconds,
                        "applicationAccessTokenExpiryInSeconds": token_seconds},
        "idToken": {"expiryInSeconds": sessions["id_token_seconds"],
                    "audience": [rp["client_id"]]},
        "refreshToken": {"expiryInSeconds": sessions["lifetime_hours"] * 3600,
                         "renewRefreshToken": True},
    }
    claims = {
        "dialect": "LOCAL",
        "requestedClaims": [{"claim": {"uri": LOCAL_CLAIMS[c]}, "mandatory": c == "access_level"}
                            for c in rp.get("claims", []) if c in LOCAL_CLAIMS and c != "sub"],
        "subject": {"claim": {"uri": LOCAL_CLAIMS["uid"]}, "includeUserDomain": False,
                    "includeTenantDomain": False, "useMappedLocalSubject": False},
    }
    sequence = {"type": "USER_DEFINED",
                "steps": [{"id": 1, "options": _options(rp, choices)}],
                "script": level_script(rp, choices, site),
                "subjectStepId": 1, "attributeStepId": 1}
    body: dict[str, Any] = {
        "name": rp["name"],
        "templateId": OIDC_WEB_APP_TEMPLATE,
        "accessUrl": rp["redirect_uris"][0],
        "claimConfiguration": claims,
        "authenticationSequence": sequence,
        "advancedConfigurations": {"skipLoginConsent": True, "skipLogoutConsent": True},
        "inboundProtocolConfiguration": {"oidc": oidc},
    }
    base = f"{API}/applications/{{id}}"

    def updates(_: str) -> tuple[Request, ...]:
        patch = {k: v for k, v in body.items()
                 if k not in ("inboundProtocolConfiguration", "name", "templateId")}
        return (Request("PUT", f"{base}/inbound-protocols/oidc", oidc),
                Request("PATCH", base, patch))

    return _revised("application", "applications", "applications", body, updates)


# --- claims ------------------------------------------------------------------------------


def local_claim(name: str) -> Resource:
    display, description, attribute = CUSTOM_CLAIMS[name]
    body = {"claimURI": LOCAL_CLAIMS[name], "displayName": display, "description": description,
            "attributeMapping": [{"mappedAttribute": attribute, "userstore": "PRIMARY"}],
            "readOnly": True, "supportedByDefault": False, "required": False}
    compare = {"displayName": display, "description": description, "readOnly": True}
    return Resource(
        kind="local_claim", name=LOCAL_CLAIMS[name],
        lookup=f"{API}/claim-dialects/{LOCAL_DIALECT}/claims", list_key="", match_key="claimURI",
        revision="", compare=compare,
        create=Request("POST", f"{API}/claim-dialects/{LOCAL_DIALECT}/claims", body),
        updates=(Request("PUT", f"{API}/claim-dialects/{LOCAL_DIALECT}/claims/{{id}}", body),))


def oidc_claim(name: str) -> Resource:
    """The OIDC claim `name` (what relying parties read) mapped to our local claim."""
    dialect = dialect_id(OIDC_DIALECT_URI)
    body = {"claimURI": name, "mappedLocalClaimURI": LOCAL_CLAIMS[name]}
    return Resource(
        kind="external_claim", name=name,
        lookup=f"{API}/claim-dialects/{dialect}/claims", list_key="", match_key="claimURI",
        revision="", compare={"mappedLocalClaimURI": LOCAL_CLAIMS[name]},
        create=Request("POST", f"{API}/claim-dialects/{dialect}/claims", body),
        updates=(Request("PUT", f"{API}/claim-dialects/{dialect}/claims/{{id}}", body),))


# --- everything --------------------------------------------------------------------------


def resources(identity: dict[str, Any], secrets: dict[str, str]) -> list[Resource]:
    """Every resource the declaration implies, in the order they must exist: claims,
    identity providers, then the applications whose login steps name them."""
    site = Site(identity["public_name"], secrets,
                (identity.get("manager") or {}).get("admin_group", ""))
    choices = identity["choices"]
    needed = {c["name"] for c in choices if c["kind"] != "directory"}
    needed |= {rp["name"] for rp in identity["relying_parties"]}
    needed |= {bridge_secret_key(c) for c in choices if (c.get("bridge") or {}).get("client_id")}
    missing = sorted(needed - set(secrets))
    if missing:
        raise KeyError(f"no secret for: {', '.join(missing)}")
    out = [local_claim(n) for n in CUSTOM_CLAIMS]
    out += [oidc_claim(n) for n in CUSTOM_CLAIMS]
    out += [identity_provider(c, site) for c in choices if c["kind"] != "directory"]
    out += [application(rp, choices, site, identity["sessions"])
            for rp in identity["relying_parties"]]
    return out
