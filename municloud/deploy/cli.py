"""`municloud deploy <env>`, `municloud verify <env>` and `municloud run <env>` (the main job)."""

from __future__ import annotations

import argparse
from typing import Any

from municloud.core import console, paths, topology
from municloud.core.errors import UserError
from municloud.core.inventory import ssh_config_file
from municloud.deploy import summary, verify
from municloud.deploy.converge import converge, drift_gate, idempotency_gate
from municloud.progress import session


def register(sub: Any) -> None:
    d = sub.add_parser("deploy", help="converge an environment with playbooks/site.yml")
    d.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    mode = d.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="check mode: report, change nothing")
    mode.add_argument("--idempotency-gate", action="store_true",
                      help="converge, converge again and run check mode; fail if the second "
                           "run or the check run reports any change")
    mode.add_argument("--drift-gate", action="store_true",
                      help="check mode only; fail if any task would change (the hosts are as "
                           "declared, e.g. after tests that must leave them as they found them)")
    d.add_argument("--limit", help="only these hosts or groups")
    _verbose(d)
    d.set_defaults(func=deploy)

    v = sub.add_parser("verify", help="run the testinfra suite against an environment")
    v.add_argument("env", help="environment: a folder of inventories/ or MUNICLOUD_INVENTORIES")
    v.add_argument("--all", action="store_true",
                   help="after the state checks, also run the role-contract exercises "
                        "(playbook runs, check mode) and the disruptive drills (restore, "
                        "fault injection), one at a time")
    v.add_argument("--workers", type=int, default=verify.DEFAULT_WORKERS,
                   help="worker processes for the state checks (0: one process; "
                        f"default {verify.DEFAULT_WORKERS})")
    _verbose(v)
    v.set_defaults(func=verify_cmd)

    r = sub.add_parser("run", help="the main job: lab up (lab platforms), deploy, verify, "
                                   "then a summary of hosts, services, URLs and controls")
    r.add_argument("env", nargs="?", default="lab", help="environment (default: lab)")
    _verbose(r)
    r.set_defaults(func=run)


def _verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true",
                   help="stream the tools' raw output (Ansible, pytest) instead of the progress "
                        "display; it always goes to the log file under the state directory")


def _require_reachable(env: str) -> topology.Topology:
    topo = topology.load(env)
    if topo.platform == "lab" and not ssh_config_file(env).exists():
        raise UserError(f"the lab '{env}' is not up: run `municloud lab up --env {env}` first")
    return topo


def deploy(args: argparse.Namespace) -> int:
    _require_reachable(args.env)
    with session.start(paths.env_state(args.env), "deploy", verbose=args.verbose):
        if args.idempotency_gate:
            idempotency_gate(args.env, args.limit)
        elif args.drift_gate:
            drift_gate(args.env, args.limit)
        else:
            converge(args.env, check=args.check, limit=args.limit)
    return 0


def report_controls(env: str, quiet: bool, everything: bool,
                    workers: int = verify.DEFAULT_WORKERS) -> int:
    code, results = verify.run_tests(env, quiet=quiet, everything=everything, workers=workers)
    rows = verify.by_control(results)
    console.info(console.table(("control", "title", "result", "detail"), rows))
    expiries = verify.soonest_expiries(results)
    if expiries:
        console.info(console.table(("host", "soonest certificate expiry", "days left", "file"),
                                   expiries))
    failed = sum(1 for r in rows if r[2] == "FAILED")
    counts = {o: sum(1 for r in results if r["outcome"] == o)
              for o in ("passed", "failed", "skipped", "not run")}
    not_run = sum(1 for r in rows if r[2] == "not run")
    console.info(f"verify {env}: {len(rows)} controls, {failed} failed"
                 f"{f', {not_run} not run (--all runs them)' if not_run else ''}; tests: "
                 f"{counts['passed']} passed, {counts['failed']} failed, "
                 f"{counts['skipped']} skipped, {counts['not run']} not run")
    return 0 if code == 0 and failed == 0 else 1


def verify_cmd(args: argparse.Namespace) -> int:
    _require_reachable(args.env)
    with session.start(paths.env_state(args.env), "verify", verbose=args.verbose), \
            console.step(f"verify ({args.env})"):
        code = report_controls(args.env, quiet=False, everything=args.all,
                               workers=args.workers)
    return code


def run(args: argparse.Namespace) -> int:
    with session.start(paths.env_state(args.env), "run", verbose=args.verbose):
        return _main_job(args)


def _main_job(args: argparse.Namespace) -> int:
    topo = topology.load(args.env)
    if topo.platform == "lab":
        from municloud.lab import lifecycle

        with console.step(f"lab up ({args.env})"):
            lifecycle.up(topo)
    _require_reachable(args.env)
    converge(args.env)
    with console.step(f"verify ({args.env}), exercises and restore drills included"):
        code = report_controls(args.env, quiet=True, everything=True)
    console.info("")
    console.info(f"== municloud: {topo.municipality.name}, environment '{args.env}' ==")
    rows = summary.service_rows(topo)
    console.info(console.table(("host", "service", "state", "detail"), rows))
    console.info("")
    console.info(console.table(("service", "URL"), summary.urls(topo)))
    missing = sum(1 for r in rows if r[2] != "deployed")
    console.info("")
    console.info(f"summary: {len(topo.hosts)} hosts; {len(rows) - missing} services deployed, "
                 f"{missing} NOT DEPLOYED (see the table); verification "
                 f"{'passed' if code == 0 else 'FAILED'}")
    from municloud.audit import report_cmd

    with console.step(f"compliance report ({args.env})"):
        written = report_cmd.run(args.env, formats=list(report_cmd.FORMATS), reuse_verify=True)
    console.info(f"compliance report: {written.files['html']} "
                 f"({len(written.report.failed)} controls failed; JSON and JUnit beside it)")
    return code
