"""`municloud preflight <env> --cloud NAME` and `municloud audit cloud --cloud NAME`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from municloud.core import console, topology
from municloud.core.errors import UserError


def register(sub: Any) -> None:
    p = sub.add_parser("preflight", help="can this OpenStack cloud host this topology?")
    p.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    p.add_argument("--cloud", help="clouds.yaml entry (default: the topology's openstack.cloud)")
    p.set_defaults(func=preflight)

    a = sub.add_parser("audit", help="audit what really runs")
    asub = a.add_subparsers(dest="target", required=True, metavar="TARGET")
    c = asub.add_parser("cloud", help="judge a live OpenStack project by the cloud rules and "
                        "report drift against the topology; exit 1 on findings")
    c.add_argument("--cloud", required=True, help="clouds.yaml entry")
    c.add_argument("--env", help="topology to compare with (default: the one using --cloud)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=audit_cloud)


def preflight(args: argparse.Namespace) -> int:
    from municloud.audit import cloudconn
    from municloud.core.preflight import preflight as run

    topo = topology.load(args.env)
    if topo.openstack is None:
        raise UserError(f"environment '{args.env}' is not on OpenStack (platform: "
                        f"{topo.platform}); preflight checks OpenStack clouds")
    cloud = args.cloud or topo.openstack.cloud
    conn = cloudconn.connect(cloud)
    try:
        checks = run(conn, topo)
    except cloudconn.call_errors() as exc:
        raise UserError(f"cloud '{cloud}': {type(exc).__name__}: {exc}") from exc
    console.info(console.table(["check", "result", "detail"],
                               [[c.name, "ok" if c.ok else "FAIL", c.detail] for c in checks]))
    failed = [c for c in checks if not c.ok]
    console.info(f"preflight {args.env} on {cloud}: "
                 + (f"{len(failed)} of {len(checks)} checks FAILED" if failed
                    else f"all {len(checks)} checks passed"))
    return 1 if failed else 0


def audit_cloud(args: argparse.Namespace) -> int:
    from municloud.audit.cloud import audit

    report = audit(args.cloud, args.env)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        console.info(console.table(
            ["control", "kind", "name", "finding"],
            [[f.control, f.kind, f.name, f.message] for f in report.findings]))
        console.info(f"audit of cloud {report.cloud} against {report.environment}: "
                     f"{report.servers} servers, {len(report.findings)} findings "
                     f"in {report.seconds:.1f}s")
    return 1 if report.findings else 0
