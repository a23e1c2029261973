"""The TAXISnet bridge, run as the host runs it (its own process, its entry point), in
front of the GSIS test double, on loopback: an authorization code becomes an id_token
with the tax id trimmed; a forged code and a wrong client secret are refused."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from doubles.gsis import Gsis, Person, running
from jwt.algorithms import RSAAlgorithm

from unit.bridge_loader import BRIDGE

CLIENT = "heraklion-sso"
SECRET = "gsis-secret-of-the-test"
CALLBACK = "http://127.0.0.1:9/oidc/callback"  # never contacted: the test reads the redirect


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def host_python() -> str:
    """Debian 12's python3 with its python3-jwt and python3-cryptography, as on the hosts,
    where the controller has them (scripts/bootstrap installs them); else the venv's."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import jwt, cryptography"],
                           capture_output=True, check=False)
    return "/usr/bin/python3" if probe.returncode == 0 else sys.executable


PYTHON = host_python()


def call(url: str, data: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(issuer: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(100):
        try:
            if call(f"{issuer}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"bridge did not start: {proc.communicate()[1]}")


@dataclass
class Setup:
    bridge: str
    gsis: Gsis
    config: Path


@contextmanager
def bridge(d: Path, settings: dict[str, Any]) -> Iterator[Setup]:
    """The bridge in its own process (its entry point, as the unit runs it), in front of a
    GSIS double, with a fresh signing key and `settings` added to its configuration."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "signing.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    gsis = Gsis(CLIENT, SECRET, Person(), redirect_uris=(CALLBACK,))
    with running(gsis) as base:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        (d / "config.json").write_text(json.dumps({
            "issuer": issuer, "gsis_authorize": f"{base}/oauth/authorize",
            "gsis_token": f"{base}/oauth/token", "gsis_userinfo": f"{base}/userinfo?format=xml",
            "gsis_logout": f"{base}/logout/{CLIENT}/", "key_file": str(d / "signing.pem"),
            "redirect_uris": [CALLBACK], "listen_port": port, **settings}))
        proc = subprocess.Popen([PYTHON, str(BRIDGE), "--config", str(d / "config.json")],
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_up(issuer, proc)
            yield Setup(issuer, gsis, d / "config.json")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """Pass-through: the identity provider sends GSIS's client credentials."""
    with bridge(tmp_path_factory.mktemp("bridge"), {"client_ids": [CLIENT]}) as s:
        yield s


def login(setup: Setup) -> str:
    """Browser part: bridge /authorize -> GSIS -> back at the callback with a code."""
    status, headers, _ = call(f"{setup.bridge}/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT, "redirect_uri": CALLBACK,
        "scope": "openid profile", "state": "st-42", "nonce": "n-1"}))
    assert status == 302
    to_gsis = urllib.parse.urlsplit(headers["Location"])
    assert dict(urllib.parse.parse_qsl(to_gsis.query))["scope"] == "read"
    status, headers, _ = call(headers["Location"])
    assert status == 302
    back = urllib.parse.urlsplit(headers["Location"])
    q = dict(urllib.parse.parse_qsl(back.query))
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK and q["state"] == "st-42"
    return q["code"]


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{CLIENT}:{secret}".encode()).decode()}


def token(setup: Setup, code: str, secret: str = SECRET) -> tuple[int, dict[str, Any]]:
    status, _, body = call(f"{setup.bridge}/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        basic(secret))
    return status, json.loads(body)


@pytest.mark.control("SSO-GSIS-01")
def test_code_becomes_an_id_token_with_the_trimmed_tax_id(setup: Setup) -> None:
    status, answer = token(setup, login(setup))
    assert status == 200, answer
    _, _, disco = call(f"{setup.bridge}/.well-known/openid-configuration")
    meta = json.loads(disco)
    _, _, jwks = call(meta["jwks_uri"])
    (jwk,) = json.loads(jwks)["keys"]
    public = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(public, rsa.RSAPublicKey)  # the published key only
    claims = jwt.decode(answer["id_token"], public, algorithms=["RS256"],
                        audience=CLIENT, issuer=meta["issuer"])
    assert claims["sub"] == "068933130"  # GSIS sent "068933130   "
    assert claims["taxid"] == "068933130"
    assert claims["family_name"] == "ΠΑΠΑΔΟΠΟΥΛΟΣ" and claims["given_name"] == "ΓΕΩΡΓΙΟΣ"
    assert claims["access_level"] == "full"
    # userinfo answers the same person for the bridge's access token.
    status, _, body = call(meta["userinfo_endpoint"],
                           headers={"Authorization": f"Bearer {answer['access_token']}"})
    assert status == 200 and json.loads(body)["sub"] == "068933130"
    assert "POST /oauth2server/oauth/token" in setup.gsis.calls
    assert "GET /oauth2server/userinfo" in setup.gsis.calls


@pytest.mark.control("SSO-GSIS-01")
def test_a_forged_code_is_refused(setup: Setup) -> None:
    status, answer = token(setup, "forged-code-never-issued")
    assert status == 400 and answer["error"] == "invalid_grant", answer
    assert "id_token" not in answer


@pytest.mark.control("SSO-GSIS-01")
def test_a_code_is_used_once(setup: Setup) -> None:
    code = login(setup)
    assert token(setup, code)[0] == 200
    status, answer = token(setup, code)
    assert status == 400 and answer["error"] == "invalid_grant"


@pytest.mark.control("SSO-GSIS-01")
def test_a_wrong_client_secret_is_refused(setup: Setup) -> None:
    status, answer = token(setup, login(setup), secret="not-the-secret")
    assert status == 401 and answer["error"] == "invalid_client", answer
    assert "id_token" not in answer


@pytest.mark.control("SSO-GSIS-01")
def test_userinfo_refuses_a_forged_access_token(setup: Setup) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "123456789", "iss": setup.bridge, "exp": time.time() + 60},
                        other, algorithm="RS256", headers={"typ": "at+jwt"})
    status, _, _ = call(f"{setup.bridge}/userinfo", headers={"Authorization": f"Bearer {forged}"})
    assert status == 401


@pytest.mark.control("SSO-GSIS-01")
def test_the_published_key_is_the_key_file(setup: Setup) -> None:
    """The key id is derived from the key file: a restart with the same file (the role
    keeps it across runs) publishes the same JWKS, so issued tokens stay verifiable."""
    _, _, jwks = call(f"{setup.bridge}/jwks")
    kid = json.loads(jwks)["keys"][0]["kid"]
    check = subprocess.run([PYTHON, str(BRIDGE), "--check", "--config",
                            str(setup.config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout.strip() == f"configuration ok; key id {kid}"


@pytest.fixture(scope="module")
def own_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The bridge with its own client for the identity provider, holding GSIS's
    credentials in files (the identity declaration's `bridge.client_id`)."""
    d = tmp_path_factory.mktemp("bridge-own")
    (d / "idp.secret").write_text("bridge-client-secret\n")
    (d / "gsis.secret").write_text(SECRET + "\n")
    with bridge(d, {"client_id": "identity", "client_secret_file": str(d / "idp.secret"),
                    "gsis_client_id": CLIENT,
                    "gsis_client_secret_file": str(d / "gsis.secret")}) as s:
        yield s


@pytest.mark.control("SSO-GSIS-01")
def test_own_client_logs_in_with_gsis_credentials_it_holds(own_client: Setup) -> None:
    status, headers, _ = call(f"{own_client.bridge}/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": "identity", "redirect_uri": CALLBACK,
        "state": "s"}))
    assert status == 302
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
    assert q["client_id"] == CLIENT  # GSIS sees its own client id
    _, headers, _ = call(headers["Location"])
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": "identity", "client_secret": "bridge-client-secret"}
    status, _, body = call(f"{own_client.bridge}/token", form)
    answer = json.loads(body)
    assert status == 200, answer
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert claims["aud"] == "identity" and claims["sub"] == "068933130"
    status, _, body = call(f"{own_client.bridge}/token",
                           {**form, "code": "x", "client_secret": "wrong"})
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
