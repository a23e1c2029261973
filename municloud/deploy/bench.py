"""`scripts/bench`: the foundation's timings, measured in one run on this machine.

Stock settings = an ansible.cfg holding only what municloud needs to work at all (roles
and plugin paths); everything else Ansible's defaults (5 forks, no pipelining, facts
gathered on every play without a cache, no profiling callbacks).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from municloud.core import paths, topology
from municloud.core.errors import UserError
from municloud.deploy import ansible_run, verify

STOCK_CFG = """\
[defaults]
roles_path = {repo}/roles
inventory_plugins = {repo}/municloud/ansible_plugins/inventory
callback_plugins = {repo}/municloud/ansible_plugins/callback
callbacks_enabled = municloud_changes
interpreter_python = /usr/bin/python3
[inventory]
enable_plugins = municloud_topology
"""


def timed(label: str, fn: Callable[[], object], results: list[tuple[str, float]]) -> None:
    print(f"==> {label} ...", flush=True)
    start = time.monotonic()
    fn()
    took = time.monotonic() - start
    results.append((label, took))
    print(f"<== {label}: {took:.1f}s", flush=True)


def cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "municloud.cli", *args], check=False,
                          stdout=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise UserError(f"municloud {' '.join(args)} failed (exit {proc.returncode})")


def converge(env: str, cfg: Path | None = None, events: Path | None = None) -> None:
    result = ansible_run.run_playbook(env, "site.yml", quiet=True, ansible_cfg=cfg,
                                      events=events)
    if result.returncode != 0:
        raise UserError(f"converge failed: {result.failed}")


def verified(env: str, workers: int, everything: bool = False) -> None:
    code, results = verify.run_tests(env, quiet=True, workers=workers, everything=everything)
    if code != 0:
        failed = [r["test"] for r in results if r["outcome"] == "failed"]
        raise UserError(f"verify failed (exit {code}): {failed}")


def machine() -> str:
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024 // 1024
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--warm-only", action="store_true",
                    help="keep the running, converged lab: skip lab down, the cold lab up and "
                         "the first converge")
    args = ap.parse_args()
    topo = topology.load(args.env)
    results: list[tuple[str, float]] = []
    if not args.warm_only:
        cli("lab", "--env", args.env, "down")
        timed("lab up, cold (image cached, no containers)",
              lambda: cli("lab", "--env", args.env, "up"), results)
    timed("lab up, warm (everything running)", lambda: cli("lab", "--env", args.env, "up"),
          results)
    if not args.warm_only:
        timed("first converge", lambda: converge(args.env), results)
    timed("no-op converge, municloud ansible.cfg", lambda: converge(args.env), results)
    with tempfile.TemporaryDirectory() as tmp:
        stock = Path(tmp) / "ansible.cfg"
        stock.write_text(STOCK_CFG.format(repo=paths.REPO))
        timed("no-op converge, stock Ansible settings", lambda: converge(args.env, stock),
              results)
    # First the main job's verify: it runs the restore drills whose record the state checks
    # read, so that a freshly converged lab passes the plain verify that follows.
    timed("verify --all: state checks, then exercises and drills one at a time",
          lambda: verified(args.env, verify.DEFAULT_WORKERS, everything=True), results)
    timed(f"verify: state checks, {verify.DEFAULT_WORKERS} workers (`municloud verify`)",
          lambda: verified(args.env, verify.DEFAULT_WORKERS), results)
    timed("verify: state checks, one process", lambda: verified(args.env, 0), results)
    print()
    print(f"Machine: {machine()}; {len(topo.hosts)} lab hosts; "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| step | seconds |\n| --- | ---: |")
    for label, took in results:
        print(f"| {label} | {took:.1f} |")
    ours = dict(results)["no-op converge, municloud ansible.cfg"]
    stock_t = dict(results)["no-op converge, stock Ansible settings"]
    print(f"\nNo-op converge speed-up over stock settings: {stock_t / ours:.2f}x (goal: 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
