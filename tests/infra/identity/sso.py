"""The single sign-on as a person's browser and a relying party see it, from the lab
controller: the portal at the identity public name through the edge (names pinned to an
edge address, TLS verified against the municipal CA), scripted logins and the
authorization-code flow with PKCE."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from doubles import tls
from doubles.oidc_upstream import Upstream

from municloud.core import paths

from ..environment import ENV
from ..webclient import EdgeSession, ca_file

# The test people the doubles log in (one each).
PEOPLE: dict[str, dict[str, Any]] = {
    "google": {"sub": "g-4711", "email": "eleftheria.citizen@gmail.test",
               "name": "Eleftheria Citizen", "given_name": "Eleftheria",
               "family_name": "Citizen", "email_verified": True},
    "facebook": {"sub": "fb-1001", "email": "citizen@facebook.test", "name": "Fb Citizen"},
}

TOKEN_RE = re.compile(r'name="token"\s+value="([^"]+)"')
# Seconds a scripted request waits for the portal (scripts/bench-sso --timeout changes it).
TIMEOUT = 30


@dataclass(frozen=True)
class Sso:
    """What the tests need from the inventory."""

    decl: dict[str, Any]
    edge: str
    ca: Path
    secrets: Path
    host: str

    @property
    def base(self) -> str:
        return f"https://{self.decl['public_name']}"

    def choice_key(self, name: str) -> str:
        """LemonLDAP::NG's key of a login choice: its position and label
        (templates/lemonldap/lmConf.json.j2)."""
        for i, c in enumerate(self.decl["choices"], start=1):
            if c["name"] == name:
                return f"{i}_" + re.sub(r"[^A-Za-z0-9]+", "_", c["label"])
        raise KeyError(name)

    def rp(self, name: str) -> dict[str, Any]:
        return next(r for r in self.decl["relying_parties"] if r["name"] == name)

    def rp_secret(self, name: str) -> str:
        return Path(self.rp(name)["client_secret_file"]).read_text().strip()

    def browser(self) -> EdgeSession:
        return EdgeSession(self.edge, [self.decl["public_name"]], self.ca)


def from_inventory(lab: dict[str, Any]) -> Sso:
    hosts = lab["all"]["hosts"]
    idp = next(h for h, v in hosts.items() if "identity" in v["municloud_services"])
    edge = next(v["municloud_address"] for v in hosts.values()
                if "edge" in v["municloud_services"])
    secrets_dir = lab["all"]["vars"]["municloud_secrets_dir"]
    return Sso(hosts[idp]["municloud_identity"], edge, ca_file(secrets_dir),
               Path(secrets_dir), idp)


@contextlib.contextmanager
def running_double(sso: Sso, name: str, tmp: Path) -> Iterator[Upstream]:
    """The double of choice `name` while the block runs. It binds the declared port, so
    test modules of different xdist workers (identity, meet) take turns: an flock on the
    controller for as long as the double runs."""
    locks = paths.env_state(ENV) / "test-locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"double-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            double = start_double(sso, name, tmp)
            try:
                yield double
            finally:
                double.stop()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_double(sso: Sso, name: str, tmp: Path) -> Upstream:
    """The upstream double of choice `name` (Google, Facebook), on the address and port of
    its declared endpoints, TLS from the municipal CA (hold running_double's lock)."""
    choice = next(c for c in sso.decl["choices"] if c["name"] == name)
    secret_file = Path(choice["client_secret"]["file"])
    if not secret_file.exists():
        pytest.fail(f"no {secret_file}: converge the identity host first (the role generates "
                    "the doubles' client secrets)")
    url = urlsplit(choice["endpoints"]["authorize"])
    assert url.hostname and url.port
    cert, key = tls.issue(sso.secrets / "pki", url.hostname, tmp)
    return Upstream(name=name, client_id=choice["client_id"],
                    client_secret=secret_file.read_text().strip(),
                    redirect_uri=sso.decl["upstream_callback"], person=PEOPLE[name],
                    host=url.hostname, port=url.port).start(cert, key)


def upstream_login(sso: Sso, s: requests.Session, choice: str) -> requests.Response:
    """Choose an upstream on the login page; the double logs its person in and sends the
    browser back to the portal, which finishes the login."""
    return s.get(f"{sso.base}/", params={"lmAuth": sso.choice_key(choice)}, timeout=60)


def lemonldap(lab: dict[str, Any]) -> Sso:
    """The lab's single sign-on, or a skip saying why when its provider is not
    LemonLDAP::NG (the tests drive LemonLDAP::NG's portal)."""
    found = from_inventory(lab)
    if found.decl.get("provider") != "lemonldap":
        pytest.skip(f"the lab's identity provider is {found.decl.get('provider')!r}: these "
                    "tests drive LemonLDAP::NG")
    return found


def form_token(page: str) -> str:
    m = TOKEN_RE.search(page)
    assert m, "the login form carries no CSRF token"
    return html.unescape(m.group(1))


def staff_login(sso: Sso, s: requests.Session, uid: str, password: str) -> dict[str, Any]:
    """Log in with the staff choice; LemonLDAP::NG's JSON answer ({result, error, id})."""
    key = sso.choice_key("staff")
    page = s.get(f"{sso.base}/", params={"lmAuth": key}, timeout=TIMEOUT)
    token = form_token(page.text)
    r = s.post(f"{sso.base}/", data={"user": uid, "password": password, "token": token,
                                     "lmAuth": key},
               headers={"Accept": "application/json"}, timeout=TIMEOUT)
    data: dict[str, Any] = r.json()
    return data


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(sso: Sso, s: requests.Session, rp: str, challenge: str | None,
              nonce: str = "n-0") -> requests.Response:
    """The relying party sends the browser to the authorize endpoint (not followed)."""
    r = sso.rp(rp)
    params = {"response_type": "code", "client_id": r["client_id"],
              "redirect_uri": r["redirect_uris"][0], "scope": "openid profile email",
              "state": secrets.token_hex(8), "nonce": nonce}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return s.get(f"{sso.base}/oauth2/authorize?{urlencode(params)}", allow_redirects=False,
                 timeout=TIMEOUT)


def code_from(resp: requests.Response, redirect_uri: str) -> str | None:
    loc = resp.headers.get("Location", "")
    if resp.status_code not in (302, 303) or not loc.startswith(redirect_uri):
        return None
    return parse_qs(urlsplit(loc).query).get("code", [None])[0]


def token(sso: Sso, s: requests.Session, rp: str, code: str, verifier: str | None,
          secret: str | None = None) -> requests.Response:
    r = sso.rp(rp)
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": r["redirect_uris"][0]}
    if verifier:
        data["code_verifier"] = verifier
    # The relying party's own back-channel call: never with the person's cookie.
    del s
    return sso.browser().post(f"{sso.base}/oauth2/token", data=data,
                              auth=(r["client_id"], secret or sso.rp_secret(rp)), timeout=TIMEOUT)
