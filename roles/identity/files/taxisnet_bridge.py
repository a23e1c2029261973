#!/usr/bin/python3
"""TAXISnet (GSIS OAuth2) presented as an OpenID Connect provider.

GSIS speaks OAuth2 without OpenID Connect: no discovery, no id_token, no JWKS, and a
userinfo that answers XML. Both identity providers municloud runs (LemonLDAP::NG's OIDC
relying party, WSO2's OIDC connector) speak OpenID Connect. This small, stateless
translator stands between them:

- ``/.well-known/openid-configuration`` and ``/jwks``: discovery and the public key;
- ``/authorize``: redirects the browser to GSIS (scope rewritten to GSIS's, OIDC-only
  parameters dropped; the relying party's own redirect_uri and state go through);
- ``/token``: exchanges the code at GSIS with the client credentials the identity
  provider sends (GSIS checks them; the bridge never stores them) or, when the bridge
  has its own client for the identity provider, with GSIS's credentials it holds in a
  file; then fetches the XML
  userinfo, trims its space-padded values, and answers an id_token signed with the
  host's key: sub = the tax id, the names, ``access_level`` (full);
- ``/userinfo``: the same claims, for the access token the bridge issued;
- ``/logout``: redirects to GSIS's logout.

It keeps nothing between requests: the code is GSIS's, the access token is a signed JWT.
Runs with Debian 12's python3 and its packages python3-jwt and python3-cryptography.
Configuration: one JSON file (``--config``), written by the role ``identity``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

# Largest upstream answer read (GSIS's answers are a few hundred bytes).
MAX_UPSTREAM = 65536
# A Greek tax id (AFM) is nine digits.
TAXID = re.compile(r"^[0-9]{9}$")
# XML userinfo attribute -> claim name (values trimmed).
USERINFO_FIELDS = {
    "userid": "gsis_userid",
    "taxid": "taxid",
    "lastname": "family_name",
    "firstname": "given_name",
    "fathername": "father_name",
    "mothername": "mother_name",
    "birthyear": "birth_year",
}
# Authorization parameters passed on to GSIS as they came; the rest are OIDC-only.
PASSED_ON = ("client_id", "redirect_uri", "state")


class OAuthError(Exception):
    """An error answered to the client as RFC 6749 JSON (or a page, on /authorize)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class Config:
    issuer: str                      # the bridge's issuer (the iss of its tokens)
    gsis_authorize: str              # GSIS's endpoints, e.g. https://oauth2.gsis.gr/oauth2server
    gsis_token: str                  #   /oauth/authorize, /oauth/token,
    gsis_userinfo: str               #   /userinfo?format=xml
    key_file: str                    # PEM RSA private key, generated on the host
    # GSIS client ids whose credentials the identity provider holds and sends with each
    # token request (passed on to GSIS, never stored here).
    client_ids: tuple[str, ...] = ()
    # Or: the bridge's own client for the identity provider (its secret in a file), the
    # bridge then holding GSIS's credentials itself (files readable by the bridge only).
    client_id: str = ""
    client_secret_file: str = ""
    gsis_client_id: str = ""
    gsis_client_secret_file: str = ""
    gsis_logout: str = ""            # GSIS's logout, /logout/<client id>/ (optional)
    redirect_uris: tuple[str, ...] = ()   # the identity providers' callbacks (empty: any)
    listen_host: str = "127.0.0.1"
    listen_port: int = 8471
    # Where browsers reach /authorize and /logout (e.g. the identity public name's path
    # the identity host's web server proxies to the bridge); default: the issuer.
    browser_base: str = ""
    # Where the identity provider reaches /token, /userinfo and /jwks (e.g. loopback
    # when it runs on this host); default: the issuer.
    backchannel_base: str = ""
    gsis_scope: str = "read"
    access_level: str = "full"
    token_lifetime: int = 300
    upstream_timeout: float = 10.0
    upstream_ca_file: str = ""       # CA bundle for GSIS's TLS; empty: the system's

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)} "
                             f"(allowed: {', '.join(sorted(known))})")
        for req in ("issuer", "gsis_authorize", "gsis_token", "gsis_userinfo", "key_file"):
            if not data.get(req):
                raise ValueError(f"setting '{req}' is required")
        own = ("client_id", "client_secret_file", "gsis_client_id", "gsis_client_secret_file")
        if any(data.get(k) for k in own) and not all(data.get(k) for k in own):
            raise ValueError(f"settings {', '.join(own)} go together")
        if not data.get("client_ids") and not data.get("client_id"):
            raise ValueError("setting 'client_ids' (or 'client_id') is required")
        values = dict(data)
        values["client_ids"] = tuple(data.get("client_ids", ()))
        values["redirect_uris"] = tuple(data.get("redirect_uris", ()))
        cfg = cls(**values)
        cfg.check()
        return cfg

    def check(self) -> None:
        for name in ("gsis_authorize", "gsis_token", "gsis_userinfo", "gsis_logout"):
            url = urllib.parse.urlsplit(getattr(self, name))
            if name == "gsis_logout" and not url.scheme:
                continue
            if url.scheme != "https" and url.hostname not in ("127.0.0.1", "::1", "localhost"):
                raise ValueError(f"{name} {getattr(self, name)}: must be https "
                                 "(plain http only towards a test double on loopback)")
        for name in ("issuer", "browser_base", "backchannel_base"):
            if getattr(self, name).endswith("/"):
                raise ValueError(f"{name} must not end with '/'")

    def known_client(self, client_id: str | None) -> bool:
        return bool(client_id) and (client_id in self.client_ids or client_id == self.client_id)

    def gsis_client(self, client_id: str) -> str:
        """The client id GSIS knows for a client of the bridge."""
        return self.gsis_client_id if client_id == self.client_id else client_id

    def browser(self, path: str) -> str:
        return (self.browser_base or self.issuer) + path

    def backchannel(self, path: str) -> str:
        return (self.backchannel_base or self.issuer) + path


# --- keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> SigningKey:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return cls.from_key(key)

    @classmethod
    def from_key(cls, key: rsa.RSAPrivateKey) -> SigningKey:
        pub = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        kid = jwk_thumbprint(pub)
        jwk = {"kty": "RSA", "n": pub["n"], "e": pub["e"], "kid": kid, "use": "sig",
               "alg": "RS256"}
        return cls(key, kid, jwk)


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an RSA JWK (the key id: it changes only with the key)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]},
                           separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- translation (pure functions) ------------------------------------------------------


def parse_userinfo_xml(body: bytes) -> dict[str, str]:
    """GSIS's XML userinfo -> claims, every value trimmed; the tax id must be 9 digits."""
    if len(body) > MAX_UPSTREAM:
        raise OAuthError(502, "server_error", "TAXISnet userinfo too large")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise OAuthError(502, "server_error", "TAXISnet userinfo carries a DTD (refused)")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise OAuthError(502, "server_error", f"TAXISnet userinfo is not XML: {exc}") from exc
    info = root if root.tag == "userinfo" else root.find("userinfo")
    if info is None:
        raise OAuthError(502, "server_error", "TAXISnet userinfo has no <userinfo> element")
    claims = {claim: (info.get(attr) or "").strip() for attr, claim in USERINFO_FIELDS.items()}
    claims = {k: v for k, v in claims.items() if v}
    taxid = claims.get("taxid", "")
    if not TAXID.match(taxid):
        raise OAuthError(502, "server_error",
                         f"TAXISnet userinfo has no valid tax id (got {taxid!r}; "
                         "allowed: 9 digits)")
    return claims


def person_claims(person: dict[str, str], access_level: str) -> dict[str, Any]:
    """The OIDC claims of a TAXISnet person: sub is the tax id, the stable identifier."""
    claims: dict[str, Any] = {"sub": person["taxid"], **person, "access_level": access_level,
                              "amr": ["taxisnet"]}
    names = [person.get("given_name", ""), person.get("family_name", "")]
    if any(names):
        claims["name"] = " ".join(n for n in names if n)
    claims["preferred_username"] = person["taxid"]
    return claims


def discovery(cfg: Config) -> dict[str, Any]:
    return {
        "issuer": cfg.issuer,
        "authorization_endpoint": cfg.browser("/authorize"),
        "token_endpoint": cfg.backchannel("/token"),
        "userinfo_endpoint": cfg.backchannel("/userinfo"),
        "jwks_uri": cfg.backchannel("/jwks"),
        "end_session_endpoint": cfg.browser("/logout"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile"],
        "claims_supported": ["sub", "name", "preferred_username", "access_level", "amr",
                             *USERINFO_FIELDS.values()],
    }


def authorize_location(cfg: Config, query: dict[str, str]) -> str:
    """Where /authorize sends the browser: GSIS's authorize, with GSIS's scope."""
    if query.get("response_type") != "code":
        raise OAuthError(400, "unsupported_response_type", "only response_type=code")
    if not cfg.known_client(query.get("client_id")):
        raise OAuthError(400, "unauthorized_client",
                         f"unknown client_id {query.get('client_id')!r}")
    redirect = query.get("redirect_uri", "")
    if not redirect or (cfg.redirect_uris and redirect not in cfg.redirect_uris):
        raise OAuthError(400, "invalid_request", f"redirect_uri {redirect!r} is not registered")
    params = {k: query[k] for k in PASSED_ON if query.get(k)}
    params["client_id"] = cfg.gsis_client(query["client_id"])
    params["response_type"] = "code"
    params["scope"] = cfg.gsis_scope
    return _with_query(cfg.gsis_authorize, params)


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def logout_location(cfg: Config, query: dict[str, str]) -> str:
    """GSIS's logout, then back to where the identity provider asked (if it did)."""
    if not cfg.gsis_logout:
        raise OAuthError(404, "invalid_request", "no TAXISnet logout configured")
    back = query.get("post_logout_redirect_uri", "")
    return _with_query(cfg.gsis_logout, {"url": back}) if back else cfg.gsis_logout


def client_credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_basic or client_secret_post, as the identity provider sends them."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError(401, "invalid_client", "malformed Basic credentials") from exc
        cid, _, secret = raw.partition(":")
        return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    raise OAuthError(401, "invalid_client", "client authentication required")


def mint(key: SigningKey, cfg: Config, client_id: str, claims: dict[str, Any],
         now: int, typ: str = "JWT") -> str:
    body = {**claims, "iss": cfg.issuer, "aud": client_id, "iat": now,
            "exp": now + cfg.token_lifetime}
    if typ == "JWT":
        body["auth_time"] = now
        body["azp"] = client_id
    return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid, "typ": typ})


def read_access_token(key: SigningKey, cfg: Config, token: str) -> dict[str, Any]:
    try:
        if jwt.get_unverified_header(token).get("typ") != "at+jwt":
            raise OAuthError(401, "invalid_token", "not an access token of this bridge")
        claims: dict[str, Any] = jwt.decode(
            token, key.private.public_key(), algorithms=["RS256"], issuer=cfg.issuer,
            options={"verify_aud": False, "require": ["exp", "iss", "sub"]})
    except jwt.PyJWTError as exc:
        raise OAuthError(401, "invalid_token", str(exc)) from exc
    for k in ("iss", "aud", "iat", "exp", "scope"):
        claims.pop(k, None)
    return claims


# --- GSIS ------------------------------------------------------------------------------


class Upstream:
    """GSIS's token and userinfo endpoints."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.context = ssl.create_default_context(cafile=cfg.upstream_ca_file or None)

    def _call(self, req: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.upstream_timeout,
                                        context=self.context) as resp:
                return resp.status, resp.read(MAX_UPSTREAM + 1)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(MAX_UPSTREAM + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise OAuthError(502, "temporarily_unavailable",
                             f"TAXISnet unreachable: {exc}") from exc

    def exchange(self, code: str, redirect_uri: str, client_id: str, secret: str) -> str:
        form = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id, "client_secret": secret}).encode()
        req = urllib.request.Request(self.cfg.gsis_token, data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
        status, body = self._call(req)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status == 401 or answer.get("error") == "invalid_client":
            raise OAuthError(401, "invalid_client", "TAXISnet refused the client credentials")
        if status == 400:
            raise OAuthError(400, answer.get("error") or "invalid_grant",
                             f"TAXISnet refused the code: "
                             f"{answer.get('error_description') or answer.get('error') or status}")
        if status != 200 or not answer.get("access_token"):
            raise OAuthError(502, "server_error", f"TAXISnet token endpoint answered {status}")
        return str(answer["access_token"])

    def userinfo(self, access_token: str) -> dict[str, str]:
        req = urllib.request.Request(self.cfg.gsis_userinfo,
                                     headers={"Authorization": f"Bearer {access_token}",
                                              "Accept": "application/xml"})
        status, body = self._call(req)
        if status != 200:
            raise OAuthError(502, "server_error", f"TAXISnet userinfo answered {status}")
        return parse_userinfo_xml(body)


# --- HTTP ------------------------------------------------------------------------------


def _read(path: str) -> bytes:
    """A secret file (read at each use: a rotated secret needs no restart)."""
    try:
        return Path(path).read_bytes().strip()
    except OSError as exc:
        raise OAuthError(500, "server_error", f"cannot read {path}: {exc.strerror}") from exc


class Bridge:
    def __init__(self, cfg: Config, key: SigningKey, upstream: Upstream | None = None) -> None:
        self.cfg = cfg
        self.key = key
        self.upstream = upstream or Upstream(cfg)

    def token(self, authorization: str | None, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "authorization_code":
            raise OAuthError(400, "unsupported_grant_type", "only authorization_code")
        client_id, secret = client_credentials(authorization, form)
        if form.get("client_id") and form["client_id"] != client_id:
            raise OAuthError(401, "invalid_client", "client_id differs from the credentials")
        if not self.cfg.known_client(client_id):
            raise OAuthError(401, "invalid_client", f"unknown client_id {client_id!r}")
        gsis_id, gsis_secret = client_id, secret       # passed on: GSIS judges them
        if client_id == self.cfg.client_id:             # the bridge's own client: judged here
            if not hmac.compare_digest(secret.encode(), _read(self.cfg.client_secret_file)):
                raise OAuthError(401, "invalid_client", "wrong client secret")
            gsis_id = self.cfg.gsis_client_id
            gsis_secret = _read(self.cfg.gsis_client_secret_file).decode()
        code, redirect = form.get("code", ""), form.get("redirect_uri", "")
        if not code or not redirect:
            raise OAuthError(400, "invalid_request", "code and redirect_uri are required")
        gsis_token = self.upstream.exchange(code, redirect, gsis_id, gsis_secret)
        claims = person_claims(self.upstream.userinfo(gsis_token), self.cfg.access_level)
        now = int(time.time())
        return {
            "access_token": mint(self.key, self.cfg, client_id, {**claims, "scope": "openid"},
                                 now, typ="at+jwt"),
            "token_type": "Bearer",
            "expires_in": self.cfg.token_lifetime,
            "scope": "openid profile",
            "id_token": mint(self.key, self.cfg, client_id, claims, now),
        }


def make_handler(bridge: Bridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "municloud-taxisnet-bridge"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _send(self, status: int, body: bytes, ctype: str,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), "application/json", headers)

        def _query(self) -> dict[str, str]:
            q = urllib.parse.urlsplit(self.path).query
            return {k: v[0] for k, v in urllib.parse.parse_qs(q).items()}

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            try:
                if path == "/.well-known/openid-configuration":
                    self._json(200, discovery(bridge.cfg))
                elif path == "/jwks":
                    self._json(200, {"keys": [bridge.key.jwk]})
                elif path == "/authorize":
                    self._redirect(authorize_location(bridge.cfg, self._query()))
                elif path == "/logout":
                    self._redirect(logout_location(bridge.cfg, self._query()))
                elif path == "/userinfo":
                    self._userinfo()
                elif path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                else:
                    self._json(404, {"error": "not_found"})
            except OAuthError as exc:
                if path in ("/authorize", "/logout"):
                    page = f"TAXISnet login refused: {exc.error}: {exc.description}\n"
                    self._send(exc.status, page.encode(), "text/plain; charset=utf-8")
                else:
                    self._error(exc)

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_UPSTREAM:
                    raise OAuthError(413, "invalid_request", "request too large")
                raw = self.rfile.read(length).decode("utf-8", "replace")
                form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                if path == "/token":
                    self._json(200, bridge.token(self.headers.get("Authorization"), form),
                               {"Pragma": "no-cache"})
                elif path == "/userinfo":
                    self._userinfo(form.get("access_token"))
                else:
                    self._json(404, {"error": "not_found"})
            except OAuthError as exc:
                self._error(exc)

        def _userinfo(self, token: str | None = None) -> None:
            auth = self.headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            if not token:
                raise OAuthError(401, "invalid_token", "Bearer token required")
            self._json(200, read_access_token(bridge.key, bridge.cfg, token))

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", {"Location": location})

        def _error(self, exc: OAuthError) -> None:
            headers = {}
            if exc.status == 401:
                scheme = "Bearer" if exc.error == "invalid_token" else "Basic"
                headers["WWW-Authenticate"] = f'{scheme} error="{exc.error}"'
            self._json(exc.status, exc.body(), headers)

    return Handler


def serve(cfg: Config, key: SigningKey, upstream: Upstream | None = None) -> ThreadingHTTPServer:
    """A server bound to cfg.listen_host:listen_port (port 0: any free port)."""
    server = ThreadingHTTPServer((cfg.listen_host, cfg.listen_port),
                                 make_handler(Bridge(cfg, key, upstream)))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON configuration file")
    parser.add_argument("--check", action="store_true",
                        help="validate the configuration and the key, then exit")
    args = parser.parse_args(argv)
    try:
        cfg = Config.from_dict(json.loads(Path(args.config).read_text()))
        key = SigningKey.load(cfg.key_file)
    except (OSError, ValueError, TypeError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"configuration ok; key id {key.kid}")
        return 0
    server = serve(cfg, key)
    print(f"TAXISnet bridge for {cfg.gsis_token} on {cfg.listen_host}:{cfg.listen_port}, "
          f"issuer {cfg.issuer}, key id {key.kid}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
