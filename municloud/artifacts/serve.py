"""`municloud artifacts serve|stop`: the mirror over HTTPS as a background process.

The process (`municloud.artifacts.server`) runs in its own session; its pid file and log
are in the environment's state directory. Its certificate is issued by the municipal CA
through the `pki` role (playbooks/artifacts-mirror-cert.yml), which the hosts trust.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from municloud.core import paths
from municloud.core.errors import UserError

SERVER_MODULE = "municloud.artifacts.server"
CERT_NAME = "artifacts-mirror"


@dataclass(frozen=True)
class Running:
    pid: int
    url: str


def state(env: str) -> Path:
    """Where the server of an environment keeps its pid file and log."""
    return paths.env_state(env) / "artifacts"


def pid_file(state_dir: Path) -> Path:
    return state_dir / "serve.pid"


def log_file(state_dir: Path) -> Path:
    return state_dir / "serve.log"


def default_cert(env: str) -> tuple[Path, Path]:
    certs = paths.secrets_dir(env) / "pki" / "certs"
    return certs / f"{CERT_NAME}.crt", certs / f"{CERT_NAME}.key"


def issue_cert(env: str, host: str) -> None:
    """Issue (or keep) the mirror's certificate for `host` with the municipal CA."""
    ca = paths.secrets_dir(env) / "pki" / "ca.crt"
    if not ca.exists():
        raise UserError(f"no municipal CA at {ca}: run `ansible-playbook -i inventories/{env}/"
                        "municloud.yml playbooks/pki.yml` first, or pass --cert and --key")
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "ansible-playbook"), "-i", f"inventories/{env}/municloud.yml",
           "playbooks/artifacts-mirror-cert.yml", "-e", f"artifacts_mirror_host={host}"]
    run = subprocess.run(cmd, cwd=paths.REPO, capture_output=True, text=True, check=False,
                         env={**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"})
    if run.returncode != 0:
        raise UserError(f"issuing the mirror certificate failed ({' '.join(cmd)}):\n"
                        f"{run.stdout[-1500:]}")


def _alive(pid: int) -> bool:
    """True when `pid` is our server process (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return SERVER_MODULE.encode() in cmdline


def running(state_dir: Path) -> Running | None:
    try:
        pid_text, url = pid_file(state_dir).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return Running(pid, url) if _alive(pid) else None


def _wait_listening(proc: subprocess.Popen[bytes], host: str, port: int, wait: float) -> bool:
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def start(state_dir: Path, mirror: Path, host: str, port: int, cert: Path,
          key: Path) -> Running:
    """Start serving `mirror` on https://host:port/ unless already running (idempotent)."""
    current = running(state_dir)
    if current is not None:
        return current
    if not mirror.is_dir():
        raise UserError(f"no mirror at {mirror}: build one with `municloud artifacts fetch` "
                        "(where there is internet) or pass --dir")
    for f in (cert, key):
        if not f.exists():
            raise UserError(f"{f}: missing (the mirror's TLS certificate and key)")
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"https://{host}:{port}/"
    with log_file(state_dir).open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--dir", str(mirror), "--bind", host,
             "--port", str(port), "--cert", str(cert), "--key", str(key)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd="/")
    if not _wait_listening(proc, host, port, 10.0):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        tail = log_file(state_dir).read_text(errors="replace").splitlines()[-5:]
        raise UserError(f"the mirror server did not start on {url}:\n" + "\n".join(tail))
    pid_file(state_dir).write_text(f"{proc.pid} {url}\n")
    return Running(proc.pid, url)


def stop(state_dir: Path, wait: float = 10.0) -> Running | None:
    """Stop the server by its pid file; None when it was not running."""
    current = running(state_dir)
    if current is not None:
        os.kill(current.pid, signal.SIGTERM)
        end = time.monotonic() + wait
        while _alive(current.pid) and time.monotonic() < end:
            time.sleep(0.1)
        if _alive(current.pid):
            os.kill(current.pid, signal.SIGKILL)
        _reap(current.pid)
    pid_file(state_dir).unlink(missing_ok=True)
    return current


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (same process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
