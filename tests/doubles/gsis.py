"""A test double of TAXISnet's OAuth2 server (GSIS), for tests only (never shipped).

It behaves as GSIS does as far as public integrations document it (see
../shared/notes/vendor-facts.md, section 4), under ``/oauth2server``:

- ``GET /oauth/authorize``: no login form; the configured person "logs in" at once and the
  browser goes back to ``redirect_uri`` with a one-time ``code`` and the ``state``;
- ``POST /oauth/token``: ``grant_type=authorization_code`` with client_id, client_secret,
  redirect_uri and code in the body (HTTP Basic also accepted); a wrong secret is 401
  ``invalid_client``, an unknown, reused or foreign code 400 ``invalid_grant``;
- ``GET /userinfo?format=xml``: the person as GSIS's XML, values space-padded as GSIS's
  test data are (Bearer header or ``access_token`` parameter);
- ``GET /logout/{clientId}/?url=...``: redirects to ``url``.

Run it on its own (for a lab test pointing the bridge at it) with
``python tests/doubles/gsis.py --host 10.70.4.1 --port 4099 --client-id ... --secret-file ...``.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

PREFIX = "/oauth2server"


@dataclass
class Person:
    userid: str = "User068933130"
    taxid: str = "068933130"
    lastname: str = "ΠΑΠΑΔΟΠΟΥΛΟΣ"
    firstname: str = "ΓΕΩΡΓΙΟΣ"
    fathername: str = "ΙΩΑΝΝΗΣ"
    mothername: str = "ΜΑΡΙΑ"  # noqa: RUF001 (GSIS answers Greek names)
    birthyear: str = "1970"

    def xml(self, pad: int = 3) -> bytes:
        """GSIS's answer: attributes space-padded (its test data have "068933130   ")."""
        attrs = " ".join(f"{k}={quoteattr(v + ' ' * pad)}" for k, v in vars(self).items())
        return f"<root><userinfo {attrs}/></root>".encode()


@dataclass
class Gsis:
    client_id: str
    client_secret: str
    person: Person = field(default_factory=Person)
    redirect_uris: tuple[str, ...] = ()       # registered callbacks (empty: any)
    userinfo_body: bytes | None = None        # override the XML (malformed answers)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return 400, {}, b"invalid client_id or response_type\n"
        redirect = q.get("redirect_uri", "")
        if not redirect or (self.redirect_uris and redirect not in self.redirect_uris):
            return 400, {}, b"redirect_uri not registered\n"
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"redirect_uri": redirect, "scope": q.get("scope", "")}
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        sep = "&" if "?" in redirect else "?"
        return 302, {"Location": redirect + sep + urllib.parse.urlencode(params)}, b""

    def token(self, auth: str | None, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if auth and auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if cid != self.client_id or not secrets.compare_digest(secret, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Bad client credentials"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            issued = self.codes.pop(form.get("code", ""), None)
        if issued is None:
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid authorization code"}
        if issued["redirect_uri"] != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "Redirect URI mismatch."}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 43199,
                     "scope": issued["scope"] or "read"}

    def userinfo(self, token: str) -> tuple[int, bytes]:
        if token not in self.tokens:
            return 401, b'{"error":"invalid_token"}'
        return 200, self.userinfo_body if self.userinfo_body is not None else self.person.xml()


def _handler(gsis: Gsis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            gsis.calls.append(f"GET {url.path}")
            if url.path == f"{PREFIX}/oauth/authorize":
                status, headers, body = gsis.authorize(q)
                self._send(status, body, "text/plain", headers)
            elif url.path == f"{PREFIX}/userinfo" and q.get("format") == "xml":
                auth = self.headers.get("Authorization") or ""
                token = auth[7:].strip() if auth.lower().startswith("bearer ") else \
                    q.get("access_token", "")
                status, body = gsis.userinfo(token)
                self._send(status, body, "application/xml" if status == 200 else
                           "application/json")
            elif url.path.startswith(f"{PREFIX}/logout/"):
                self._send(302, b"", "text/plain", {"Location": q.get("url", "/")})
            else:
                self._send(404, b'{"error":"not_found"}')

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            gsis.calls.append(f"POST {url.path}")
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
            if url.path == f"{PREFIX}/oauth/token":
                status, data = gsis.token(self.headers.get("Authorization"), form)
                self._send(status, json.dumps(data).encode())
            else:
                self._send(404, b'{"error":"not_found"}')

    return Handler


@contextmanager
def running(gsis: Gsis, host: str = "127.0.0.1", port: int = 0,
            tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve the double in a thread; yields its base URL (``.../oauth2server``)."""
    with ThreadingHTTPServer((host, port), _handler(gsis)) as server:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}{PREFIX}"
        finally:
            server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description="GSIS OAuth2 test double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4099)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--secret-file", required=True, type=Path)
    parser.add_argument("--person", type=Path, help="JSON object of Person fields")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    person = Person(**json.loads(args.person.read_text())) if args.person else Person()
    gsis = Gsis(args.client_id, args.secret_file.read_text().strip(), person)
    tls = (args.cert, args.key) if args.cert and args.key else None
    with running(gsis, args.host, args.port, tls) as base:
        print(base, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
