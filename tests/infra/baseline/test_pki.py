"""The municipal PKI: each host trusts the CA and holds a certificate the CA signed; the
CA's key stays on the controller."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from municloud.core import paths

from ..environment import ENV

HOST_DIR = "/etc/ssl/municloud"


def ca_pem() -> str:
    return (paths.secrets_dir(ENV) / "pki" / "ca.crt").read_text()


@pytest.mark.control("BASE-PKI-01")
def test_host_certificate_verifies_against_the_system_store(host: Any) -> None:
    # No -CAfile: OpenSSL's default store is the system's (/etc/ssl/certs).
    r = host.run(f"openssl verify {HOST_DIR}/host.crt")
    assert r.rc == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


@pytest.mark.control("BASE-PKI-01")
def test_ca_is_in_the_trust_bundle(host: Any) -> None:
    body = "".join(line for line in ca_pem().splitlines() if not line.startswith("-----"))
    bundle = "".join(host.file("/etc/ssl/certs/ca-certificates.crt").content_string.split())
    assert body in bundle, "the municipal CA is not in /etc/ssl/certs/ca-certificates.crt"


@pytest.mark.control("BASE-PKI-01")
def test_host_certificate_names_the_host(host: Any, hostvars: dict[str, Any]) -> None:
    sans = host.check_output(f"openssl x509 -in {HOST_DIR}/host.crt -noout -ext subjectAltName")
    names = {s.strip() for s in sans.splitlines()[-1].split(",")}
    assert {f"DNS:{hostvars['municloud_fqdn']}", f"DNS:{hostvars['inventory_hostname']}",
            f"IP Address:{hostvars['municloud_address']}"} <= names
    # Valid for at least another 30 days.
    assert host.run(f"openssl x509 -in {HOST_DIR}/host.crt -noout -checkend 2592000").rc == 0


@pytest.mark.control("BASE-PKI-01")
def test_host_key_is_private_and_matches(host: Any) -> None:
    key = host.file(f"{HOST_DIR}/host.key")
    assert key.user == "root" and key.group == "ssl-cert"
    assert key.mode == 0o640
    cert_pub = host.check_output(f"openssl x509 -in {HOST_DIR}/host.crt -noout -pubkey")
    key_pub = host.check_output(f"openssl pkey -in {HOST_DIR}/host.key -pubout")
    assert cert_pub == key_pub


@pytest.mark.control("BASE-PKI-01")
def test_ca_key_stays_private_on_the_controller(lab: dict[str, Any]) -> None:
    pki = paths.secrets_dir(ENV) / "pki"
    assert not pki.resolve().is_relative_to(paths.REPO), "the PKI is inside the repository"
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    keys = [pki / "ca.key", *sorted((pki / "certs").glob("*.key"))]
    missing = [h for h in lab["all"]["hosts"] if pki / "certs" / f"{h}.key" not in keys]
    assert not missing, f"no host key issued for {missing}"
    loose = [str(k) for k in keys if stat.S_IMODE(Path(k).stat().st_mode) != 0o600]
    assert not loose, f"private keys readable beyond root: {loose}"
