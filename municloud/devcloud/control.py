"""`up`, `down`, `status`: the devcloud steps in order, each idempotent."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from municloud.core import console
from municloud.core.errors import UserError
from municloud.devcloud import (
    ADMIN_CLOUD,
    CLOUD,
    PORTS,
    PROJECT,
    REGION,
    USER,
    Secrets,
    bootstrap,
    clouds_yaml,
    config,
    etc,
    install,
    logs,
    processes,
    root,
)


def write_clouds_yaml(s: Secrets) -> Path:
    """Two entries: `devcloud` (the municloud user, member of its project) and
    `devcloud-admin` (keystone's admin, for seeding and for tests that change quotas)."""
    def entry(user: str, password: str, project: str) -> dict[str, object]:
        return {"auth": {"auth_url": config.keystone_url(), "username": user,
                         "password": password, "project_name": project,
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": REGION, "interface": "public", "identity_api_version": 3}

    f = clouds_yaml()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.touch(mode=0o600)
    f.write_text(yaml.safe_dump({"clouds": {
        CLOUD: entry(USER, s.user, PROJECT),
        ADMIN_CLOUD: entry("admin", s.admin, "admin"),
    }}, sort_keys=False))
    return f


def env_exports() -> str:
    return f"export OS_CLIENT_CONFIG_FILE={clouds_yaml()}\nexport OS_CLOUD={CLOUD}\n"


def _need_root() -> None:
    if os.geteuid() != 0:
        raise UserError("devcloud up/down need root (they install packages and start "
                        "MariaDB as the mysql user)")


def up() -> Path:
    """Install, configure, migrate, start and seed; a no-op when all of it is done."""
    _need_root()
    root().mkdir(parents=True, exist_ok=True)
    tighten_logs()
    with console.step("devcloud: Debian packages"):
        install.install()
    s = Secrets.load()
    with console.step("devcloud: configuration"):
        config.write(s)
        bootstrap.install_ml2_driver()
        write_clouds_yaml(s)
    with console.step("devcloud: MariaDB and RabbitMQ"):
        bootstrap.once("mariadb-datadir", bootstrap.init_mariadb)
        infra = processes.infrastructure()
        for p in infra:
            processes.start(p)
            processes.wait_port(p)
        processes.wait_until("MariaDB socket", processes.mariadb_socket().exists, 60,
                             ("mariadb",))
        bootstrap.once("databases", lambda: bootstrap.create_databases(s))
    with console.step("devcloud: database migrations"):
        bootstrap.migrate(s)
    with console.step("devcloud: keystone"):
        bootstrap.once("keystone-bootstrap", lambda: bootstrap.keystone_setup(s))
        processes.start(processes.keystone())
        processes.wait_port(processes.keystone())
        bootstrap.once("service-users", lambda: bootstrap.service_users_and_catalog(s))
    with console.step("devcloud: OpenStack services"):
        procs = processes.openstack()
        for p in procs:
            processes.start(p)
        with ThreadPoolExecutor(max_workers=len(procs)) as pool:
            for f in [pool.submit(processes.wait_port, p, 240) for p in procs]:
                f.result()
        conn = bootstrap.admin_connection(s)
        wait_compute(conn)
    with console.step("devcloud: seed (project, flavors, images, networks)"):
        bootstrap.once("seed", lambda: seed_now(conn, s))
    return clouds_yaml()


def tighten_logs() -> None:
    """Logs are root's alone: the directory 0700, every file 0600 (also those an older
    devcloud left world-readable)."""
    d = processes.log_dir()
    for f in d.rglob("*"):
        if f.is_file() and f.stat().st_mode & 0o077:
            f.chmod(0o600)


def seed_now(conn: object, s: Secrets) -> None:
    from municloud.devcloud.seed import seed

    seed(conn, s)


COMPUTE_BINARIES = ("nova-compute", "nova-scheduler", "nova-conductor", "cinder-volume")


def wait_compute(conn: object, timeout: float = 180) -> None:
    """Until the fake hypervisor is registered, mapped to cell1, its services are up and
    the volume scheduler knows a pool. On timeout the error names the services that are not
    up and their logs."""
    from typing import Any

    c: Any = conn
    missing: list[str] = list(COMPUTE_BINARIES)

    def ready() -> bool:
        try:
            hypers = list(c.compute.hypervisors())
            services = list(c.compute.services())
            volume = [sv for sv in c.block_storage.services() if sv.binary == "cinder-volume"]
            # The scheduler places volumes only on pools cinder-volume has reported to it:
            # a service "up" before its first report made volume creation fail (no valid
            # backend) right after `up`.
            pools = list(c.block_storage.backend_pools())
        except Exception as exc:  # the APIs are still starting (each call is bounded)
            missing[:] = [f"the APIs do not answer ({type(exc).__name__})"]
            return False
        up = {sv.binary for sv in services if sv.state == "up"}
        if any(v.state == "up" for v in volume) and pools:
            up.add("cinder-volume")
        missing[:] = [b for b in COMPUTE_BINARIES if b not in up]
        if not hypers:
            missing.append("no hypervisor registered (nova-compute)")
        if missing:
            return False
        bootstrap.run(["nova-manage", "--config-file", str(etc() / "nova/nova.conf"),
                       "cell_v2", "discover_hosts"], "setup-nova", timeout=120)
        return True

    processes.wait_until("nova-compute and cinder-volume registered", ready, timeout,
                         COMPUTE_BINARIES, detail=lambda: "not up: " + ", ".join(missing))


def down() -> list[str]:
    """Stop every process devcloud started (reverse order); returns their names."""
    _need_root()
    stopped = [p.name for p in reversed(processes.all_procs()) if processes.stop(p.name)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and listening():
        time.sleep(0.5)
    return stopped


def listening() -> list[str]:
    return [name for name, port in PORTS.items() if processes.port_open(port)]


@dataclass(frozen=True)
class ProcStatus:
    name: str
    pid: int | None
    port: int | None
    listening: bool


def status() -> list[ProcStatus]:
    out = []
    for p in processes.all_procs():
        out.append(ProcStatus(p.name, processes.pid_of(p.name), p.port,
                              p.port is not None and processes.port_open(p.port)))
    return out


def log_dir() -> Path:
    return logs()
