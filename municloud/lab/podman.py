"""Running Podman with the lab's own configuration, all state under one directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from municloud.core import paths
from municloud.core.errors import UserError

CONTAINERS_CONF = """\
# Written by municloud (municloud/lab/podman.py). Measured in shared/notes/lab-podman.md.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "/run/municloud/podman/libpod"

[network]
network_backend = "netavark"
network_config_dir = "{root}/networks"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "/run/municloud/podman/storage"
"""


def podman_root() -> Path:
    return paths.state_root() / "podman"


@cache
def environment() -> dict[str, str]:
    root = podman_root()
    root.mkdir(parents=True, exist_ok=True)
    (root / "networks").mkdir(exist_ok=True)
    conf = root / "containers.conf"
    storage = root / "storage.conf"
    for f, text in ((conf, CONTAINERS_CONF), (storage, STORAGE_CONF)):
        wanted = text.format(root=root)
        if not f.exists() or f.read_text() != wanted:
            f.write_text(wanted)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(conf)
    env["CONTAINERS_STORAGE_CONF"] = str(storage)
    return env


def run(*args: str, check: bool = True, input_bytes: bytes | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; on failure raise UserError with podman's own message."""
    proc = subprocess.run(["podman", *args], env=environment(), capture_output=True,
                          text=input_bytes is None, input=input_bytes, timeout=timeout,
                          check=False)
    if isinstance(proc.stdout, bytes):
        proc = subprocess.CompletedProcess(proc.args, proc.returncode,
                                           proc.stdout.decode(errors="replace"),
                                           proc.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        raise UserError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    proc = run(kind, "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    return data[0] if data else None


def require_usable() -> None:
    """Stop with a clear message unless we are root and Podman can run here."""
    if os.geteuid() != 0:
        raise UserError("the lab needs root (rootful Podman, a bridge network, apt-cacher-ng): "
                        "run `sudo municloud lab ...`")
    if shutil.which("podman") is None:
        raise UserError("podman is not installed: run scripts/bootstrap (installs Debian's "
                        "podman, runc, netavark, debootstrap, apt-cacher-ng, dnsmasq, chrony)")
    proc = run("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if proc.returncode != 0:
        raise UserError(f"Podman cannot run on this machine: {proc.stderr.strip()}")
