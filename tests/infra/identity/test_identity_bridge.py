"""The TAXISnet bridge on the identity host, as converged from the environment's own
declaration (a choice of kind gsis): its unit, loopback only, its published key."""

from __future__ import annotations

import json
from typing import Any

import pytest

CONFIG = "/etc/municloud/taxisnet-bridge/config.json"
CODE = "/opt/municloud/taxisnet-bridge/taxisnet_bridge.py"
KEY = "/var/lib/municloud/taxisnet-bridge/signing.pem"
FETCH = ("python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' %s")


def bridge_of(hostvars: dict[str, Any]) -> dict[str, Any]:
    ident = hostvars.get("municloud_identity") or {}
    found = [c for c in ident.get("choices", []) if c.get("kind") == "gsis"]
    if not found:
        pytest.skip("the identity declaration has no TAXISnet choice")
    bridge: dict[str, Any] = found[0]["bridge"]
    return bridge


@pytest.mark.service("identity")
@pytest.mark.control("SSO-GSIS-01")
def test_bridge_runs_on_loopback_only(host: Any, hostvars: dict[str, Any]) -> None:
    bridge = bridge_of(hostvars)
    unit = host.service("municloud-taxisnet-bridge")
    assert unit.is_running and unit.is_enabled
    assert host.process.filter(comm="python3", user="taxisnet-bridge")
    port = bridge["listen"].rsplit(":", 1)[1]
    assert host.socket(f"tcp://{bridge['listen']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://{hostvars['municloud_address']}:{port}").is_listening
    disco = json.loads(host.check_output(FETCH, f"http://{bridge['listen']}/.well-known/"
                                                "openid-configuration"))
    assert disco["issuer"] == bridge["issuer"]
    assert disco["authorization_endpoint"] == bridge["issuer"] + "/authorize"
    assert disco["token_endpoint"] == f"http://{bridge['listen']}/token"


@pytest.mark.service("identity")
@pytest.mark.control("SSO-GSIS-01")
def test_bridge_publishes_the_key_kept_on_the_host(host: Any, hostvars: dict[str, Any]) -> None:
    bridge = bridge_of(hostvars)
    key = host.file(KEY)
    assert key.exists and key.user == "taxisnet-bridge" and key.mode == 0o600
    (jwk,) = json.loads(host.check_output(FETCH, f"http://{bridge['listen']}/jwks"))["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}  # public half only
    # The published key id is the thumbprint of the key file: the key the host keeps.
    check = host.run("python3 %s --check --config %s", CODE, CONFIG)
    assert check.rc == 0, check.stderr
    assert check.stdout.strip() == f"configuration ok; key id {jwk['kid']}"
