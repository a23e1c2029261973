"""`municloud diagram ENV [--out DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from municloud.core import console, topology
from municloud.diagram import estate


def register(sub: Any) -> None:
    p = sub.add_parser("diagram", help="draw an environment: tiers, hosts, services, the "
                                       "declared flows and what the internet reaches "
                                       "(DOT, SVG and PNG, with Graphviz)")
    p.add_argument("env", help="the environment (a folder of inventories/ with a topology.yml)")
    p.add_argument("--out", type=Path, default=Path("."),
                   help="folder for <env>.dot, <env>.svg and <env>.png (default: here)")
    p.set_defaults(func=draw)


def draw(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    for f in estate.render(topo, args.out):
        console.info(f"wrote {f}")
    return 0
