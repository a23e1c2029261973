"""`municloud topology check <env>` and `municloud inventory <env>`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from municloud.core import console, inventory, topology
from municloud.core import identity_declaration as declaration
from municloud.core.errors import BadArgument, UserError


def register(sub: Any) -> None:
    p = sub.add_parser("topology", help="validate an environment's topology")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = tsub.add_parser("check", help="validate inventories/<env>/topology.yml; exit 2 if invalid")
    c.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    c.set_defaults(func=check)

    i = sub.add_parser("inventory", help="print or write the Ansible inventory of an environment")
    i.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    i.add_argument("--from-stack", nargs="?", const="-", metavar="OUTPUTS_JSON",
                   help="take host addresses from the Pulumi stack outputs: a saved JSON file, "
                        "or (no value) `pulumi stack output --json` in stacks/")
    i.add_argument("-o", "--output", type=Path, help="write a static YAML inventory here")
    i.set_defaults(func=show_inventory)


def check(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    for warning in topology.warnings(topo):
        console.warn(f"{topology._shown(topology.topology_file(args.env))}: {warning}")
    console.info(f"{topology._shown(topology.topology_file(args.env))}: OK "
                 f"({len(topo.hosts)} hosts, {len(topo.networks)} networks, "
                 f"{len(topo.services())} services)")
    ident = declaration.load(topo)
    if ident is not None:
        console.info(f"{topology._shown(declaration.identity_file(args.env))}: OK "
                     f"(provider {ident.provider}, {len(ident.choices)} login choices, "
                     f"{len(ident.relying_parties)} declared relying parties)")
    return 0




def _output_target(path: Path) -> None:
    """Refuse, before any work, an -o that cannot be written."""
    if path.is_dir():
        raise BadArgument(f"{path}: is a directory (allowed: a file name for -o/--output)")
    parent = path.parent
    if not parent.is_dir():
        raise BadArgument(f"{path}: directory {parent} does not exist (create it first)")


def show_inventory(args: argparse.Namespace) -> int:
    if args.output:
        _output_target(args.output)
    topo = topology.load(args.env)
    if args.from_stack:
        outputs = inventory.stack_outputs(args.from_stack, args.env)
        inventory.check_outputs(topo, outputs, args.from_stack)
        saved = inventory.write_outputs(args.env, outputs)
        console.info(f"saved the stack's addresses to {saved}")
    data = inventory.for_env(args.env)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            raise UserError(f"{args.output}: cannot write ({exc.strerror or exc})") from exc
        console.info(f"wrote {args.output} ({len(data['all']['hosts'])} hosts)")
    else:
        print(text, end="")
    return 0
