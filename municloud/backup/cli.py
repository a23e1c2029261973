"""`municloud backup status ENV`: every backup client's last backup, archives, repository
size, last check and last restore drill, read from the state file each client keeps
(/var/lib/municloud-backup/state.json, written by `municloud-backup`).

Exit status: 0 when every client's last successful backup is younger than the topology's
`backup.max_age_hours`; 4 when one is older, never succeeded, or its state is unreadable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from municloud.backup.status import Row, read_state, rows_from_state
from municloud.core import console, inventory

EXIT_STALE = 4

def register(sub: Any) -> None:
    p = sub.add_parser("backup", help="backups: status of every client's repository")
    bsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = bsub.add_parser("status", help="last backup, archives, size, last check per host "
                        "and service; non-zero when a backup is older than allowed")
    s.add_argument("env", help="environment (lab, production, ...)")
    s.add_argument("--json", action="store_true", help="print the rows as JSON")
    s.set_defaults(func=status)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def status(args: argparse.Namespace) -> int:
    inv = inventory.for_env(args.env)
    max_age = float(inv["all"]["vars"]["municloud_backup"]["max_age_hours"])
    now = dt.datetime.now(dt.UTC)
    rows: list[Row] = []
    for host, hv in inv["all"]["hosts"].items():
        services = [s["name"] for s in hv["municloud_backup_set"]["services"]]
        if not services:
            continue
        state, error = read_state(args.env, host, hv["municloud_address"])
        rows += rows_from_state(host, services, state, error, now)
    stale = [r for r in rows if r.stale(max_age)]
    if args.json:
        console.info(json.dumps([r.__dict__ | {"stale": r.stale(max_age)} for r in rows],
                                indent=2))
    else:
        console.info(console.table(
            ("host", "service", "last success", "age h", "archives", "repo size",
             "last check", "last drill", "last error"),
            [(r.host, r.service, r.last_success or "never",
              "-" if r.age_hours is None else r.age_hours,
              "-" if r.archives is None else r.archives, _size(r.repo_bytes),
              r.last_check or "never", r.drill, r.error or "-") for r in rows]))
        if not rows:
            console.info("no host in this environment declares data to back up")
    if stale:
        console.warn(f"{len(stale)} backup(s) older than {max_age:g} h or missing: "
                     + ", ".join(f"{r.host}/{r.service}" for r in stale))
        return EXIT_STALE
    return 0
