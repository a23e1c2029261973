"""`municloud dns-records`: the records built from an inventory and a DKIM public key.

Keys are made with the `openssl` command (as the mail role does on the mail host), so the
tests parse real PEM output, not a hand-written string.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from municloud import cli
from municloud.core import admin_keys, inventory
from municloud.core.errors import UserError
from municloud.core.topology import load
from municloud.dns import records as dns_records

pytestmark = pytest.mark.control("MAIL-DKIM-01")

SETTINGS = dns_records.MailSettings(selector="mail", dkim_dir="/var/lib/rspamd/dkim")


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    return _openssl("pkey", "-pubout", stdin=key).decode()


@pytest.fixture(scope="module")
def lab_inventory() -> dict[str, Any]:
    """The lab's inventory as the topology alone defines it (no lab needed)."""
    return inventory.build(load("lab"))


def _by(records: list[dns_records.Record], rtype: str, name: str) -> list[str]:
    return [r.value for r in records if r.type == rtype and r.name == name]


def test_dkim_value_is_the_der_public_key_in_base64(rsa_pem: str) -> None:
    value = dns_records.dkim_value(rsa_pem)
    assert value.startswith("v=DKIM1; k=rsa; p=")
    der = _openssl("pkey", "-pubin", "-outform", "DER", stdin=rsa_pem.encode())
    assert base64.b64decode(value.split("p=", 1)[1]) == der


def _armored(label: str, body: str) -> str:
    """A PEM-shaped block (no real key: the bodies below are not key material)."""
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


@pytest.mark.parametrize("text", [
    "",
    _armored("PUBLIC KEY", ""),
    _armored("PRIVATE" + " KEY", "MIIB\n"),  # spelled apart: no private key block in git
    _armored("PUBLIC KEY", "not*base64!\n"),
], ids=["empty", "no-body", "private-key", "not-base64"])
def test_dkim_value_refuses_what_is_not_a_public_key(text: str) -> None:
    with pytest.raises(ValueError):
        dns_records.dkim_value(text)


def test_dkim_value_refuses_a_non_rsa_key() -> None:
    key = _openssl("genpkey", "-algorithm", "ED25519")
    pem = _openssl("pkey", "-pubout", stdin=key).decode()
    with pytest.raises(ValueError, match="RSA"):
        dns_records.dkim_value(pem)


def test_long_txt_values_are_split_into_255_octet_strings(rsa_pem: str) -> None:
    value = dns_records.dkim_value(rsa_pem)
    chunks = dns_records.txt_chunks(value)
    assert len(chunks) == 2 and all(len(c) <= 255 for c in chunks)
    assert "".join(chunks) == value
    line = dns_records.Record("mail._domainkey.example.org.", "TXT", value).zone_line()
    assert line.count('"') == 4


def test_txt_values_with_quotes_are_refused() -> None:
    with pytest.raises(ValueError):
        dns_records.txt_chunks('v=spf1 "mx" -all')


def test_mail_records_of_the_lab(lab_inventory: dict[str, Any], rsa_pem: str) -> None:
    dkim = dns_records.dkim_value(rsa_pem)
    records = dns_records.build(lab_inventory, dkim, SETTINGS)
    assert _by(records, "MX", "heraklion.gr.") == ["10 mail1.heraklion.gr."]
    assert _by(records, "A", "mail1.heraklion.gr.") == ["10.70.1.21"]
    assert _by(records, "TXT", "heraklion.gr.") == ["v=spf1 mx -all"]
    assert _by(records, "TXT", "mail._domainkey.heraklion.gr.") == [dkim]
    assert _by(records, "TXT", "_dmarc.heraklion.gr.") == [
        "v=DMARC1; p=quarantine; rua=mailto:postmaster@heraklion.gr"]


def _without_vip(inv: dict[str, Any]) -> dict[str, Any]:
    return {"all": {**inv["all"], "hosts": {**inv["all"]["hosts"]},
                    "vars": {**inv["all"]["vars"], "municloud_virtual_address": None}}}


@pytest.mark.control("EDGE-HA-01")
def test_public_names_point_at_the_virtual_address(lab_inventory: dict[str, Any]) -> None:
    records = dns_records.build(lab_inventory, None, SETTINGS)
    for name in lab_inventory["all"]["vars"]["municloud_public_names"].values():
        assert _by(records, "A", f"{name}.") == ["10.70.1.10"]
    # Its floating IP where the platform gave one (production's VIP port).
    inv = _without_vip(lab_inventory)
    inv["all"]["vars"].update(municloud_virtual_address="10.20.10.10",
                              municloud_virtual_floating_address="203.0.113.10")
    records = dns_records.build(inv, None, SETTINGS)
    assert _by(records, "A", "webmail.heraklion.gr.") == ["203.0.113.10"]


def test_public_names_point_at_every_edge_host(lab_inventory: dict[str, Any]) -> None:
    """Without a virtual address: one record per edge host."""
    records = dns_records.build(_without_vip(lab_inventory), None, SETTINGS)
    for name in lab_inventory["all"]["vars"]["municloud_public_names"].values():
        assert sorted(_by(records, "A", f"{name}.")) == ["10.70.1.11", "10.70.1.12"]


def test_floating_addresses_win_over_private_ones(lab_inventory: dict[str, Any]) -> None:
    inv: dict[str, Any] = _without_vip(lab_inventory)
    for name, ip in (("mail1", "203.0.113.25"), ("edge1", "203.0.113.11")):
        inv["all"]["hosts"][name] = {**inv["all"]["hosts"][name],
                                     "municloud_floating_address": ip}
    records = dns_records.build(inv, None, SETTINGS, dmarc_rua="dmarc@heraklion.gr")
    assert _by(records, "A", "mail1.heraklion.gr.") == ["203.0.113.25"]
    assert sorted(_by(records, "A", "webmail.heraklion.gr.")) == ["10.70.1.12",
                                                                  "203.0.113.11"]
    assert _by(records, "TXT", "_dmarc.heraklion.gr.") == [
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@heraklion.gr"]


def test_without_a_key_the_dkim_record_is_left_out(lab_inventory: dict[str, Any]) -> None:
    records = dns_records.build(lab_inventory, None, SETTINGS)
    assert not [r for r in records if "_domainkey" in r.name]
    assert _by(records, "TXT", "heraklion.gr.") == ["v=spf1 mx -all"]


def test_an_environment_without_mail_is_refused(lab_inventory: dict[str, Any]) -> None:
    inv = {"all": {**lab_inventory["all"], "vars": {
        **lab_inventory["all"]["vars"],
        "municloud_service_hosts": {
            k: v for k, v in lab_inventory["all"]["vars"]["municloud_service_hosts"].items()
            if k != "mail"}}}}
    with pytest.raises(UserError, match="mail service"):
        dns_records.build(inv, None, SETTINGS)


def test_selector_comes_from_the_role_then_group_vars(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(tmp_path))
    assert dns_records.configured("prod").selector == "mail"
    gv = tmp_path / "prod" / "group_vars" / "mail"
    gv.mkdir(parents=True)
    (gv / "dkim.yml").write_text("mail_dkim_selector: s2027\n")
    assert dns_records.configured("prod") == dns_records.MailSettings(
        "s2027", "/var/lib/rspamd/dkim")


def test_unreachable_mail_host_prints_the_rest_and_says_how(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A state directory without any SSH configuration: the key cannot be read.
    monkeypatch.setenv("MUNICLOUD_STATE", str(tmp_path))
    admin_keys.ensure_lab_admin_key("lab")  # what `lab up` leaves even before the nodes
    code = cli.main(["dns-records", "lab"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "v=spf1 mx -all" in out and "_dmarc.heraklion.gr." in out
    assert "_domainkey" not in out
    assert "DKIM record left out" in err and "/var/lib/rspamd/dkim/heraklion.gr.mail.pub" in err


# Issue 17, item 2: values that reach the mail host's shell ---------------------------------

FAKE_SSH = """#!{python}
# ssh as far as the remote side sees it: the words after the host, joined by spaces, run
# by the login shell (here: a local sh), so quoting mistakes show as they would.
import subprocess, sys
args = sys.argv[1:]
while args and args[0].startswith("-"):
    opt = args.pop(0)
    if opt == "--":
        break
    if opt in ("-F", "-o"):
        args.pop(0)
host, words = args[0], args[1:]
sys.exit(subprocess.run(["/bin/sh", "-c", " ".join(words)]).returncode)
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(FAKE_SSH.format(python=sys.executable))
    (bindir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = tmp_path / "ssh_config"
    cfg.write_text("")
    return cfg


def test_selector_with_shell_metacharacters_is_refused_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pwned = tmp_path / "pwned"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["dns-records", "lab", "--selector", f"x;touch {pwned};"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --selector: invalid DKIM selector" in err and "Traceback" not in err
    assert not pwned.exists()


def test_the_remote_command_is_quoted(tmp_path: Path, fake_ssh: Path, rsa_pem: str) -> None:
    # A key path full of shell syntax (as a hostile mail_dkim_dir or selector would give)
    # is read as the file it names, and runs nothing.
    odd = tmp_path / "dkim $(touch pwned1);touch pwned2;'"
    odd.mkdir()
    key = odd / "heraklion.gr.mail.pub"
    key.write_text(rsa_pem)
    got = dns_records.read_dkim_public_key(fake_ssh, "mail1", str(key))
    assert got == rsa_pem
    assert not list(Path.cwd().glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_the_fake_ssh_runs_what_it_is_given(tmp_path: Path, fake_ssh: Path) -> None:
    # The double above is a shell: unquoted, the same path would run its commands.
    proc = subprocess.run(["ssh", "-F", str(fake_ssh), "mail1", f"touch {tmp_path}/ran;"],
                          check=False)
    assert proc.returncode == 0 and (tmp_path / "ran").exists()


def test_configured_settings_must_be_plain(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICLOUD_INVENTORIES", str(tmp_path))
    gv = tmp_path / "prod" / "group_vars"
    gv.mkdir(parents=True)
    for bad in ("mail_dkim_selector: 'a;reboot'", "mail_dkim_dir: '/var/$(id)'"):
        (gv / "all.yml").write_text(bad + "\n")
        with pytest.raises(UserError, match=r"mail_dkim_(selector|dir) .* is not"):
            dns_records.configured("prod")


@pytest.mark.parametrize("rua", ["x; p=none", "postmaster@heraklion.gr; ruf=mailto:a@b.gr",
                                 "mailto:", "not-an-address", "a@b", "http://x.gr/r"])
def test_dmarc_rua_is_validated_exit_2(rua: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["dns-records", "lab", "--dmarc-rua", rua])
    assert exit_.value.code == 2
    assert "argument --dmarc-rua: invalid DMARC report address" in capsys.readouterr().err


def test_dmarc_rua_takes_addresses_and_mailto_uris(lab_inventory: dict[str, Any]) -> None:
    records = dns_records.build(lab_inventory, None, SETTINGS,
                                "mailto:dmarc@heraklion.gr, reports@example.org")
    assert _by(records, "TXT", "_dmarc.heraklion.gr.") == [
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@heraklion.gr,mailto:reports@example.org"]
