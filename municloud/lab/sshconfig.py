"""The SSH client configuration Ansible, testinfra and `lab ssh` share: one
ControlMaster connection per host, pinned host keys, the controller's lab key."""

from __future__ import annotations

from pathlib import Path

from municloud.core.topology import Topology


def render(topo: Topology, key: Path, known_hosts: Path, control_dir: Path) -> str:
    blocks = ["# Written by `municloud lab up`; used by Ansible, testinfra, `municloud lab ssh`."]
    for h in topo.hosts:
        blocks.append(
            f"Host {h.name} {h.address} {topo.fqdn(h.name)}\n"
            f"    HostName {h.address}\n"
            f"    HostKeyAlias {h.name}\n"
            f"    User {topo.access.ansible_user}\n"
            f"    IdentityFile {key}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known_hosts}\n"
            f"    StrictHostKeyChecking yes\n"
            f"    ControlMaster auto\n"
            f"    ControlPath {control_dir}/%C\n"
            f"    ControlPersist 600\n"
            f"    ConnectTimeout 10\n"
            f"    ServerAliveInterval 30\n"
            f"    LogLevel ERROR\n"
        )
    return "\n".join(blocks)
