"""`municloud devcloud up | down | status | env`: a real OpenStack API on loopback."""

from __future__ import annotations

import argparse
import time
from typing import Any

from municloud.core import console
from municloud.devcloud import control
from municloud.progress import session


def register(sub: Any) -> None:
    p = sub.add_parser("devcloud", help="an OpenStack control plane on 127.0.0.1 to rehearse on")
    dsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("up", help="install, start and seed devcloud (root; idempotent)"
                    ).set_defaults(func=up)
    dsub.add_parser("down", help="stop every devcloud process (data is kept)"
                    ).set_defaults(func=down)
    dsub.add_parser("status", help="which devcloud processes run and listen"
                    ).set_defaults(func=status)
    dsub.add_parser("env", help="print the OS_CLIENT_CONFIG_FILE / OS_CLOUD exports"
                    ).set_defaults(func=env)


def up(args: argparse.Namespace) -> int:
    start = time.monotonic()
    with session.start("devcloud", "devcloud-up"):
        f = control.up()
    console.info(f"devcloud is up in {time.monotonic() - start:.0f}s; clouds.yaml: {f}\n"
                 f"use it with: eval \"$(municloud devcloud env)\"")
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = control.down()
    left = control.listening()
    console.info(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    if left:
        console.warn(f"still listening on 127.0.0.1: {', '.join(left)} (not started by devcloud?)")
        return 1
    return 0


def status(args: argparse.Namespace) -> int:
    rows = control.status()
    console.info(console.table(
        ["process", "pid", "port", "listening"],
        [[r.name, r.pid or "-", r.port or "-", "yes" if r.listening else "no"] for r in rows]))
    return 0 if all(r.pid for r in rows) else 3


def env(args: argparse.Namespace) -> int:
    print(control.env_exports(), end="")
    return 0
