"""The identity declaration: `inventories/<env>/identity.yml`, one per environment.

It says which provider runs the single sign-on (`lemonldap` or `wso2`), which login
choices the portal shows (in page order) and the access level each grants, where each
upstream provider is (kind, endpoints, client id, where its client secret comes from),
which extra relying parties exist besides the services' own `needs.oidc_client`, how
claims are mapped and how long sessions and tokens live. Both providers' roles read the
same structure (`municloud_identity`, exported by the inventory to the identity hosts).

`load(env, topo)` returns a validated `Identity` or raises `InvalidInput` naming the
file, the field, what is wrong and what is allowed. Field reference: docs/identity.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from municloud.core import needs, paths
from municloud.core.errors import InvalidInput, Problem
from municloud.core.services import LEVELS
from municloud.core.topology import Topology, _shown, validated
from municloud.core.topology import _from_pydantic as _topology_problem

# LEVELS: the access levels of the login page (TAXISnet = full, Google/Facebook =
# limited, a staff account of the directory = staff), defined with the needs contract
# (municloud.core.services); relying parties accept a subset.
PROVIDERS: tuple[str, ...] = ("lemonldap", "wso2")
# Upstream kinds: `directory` (staff: the municipality's LDAP, over LDAPS), `oidc` (an
# OpenID Connect provider found through its issuer's discovery document: Google),
# `facebook` (Facebook's OAuth2 + Graph API; LemonLDAP::NG treats it as a generic OIDC
# upstream when `issuer` is given, see roles/identity/README.md), `gsis` (TAXISnet:
# OAuth2 with an XML userinfo, reached through the GSIS bridge on the identity host).
KINDS: tuple[str, ...] = ("directory", "oidc", "facebook", "gsis")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VAR_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# Claims a relying party may ask for; `access_level` is set by the login choice.
CLAIMS: tuple[str, ...] = ("sub", "uid", "mail", "groups", "name", "given_name",
                           "family_name", "tax_id", "access_level")


def identity_file(env: str) -> Path:
    return paths.inventories() / env / "identity.yml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Model):
    """Where an upstream's client secret comes from.

    `vault`: an Ansible variable (named by `var`) defined in a vaulted group_vars file of
    the environment; the play refuses to start when it is undefined or empty.
    `generated`: only for the lab's test doubles: generated on the controller at
    <secrets>/identity/upstreams/<choice>.client-secret (0600), where the doubles the
    tests start read it. A real upstream issues its secret, so an openstack environment
    refuses `generated`.
    """

    source: Literal["vault", "generated"]
    var: str | None = None


class Endpoints(_Model):
    """Explicit OAuth2 endpoints (gsis, facebook; optional for oidc, which discovers them)."""

    authorize: str | None = None
    token: str | None = None
    userinfo: str | None = None
    jwks: str | None = Field(default=None, description="oidc: the signing keys of id tokens")
    logout: str | None = None


class Choice(_Model):
    """One way in on the login page."""

    name: str
    label: str
    level: str
    kind: Literal["directory", "oidc", "facebook", "gsis"]
    # Upstreams (not directory):
    client_id: str | None = None
    client_secret: Secret | None = None
    issuer: str | None = Field(default=None, description="oidc: discovery at "
                               "<issuer>/.well-known/openid-configuration")
    endpoints: Endpoints = Endpoints()
    scopes: list[str] = []
    ca_file: str | None = Field(default=None, description="CA bundle on the identity host "
                                "the upstream's TLS chains to (default: the system's)")
    # The upstream attribute (or directory attribute) that becomes the stable subject.
    subject: str
    # Our claim -> upstream attribute.
    claims: dict[str, str] = {}


class Sessions(_Model):
    idle_minutes: int = Field(default=30, gt=0, le=24 * 60)
    lifetime_hours: int = Field(default=8, gt=0, le=72)
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    id_token_seconds: int = Field(default=300, ge=30, le=3600)
    code_seconds: int = Field(default=60, ge=10, le=600)


class RelyingParty(_Model):
    """A relying party not backed by a service of this suite (e.g. an e-services portal).

    Services' own relying parties come from their `needs.oidc_client` and are not
    restated here."""

    name: str
    redirect_uris: list[str] = Field(min_length=1)
    post_logout_uris: list[str] = []
    levels: list[str] = ["staff"]
    claims: list[str] = ["sub", "access_level"]


class Manager(_Model):
    """The provider's administration interface (LemonLDAP::NG manager, WSO2 console)."""

    admin_group: str = Field(description="directory group whose members may use it")


class Identity(_Model):
    provider: Literal["lemonldap", "wso2"]
    choices: list[Choice] = Field(min_length=1)
    relying_parties: list[RelyingParty] = []
    sessions: Sessions = Sessions()
    manager: Manager
    # Explanations shown on the refusal page: why a level cannot open a service.
    level_descriptions: dict[str, str] = {}

    def choice(self, name: str) -> Choice:
        for c in self.choices:
            if c.name == name:
                return c
        raise KeyError(name)


def _problem(shown: str, err: Any) -> Problem:
    p = _topology_problem(shown, err)
    if err["type"] == "extra_forbidden":
        return Problem(p.file, p.path, p.problem, "the fields documented in docs/identity.md")
    return p


def in_domain(url: str, domain: str) -> bool:
    """An https URL whose host is the municipality's domain or a name under it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host == domain or host.endswith("." + domain))


def _https(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


def check(ident: Identity, topo: Topology, shown: str,
          consumers: list[dict[str, Any]]) -> list[Problem]:
    """Semantic checks: references between entries, levels, domains, secrets."""
    problems: list[Problem] = []
    domain = topo.municipality.domain
    levels = ", ".join(LEVELS)

    def add(path: str, problem: str, allowed: str = "") -> None:
        problems.append(Problem(shown, path, problem, allowed))

    if "identity" not in topo.services():
        add("provider", "the topology runs no identity host",
            "add 'identity' to some host's services in topology.yml")
    if "identity" not in topo.public_names:
        add("provider", "the topology has no public name for identity",
            "public_names.identity in topology.yml")

    def names_of(section: str, names: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if not NAME_RE.match(name):
                add(f"{section}[{i}].name", f"invalid name {name!r}",
                    "lower-case letters, digits, - and _")
            if name in seen:
                add(f"{section}[{i}].name",
                    f"duplicate name {name!r} (also {section}[{seen[name]}])", "unique names")
            seen.setdefault(name, i)

    names_of("choices", [c.name for c in ident.choices])
    names_of("relying_parties", [r.name for r in ident.relying_parties])
    for i, c in enumerate(ident.choices):
        at = f"choices[{i}]"
        if c.level not in LEVELS:
            add(f"{at}.level", f"choice {c.name!r}: unknown access level {c.level!r}", levels)
        for claim in c.claims:
            if claim not in CLAIMS or claim == "access_level":
                add(f"{at}.claims.{claim}", f"choice {c.name!r}: unknown claim {claim!r}",
                    ", ".join(x for x in CLAIMS if x != "access_level")
                    + " (access_level comes from the level)")
        if c.kind == "directory":
            for field in ("client_id", "client_secret", "issuer"):
                if getattr(c, field) is not None:
                    add(f"{at}.{field}", f"choice {c.name!r}: a directory choice has no {field}",
                        "only name, label, level, kind, subject, claims")
            continue
        if not c.client_id:
            add(f"{at}.client_id", f"upstream {c.name!r} has no client id",
                "the client id the upstream issued to the municipality")
        if c.client_secret is None:
            add(f"{at}.client_secret", f"upstream {c.name!r} has no client secret",
                "{source: vault, var: <vaulted variable>} (or {source: generated} for a "
                "lab test double)")
        elif c.client_secret.source == "vault":
            if not c.client_secret.var or not VAR_RE.match(c.client_secret.var):
                add(f"{at}.client_secret.var",
                    f"upstream {c.name!r}: a vaulted secret needs the variable's name",
                    "a variable name such as vault_identity_google_client_secret")
        elif c.client_secret.source == "generated" and topo.platform != "lab":
            add(f"{at}.client_secret.source",
                f"upstream {c.name!r}: a generated secret only suits a lab test double",
                "vault (the upstream issues the secret)")
        wanted: tuple[str, ...] = ("authorize", "token", "userinfo")
        if c.kind == "oidc":
            wanted += ("jwks",)
            if not c.issuer or not _https(c.issuer):
                add(f"{at}.issuer", f"upstream {c.name!r}: missing or not an https URL",
                    "the issuer, e.g. https://accounts.google.com")
        for ep in wanted:
            url = getattr(c.endpoints, ep)
            if not url or not _https(url):
                add(f"{at}.endpoints.{ep}",
                    f"upstream {c.name!r} ({c.kind}): missing or not an https URL",
                    "an https URL of the upstream")
        if c.issuer is not None and not _https(c.issuer):
            add(f"{at}.issuer", f"upstream {c.name!r}: not an https URL", "an https URL")
    if not any(c.kind == "directory" for c in ident.choices):
        add("choices", "no staff (directory) login choice",
            "a choice with kind: directory, level: staff")

    for lvl in ident.level_descriptions:
        if lvl not in LEVELS:
            add(f"level_descriptions.{lvl}", f"unknown access level {lvl!r}", levels)

    names = {c["service"] for c in consumers}
    for i, rp in enumerate(ident.relying_parties):
        at = f"relying_parties[{i}]"
        if rp.name in names:
            add(f"{at}.name", f"relying party {rp.name!r} is the service {rp.name!r}, whose "
                "client comes from its needs.oidc_client",
                f"a name other than {', '.join(sorted(names))}")
        for field in ("redirect_uris", "post_logout_uris"):
            for k, uri in enumerate(getattr(rp, field)):
                if not in_domain(uri, domain):
                    add(f"{at}.{field}[{k}]",
                        f"relying party {rp.name!r}: {uri!r} is outside the municipality's "
                        f"domain", f"an https URL on {domain} or a name under it")
        for k, lvl in enumerate(rp.levels):
            if lvl not in LEVELS:
                add(f"{at}.levels[{k}]",
                    f"relying party {rp.name!r} accepts an access level that does not exist: "
                    f"{lvl!r}", levels)
        if not rp.levels:
            add(f"{at}.levels", f"relying party {rp.name!r} accepts no level", levels)
        for k, claim in enumerate(rp.claims):
            if claim not in CLAIMS:
                add(f"{at}.claims[{k}]", f"relying party {rp.name!r}: unknown claim {claim!r}",
                    ", ".join(CLAIMS))
    for need in consumers:
        svc = need["service"]
        for k, lvl in enumerate(need.get("levels", [])):
            if lvl not in LEVELS:
                add(f"(service {svc}) needs.oidc_client.levels[{k}]",
                    f"unknown access level {lvl!r}", levels)
        for uri in list(need.get("redirect_uris", [])) + list(need.get("post_logout_uris", [])):
            if not in_domain(uri, domain):
                add(f"(service {svc}) needs.oidc_client",
                    f"{uri!r} is outside the municipality's domain",
                    f"a public name on {domain} in topology.yml")
    return problems


def load_file(path: Path, topo: Topology, consumers: list[dict[str, Any]]) -> Identity:
    ident, shown = validated(path, Identity, _problem)
    problems = check(ident, topo, shown, consumers)
    if problems:
        raise InvalidInput(problems)
    return ident


# The GSIS bridge (TAXISnet OAuth2 + XML userinfo -> OpenID Connect) on the identity
# host: it listens on loopback, the identity host's web server publishes it under
# BRIDGE_PATH of the identity public name (browsers are sent to its authorize endpoint),
# and the provider is its only relying party (client id BRIDGE_CLIENT_ID, secret at
# <secrets>/identity/gsis-bridge.client-secret).
BRIDGE_PORT = 8471
BRIDGE_PATH = "/gsis-bridge"
BRIDGE_CLIENT_ID = "identity"


def oidc_consumers(topo: Topology) -> list[dict[str, Any]]:
    """The services' `needs.oidc_client`, as the inventory exports them
    (`municloud_consumers.oidc_client`)."""
    found: list[dict[str, Any]] = needs.consumers(topo).get("oidc_client", [])
    return found


def load(topo: Topology) -> Identity | None:
    """The environment's identity declaration; None when the topology runs no identity host
    and the file is absent."""
    f = identity_file(topo.environment)
    if not f.exists():
        if "identity" in topo.services():
            raise InvalidInput([Problem(_shown(f), "", "missing: the topology runs identity",
                                        "an identity declaration, see docs/identity.md")])
        return None
    return load_file(f, topo, oidc_consumers(topo))


def export(ident: Identity, topo: Topology, consumers: list[dict[str, Any]],
           secrets_dir: Path) -> dict[str, Any]:
    """`municloud_identity`, the structure both providers' roles read on the identity hosts."""
    public = topo.public_names["identity"]
    base = f"https://{public}"
    sec = secrets_dir / "identity"
    choices: list[dict[str, Any]] = []
    for c in ident.choices:
        out = c.model_dump(mode="json")
        if c.client_secret is not None:
            out["client_secret"] = {
                "source": c.client_secret.source,
                "var": c.client_secret.var,
                "file": (str(sec / "upstreams" / f"{c.name}.client-secret")
                         if c.client_secret.source == "generated" else None),
            }
        if c.kind == "gsis":
            out["bridge"] = {
                "listen": f"127.0.0.1:{BRIDGE_PORT}",
                "path": BRIDGE_PATH,
                "issuer": base + BRIDGE_PATH,
                "client_id": BRIDGE_CLIENT_ID,
                "client_secret_file": str(sec / "gsis-bridge.client-secret"),
                "redirect_uri": f"{base}/?openidconnectcallback=1",
                # Browsers go to the public authorize endpoint; the provider calls the
                # others over loopback. Claims: sub = the trimmed tax id, plus the GSIS
                # userinfo attributes by their own names (taxid, firstname, lastname, ...).
                "endpoints": {
                    "authorize": f"{base}{BRIDGE_PATH}/authorize",
                    "token": f"http://127.0.0.1:{BRIDGE_PORT}/token",
                    "userinfo": f"http://127.0.0.1:{BRIDGE_PORT}/userinfo",
                    "jwks": f"http://127.0.0.1:{BRIDGE_PORT}/jwks",
                },
            }
        choices.append(out)
    rps: list[dict[str, Any]] = []
    for need in consumers:
        rps.append({"name": need["service"],
                    "client_id": need.get("client_id", need["service"]),
                    "redirect_uris": list(need["redirect_uris"]),
                    "post_logout_uris": list(need.get("post_logout_uris", [])),
                    "levels": list(need.get("levels", ["staff"])),
                    "claims": list(need.get("claims", [])),
                    "access_token_seconds": need.get("access_token_seconds"),
                    "origin": "service"})
    for declared in ident.relying_parties:
        rps.append({"name": declared.name, "client_id": declared.name,
                    "redirect_uris": list(declared.redirect_uris),
                    "post_logout_uris": list(declared.post_logout_uris),
                    "levels": list(declared.levels), "claims": list(declared.claims),
                    "access_token_seconds": None, "origin": "identity.yml"})
    for entry in rps:
        entry["client_secret_file"] = str(sec / "clients" / f"{entry['name']}.secret")
    rps.sort(key=lambda r: r["name"])
    admin_sources = [n.cidr for n in topo.networks_with_purpose("management")]
    admin_sources += list(topo.access.admin_sources)
    return {
        "provider": ident.provider,
        "public_name": public,
        "issuer": base,
        # Where upstreams send the browser back (LemonLDAP::NG's OIDC callback; WSO2
        # registers its own /commonauth).
        "upstream_callback": f"{base}/?openidconnectcallback=1",
        "levels": list(LEVELS),
        "level_descriptions": dict(ident.level_descriptions),
        "choices": choices,
        "relying_parties": rps,
        "sessions": ident.sessions.model_dump(),
        # The administration's own name, under the SSO cookie's domain (its session is the
        # portal's): the identity host's certificate carries it (municloud_tls_names).
        "manager": {**ident.manager.model_dump(), "name": f"manager.{public}",
                    "sources": admin_sources},
        "secrets_dir": str(sec),
    }
