"""Lab nodes: one systemd container per topology host, at its address, with its volumes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from municloud.core.errors import UserError
from municloud.core.topology import Host, Topology
from municloud.lab import network, podman

LABEL = "municloud.env"
CAPS = "NET_ADMIN,NET_RAW,AUDIT_WRITE"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


def container(topo: Topology, host: str) -> str:
    return f"municloud-{topo.environment}-{host}"


def volume(topo: Topology, host: str, vol: str) -> str:
    return f"municloud-{topo.environment}-{host}-{vol}"


@dataclass(frozen=True)
class NodeState:
    host: str
    container: str
    state: str  # running, stopped, missing, stale
    image: str | None


def state_of(topo: Topology, host: Host, image: str) -> NodeState:
    name = container(topo, host.name)
    info = podman.inspect("container", name)
    if info is None:
        return NodeState(host.name, name, "missing", None)
    running = info["State"].get("Running", False)
    if running and not _pid_alive(info["State"].get("Pid", 0)):
        # A killed run leaves Podman believing the container runs: its init is gone.
        return NodeState(host.name, name, "stale", None)
    labels = info["Config"].get("Labels") or {}
    nets = info["NetworkSettings"].get("Networks") or {}
    addr = (nets.get(network.name(topo)) or {}).get("IPAddress")
    current = labels.get("municloud.image") == image and addr == host.address
    if not current:
        return NodeState(host.name, name, "stale", labels.get("municloud.image"))
    return NodeState(host.name, name, "running" if running else "stopped", image)


def _pid_alive(pid: int) -> bool:
    """A live, non-zombie process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return pid > 0 and "\nState:\tZ" not in status


def create(topo: Topology, host: Host, image: str, dns: str) -> None:
    name = container(topo, host.name)
    args = [
        "run", "-d", "--name", name, "--hostname", topo.fqdn(host.name),
        "--systemd=always", "--cap-add", CAPS,
        "--network", f"{network.name(topo)}:ip={host.address}",
        "--dns", dns, "--dns-search", topo.municipality.domain,
        "--label", f"{LABEL}={topo.environment}", "--label", f"municloud.image={image}",
        "--label", f"municloud.host={host.name}",
    ]
    for v in host.volumes:
        args += ["--volume", f"{volume(topo, host.name, v.name)}:{v.mount}"]
    podman.run(*args, image)


def start(name: str) -> None:
    podman.run("start", name)


REMOVE_ATTEMPTS = 3


def remove(topo: Topology, name: str) -> None:
    """Remove a container, also one whose conmon and init were killed: Podman's first
    `rm --force` of such a container can fail ("timed out waiting for file .../exits/<id>")
    after marking it stopped, and the next attempt removes it. Raises if it stays."""
    proc = None
    for _ in range(REMOVE_ATTEMPTS):
        proc = podman.run("rm", "--force", "--time", "10", name, check=False)
        if podman.run("container", "exists", name, check=False).returncode != 0:
            return
    detail = proc.stderr.strip() if proc is not None else ""
    raise UserError(f"podman could not remove container {name} after {REMOVE_ATTEMPTS} "
                    f"attempts: {detail}")


def lab_containers(topo: Topology) -> list[str]:
    out = podman.run("ps", "-a", "--filter", f"label={LABEL}={topo.environment}",
                     "--format", "{{.Names}}").stdout
    return out.split()


def lab_volumes(topo: Topology) -> list[str]:
    prefix = f"municloud-{topo.environment}-"
    out = podman.run("volume", "ls", "--format", "{{.Name}}").stdout
    return [v for v in out.split() if v.startswith(prefix)]


def provision_files(topo: Topology, name: str, authorized_key: str, apt_proxy: str) -> None:
    """Lay the controller's key and the apt proxy into a node (one `podman cp`)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ssh = root / "root/.ssh"
        ssh.mkdir(parents=True, mode=0o700)
        (ssh / "authorized_keys").write_text(authorized_key)
        (ssh / "authorized_keys").chmod(0o600)
        apt = root / "etc/apt/apt.conf.d"
        apt.mkdir(parents=True)
        (apt / "01municloud-proxy").write_text(f'Acquire::http::Proxy "{apt_proxy}";\n')
        root.chmod(0o755)
        (root / "root").chmod(0o700)
        podman.run("cp", f"{root}/.", f"{name}:/")


def wait_for_ssh(topo: Topology, hosts: list[Host], timeout: float = 300,
                 on_ready: Callable[[Host], None] | None = None) -> None:
    """Wait until every host's sshd answers and its ed25519 host key is written (sshd may
    answer with the RSA key while `ssh-keygen -A` still writes the others: seen at load
    ~40, where ten nodes' first boot also took over two minutes); `on_ready` hears of each
    host that is ready."""
    def wait(h: Host) -> None:
        deadline = time.monotonic() + timeout
        answered = False
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((str(h.address), 22), timeout=3) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        answered = True
                        if _has_host_key(topo, h):
                            if on_ready is not None:
                                on_ready(h)
                            return
            except OSError:
                pass
            time.sleep(0.5)
        name = container(topo, h.name)
        if answered:
            raise UserError(f"{h.name} ({h.address}): sshd answers, but `podman exec {name} "
                            f"test -s {HOST_KEY}` did not succeed within {timeout:.0f} s")
        raise UserError(f"{h.name} ({h.address}): SSH did not answer within {timeout:.0f} s; "
                        f"see `podman logs {name}`")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(wait, hosts))


def _has_host_key(topo: Topology, host: Host) -> bool:
    try:
        proc = podman.run("exec", container(topo, host.name), "test", "-s", HOST_KEY,
                          check=False, timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def host_key(topo: Topology, host: Host) -> str:
    proc = podman.run("exec", container(topo, host.name), "cat", HOST_KEY)
    kind, key = proc.stdout.split()[:2]
    return f"{host.name},{host.address},{topo.fqdn(host.name)} {kind} {key}"


def systemd_state(topo: Topology, host: str) -> str:
    proc = podman.run("exec", container(topo, host), "systemctl", "is-system-running",
                      check=False, timeout=30)
    return proc.stdout.strip() or "unknown"


def has_ssh_client() -> None:
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        raise UserError("the OpenSSH client is not installed: run scripts/bootstrap")


def keygen(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "municloud-lab-controller",
                    "-f", str(path)], check=True)
