"""`municloud dns-records <env>`: the DNS records the municipality must publish (MX, SPF,
DKIM, DMARC for its mail; A records of its public names)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from municloud.core import console, inventory
from municloud.core.errors import UserError
from municloud.dns import records as dns_records


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dns-records",
        help="print the DNS records to publish (MX, SPF, DKIM, DMARC, public names)",
        description="Print the DNS records the municipality must publish in its zone. The "
                    "DKIM key is read from the mail host over SSH; when it cannot be read, "
                    "the other records are printed, the command says how to get the key and "
                    "exits 1.")
    p.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    p.add_argument("--json", action="store_true", help="print the records as JSON")
    p.add_argument("--selector", type=_checked(dns_records.selector),
                   help="DKIM selector (default: mail_dkim_selector of the "
                        "environment's group_vars, else of roles/mail)")
    p.add_argument("--dmarc-rua", metavar="ADDRESS", type=_checked(_rua),
                   help="where DMARC aggregate reports go: addresses or mailto: URIs, "
                        "comma-separated (default: postmaster@<domain>)")
    p.set_defaults(func=show)


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type: the value unchanged, or exit 2 naming the option and why."""
    def parse(text: str) -> str:
        try:
            check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text
    return parse


def _rua(text: str) -> str:
    return ",".join(dns_records.dmarc_rua(text))


def show(args: argparse.Namespace) -> int:
    inv = inventory.for_env(args.env)
    settings = dns_records.configured(args.env)
    if args.selector:
        settings = dns_records.MailSettings(args.selector, settings.dkim_dir)
    v = inv["all"]["vars"]
    domain = v["municloud_domain"]
    mail_hosts = v["municloud_service_hosts"].get("mail", [])
    path = settings.public_key_path(domain)
    dkim: str | None = None
    problem = ""
    if mail_hosts:
        host = mail_hosts[0]["name"]
        try:
            dkim = dns_records.dkim_value(dns_records.read_dkim_public_key(
                inventory.ssh_config_file(args.env), host, path))
        except (UserError, ValueError) as exc:
            problem = (f"DKIM record left out: {exc}.\n"
                       f"The mail role generates the key on {host} ({path}): converge it "
                       f"(`municloud deploy {args.env}`), then run this command again from a "
                       f"machine that can SSH to {host}, or copy the file from {host} and "
                       f"turn it into `v=DKIM1; k=rsa; p=<the base64 lines between the PEM "
                       f"markers, joined>`.")
    rua = _rua(args.dmarc_rua) if args.dmarc_rua else None
    records = dns_records.build(inv, dkim, settings, rua)
    if args.json:
        console.info(json.dumps({"environment": args.env, "zone": domain,
                                 "complete": dkim is not None,
                                 "records": [r.as_dict() for r in records]}, indent=2))
    else:
        console.info(f"; DNS records of environment '{args.env}' to publish in the zone "
                     f"{domain}. and the zones of its public names.")
        for r in records:
            console.info(r.zone_line())
    if problem:
        print(f"municloud: {problem}", file=sys.stderr)
        return 1
    return 0
