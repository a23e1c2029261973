"""The package floor of a lab (scripts/bench-cold, issue 16 item 4): the packages a
converge left on all the hosts, installed in one `apt-get install` on a spare node of the
node image, through the lab's apt-cacher-ng, first with its cache emptied (cold), then on
a second spare node (warm). The lab's cache is put back afterwards.

    python -m municloud.lab.floor [--env lab]           # the measurement, as JSON
    python -m municloud.lab.floor [--env lab] --state   # is the lab cold? as JSON
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
from collections.abc import Iterator

from municloud.core import topology
from municloud.core.errors import UserError
from municloud.core.topology import Topology
from municloud.lab import daemons, image, lifecycle, network, nodes, podman

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
    print(f"    {name}: apt-get update, download, install", file=sys.stderr, flush=True)
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


def cache_bytes(topo: Topology) -> int:
    cache = lifecycle.lab_paths(topo).state / "apt-cacher-ng" / "cache"
    return sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0


def measure(topo: Topology) -> dict[str, object]:
    """{packages, cold: [[step, seconds]], warm: [...], fetched_bytes}."""
    first = nodes.container(topo, topo.hosts[0].name)
    with spare_node(topo, "list", first) as spare:
        packages = installed_packages(topo, spare)
    print(f"==> the floor: {len(packages)} packages in one transaction", file=sys.stderr,
          flush=True)
    with empty_cache(topo), spare_node(topo, "cold", first) as spare:
        cold = floor(spare, packages)
        fetched = cache_bytes(topo)
        with spare_node(topo, "warm", first) as again:
            warm = floor(again, packages)
    return {"packages": packages, "cold": cold, "warm": warm, "fetched_bytes": fetched}


def state(topo: Topology) -> dict[str, object]:
    """Whether a main job starting now is cold: no node image of the current recipe, an
    empty package cache."""
    exists = podman.run("image", "exists", image.image_name(), check=False).returncode == 0
    return {"image_exists": exists, "cache_bytes": cache_bytes(topo)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", default="lab")
    ap.add_argument("--state", action="store_true", help="only say whether the lab is cold")
    args = ap.parse_args()
    try:
        topo = topology.load(args.env)
        print(json.dumps(state(topo) if args.state else measure(topo)))
    except UserError as exc:
        print(f"floor: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
