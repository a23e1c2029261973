"""The mail service on the lab, tested from the controller like a client would use it:
submission (587), IMAPS (993) and the MX (25) over the network with the standard library,
configuration facts over SSH (testinfra).

Needs the directory: people and groups declared in
inventories/<env>/group_vars/all/people.yml, converged on the directory host, and their
passwords in <secrets>/people/<uid>.password. Without them the tests that need a person
skip (fail under MUNICLOUD_REQUIRE_LAB=1) and say what is missing.

Wrong-password tests use one person who is not used for the delivery tests, and make one
failed attempt per protocol: the directory locks a person after 5 failures in 15 minutes.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import json
import re
import shlex
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from municloud.core import paths
from municloud.dns import records as dns_records

from ..environment import ENV, Person, people_file
from ..environment import missing as _missing

DELIVERY_TIMEOUT = 60.0  # seconds a message may take from submission to the mailbox
NET_TIMEOUT = 20.0
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


# --- what the environment declares ------------------------------------------------------

@dataclass(frozen=True)
class MailHost:
    name: str
    fqdn: str
    address: str
    domain: str
    secrets: Path
    vmail_root: str  # the mail declaration's paths.vmail (the role's mail_vmail_root)

    @property
    def ca_file(self) -> str:
        return str(self.secrets / "pki" / "ca.crt")

    def context(self) -> ssl.SSLContext:
        """A client context trusting only the municipal CA."""
        return ssl.create_default_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def mx(lab: dict[str, Any]) -> MailHost:
    v = lab["all"]["vars"]
    hosts = v["municloud_service_hosts"].get("mail", [])
    if not hosts:
        pytest.skip("no host runs the mail service in this environment")
    h = hosts[0]
    return MailHost(h["name"], h["fqdn"], h["address"], v["municloud_domain"],
                    Path(v["municloud_secrets_dir"]),
                    v["municloud_declarations"]["mail"]["paths"]["vmail"])


def _active(people: list[Person], n: int) -> list[Person]:
    usable = [p for p in people if p.state == "present" and p.password]
    if len(usable) < n:
        _missing(f"need {n} present people with a password file in {people_file()} and "
                 f"<secrets>/people/, found {len(usable)}")
    return usable


@pytest.fixture(scope="module")
def sender(people: list[Person]) -> Person:
    return _active(people, 2)[0]


@pytest.fixture(scope="module")
def recipient(people: list[Person]) -> Person:
    return _active(people, 2)[1]


@pytest.fixture(scope="module")
def bystander(people: list[Person]) -> Person:
    """A present person used only for the wrong-password tests (never for deliveries)."""
    return _active(people, 3)[-1]


# --- clients ------------------------------------------------------------------------------

def submission(mx: MailHost, person: Person) -> smtplib.SMTP:
    s = smtplib.SMTP(mx.address, 587, timeout=NET_TIMEOUT)
    s.ehlo("controller.test")
    s.starttls(context=mx.context())
    s.ehlo("controller.test")
    assert person.password is not None
    s.login(person.uid, person.password)
    return s


def imap(mx: MailHost, person: Person) -> imaplib.IMAP4_SSL:
    c = imaplib.IMAP4_SSL(mx.address, 993, ssl_context=mx.context(), timeout=NET_TIMEOUT)
    assert person.password is not None
    c.login(person.uid, person.password)
    return c


def new_message(sender: Person, to: str, token: str, body: str = "") -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender.mail
    m["To"] = to
    m["Subject"] = f"municloud test {token}"
    m["Message-ID"] = f"<{token}@{sender.mail.split('@')[1]}>"
    m["Date"] = email.utils.formatdate(localtime=True)
    m.set_content(body or f"Hello from the municloud mail test {token}.\n")
    return m


def fetch(mx: MailHost, person: Person, token: str,
          timeout: float = DELIVERY_TIMEOUT) -> bytes | None:
    """The raw message whose subject carries `token` in the person's INBOX, waiting for it."""
    deadline = time.monotonic() + timeout
    c = imap(mx, person)
    try:
        while True:
            c.select("INBOX")
            typ, data = c.search(None, "SUBJECT", f'"{token}"')
            ids = data[0].split() if typ == "OK" and data and data[0] else []
            if ids:
                typ, parts = c.fetch(ids[-1], "(BODY.PEEK[])")
                assert typ == "OK"
                for part in parts:
                    if isinstance(part, tuple):
                        return part[1]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
    finally:
        c.logout()


def delivered_on_host(host: Any, person: Person, token: str,
                      timeout: float = DELIVERY_TIMEOUT) -> bool:
    """Whether the message whose subject carries `token` sits in the person's INBOX, read
    on the mail host with doveadm: for the bystander, whose failed logins (the
    wrong-password tests) may have locked the account, so an IMAP login proves nothing."""
    deadline = time.monotonic() + timeout
    while True:
        r = host.run(f"doveadm search -u {shlex.quote(person.uid)} mailbox INBOX "
                     f"header Subject {shlex.quote(token)}")
        if r.rc == 0 and r.stdout.strip():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


@dataclass(frozen=True)
class Delivery:
    raw: bytes
    seconds: float


@pytest.fixture(scope="module")
def delivered(mx: MailHost, sender: Person, recipient: Person,
              probe_mail: Callable[[str, str], None]) -> Delivery:
    """One journey: the sender submits a message to the recipient, who fetches it."""
    token = uuid.uuid4().hex
    probe_mail(recipient.uid, token)
    start = time.monotonic()
    with submission(mx, sender) as s:
        refused = s.send_message(new_message(sender, recipient.mail, token))
    assert not refused, f"recipients refused: {refused}"
    raw = fetch(mx, recipient, token)
    assert raw is not None, (f"{recipient.mail} did not receive the message within "
                             f"{DELIVERY_TIMEOUT:.0f}s (journalctl -u postfix@- -u dovecot "
                             f"on {mx.name})")
    return Delivery(raw, time.monotonic() - start)


def mx_session(mx: MailHost) -> smtplib.SMTP:
    """An unauthenticated SMTP session on the MX, as another mail server would open."""
    s = smtplib.SMTP(mx.address, 25, timeout=NET_TIMEOUT)
    s.ehlo("outside.test")
    return s


# --- delivery -------------------------------------------------------------------------------

@pytest.mark.control("MAIL-DELIV-01", "MAIL-AUTH-01")
def test_person_sends_through_submission_and_recipient_fetches_over_imaps(
        delivered: Delivery, sender: Person, recipient: Person) -> None:
    msg = email.message_from_bytes(delivered.raw, policy=email.policy.default)
    assert msg["From"] == sender.mail
    assert msg["To"] == recipient.mail
    body = msg.get_body()
    assert body is not None
    assert "Hello from the municloud mail test" in body.get_content()
    print(f"send->fetch journey: {delivered.seconds:.2f}s")


@pytest.mark.control("MAIL-DELIV-01")
def test_group_address_delivers_to_every_member(mx: MailHost, people: list[Person],
                                                sender: Person, bystander: Person,
                                                target: Any,
                                                probe_mail: Callable[[str, str], None]
                                                ) -> None:
    active = {p.uid: p for p in _active(people, 2)}
    groups: dict[str, list[Person]] = {}
    for p in active.values():
        for g in p.groups:
            groups.setdefault(g, []).append(p)
    if not groups:
        _missing(f"no group with present members in {people_file()}")
    group, members = max(groups.items(), key=lambda kv: len(kv[1]))
    token = uuid.uuid4().hex
    for m in members:
        probe_mail(m.uid, token)
    with submission(mx, sender) as s:
        s.send_message(new_message(sender, f"{group}@{mx.domain}", token))
    missing = [m.uid for m in members
               if not (delivered_on_host(target(mx.name), m, token) if m == bystander
                       else fetch(mx, m, token) is not None)]
    assert not missing, f"{group}@{mx.domain} did not reach members {missing}"


@pytest.mark.control("MAIL-DELIV-01")
@pytest.mark.service("mail")
def test_services_run_and_record_their_version(host: Any) -> None:
    for unit in ("postfix", "dovecot", "rspamd"):
        svc = host.service(unit)
        assert svc.is_running and svc.is_enabled, unit
    facts = json.loads(host.file("/etc/municloud/services/mail.json").content_string)
    version = host.check_output("postconf -h mail_version").strip()
    assert facts == {"service": "mail", "status": "deployed", "version": version}


# --- authentication -------------------------------------------------------------------------

@pytest.mark.control("MAIL-AUTH-01", "MAIL-TLS-01")
def test_submission_offers_auth_only_after_starttls(mx: MailHost) -> None:
    with smtplib.SMTP(mx.address, 587, timeout=NET_TIMEOUT) as s:
        s.ehlo("controller.test")
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), f"AUTH offered in clear: {s.esmtp_features['auth']}"
        code, reply = s.mail("someone@example.org")
        assert code == 530 and b"5.7.0" in reply, (code, reply)
        s.rset()
        s.starttls(context=mx.context())
        s.ehlo("controller.test")
        assert s.has_extn("auth")


# A person's failed logins add up across services (the directory locks the account after
# 5): the tests that mistype the bystander's password take turns, each clearing the count
# with the right password before the next one starts.
@pytest.mark.host_lock("mistyped-password")
@pytest.mark.control("MAIL-AUTH-01")
def test_wrong_password_refused_on_imaps(mx: MailHost, bystander: Person) -> None:
    c = imaplib.IMAP4_SSL(mx.address, 993, ssl_context=mx.context(), timeout=NET_TIMEOUT)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            c.login(bystander.uid, f"wrong-{bystander.password}")
    finally:
        c.shutdown()
    # The right password still gets in, which also clears the failure count as a person's
    # next good login does (the directory locks an account after 5 failures in a row).
    imap(mx, bystander).logout()


@pytest.mark.host_lock("mistyped-password")
@pytest.mark.control("MAIL-AUTH-01")
def test_wrong_password_refused_on_submission(mx: MailHost, bystander: Person) -> None:
    with smtplib.SMTP(mx.address, 587, timeout=NET_TIMEOUT) as s:
        s.starttls(context=mx.context())
        # One AUTH PLAIN, as mail clients send it (smtplib's login() would try every
        # mechanism offered, each failure waiting out Dovecot's auth_failure_delay).
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            s.auth("PLAIN", lambda _=None: f"\0{bystander.uid}\0wrong-{bystander.password}")
        assert err.value.smtp_code == 535
    submission(mx, bystander).quit()  # the right password still works (and clears the count)


@pytest.mark.control("MAIL-AUTH-01")
def test_disabled_person_cannot_log_in_to_imap(mx: MailHost, people: list[Person]) -> None:
    disabled = [p for p in people if p.state == "disabled" and p.password]
    if not disabled:
        _missing(f"no disabled person with a password file in {people_file()}")
    p = disabled[0]
    c = imaplib.IMAP4_SSL(mx.address, 993, ssl_context=mx.context(), timeout=NET_TIMEOUT)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            c.login(p.uid, p.password or "")
    finally:
        c.shutdown()


@pytest.mark.control("MAIL-AUTH-01")
def test_person_cannot_send_as_someone_else(mx: MailHost, sender: Person,
                                            recipient: Person) -> None:
    with submission(mx, sender) as s:
        code, reply = s.mail(recipient.mail)
        if code == 250:
            code, reply = s.rcpt(sender.mail)
        assert code == 553 and b"5.7.1" in reply, (code, reply)


# --- relay, recipients, spam ----------------------------------------------------------------

@pytest.mark.control("MAIL-RELAY-01")
def test_submission_without_auth_sends_nothing(mx: MailHost, recipient: Person) -> None:
    with smtplib.SMTP(mx.address, 587, timeout=NET_TIMEOUT) as s:
        s.starttls(context=mx.context())
        s.ehlo("controller.test")
        s.mail("someone@example.org")
        code, reply = s.rcpt(recipient.mail)
        assert code == 554 and b"5.7.1" in reply, (code, reply)


@pytest.mark.control("MAIL-RELAY-01")
@pytest.mark.parametrize("sender_kind", ["outside", "own-domain"])
def test_unauthenticated_relay_is_refused(mx: MailHost, sender_kind: str) -> None:
    mail_from = ("someone@example.org" if sender_kind == "outside"
                 else f"postmaster@{mx.domain}")
    with mx_session(mx) as s:
        code, _ = s.mail(mail_from)
        assert code == 250
        code, reply = s.rcpt("victim@example.net")
        assert code == 554 and b"5.7.1" in reply, (code, reply)


@pytest.mark.control("MAIL-RCPT-01")
def test_unknown_recipient_is_rejected(mx: MailHost) -> None:
    with mx_session(mx) as s:
        s.mail("someone@example.org")
        code, reply = s.rcpt(f"nobody-{uuid.uuid4().hex[:12]}@{mx.domain}")
        assert code == 550 and b"5.1.1" in reply, (code, reply)


@pytest.mark.control("MAIL-SPAM-01")
def test_spam_is_rejected_before_delivery(mx: MailHost, recipient: Person) -> None:
    m = EmailMessage()
    m["From"] = "spammer@example.org"
    m["To"] = recipient.mail
    m["Subject"] = "cheap offer"
    m.set_content(f"{GTUBE}\n")
    with mx_session(mx) as s:
        code, _ = s.mail("spammer@example.org")
        assert code == 250
        code, reply = s.rcpt(recipient.mail)
        assert code == 250, (code, reply)
        code, reply = s.data(m.as_bytes())
        assert code == 554 and b"5.7.1" in reply, (code, reply)


# --- TLS --------------------------------------------------------------------------------------

def _handshake(mx: MailHost, port: int, ctx: ssl.SSLContext) -> str:
    """Handshake on 993 (implicit TLS) or 587 (STARTTLS); the negotiated version."""
    if port == 993:
        with socket.create_connection((mx.address, port), timeout=NET_TIMEOUT) as raw, \
                ctx.wrap_socket(raw, server_hostname=mx.address) as tls:
            return str(tls.version())
    with smtplib.SMTP(mx.address, port, timeout=NET_TIMEOUT) as s:
        s.starttls(context=ctx)
        assert isinstance(s.sock, ssl.SSLSocket)
        return str(s.sock.version())


@pytest.mark.control("MAIL-TLS-01")
@pytest.mark.parametrize("port", [587, 993])
def test_certificate_chains_to_municipal_ca(mx: MailHost, port: int) -> None:
    ctx = mx.context()  # only the municipal CA, hostname checked (IP SAN)
    version = _handshake(mx, port, ctx)
    assert version in ("TLSv1.2", "TLSv1.3")


def _pinned(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client really offer TLS 1.0/1.1
    return ctx


@pytest.mark.control("MAIL-TLS-01")
@pytest.mark.parametrize("port", [587, 993])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1],
                         ids=["TLSv1.0", "TLSv1.1"])
def test_old_tls_versions_are_refused(mx: MailHost, port: int,
                                      version: ssl.TLSVersion) -> None:
    # Control: the same client settings with TLS 1.2 get through.
    assert _handshake(mx, port, _pinned(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    with pytest.raises(ssl.SSLError) as err:
        _handshake(mx, port, _pinned(version))
    # Refused by the server, not by this client's own library.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(err.value), err.value


@pytest.mark.control("MAIL-TLS-01")
@pytest.mark.service("mail")
def test_no_plaintext_imap_or_pop3_listens(host: Any) -> None:
    listening = host.socket.get_listening_sockets()
    for port in (110, 143):
        assert not [s for s in listening if re.search(rf":{port}$", s)], \
            f"port {port} listens: {listening}"
    assert [s for s in listening if s.endswith(":993")]


# --- DKIM -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(lab: dict[str, Any]) -> dict[str, Any]:
    """What `municloud dns-records <env> --json` prints."""
    run = subprocess.run([sys.executable, "-m", "municloud.cli", "dns-records", ENV, "--json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def _dkim_record(published: dict[str, Any]) -> tuple[str, str]:
    found = [r for r in published["records"]
             if r["type"] == "TXT" and "._domainkey." in r["name"]]
    assert len(found) == 1, published["records"]
    return found[0]["name"], found[0]["value"]


@pytest.mark.control("MAIL-DKIM-01")
def test_delivered_mail_carries_a_dkim_signature_that_verifies(
        delivered: Delivery, published: dict[str, Any], mx: MailHost) -> None:
    import dkim  # dkimpy

    name, value = _dkim_record(published)
    msg = email.message_from_bytes(delivered.raw, policy=email.policy.default)
    sig = msg["DKIM-Signature"]
    assert sig, "the delivered message has no DKIM-Signature"
    tags = dict(t.strip().split("=", 1) for t in str(sig).replace("\r\n", "").split(";")
                if "=" in t)
    assert tags["d"].strip() == mx.domain
    assert f"{tags['s'].strip()}._domainkey.{mx.domain}." == name

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes:
        return value.encode() if qname.decode().rstrip(".") == name.rstrip(".") else b""

    # The verifier sees the message as the receiving server did (without the headers
    # added after signing: Return-Path and Delivered-To from LMTP come first).
    assert dkim.verify(delivered.raw, dnsfunc=dnsfunc), "DKIM signature does not verify"
    # And the verifier is not vacuous: the same message with its body changed fails.
    tampered = delivered.raw.replace(b"Hello from", b"Hullo from", 1)
    assert tampered != delivered.raw
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


@pytest.mark.control("MAIL-DKIM-01")
def test_printed_dkim_record_is_the_key_rspamd_signs_with(
        target: Any, mx: MailHost, published: dict[str, Any]) -> None:
    settings = dns_records.configured(ENV)
    host = target(mx.name)
    key = f"{settings.dkim_dir}/{mx.domain}.{settings.selector}.key"
    pem = host.check_output(f"openssl pkey -in {key} -pubout")
    _, value = _dkim_record(published)
    assert value == dns_records.dkim_value(pem)
    f = host.file(key)
    assert (f.user, f.group, f.mode) == ("root", "_rspamd", 0o640)


# --- quota and storage -------------------------------------------------------------------------

def _size_kib(text: str) -> int:
    units = {"": 1 / 1024, "k": 1, "m": 1024, "g": 1024**2, "t": 1024**3}
    m = re.fullmatch(r"(\d+)([kmgt]?)", text.strip().lower())
    assert m, f"unexpected quota size {text!r}"
    return int(int(m.group(1)) * units[m.group(2)])


@pytest.mark.control("MAIL-QUOTA-01")
def test_mailbox_has_the_default_quota_on_the_data_volume(
        mx: MailHost, recipient: Person, delivered: Delivery, target: Any) -> None:
    defaults = yaml.safe_load((paths.ROLES / "mail" / "defaults" / "main.yml").read_text())
    expected = _size_kib(str(defaults["mail_quota_default"]))
    vmail_root = mx.vmail_root
    c = imap(mx, recipient)
    try:
        typ, data = c.getquotaroot("INBOX")
    finally:
        c.logout()
    assert typ == "OK"
    text = b" ".join(d for d in data[1] if isinstance(d, bytes)).decode()
    m = re.search(r"STORAGE (\d+) (\d+)", text)
    assert m, f"no STORAGE quota reported: {data}"
    assert int(m.group(2)) == expected
    host = target(mx.name)
    maildir = f"{vmail_root}/{mx.domain}/{recipient.uid}/Maildir"
    assert host.file(maildir).is_directory
    mount = host.check_output(f"findmnt -n -o TARGET -T {maildir}").strip()
    assert mount == vmail_root
