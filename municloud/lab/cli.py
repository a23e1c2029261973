"""`municloud lab up | down | status | ssh HOST`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from municloud.core import console, paths, remote, topology
from municloud.core.errors import UserError
from municloud.core.inventory import ssh_config_file
from municloud.lab import lifecycle
from municloud.progress import session


def register(sub: Any) -> None:
    p = sub.add_parser("lab", help="the local lab: one systemd container per topology host")
    p.add_argument("--env", default="lab", help="environment with platform 'lab' (default: lab)")
    lsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lsub.add_parser("up", help="build, start and recover the lab (idempotent)").set_defaults(
        func=up)
    lsub.add_parser("down", help="remove every container, network and process of the lab"
                    ).set_defaults(func=down)
    lsub.add_parser("status", help="each host and its state").set_defaults(func=status)
    s = lsub.add_parser("ssh", help="open a shell on a lab host")
    s.add_argument("host", help="a host of the lab topology (edge1, idp1, ...)")
    s.add_argument("command", nargs=argparse.REMAINDER,
                   help="command to run on the host (default: an interactive shell)")
    s.set_defaults(func=ssh)


def up(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    with session.start(paths.env_state(args.env), "lab-up"):
        actions = lifecycle.up(topo)
    counts = {a: sum(1 for v in actions.values() if v == a) for a in ("kept", "started", "created")}
    console.info(f"lab '{args.env}' is up: {len(actions)} hosts "
                 f"({counts['created']} created, {counts['started']} started, "
                 f"{counts['kept']} already running)")
    return 0


def down(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    removed = lifecycle.down(topo)
    for r in removed:
        console.info(f"    removed {r}")
    console.info(f"lab '{args.env}' is down: {len(removed)} things removed; "
                 "caches (node image, package cache) kept")
    return 0


def status(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    rows = lifecycle.status(topo)
    console.info(console.table(("host", "address", "services", "container", "systemd"), rows))
    console.info("")
    console.info(console.table(("lab service", "state"), lifecycle.daemon_status(topo)))
    # The lab is up when every node's container and systemd run. A node whose systemd is
    # "degraded" (a failed unit: a service's problem, which `municloud verify` reports)
    # is named here but does not make the lab down.
    degraded = [str(r[0]) for r in rows if r[3] == "running" and r[4] == "degraded"]
    if degraded:
        console.warn(f"failed units on {', '.join(degraded)}: see `municloud lab ssh HOST "
                     "systemctl --failed`")
    healthy = all(r[3] == "running" and r[4] in ("running", "degraded") for r in rows)
    return 0 if healthy else 3


def ssh(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    if args.host not in {h.name for h in topo.hosts}:
        raise UserError(f"unknown host '{args.host}' (hosts: "
                        f"{', '.join(h.name for h in topo.hosts)})")
    cfg = ssh_config_file(args.env)
    if not cfg.exists():
        raise UserError(f"the lab '{args.env}' is not up: run `municloud lab up`")
    os.execvp("ssh", remote.command(args.host, list(args.command), cfg))
