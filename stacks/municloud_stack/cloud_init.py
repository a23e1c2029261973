"""Cloud-init user data: the topology's administrators with their SSH keys, nothing else."""

from __future__ import annotations

from typing import Any

import yaml

from municloud.core.topology import Admin, Host, Topology


def _user(admin: Admin) -> dict[str, Any]:
    user: dict[str, Any] = {"name": admin.name, "groups": list(admin.groups),
                            "shell": "/bin/bash", "lock_passwd": True}
    if "sudo" in admin.groups:
        user["sudo"] = "ALL=(ALL) NOPASSWD:ALL"
    user["ssh_authorized_keys"] = list(admin.ssh_keys)
    return user


def user_data(topo: Topology, host: Host) -> str:
    config = {
        "hostname": host.name,
        "fqdn": topo.fqdn(host.name),
        "preserve_hostname": False,
        "disable_root": True,
        "ssh_pwauth": False,
        "users": [_user(a) for a in topo.admins],
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)
