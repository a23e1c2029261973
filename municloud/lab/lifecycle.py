"""`municloud lab up | down | status`: the lab's whole life, idempotent and recoverable."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from municloud.core import admin_keys, console, paths
from municloud.core.errors import UserError
from municloud.core.inventory import outputs_from_topology, ssh_config_file, write_outputs
from municloud.core.topology import Host, Topology
from municloud.lab import daemons, image, network, nodes, podman, sshconfig


@dataclass(frozen=True)
class LabPaths:
    state: Path

    @property
    def ssh(self) -> Path:
        return self.state / "ssh"

    @property
    def key(self) -> Path:
        return self.ssh / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh / "known_hosts"

    @property
    def control(self) -> Path:
        return Path("/run/municloud") / self.state.name / "ssh"

    @property
    def run(self) -> Path:
        return self.state / "run"


def lab_paths(topo: Topology) -> LabPaths:
    return LabPaths(paths.env_state(topo.environment))


def _require_lab(topo: Topology) -> None:
    if topo.platform != "lab":
        raise UserError(f"inventories/{topo.environment}/topology.yml: platform is "
                        f"'{topo.platform}'; the lab runs environments with platform 'lab'")


def up(topo: Topology) -> dict[str, str]:
    """Bring the lab up; return what happened per host (kept, started, created)."""
    _require_lab(topo)
    podman.require_usable()
    nodes.has_ssh_client()
    lp = lab_paths(topo)
    for folder in (lp.state, lp.ssh, lp.run, lp.control):
        folder.mkdir(parents=True, exist_ok=True)
    lp.ssh.chmod(0o700)
    actions: dict[str, str] = {}
    with console.step("node image"):
        img = image.ensure()
    with console.step("lab network"):
        created = network.ensure(topo)
        console.info(f"    {network.name(topo)}: {'created' if created else 'exists'} "
                     f"({', '.join(n.cidr for n in topo.networks)})")
    nodes.keygen(lp.key)
    pubkey = lp.key.with_suffix(".pub").read_text()
    if any(a.ssh_keys_from == admin_keys.LAB_ADMIN for a in topo.admins):
        # The administrators' key the topology refers to (kept by `down`, like the
        # controller's): generated here, never a file in git.
        admin_keys.ensure_lab_admin_key(topo.environment)
    gw = daemons.gateway(topo)
    with console.step(f"{len(topo.hosts)} nodes") as phase:
        wanted = {nodes.container(topo, h.name) for h in topo.hosts}
        for name in nodes.lab_containers(topo):
            if name not in wanted:
                console.info(f"    {name}: not in the topology, removed")
                nodes.remove(topo, name)
        for i, h in enumerate(topo.hosts):
            phase.update(f"{h.name}", i, len(topo.hosts))
            st = nodes.state_of(topo, h, img)
            if st.state == "running":
                actions[h.name] = "kept"
                continue
            if st.state == "stopped":
                try:
                    nodes.start(st.container)
                    actions[h.name] = "started"
                    continue
                except UserError as exc:
                    console.warn(f"{h.name}: could not restart ({exc}); recreating")
            if st.state in ("stale", "stopped"):
                nodes.remove(topo, st.container)
            nodes.create(topo, h, img, gw)
            nodes.provision_files(topo, st.container, pubkey, f"http://{gw}:{daemons.APT_PORT}")
            actions[h.name] = "created"
        for h in topo.hosts:
            console.info(f"    {h.name:<10} {h.address:<15} {actions[h.name]}")
            if actions[h.name] != "kept":
                # Facts Ansible cached about the node it replaces no longer hold.
                (paths.state_root() / ".ansible-facts" / h.name).unlink(missing_ok=True)
    network.require_on_bridge(topo)
    with console.step("lab services on the bridge (apt-cacher-ng, dnsmasq, chronyd)"):
        if daemons.write_hosts_file(topo, lp.state, lp.run):
            console.info("    DNS records written (public names: "
                         f"{', '.join(daemons.public_addresses(topo))})")
        for d in daemons.daemons(topo, lp.state):
            started = daemons.start(lp.run, d)
            console.info(f"    {d.name:<14} {d.address}:{d.port}/{d.proto} "
                         f"{'started' if started else 'running'}")
    with console.step("SSH") as phase:
        answered: list[str] = []

        def ready(h: Host) -> None:
            answered.append(h.name)
            phase.update(f"{h.name} answers", len(answered), len(topo.hosts))

        nodes.wait_for_ssh(topo, topo.hosts, on_ready=ready)
        known = "\n".join(nodes.host_key(topo, h) for h in topo.hosts) + "\n"
        if not lp.known_hosts.exists() or lp.known_hosts.read_text() != known:
            lp.known_hosts.write_text(known)
        cfg = sshconfig.render(topo, lp.key, lp.known_hosts, lp.control)
        f = ssh_config_file(topo.environment)
        if not f.exists() or f.read_text() != cfg:
            f.write_text(cfg)
        write_outputs(topo.environment, outputs_from_topology(topo))
        console.info(f"    ssh config: {f}")
    return actions


def down(topo: Topology) -> list[str]:
    """Remove every container, volume, network and process of the lab. Keeps caches."""
    _require_lab(topo)
    podman.require_usable()
    lp = lab_paths(topo)
    removed: list[str] = []
    for name in nodes.lab_containers(topo):
        nodes.remove(topo, name)
        removed.append(f"container {name}")
    for vol in nodes.lab_volumes(topo):
        podman.run("volume", "rm", "--force", vol, check=False)
        removed.append(f"volume {vol}")
    if network.remove(topo):
        removed.append(f"network {network.name(topo)}")
    if lp.run.exists():
        for d in daemons.daemons(topo, lp.state):
            if daemons.stop(lp.run, d):
                removed.append(f"process {d.name}")
    if lp.control.exists():
        for sock in lp.control.iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                           capture_output=True, check=False)
        shutil.rmtree(lp.control, ignore_errors=True)
    for f in (ssh_config_file(topo.environment), lp.known_hosts,
              paths.env_state(topo.environment) / "outputs.json"):
        f.unlink(missing_ok=True)
    return removed


def status(topo: Topology) -> list[tuple[str, str, str, str, str]]:
    """(host, address, services, container state, systemd state) per topology host."""
    _require_lab(topo)
    podman.require_usable()
    img = image.image_name()
    rows = []
    for h in topo.hosts:
        st = nodes.state_of(topo, h, img)
        sysd = nodes.systemd_state(topo, h.name) if st.state == "running" else "-"
        rows.append((h.name, str(h.address), ",".join(h.services), st.state, sysd))
    return rows


def daemon_status(topo: Topology) -> list[tuple[str, str]]:
    lp = lab_paths(topo)
    return [(d.name, "running" if daemons.running_pid(lp.run, d) else "stopped")
            for d in daemons.daemons(topo, lp.state)]
