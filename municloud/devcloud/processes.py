"""Start, check and stop devcloud's services as plain processes (PID 1 is not systemd).

Each process runs in its own session (so its whole process group can be stopped), writes
its output to `<devcloud>/logs/<name>.log` and its pid and start time to
`<devcloud>/run/<name>.pid`: a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from municloud.core.errors import UserError
from municloud.devcloud import PORTS, SYSTEM_PYTHON, etc, logs, root, run_dir


@dataclass(frozen=True)
class Proc:
    name: str
    argv: tuple[str, ...]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    http: bool = False  # an API: ready when it answers HTTP, not when it merely listens
    # The file mode mask of a service that writes files of its own into the logs (RabbitMQ's
    # log directory and files): 0o077 keeps them root's alone; None leaves the caller's.
    umask: int | None = None


def _py(module: str, name: str, *args: str) -> tuple[str, ...]:
    """Run `module.main()` under Debian's python (the venv's has no OpenStack code)."""
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import main; sys.exit(main())"
    return (SYSTEM_PYTHON, "-c", code, *args)


UWSGI_PROCESSES = 2


def _uwsgi(port: int, wsgi_file: str, user: str) -> tuple[str, ...]:
    """A WSGI app under uWSGI: worker processes, one request each, never threads.

    The OpenStack libraries the apps import bring eventlet, whose hub is bound to one
    thread: a threaded worker (`--threads N`) dies with "greenlet.error: cannot switch to
    a different thread" and stops answering. The master binds the port as root, then
    drops to the service's system user (from its Debian package) before loading the app.
    Without "Connection: close" a reused connection fails with "connection reset".
    """
    return ("uwsgi", "--plugin", "python3", "--http-socket", f"127.0.0.1:{port}",
            "--wsgi-file", wsgi_file, "--master", "--processes", str(UWSGI_PROCESSES),
            "--uid", user, "--gid", user,
            "--add-header", "Connection: close", "--die-on-term", "--need-app",
            "--buffer-size", "65535", "--thunder-lock")


# The uWSGI services and the system user each runs as (created by its Debian package).
UWSGI_USERS = {"keystone": "keystone", "placement": "placement"}


def mariadb_socket() -> Path:
    return run_dir() / "mysqld.sock"


def infrastructure() -> list[Proc]:
    r = root()
    return [
        Proc("mariadb", ("/usr/sbin/mariadbd", "--no-defaults", f"--datadir={r / 'mysql'}",
                         f"--socket={mariadb_socket()}", f"--port={PORTS['mariadb']}",
                         "--bind-address=127.0.0.1", "--user=mysql",
                         f"--pid-file={run_dir() / 'mariadbd.pid'}", "--skip-log-bin",
                         "--skip-name-resolve", "--max-connections=1000",
                         "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=0",
                         "--innodb-doublewrite=0", "--character-set-server=utf8mb4",
                         "--collation-server=utf8mb4_general_ci"), PORTS["mariadb"]),
        Proc("epmd", ("/usr/bin/epmd", "-address", "127.0.0.1", "-port", str(PORTS["epmd"])),
             PORTS["epmd"]),
        Proc("rabbitmq", ("/usr/lib/rabbitmq/bin/rabbitmq-server",), PORTS["rabbitmq"],
             rabbit_env(), umask=0o077),
    ]


def rabbit_env() -> dict[str, str]:
    rabbit = root() / "rabbitmq"
    return {
        "HOME": str(rabbit),
        "RABBITMQ_CONF_ENV_FILE": "/dev/null",
        "RABBITMQ_CONFIG_FILE": str(rabbit / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(rabbit / "enabled_plugins"),
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbitmq-dist"]),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_MNESIA_BASE": str(rabbit / "mnesia"),
        "RABBITMQ_LOG_BASE": str(logs() / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(run_dir() / "rabbitmq-self.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


def keystone() -> Proc:
    return Proc("keystone", _uwsgi(PORTS["keystone"], "/usr/bin/keystone-wsgi-public",
                                   UWSGI_USERS["keystone"]),
                PORTS["keystone"],
                {"OS_KEYSTONE_CONFIG_FILES": str(etc() / "keystone/keystone.conf")}, http=True)


def openstack() -> list[Proc]:
    """Every OpenStack service but keystone (started once keystone has its users)."""
    nova = ("--config-file", str(etc() / "nova/nova.conf"))
    cinder = ("--config-file", str(etc() / "cinder/cinder.conf"))
    return [
        Proc("placement", _uwsgi(PORTS["placement"], "/usr/bin/placement-api",
                                 UWSGI_USERS["placement"]),
             PORTS["placement"], {"OS_PLACEMENT_CONFIG_DIR": str(etc() / "placement")},
             http=True),
        Proc("glance-api", _py("glance.cmd.api", "glance-api", "--config-file",
                               str(etc() / "glance/glance-api.conf")), PORTS["glance"],
             http=True),
        Proc("neutron-server", _py("neutron.cmd.eventlet.server", "neutron-server",
                                   "--config-file", str(etc() / "neutron/neutron.conf")),
             PORTS["neutron"], {"PYTHONPATH": str(root() / "pylib")}, http=True),
        # Under uwsgi, nova-api's RabbitMQ heartbeats stall between requests and the next
        # RPC call (volume attach) times out: run its eventlet server instead.
        Proc("nova-api", _py("nova.cmd.api", "nova-api", *nova), PORTS["nova-api"],
             http=True),
        Proc("nova-conductor", _py("nova.cmd.conductor", "nova-conductor", *nova)),
        Proc("nova-scheduler", _py("nova.cmd.scheduler", "nova-scheduler", *nova)),
        Proc("nova-compute", _py("nova.cmd.compute", "nova-compute", *nova)),
        Proc("cinder-api", _py("cinder.cmd.api", "cinder-api", *cinder), PORTS["cinder-api"],
             http=True),
        Proc("cinder-scheduler", _py("cinder.cmd.scheduler", "cinder-scheduler", *cinder)),
        Proc("cinder-volume", _py("cinder.cmd.volume", "cinder-volume", *cinder)),
    ]


def all_procs() -> list[Proc]:
    return [*infrastructure(), keystone(), *openstack()]


# -- pid files ------------------------------------------------------------------------------

def _pidfile(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_of(name: str) -> int | None:
    """The pid of our running process `name`, or None."""
    f = _pidfile(name)
    try:
        pid_s, started = f.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_s)
    return pid if _start_time(pid) == started else None


LOG_DIR_MODE = 0o700
LOG_MODE = 0o600


def log_dir() -> Path:
    """`<devcloud>/logs`, 0700: the logs of services and setup steps are root's alone."""
    d = logs()
    d.mkdir(parents=True, exist_ok=True, mode=LOG_DIR_MODE)
    d.chmod(LOG_DIR_MODE)
    return d


def open_log(name: str, mode: str = "a") -> IO[Any]:
    """Open `<devcloud>/logs/<name>.log` for appending, created (or tightened) to 0600."""
    f = log_dir() / f"{name}.log"
    fd = os.open(f, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_MODE)
    os.fchmod(fd, LOG_MODE)
    return os.fdopen(fd, mode)


def _tighten(d: Path) -> None:
    """A service's own log directory (`<devcloud>/logs/<name>`), 0700, its files 0600,
    whatever an earlier run left (the umask covers what the service creates anew)."""
    d.mkdir(exist_ok=True, mode=LOG_DIR_MODE)
    d.chmod(LOG_DIR_MODE)
    for f in d.rglob("*"):
        if f.is_file():
            f.chmod(LOG_MODE)


def system_env() -> dict[str, str]:
    """The environment for Debian's tools: no venv, no pyenv, Debian's PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYENV", "OS_"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start(p: Proc) -> bool:
    """Start `p` unless it runs; True when started."""
    if pid_of(p.name) is not None:
        return False
    run_dir().mkdir(parents=True, exist_ok=True)
    if p.umask is not None:
        _tighten(log_dir() / p.name)
    env = {**system_env(), **p.env}
    with open_log(p.name, "ab") as log:
        proc = subprocess.Popen(p.argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=root(),
                                start_new_session=True,
                                umask=-1 if p.umask is None else p.umask)
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.01)
    _pidfile(p.name).write_text(f"{proc.pid} {started}\n")
    return True


def wait_until(what: str, ready: Callable[[], bool], timeout: float,
               procs: tuple[str, ...] = (), detail: Callable[[], str] | None = None) -> None:
    """Poll `ready` until true, for at most `timeout` seconds; fail early, naming the log,
    when one of `procs` died, and on timeout name what is missing (`detail`) and the logs.
    `ready` itself must be bounded (sockets and API clients with timeouts)."""
    deadline = time.monotonic() + timeout
    while not ready():
        for name in procs:
            if pid_of(name) is None:
                raise UserError(f"devcloud: {name} exited while waiting for {what} "
                                f"(log: {logs() / (name + '.log')})")
        if time.monotonic() > deadline:
            hint = ", ".join(str(logs() / f"{n}.log") for n in procs) or str(logs())
            missing = f": {detail()}" if detail is not None else ""
            raise UserError(f"devcloud: {what} not ready after {timeout:.0f}s{missing} "
                            f"(logs: {hint})")
        time.sleep(0.5)


HTTP_PROBE_TIMEOUT = 5.0


def answers_http(port: int, host: str = "127.0.0.1") -> bool:
    """An HTTP response of any status within a few seconds: the service accepts *and*
    answers (a worker that hangs after accept() fails this, a bare port check does not)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/",
                                    timeout=HTTP_PROBE_TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def wait_port(p: Proc, timeout: float = 120) -> None:
    """Until `p` listens, and answers HTTP when it is an API service."""
    if p.port is not None:
        port = p.port
        probe = (lambda: answers_http(port)) if p.http else (lambda: port_open(port))
        wait_until(f"{p.name} on 127.0.0.1:{port}", probe, timeout, (p.name,))


def stop(name: str, timeout: float = 30) -> bool:
    """Stop our process `name` and its process group; True when something was stopped."""
    pid = pid_of(name)
    _pidfile(name).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.2)
    if _group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A zombie leader with no other members counts as gone.
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
