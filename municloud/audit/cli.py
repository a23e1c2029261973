"""`municloud preflight <env> --cloud NAME` and `municloud audit cloud --cloud NAME`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from municloud.core import console, topology
from municloud.core.errors import UserError


def register(sub: Any) -> None:
    p = sub.add_parser("preflight", help="can this OpenStack cloud host this topology?")
    p.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    p.add_argument("--cloud", help="clouds.yaml entry (default: the topology's openstack.cloud)")
    p.set_defaults(func=preflight)

    a = sub.add_parser(
        "audit", help="the compliance report of an environment, or the live cloud audit",
        description="`municloud audit ENV`: one report across plan time, the hosts, the "
                    "live cloud and drift (HTML, JSON, JUnit). `municloud audit cloud "
                    "--cloud NAME`: only the live cloud, printed.")
    a.add_argument("target", metavar="ENV|cloud",
                   help="the environment to report on, or `cloud` for the live cloud audit")
    a.add_argument("--format", default="html,json,junit",
                   help="comma-separated: html, json, junit (default: all three)")
    a.add_argument("--out", type=Path, help="directory for the report files "
                   "(default: /var/lib/municloud/ENV/audit)")
    a.add_argument("--since", type=Path, metavar="REPORT.json",
                   help="compare with an earlier report: new failures, fixed, changed evidence")
    a.add_argument("--plan", type=Path, metavar="PREVIEW.json",
                   help="judge a saved `pulumi preview --json` instead of the mocked program")
    a.add_argument("--workers", type=int, default=6,
                   help="worker processes for the state checks (default 6)")
    a.add_argument("--no-drift", action="store_true",
                   help="leave out the check-mode run (drift shows as not run)")
    a.add_argument("--cloud", help="with `cloud`: the clouds.yaml entry")
    a.add_argument("--env", help="with `cloud`: topology to compare with "
                   "(default: the one using --cloud)")
    a.add_argument("--json", action="store_true", help="with `cloud`: print JSON")
    a.set_defaults(func=audit)


def audit(args: argparse.Namespace) -> int:
    if args.target == "cloud":
        if not args.cloud:
            raise UserError("municloud audit cloud: --cloud NAME is required "
                            "(a clouds.yaml entry)")
        return audit_cloud(args)
    return audit_report(args)


def audit_report(args: argparse.Namespace) -> int:
    from municloud.audit import report_cmd

    formats = report_cmd.parse_formats(args.format)
    with console.step(f"audit ({args.target})"):
        written = report_cmd.run(args.target, formats=formats, out=args.out,
                                 since=args.since, preview=args.plan, workers=args.workers,
                                 drift=not args.no_drift)
    r = written.report
    failed = r.failed
    console.info(console.table(["control", "status", "reason"],
                               [[c.id, c.status, c.reason[:90]] for c in r.controls
                                if c.status != "pass"]))
    counts = ", ".join(f"{n} {s}" for s, n in r.summary.statuses.items() if n)
    console.info(f"audit {r.environment}: {len(r.controls)} controls: {counts} "
                 f"({r.seconds:.0f} s)")
    if r.comparison:
        c = r.comparison
        console.info(f"since {c.since}: new failures {', '.join(c.new_failures) or 'none'}; "
                     f"fixed {', '.join(c.fixed) or 'none'}; changed evidence "
                     f"{', '.join(c.changed_evidence) or 'none'}")
    for fmt, f in written.files.items():
        console.info(f"report ({fmt}): {f}")
    return 1 if failed else 0


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
