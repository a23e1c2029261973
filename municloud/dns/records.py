"""The DNS records a municipality must publish for its mail and web names.

Built from the inventory (domain, where the mail and edge services run, public names and
their addresses) and the DKIM public key the mail host generated (`roles/mail`). Pure
functions except `read_dkim_public_key` (SSH to the mail host) and `configured`, which
reads the DKIM selector and key directory from the role defaults and the inventory's
group variables. `municloud dns-records <env>` (municloud/cmd_dns.py) prints them.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from municloud.core import paths, remote
from municloud.core.errors import UserError
from municloud.core.services import load_services

DEFAULT_TTL = 3600
SPF = "v=spf1 mx -all"
# TXT character-strings are at most 255 octets (RFC 1035 3.3.14); longer values are
# published as several strings that resolvers concatenate (a 2048-bit DKIM key needs two).
TXT_CHUNK = 255
PEM_BEGIN = "-----BEGIN PUBLIC KEY-----"
PEM_END = "-----END PUBLIC KEY-----"
# A DKIM selector is a dot-separated sequence of DNS labels (RFC 6376 3.1).
SELECTOR_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
KEY_DIR_RE = re.compile(r"(/[A-Za-z0-9._-]+)+")
# An address DMARC reports go to (RFC 7489 6.2: a mailto: URI; no '!' size limit here).
MAILBOX_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@(?=.{1,253}\Z)"
                        r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def selector(text: str) -> str:
    """A valid DKIM selector, else ValueError saying what is allowed."""
    if not SELECTOR_RE.fullmatch(text) or len(text) > 253:
        raise ValueError(f"invalid DKIM selector {text!r} (allowed: DNS labels of letters, "
                         "digits and '-', separated by dots, such as mail or 2026a)")
    return text


def dmarc_rua(text: str) -> list[str]:
    """The report addresses of --dmarc-rua: comma-separated addresses or mailto: URIs."""
    out: list[str] = []
    for part in text.split(","):
        address = part.strip().removeprefix("mailto:")
        if not MAILBOX_RE.fullmatch(address):
            raise ValueError(f"invalid DMARC report address {part.strip()!r} (allowed: "
                             "mailto: URIs or addresses such as postmaster@heraklion.gr, "
                             "separated by commas)")
        out.append(address)
    return out


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with the trailing dot
    type: str
    value: str  # TXT: the whole text, unsplit and unquoted
    ttl: int = DEFAULT_TTL
    comment: str = ""

    def zone_line(self) -> str:
        """The record as a line of a BIND zone file."""
        data = " ".join(f'"{c}"' for c in txt_chunks(self.value)) if self.type == "TXT" \
            else self.value
        line = f"{self.name}\t{self.ttl}\tIN\t{self.type}\t{data}"
        return f"{line}\t; {self.comment}" if self.comment else line

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MailSettings:
    """What the mail role was told: the DKIM selector and where it keeps the keys."""

    selector: str
    dkim_dir: str

    def public_key_path(self, domain: str) -> str:
        return f"{self.dkim_dir}/{domain}.{self.selector}.pub"


def absolute(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


def txt_chunks(value: str) -> list[str]:
    """Split a TXT value into character-strings of at most 255 octets."""
    if '"' in value or "\\" in value:
        raise ValueError(f"TXT value must not contain quotes or backslashes: {value!r}")
    return [value[i:i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)] or [""]


def dkim_value(public_key_pem: str) -> str:
    """The DKIM TXT value (`v=DKIM1; k=rsa; p=...`) of a PEM public key (SubjectPublicKeyInfo,
    as `openssl pkey -pubout` writes it)."""
    lines = [ln.strip() for ln in public_key_pem.strip().splitlines() if ln.strip()]
    if len(lines) < 3 or lines[0] != PEM_BEGIN or lines[-1] != PEM_END:
        raise ValueError("not a PEM public key (expected -----BEGIN PUBLIC KEY----- ... "
                         "-----END PUBLIC KEY-----)")
    body = "".join(lines[1:-1])
    try:
        der = base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the PEM body is not base64: {exc}") from exc
    # An RSA SubjectPublicKeyInfo carries the rsaEncryption OID 1.2.840.113549.1.1.1.
    if bytes.fromhex("2a864886f70d010101") not in der[:32]:
        raise ValueError("not an RSA public key (DKIM k=rsa)")
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def dmarc_value(rua: str) -> str:
    """The DMARC TXT value; `rua` is checked (ValueError) as --dmarc-rua is."""
    uris = ",".join(f"mailto:{a}" for a in dmarc_rua(rua))
    return f"v=DMARC1; p=quarantine; rua={uris}"


def _public_address(inv: dict[str, Any], host: str) -> str:
    h = inv["all"]["hosts"][host]
    return str(h.get("municloud_floating_address") or h["municloud_address"])


def mail_records(inv: dict[str, Any], dkim: str | None, settings: MailSettings,
                 dmarc_rua: str | None = None) -> list[Record]:
    """MX (and the A record of each mail host's public name), SPF, DKIM, DMARC.

    `dkim` is the DKIM TXT value, or None when the key could not be read (the record is
    then left out; the caller says how to get it)."""
    v = inv["all"]["vars"]
    domain = v["municloud_domain"]
    mail_hosts = v["municloud_service_hosts"].get("mail", [])
    if not mail_hosts:
        raise UserError(f"no host runs the mail service in environment '{v['municloud_env']}'")
    public_mail_name = v.get("municloud_public_names", {}).get("mail")
    records: list[Record] = []
    for i, h in enumerate(mail_hosts):
        name = public_mail_name if public_mail_name and len(mail_hosts) == 1 else h["fqdn"]
        records.append(Record(absolute(domain), "MX", f"{10 * (i + 1)} {absolute(name)}",
                              comment="mail for the domain goes to the mail host"))
        records.append(Record(absolute(name), "A", _public_address(inv, h["name"]),
                              comment=f"mail host {h['name']}"))
    records.append(Record(absolute(domain), "TXT", SPF,
                          comment="SPF: only the MX hosts send the domain's mail"))
    if dkim is not None:
        records.append(Record(absolute(f"{settings.selector}._domainkey.{domain}"), "TXT",
                              dkim, comment=f"DKIM key, selector {settings.selector}"))
    records.append(Record(absolute(f"_dmarc.{domain}"), "TXT",
                          dmarc_value(dmarc_rua or f"postmaster@{domain}"),
                          comment="DMARC: quarantine what fails SPF and DKIM; daily reports"))
    return records


def web_records(inv: dict[str, Any]) -> list[Record]:
    """An A record per public name: the edge tier's virtual address (its floating IP
    where the platform gave it one) when the topology declares one, else one per edge host
    (the edge proxies publish every name)."""
    v = inv["all"]["vars"]
    edges = v["municloud_service_hosts"].get("edge", [])
    vip = v.get("municloud_virtual_floating_address") or v.get("municloud_virtual_address")
    records: list[Record] = []
    for service, name in sorted(v.get("municloud_public_names", {}).items()):
        if service == "mail":
            continue
        if not edges:
            raise UserError(f"public name {name} needs an edge host, and no host runs the "
                            f"edge service in environment '{v['municloud_env']}'")
        if vip:
            records.append(Record(absolute(name), "A", str(vip),
                                  comment=f"{service} via the edge's virtual address"))
            continue
        records.extend(Record(absolute(name), "A", _public_address(inv, e["name"]),
                              comment=f"{service} via {e['name']}") for e in edges)
    return records


def build(inv: dict[str, Any], dkim: str | None, settings: MailSettings,
          dmarc_rua: str | None = None) -> list[Record]:
    return mail_records(inv, dkim, settings, dmarc_rua) + web_records(inv)


def _yaml_files(env: str) -> list[Path]:
    gv = paths.inventories() / env / "group_vars"
    found: list[Path] = []
    for group in ("all", "mail"):
        found += [p for p in (gv / f"{group}.yml", gv / f"{group}.yaml") if p.is_file()]
        if (gv / group).is_dir():
            found += sorted((gv / group).glob("*.y*ml"))
    return found


_DECLARED_PATH = re.compile(
    r"^\{\{\s*municloud_declarations\.(\w+)\.paths\.(\w+)\s*\}\}$")


def declared_path(value: str, roles_dir: Path = paths.ROLES) -> str:
    """A role default that references a declared path
    (`{{ municloud_declarations.mail.paths.dkim }}`), resolved from the declaration."""
    m = _DECLARED_PATH.match(value.strip())
    if m is None:
        return value
    svc = load_services(roles_dir).get(m.group(1))
    if svc is None or m.group(2) not in svc.paths:
        raise UserError(f"{value}: no such path declared (roles/*/meta/service.yml paths:)")
    return svc.paths[m.group(2)]


def configured(env: str, roles_dir: Path = paths.ROLES) -> MailSettings:
    """The DKIM selector and key directory: the mail role's defaults, overridden by the
    environment's group_vars (all, then mail) when they set them."""
    values: dict[str, Any] = yaml.safe_load(
        (roles_dir / "mail" / "defaults" / "main.yml").read_text()) or {}
    for f in _yaml_files(env):
        data = yaml.safe_load(f.read_text()) or {}
        if isinstance(data, dict):
            values.update({k: data[k] for k in ("mail_dkim_selector", "mail_dkim_dir")
                           if k in data})
    selector = str(values["mail_dkim_selector"])
    dkim_dir = declared_path(str(values["mail_dkim_dir"]), roles_dir)
    if "{{" in selector or "{{" in dkim_dir:
        raise UserError("mail_dkim_selector and mail_dkim_dir must be plain values (no Jinja) "
                        "for `municloud dns-records`; pass --selector instead")
    if not SELECTOR_RE.fullmatch(selector):
        raise UserError(f"mail_dkim_selector {selector!r} is not a DKIM selector (allowed: "
                        "DNS labels separated by dots)")
    if not KEY_DIR_RE.fullmatch(dkim_dir):
        raise UserError(f"mail_dkim_dir {dkim_dir!r} is not a plain absolute path (allowed: "
                        "letters, digits, '.', '_', '-' and '/')")
    return MailSettings(selector=selector, dkim_dir=dkim_dir)


def read_dkim_public_key(ssh_config: Path, host: str, path: str,
                         timeout: float = 30.0) -> str:
    """The PEM public key at `path` on `host`, over SSH; UserError saying why not."""
    if not ssh_config.exists():
        raise UserError(f"no SSH configuration at {ssh_config}")
    # ssh hands the remote command to the login shell as one string: quote every value.
    try:
        run = remote.run(host, [f"cat -- {shlex.quote(path)}"], ssh_config, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"ssh {host} did not answer within {timeout:.0f}s") from exc
    if run.returncode != 0:
        why = run.stderr.strip().splitlines()[-1:] or [f"exit code {run.returncode}"]
        raise UserError(f"ssh {host} cat {path} failed: {why[0]}")
    return run.stdout
