"""Certificates that never expire unnoticed (BASE-PKI-02): no certificate a host holds
expires within the PKI's renewal window, and a certificate that does is renewed by the
next converge, which reloads the daemon presenting it."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from municloud.core import paths

from .. import playbook
from ..environment import ENV

# Every certificate file under /etc but the system's CA links.
LIST = ("find /etc -path /etc/ssl/certs -prune -o -name '*.crt' -type f -print | sort | "
        "while read -r f; do printf '%s\\t%s\\n' \"$f\" "
        "\"$(openssl x509 -noout -enddate -in \"$f\" | cut -d= -f2)\"; done")


def renewal_days() -> int:
    """The window the pki role renews within (its default, unless the inventory sets it)."""
    defaults = yaml.safe_load((paths.ROLES / "pki" / "defaults" / "main.yml").read_text())
    return int(defaults["pki_renew_before_days"])


def expiries(host: Any) -> dict[str, dt.datetime]:
    out: dict[str, dt.datetime] = {}
    for line in host.check_output(LIST).splitlines():
        path, _, end = line.partition("\t")
        out[path] = dt.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC)
    return out


def inside_window(host: Any) -> dict[str, str]:
    limit = dt.datetime.now(dt.UTC) + dt.timedelta(days=renewal_days())
    return {p: e.isoformat() for p, e in expiries(host).items() if e <= limit}


@pytest.mark.control("BASE-PKI-02")
def test_no_certificate_expires_within_the_renewal_window(
        host: Any, hostvars: dict[str, Any],
        record_property: Callable[[str, object], None]) -> None:
    found = expiries(host)
    assert any(p.endswith("/host.crt") for p in found), f"no host certificate: {sorted(found)}"
    soonest = min(found, key=found.__getitem__)
    # For `municloud verify`'s summary: the soonest expiry of each host.
    record_property("municloud.soonest_certificate",
                    {"path": soonest, "not_after": found[soonest].isoformat()})
    assert not inside_window(host), (
        f"{hostvars['inventory_hostname']}: certificates expiring within "
        f"{renewal_days()} days: {inside_window(host)} (soonest: {soonest}, "
        f"{found[soonest]:%Y-%m-%d})")


def _sign_short(pki: Path, name: str, days: int) -> None:
    """Sign `name`'s CSR again with the municipal CA, valid for only `days` days (what a
    certificate near its end looks like)."""
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    csr = x509.load_pem_x509_csr((pki / "certs" / f"{name}.csr").read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
               .public_key(csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=days)))
    for ext in csr.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    cert = builder.sign(ca_key, hashes.SHA256())
    (pki / "certs" / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def served_fingerprint(host: Any, port: int) -> str:
    return str(host.check_output(
        f"openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | "
        "openssl x509 -noout -fingerprint -sha256"))


@pytest.mark.disruptive
@pytest.mark.control("BASE-PKI-02")
def test_a_certificate_near_its_end_is_renewed_and_served(lab: dict[str, Any],
                                                          target: Any) -> None:
    name = next(h for h, v in lab["all"]["hosts"].items()
                if "directory" in v["municloud_services"])
    host = target(name)
    pki = paths.secrets_dir(ENV) / "pki"
    kept = pki / "certs" / f"{name}.crt.before-renewal-test"
    shutil.copy2(pki / "certs" / f"{name}.crt", kept)
    try:
        _sign_short(pki, name, days=max(1, renewal_days() // 3))
        code, out, _ = playbook.run("baseline.yml", name, {}, args=("--tags", "pki"))
        assert code == 0, out[-3000:]
        assert "/etc/ssl/municloud/host.crt" in inside_window(host), \
            "the shortened certificate did not reach the host: the check cannot fail"

        # The converge: pki (on the controller) renews, the baseline installs and reloads.
        code, out, _ = playbook.run("pki.yml", None, {})
        assert code == 0, out[-3000:]
        code, out, _ = playbook.run("baseline.yml", name, {}, args=("--tags", "pki"))
        assert code == 0, out[-3000:]
        assert not inside_window(host), inside_window(host)
        renewed = x509.load_pem_x509_certificate((pki / "certs" / f"{name}.crt").read_bytes())
        fingerprint = renewed.fingerprint(hashes.SHA256()).hex().upper()
        served = served_fingerprint(host, 636).strip().split("=", 1)[1].replace(":", "")
        assert served == fingerprint, "slapd still presents the old certificate"

        # Idempotence: a certificate valid beyond the window is not signed again.
        code, out, stats = playbook.run("pki.yml", None, {})
        assert code == 0 and all(s.get("changed", 0) == 0 for s in stats.values()), stats
    finally:
        if inside_window(host):  # the converge did not renew it: put the old one back
            shutil.copy2(kept, pki / "certs" / f"{name}.crt")
            playbook.run("baseline.yml", name, {}, args=("--tags", "pki"))
        kept.unlink()
