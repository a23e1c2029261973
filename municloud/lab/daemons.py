"""The controller-side lab services, run as plain background processes with pid files:
apt-cacher-ng (the nodes' only package source), dnsmasq (lab names only, everything else
refused at once) and chronyd (a local time source). All bound to the management gateway.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from municloud.core.errors import UserError
from municloud.core.topology import Topology

APT_PORT = 3142


@dataclass(frozen=True)
class Daemon:
    name: str
    argv: tuple[str, ...]
    port: int
    proto: str  # tcp or udp: the port that shows it is up
    address: str
    user: str | None = None


def _pidfile(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def _alive(pid: int, program: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return os.path.basename(cmdline.decode()) == os.path.basename(program)


def running_pid(run_dir: Path, d: Daemon) -> int | None:
    f = _pidfile(run_dir, d.name)
    try:
        pid = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, d.argv[0]) else None


def _port_open(d: Daemon) -> bool:
    if d.proto == "udp":
        out = subprocess.run(["ss", "-Hlnu", f"src {d.address}:{d.port}"],
                             capture_output=True, text=True, check=False).stdout
        return bool(out.strip())
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((d.address, d.port)) == 0


def start(run_dir: Path, d: Daemon) -> bool:
    """Start a daemon unless it already runs. Returns True if it was started."""
    if running_pid(run_dir, d) is not None:
        return False
    _pidfile(run_dir, d.name).unlink(missing_ok=True)  # stale, from a killed run
    log = open(run_dir / f"{d.name}.log", "ab")  # noqa: SIM115 - handed to the child
    argv = list(d.argv)
    if d.user:
        argv = ["setpriv", f"--reuid={d.user}", f"--regid={d.user}", "--init-groups", *argv]
    proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    _pidfile(run_dir, d.name).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"{d.name} exited with code {proc.returncode}; "
                            f"see {run_dir / (d.name + '.log')}")
        if _port_open(d):
            return True
        time.sleep(0.2)
    raise UserError(f"{d.name} did not listen on {d.address}:{d.port}/{d.proto} within 20 s; "
                    f"see {run_dir / (d.name + '.log')}")


def stop(run_dir: Path, d: Daemon) -> bool:
    pid = running_pid(run_dir, d)
    _pidfile(run_dir, d.name).unlink(missing_ok=True)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(pid, d.argv[0]):
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True


def gateway(topo: Topology) -> str:
    """The controller's address on the management network: where lab services listen."""
    from municloud.lab.network import controller_address

    return controller_address(topo)


def public_addresses(topo: Topology) -> list[str]:
    """Where the public names point: the edge tier's virtual address when the topology
    declares one (keepalived keeps it on a healthy edge host), else every edge host."""
    vip = topo.virtual_address()
    if vip is not None:
        return [vip]
    return [h.address for h in topo.hosts_running("edge") if h.address]


def hosts_file(topo: Topology) -> str:
    """Name → address records of the lab: hosts, public names (on the edge tier's virtual
    address, or the edge hosts), gateway."""
    lines = [f"{gateway(topo)} gateway.{topo.municipality.domain} gateway"]
    for h in topo.hosts:
        lines.append(f"{h.address} {topo.fqdn(h.name)} {h.name}")
    for name in topo.public_names.values():
        lines.extend(f"{addr} {name}" for addr in public_addresses(topo))
    return "\n".join(lines) + "\n"


def write_hosts_file(topo: Topology, state: Path, run_dir: Path) -> bool:
    """Write the lab's DNS records; a dnsmasq already running re-reads them (SIGHUP
    re-reads addn-hosts). True when the records changed."""
    f = state / "dnsmasq" / "hosts"
    wanted = hosts_file(topo)
    if f.exists() and f.read_text() == wanted:
        return False
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(wanted)
    pid = running_pid(run_dir, dnsmasq(topo, state))
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
    return True


def dnsmasq(topo: Topology, state: Path) -> Daemon:
    """The lab's DNS server (its configuration is written by `daemons`)."""
    dns = state / "dnsmasq"
    return Daemon("dnsmasq", ("/usr/sbin/dnsmasq", "--keep-in-foreground",
                              f"--conf-file={dns / 'dnsmasq.conf'}", "--pid-file="),
                  53, "udp", gateway(topo))


def daemons(topo: Topology, state: Path) -> list[Daemon]:
    gw = gateway(topo)
    domain = topo.municipality.domain
    acng = state / "apt-cacher-ng"
    dns = state / "dnsmasq"
    chrony = state / "chrony"
    for d in (acng / "cache", acng / "log", acng / "conf", dns, chrony):
        d.mkdir(parents=True, exist_ok=True)
    # Our own configuration: Debian's default backend for the Debian archive is
    # ftp.debian.org; the lab uses the topology's mirrors instead.
    (acng / "conf" / "acng.conf").write_text(
        "# Written by municloud: the lab's package proxy.\n"
        f"CacheDir: {acng / 'cache'}\nLogDir: {acng / 'log'}\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {APT_PORT}\nBindAddress: {gw}\nSocketPath: {acng / 'socket'}\n"
        "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n"
        "Remap-secdeb: security.debian.org security.debian.org/debian-security "
        "deb.debian.org/debian-security /debian-security ; file:backends_debian_security\n"
        "ExThreshold: 4\nReportPage:\nPidFile:\nForeGround: 1\n")
    (acng / "conf" / "backends_debian").write_text(topo.packages.mirror.rstrip("/") + "/\n")
    (acng / "conf" / "backends_debian_security").write_text(
        topo.packages.security_mirror.rstrip("/") + "/\n")
    subprocess.run(["chown", "-R", "apt-cacher-ng:apt-cacher-ng", str(acng)], check=False)
    # The records (dns/hosts) are written by write_hosts_file, which also tells a running
    # dnsmasq to re-read them.
    mail = topo.hosts_running("mail")
    mx = f"mx-host={domain},{topo.fqdn(mail[0].name)},10\n" if mail else ""
    (dns / "dnsmasq.conf").write_text(
        "# Lab DNS: answers the topology's names; everything else is refused at once.\n"
        f"listen-address={gw}\nbind-interfaces\nno-resolv\nno-hosts\n"
        f"addn-hosts={dns / 'hosts'}\nlocal=/{domain}/\ndomain-needed\nbogus-priv\n"
        f"{mx}user=nobody\ngroup=nogroup\n")
    (chrony / "chrony.conf").write_text(
        "# Lab time source: the controller's clock, served to the lab networks only.\n"
        f"bindaddress {gw}\nport 123\ncmdport 0\nlocal stratum 8\n"
        + "".join(f"allow {n.cidr}\n" for n in topo.networks)
        + f"driftfile {chrony / 'drift'}\npidfile {chrony / 'chronyd.pid'}\n")
    subprocess.run(["chown", "-R", "_chrony:_chrony", str(chrony)], check=False)
    return [
        Daemon("apt-cacher-ng", (
            "/usr/sbin/apt-cacher-ng", "-c", str(acng / "conf")),
            APT_PORT, "tcp", gw, user="apt-cacher-ng"),
        dnsmasq(topo, state),
        Daemon("chronyd", ("/usr/sbin/chronyd", "-n", "-x", "-f", str(chrony / "chrony.conf")),
               123, "udp", gw),
    ]
