"""The lab's node image: Debian 12 with systemd, built with debootstrap, imported into Podman.

Cached by the hash of its recipe: it is rebuilt only when the recipe changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from municloud.core import console
from municloud.core.errors import UserError
from municloud.lab import podman

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
            "sudo", "iproute2", "ca-certificates")

# Files laid into the root filesystem before import: path -> content.
FILES: dict[str, str] = {
    # Every container gets its own SSH host keys at first boot.
    "etc/systemd/system/municloud-lab-hostkeys.service": """\
[Unit]
Description=Generate SSH host keys for this lab node
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
""",
    # The internal bridge has no router: an on-link default route lets the node reach
    # every tier subnet on the bridge and gives Ansible a default IPv4 fact.
    "etc/systemd/system/municloud-lab-route.service": """\
[Unit]
Description=On-link default route on the lab bridge
Before=network-online.target ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip route replace default dev eth0

[Install]
WantedBy=multi-user.target
""",
    "etc/machine-id": "",
    "etc/apt/apt.conf.d/00municloud-lab": (
        'APT::Install-Recommends "false";\nAcquire::Retries "3";\n'
    ),
}
ENABLE = ("municloud-lab-hostkeys.service", "municloud-lab-route.service")
REPO_NAME = "localhost/municloud-node"


def recipe_hash() -> str:
    h = hashlib.sha256()
    h.update(f"{SUITE} {MIRROR} {' '.join(PACKAGES)} {' '.join(ENABLE)}".encode())
    for path, text in sorted(FILES.items()):
        h.update(path.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:12]


def image_name() -> str:
    return f"{REPO_NAME}:{recipe_hash()}"


def ensure() -> str:
    """Return the image name, building it first if this recipe has no image yet."""
    name = image_name()
    if podman.run("image", "exists", name, check=False).returncode == 0:
        console.info(f"    node image {name} (cached)")
        return name
    if shutil.which("debootstrap") is None:
        raise UserError("debootstrap is not installed: run scripts/bootstrap")
    with tempfile.TemporaryDirectory(prefix="municloud-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        console.info(f"    debootstrap {SUITE} ({len(PACKAGES)} packages) - about 1-2 minutes")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(root), MIRROR], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise UserError(f"debootstrap failed (mirror {MIRROR}):\n{tail}")
        _customise(root)
        console.info("    importing the root filesystem into Podman")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        proc = subprocess.run(
            ["podman", "import", "--change", 'CMD ["/sbin/init"]', "--change",
             "STOPSIGNAL SIGRTMIN+3", "-", name],
            stdin=tar.stdout, env=podman.environment(), capture_output=True, text=True,
            check=False)
        tar.wait()
        if proc.returncode != 0 or tar.returncode != 0:
            raise UserError(f"podman import failed: {proc.stderr.strip()}")
    # Keep only the current recipe's image.
    for line in podman.run("images", "--format", "{{.Repository}}:{{.Tag}}",
                           REPO_NAME).stdout.split():
        if line != name:
            podman.run("rmi", line, check=False)
    return name


def _customise(root: Path) -> None:
    for rel, text in FILES.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    for key in root.glob("etc/ssh/ssh_host_*"):
        key.unlink()
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in ENABLE:
        link = wants / unit
        if not link.exists():
            link.symlink_to(f"/etc/systemd/system/{unit}")
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    # Remove the package cache: the nodes get packages through the lab's apt proxy.
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
