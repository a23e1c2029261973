"""`scripts/bench-cold`: the cold main job against its package floor, in one run.

On a fresh machine (no node image, an empty package cache): bootstrap (timed by the
script), `lab up`, the first converge, verify's state checks; then the floor, measured
through the same apt-cacher-ng: the packages the converge left installed on all the
hosts, installed in one `apt-get install` on one spare node of the same image, first
with the cache emptied (cold), then again on a second spare node (warm). Prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from municloud.core import paths, topology
from municloud.core.errors import UserError
from municloud.core.topology import Topology
from municloud.deploy import ansible_run
from municloud.deploy.bench import cli, machine, timed, verified
from municloud.deploy.verify import DEFAULT_WORKERS
from municloud.lab import daemons, image, lifecycle, network, nodes, podman

PACKAGE_MODULES = ("ansible.builtin.apt", "apt")


SPARES = ("list", "cold", "warm")


def spare_address(topo: Topology, label: str) -> str:
    """A free address on the management network for a spare node, one per label (Podman
    may hold a removed container's address for a while): counted down from the highest
    host address that no host, gateway or virtual address uses."""
    net = ipaddress.ip_network(topo.networks_with_purpose("management")[0].cidr)
    used = {h.address for h in topo.hosts} | {network.controller_address(topo)}
    used |= {n.virtual_address for n in topo.networks if n.virtual_address}
    free = [str(a) for a in reversed(list(net.hosts())) if str(a) not in used]
    if len(free) < len(SPARES):
        raise UserError(f"no {len(SPARES)} free addresses on {net} for the floor's spare nodes")
    return free[SPARES.index(label)]


def exec_in(name: str, *argv: str, stdin: bytes = b"") -> bytes:
    """`podman exec` without podman.run's time bound (a cold install takes minutes)."""
    proc = subprocess.run(["podman", "exec", "-i", "--env", "DEBIAN_FRONTEND=noninteractive",
                           name, *argv], env=podman.environment(), input=stdin,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise UserError(f"{name}: {' '.join(argv[:4])} ... failed: "
                        f"{proc.stderr.decode(errors='replace').strip()[-400:]}")
    return proc.stdout


@contextlib.contextmanager
def spare_node(topo: Topology, label: str, sources_from: str) -> Iterator[str]:
    """A container of the node image on the lab bridge, with the nodes' apt proxy and the
    apt sources of a converged node; removed afterwards."""
    name = f"municloud-{topo.environment}-bench-{label}"
    gw = daemons.gateway(topo)
    podman.run("rm", "--force", name, check=False)
    podman.run("run", "-d", "--name", name, "--systemd=always",
               "--network", f"{network.name(topo)}:ip={spare_address(topo, label)}",
               "--dns", gw, image.image_name())
    try:
        proxy = f'Acquire::http::Proxy "http://{gw}:{daemons.APT_PORT}";\n'
        exec_in(name, "tee", "/etc/apt/apt.conf.d/01municloud-proxy", stdin=proxy.encode())
        sources = exec_in(sources_from, "tar", "-C", "/etc/apt", "--ignore-failed-read", "-c",
                          "sources.list.d", "sources.list")
        exec_in(name, "rm", "-f", "/etc/apt/sources.list")
        exec_in(name, "tar", "-C", "/etc/apt", "-x", stdin=sources)
        yield name
    finally:
        podman.run("rm", "--force", "--time", "0", name)


def manual_packages(name: str) -> set[str]:
    return set(exec_in(name, "apt-mark", "showmanual").decode().split())


def installed_packages(topo: Topology, spare: str) -> list[str]:
    """What the converge asked apt for, on any host: each node's manually installed
    packages less those the image already has."""
    base = manual_packages(spare)
    wanted: set[str] = set()
    for h in topo.hosts:
        wanted |= manual_packages(nodes.container(topo, h.name)) - base
    return sorted(wanted)


def floor(name: str, packages: list[str]) -> list[tuple[str, float]]:
    print(f"    {name}: apt-get update, download, install", flush=True)
    """One node, one transaction: the index, the downloads, then the install itself."""
    steps: list[tuple[str, float]] = []
    apt = ["apt-get", "-y", "-q", "--no-install-recommends"]
    for label, argv in (("apt-get update", ["apt-get", "-q", "update"]),
                        ("download (one apt-get install --download-only)",
                         [*apt, "--download-only", "install", *packages]),
                        ("install (one apt-get install)", [*apt, "install", *packages])):
        start = time.monotonic()
        exec_in(name, *argv)
        steps.append((label, time.monotonic() - start))
    return steps


@contextlib.contextmanager
def empty_cache(topo: Topology) -> Iterator[None]:
    """apt-cacher-ng with an empty cache; the lab's cache is put back afterwards."""
    lp = lifecycle.lab_paths(topo)
    acng = next(d for d in daemons.daemons(topo, lp.state) if d.name == "apt-cacher-ng")
    cache = lp.state / "apt-cacher-ng" / "cache"
    kept = cache.with_name("cache.bench-kept")
    if kept.exists():
        raise UserError(f"{kept} exists: an earlier bench-cold run did not finish; "
                        f"move it back to {cache} first")
    daemons.stop(lp.run, acng)
    cache.rename(kept)
    cache.mkdir()
    shutil.chown(cache, "apt-cacher-ng", "apt-cacher-ng")
    daemons.start(lp.run, acng)
    try:
        yield
    finally:
        daemons.stop(lp.run, acng)
        shutil.rmtree(cache)
        kept.rename(cache)
        daemons.start(lp.run, acng)


def package_seconds(events: Path) -> dict[str, float]:
    """Role -> wall seconds of its package tasks (from the converge's events: a task's
    time runs from its start to the next task's or play's start)."""
    lines = [json.loads(x) for x in events.read_text().splitlines() if x.strip()]
    out: dict[str, float] = defaultdict(float)
    open_task: dict[str, str] | None = None
    started = 0.0
    for ev in lines:
        if ev["event"] in ("task_start", "play_start", "stats"):
            if open_task is not None and open_task.get("action") in PACKAGE_MODULES:
                out[open_task.get("role") or "(play)"] += ev["t"] - started
            open_task = ev if ev["event"] == "task_start" else None
            started = ev["t"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def cache_bytes(topo: Topology) -> int:
    cache = lifecycle.lab_paths(topo).state / "apt-cacher-ng" / "cache"
    return sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0


def main_job(env: str, events: Path, results: list[tuple[str, float]],
             verify_failed: list[str]) -> None:
    """lab up, the first converge (its events kept), verify's state checks; each timed."""
    timed("lab up", lambda: cli("lab", "--env", env, "up"), results)
    events.unlink(missing_ok=True)

    def converge() -> None:
        result = ansible_run.run_playbook(env, "site.yml", quiet=True, events=events)
        if result.returncode != 0:
            raise UserError(f"converge failed: {result.failed}")

    timed("first converge", converge, results)

    def verify_states() -> None:
        try:
            verified(env, DEFAULT_WORKERS)
        except UserError as exc:  # still timed: the floor is measured all the same
            verify_failed.append(str(exc))

    timed(f"verify: state checks ({DEFAULT_WORKERS} workers)", verify_states, results)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--bootstrap-seconds", type=float, default=None,
                    help="the time scripts/bootstrap took (the script measures it)")
    ap.add_argument("--floor-only", action="store_true",
                    help="measure the floor only, on the running converged lab")
    args = ap.parse_args()
    topo = topology.load(args.env)
    cold_image = podman.run("image", "exists", image.image_name(), check=False).returncode != 0
    cold_cache = cache_bytes(topo) == 0
    results: list[tuple[str, float]] = []
    if args.bootstrap_seconds is not None:
        results.append(("scripts/bootstrap (Debian packages, .venv)", args.bootstrap_seconds))
    events = paths.env_state(args.env) / "bench-cold-converge.events.jsonl"
    verify_failed: list[str] = []
    if not args.floor_only:
        main_job(args.env, events, results, verify_failed)
    first = nodes.container(topo, topo.hosts[0].name)
    main_seconds = sum(s for _, s in results)
    with spare_node(topo, "list", first) as spare:
        packages = installed_packages(topo, spare)
    print(f"==> the floor: {len(packages)} packages in one transaction", flush=True)
    with empty_cache(topo), spare_node(topo, "cold", first) as spare:
        cold = floor(spare, packages)
        fetched = cache_bytes(topo)
        with spare_node(topo, "warm", first) as again:
            warm = floor(again, packages)
    print()
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"Machine: {machine()}; {len(topo.hosts)} lab hosts; {when}; "
          f"node image {'built in this run' if cold_image else 'ALREADY BUILT (not cold)'}, "
          f"package cache {'empty' if cold_cache else 'NOT EMPTY (not cold)'} at the start")
    print()
    print("| the cold main job | seconds |\n| --- | ---: |")
    for label, took in results:
        print(f"| {label} | {took:.1f} |")
    print(f"| **bootstrap to verified** | **{main_seconds:.1f}** |")
    for failure in verify_failed:
        print(f"\nVERIFY FAILED: {failure}")
    print()
    print("| the converge's package tasks, by role (wall time) | seconds |\n| --- | ---: |")
    per_role = package_seconds(events) if events.exists() else {}
    for role, took in per_role.items():
        print(f"| {role} | {took:.1f} |")
    print(f"| **all package tasks** | **{sum(per_role.values()):.1f}** |")
    print()
    print(f"| the floor: {len(packages)} packages, one node, one transaction | cold cache | "
          f"warm cache |\n| --- | ---: | ---: |")
    for (label, c), (_, w) in zip(cold, warm, strict=True):
        print(f"| {label} | {c:.1f} | {w:.1f} |")
    cold_t, warm_t = sum(s for _, s in cold), sum(s for _, s in warm)
    print(f"| **floor** | **{cold_t:.1f}** | **{warm_t:.1f}** |")
    print(f"\nFetched from the mirror for the floor: {fetched / 2**20:.0f} MiB. "
          f"The cold main job is {main_seconds / cold_t:.1f}x the cold floor (goal: 2x).")
    print("Packages: " + " ".join(packages))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"bench-cold: {exc}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        print(f"bench-cold: {exc}", file=sys.stderr)
        sys.exit(2)
