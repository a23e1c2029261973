"""A small OpenID Connect provider standing in for Google or Facebook in the lab's tests.

One parametrized module: `Upstream(name, client_id, client_secret, redirect_uri, person)`
serves, under https://<host>:<port>/<name>:

- `/.well-known/openid-configuration`, `/jwks` (empty: ID tokens are HS256, signed with
  the client secret, which LemonLDAP::NG verifies without fetching keys);
- `/authorize`: checks client_id, redirect_uri, response_type=code and scope openid,
  then "logs in" its one test person without a form and redirects back with a code and
  the state;
- `/token`: checks the client secret (post or basic), the code (one use, 60 s), the
  redirect_uri, and answers an access token and an ID token with the nonce;
- `/userinfo`: the person's claims for a valid bearer token.

TLS: a certificate for the listening address issued by the municipal CA (the lab's
hosts trust it). Every request is recorded in `requests` for the tests to inspect.
It is not a provider: no consent, no keys, no refresh tokens, one person.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt


@dataclass
class Upstream:
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str
    person: dict[str, Any]
    host: str = "10.70.4.1"
    port: int = 9701
    requests: list[str] = field(default_factory=list)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, float] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"https://{self.host}:{self.port}/{self.name}"

    def metadata(self) -> dict[str, Any]:
        i = self.issuer
        return {"issuer": i, "authorization_endpoint": f"{i}/authorize",
                "token_endpoint": f"{i}/token", "userinfo_endpoint": f"{i}/userinfo",
                "jwks_uri": f"{i}/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["HS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                          "client_secret_basic"]}

    # --- the endpoints -------------------------------------------------------------
    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        problems = []
        if q.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if q.get("redirect_uri") != self.redirect_uri:
            problems.append("redirect_uri not registered")
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in q.get("scope", "").split():
            problems.append("scope must include openid")
        if problems:
            return 400, {"Content-Type": "text/plain"}, "; ".join(problems).encode()
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"nonce": q.get("nonce"), "at": time.time()}
        back = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return 302, {"Location": f"{self.redirect_uri}&{urlencode(back)}"
                     if "?" in self.redirect_uri else f"{self.redirect_uri}?{urlencode(back)}"}, b""

    def token(self, form: dict[str, str], auth: str | None) -> tuple[int, dict[str, Any]]:
        cid, csecret = form.get("client_id"), form.get("client_secret")
        if auth and auth.startswith("Basic "):
            cid, _, csecret = base64.b64decode(auth[6:]).decode().partition(":")
        if cid != self.client_id or not secrets.compare_digest(str(csecret),
                                                               self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or time.time() - grant["at"] > 60:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != self.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        access = secrets.token_urlsafe(24)
        self._tokens[access] = time.time() + 300
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": self.person["sub"],
                  "iat": now, "exp": now + 300, **self.person}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode(claims, self.client_secret, algorithm="HS256")
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token}

    def userinfo(self, auth: str | None) -> tuple[int, dict[str, Any]]:
        token = (auth or "")[7:] if (auth or "").startswith("Bearer ") else ""
        if self._tokens.get(token, 0) < time.time():
            return 401, {"error": "invalid_token"}
        return 200, dict(self.person)

    # --- serving ---------------------------------------------------------------------
    def start(self, cert: Path, key: Path) -> Upstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, data: dict[str, Any]) -> None:
                self._send(code, json.dumps(data).encode(), {"Content-Type": "application/json"})

            def _route(self) -> str:
                path = urlsplit(self.path).path
                prefix = f"/{upstream.name}"
                return path[len(prefix):] if path.startswith(prefix) else "?"

            def do_GET(self) -> None:
                route = self._route()
                upstream.requests.append(f"GET {route}")
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if route == "/.well-known/openid-configuration":
                    self._json(200, upstream.metadata())
                elif route == "/jwks":
                    self._json(200, {"keys": []})
                elif route == "/authorize":
                    code, headers, body = upstream.authorize(q)
                    self._send(code, body, headers)
                elif route == "/userinfo":
                    self._json(*upstream.userinfo(self.headers.get("Authorization")))
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                route = self._route()
                upstream.requests.append(f"POST {route}")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if route == "/token":
                    self._json(*upstream.token(form, self.headers.get("Authorization")))
                elif route == "/userinfo":
                    self._json(*upstream.userinfo(self.headers.get("Authorization")))
                else:
                    self._json(404, {"error": "not found"})

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
