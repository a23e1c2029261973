"""One-time setup, each step recorded under `<devcloud>/done/` so `up` twice is a no-op:
the MariaDB data directory, databases, schema migrations, keystone's keys and admin,
service users and the catalog, the ML2 driver's package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from municloud.core.errors import UserError
from municloud.devcloud import PORTS, REGION, SERVICE_USERS, Secrets, config, etc, logs, root
from municloud.devcloud.processes import UWSGI_USERS, mariadb_socket, open_log, system_env

API_TIMEOUT = 30  # seconds, per OpenStack API request made by `up`


def _done(step: str) -> Path:
    return root() / "done" / step


def once(step: str, action: Callable[[], None]) -> None:
    """Run `action` unless `step` was done before; record it when it succeeds."""
    marker = _done(step)
    if marker.exists():
        return
    action()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def run(argv: Sequence[str], log: str, timeout: float = 600, stdin: str | None = None,
        env: Mapping[str, str] | None = None) -> None:
    """Run a setup command, its output appended to logs/<log> (0600); fail naming the log.

    Secrets never go into `argv` (every local user sees it in `ps`, and it is written to
    the log): pass them on `stdin` or in `env`, neither of which is logged.
    """
    logfile = logs() / f"{log}.log"
    with open_log(log) as f:
        f.write(f"$ {' '.join(argv)}\n")
        f.flush()
        try:
            rc = subprocess.run(list(argv), stdout=f, stderr=subprocess.STDOUT, input=stdin,
                                text=True, timeout=timeout, cwd=root(),
                                env={**system_env(), **(env or {})}, check=False).returncode
        except subprocess.TimeoutExpired:
            raise UserError(f"devcloud: `{' '.join(argv[:3])} ...` did not finish within "
                            f"{timeout:.0f}s (log: {logfile})") from None
    if rc != 0:
        raise UserError(f"devcloud: `{' '.join(argv[:3])} ...` failed (log: {logfile})")


def init_mariadb() -> None:
    datadir = root() / "mysql"
    if datadir.exists():
        shutil.rmtree(datadir)  # an interrupted earlier attempt
    run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
         "--auth-root-authentication-method=socket", "--skip-test-db"], "setup-mariadb")
    shutil.chown(root() / "run", "mysql")


def create_databases(s: Secrets) -> None:
    sql = "".join(f"CREATE DATABASE IF NOT EXISTS {db};" for db in config.DATABASES)
    for host in ("localhost", "127.0.0.1"):
        sql += (f"CREATE USER IF NOT EXISTS 'municloud'@'{host}' IDENTIFIED BY '{s.db}';"
                f"GRANT ALL PRIVILEGES ON *.* TO 'municloud'@'{host}';")
    run(["mariadb", f"--socket={mariadb_socket()}", "-u", "root"], "setup-mariadb", stdin=sql)


def migrate(s: Secrets) -> None:
    """Schema migrations, the independent ones in parallel."""
    e = etc()
    nova = ["nova-manage", "--config-file", str(e / "nova/nova.conf")]
    chains: dict[str, list[list[str]]] = {
        "keystone": [["keystone-manage", "--config-file", str(e / "keystone/keystone.conf"),
                      "db_sync"]],
        "placement": [["placement-manage", "--config-file",
                       str(e / "placement/placement.conf"), "db", "sync"]],
        "glance": [["glance-manage", "--config-file", str(e / "glance/glance-api.conf"),
                    "db_sync"]],
        "neutron": [["neutron-db-manage", "--config-file", str(e / "neutron/neutron.conf"),
                     "upgrade", "heads"]],
        "cinder": [["cinder-manage", "--config-file", str(e / "cinder/cinder.conf"), "db",
                    "sync"]],
        "nova": [[*nova, "api_db", "sync"],
                 # cell0's URL is derived from [database] connection (nova -> nova_cell0):
                 # passing it would put the database password on the command line.
                 [*nova, "cell_v2", "map_cell0"],
                 [*nova, "cell_v2", "create_cell", "--name", "cell1", "--verbose"],
                 [*nova, "db", "sync"]],
    }

    def chain(name: str) -> None:
        def steps() -> None:
            for argv in chains[name]:
                run(argv, f"setup-{name}")
        once(f"migrate-{name}", steps)

    with ThreadPoolExecutor(max_workers=3) as pool:
        for f in [pool.submit(chain, n) for n in chains]:
            f.result()


def keystone_setup(s: Secrets) -> None:
    """Keystone's key repositories (owned by its system user) and its admin. The admin
    password reaches keystone-manage in its environment (OS_BOOTSTRAP_PASSWORD), never on
    the command line or in the log."""
    k = ["keystone-manage", "--config-file", str(etc() / "keystone/keystone.conf")]
    user = UWSGI_USERS["keystone"]
    own = ["--keystone-user", user, "--keystone-group", user]
    run([*k, "fernet_setup", *own], "setup-keystone")
    run([*k, "credential_setup", *own], "setup-keystone")
    run([*k, "bootstrap", "--bootstrap-region-id", REGION,
         "--bootstrap-admin-url", config.keystone_url(),
         "--bootstrap-internal-url", config.keystone_url(),
         "--bootstrap-public-url", config.keystone_url()], "setup-keystone",
        env={"OS_BOOTSTRAP_PASSWORD": s.admin})


CATALOG: dict[str, tuple[str, str, str]] = {
    # service name: (type, port, path)
    "nova": ("compute", "nova-api", "/v2.1"),
    "neutron": ("network", "neutron", ""),
    "glance": ("image", "glance", ""),
    "placement": ("placement", "placement", ""),
    "cinderv3": ("volumev3", "cinder-api", "/v3/%(project_id)s"),
    "cinder": ("block-storage", "cinder-api", "/v3/%(project_id)s"),
}


def admin_connection(s: Secrets) -> Any:
    import openstack

    # api_timeout bounds every request (token included): a service that accepts and
    # never answers fails the call instead of hanging `up`.
    return openstack.connect(auth_url=config.keystone_url(), username="admin",
                             password=s.admin, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default",
                             region_name=REGION, identity_interface="public",
                             api_timeout=API_TIMEOUT)


def service_users_and_catalog(s: Secrets) -> None:
    conn = admin_connection(s)
    ident = conn.identity
    service = ident.find_project("service") or ident.create_project(
        name="service", domain_id="default", description="devcloud service users")
    admin_role = ident.find_role("admin")
    # Cinder accepts nova's detach only with a service token (CVE-2023-2088 fix).
    service_role = ident.find_role("service") or ident.create_role(name="service")
    for name in SERVICE_USERS:
        user = ident.find_user(name, domain_id="default") or ident.create_user(
            name=name, password=s.service, domain_id="default",
            default_project_id=service.id)
        ident.assign_project_role_to_user(service, user, admin_role)
        ident.assign_project_role_to_user(service, user, service_role)
    for name, (stype, port, path) in CATALOG.items():
        svc = ident.find_service(name) or ident.create_service(name=name, type=stype)
        existing = {e.interface for e in ident.endpoints(service_id=svc.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in existing:
                ident.create_endpoint(service_id=svc.id, interface=interface,
                                      url=f"http://127.0.0.1:{PORTS[port]}{path}",
                                      region_id=REGION)


def install_ml2_driver() -> None:
    """The agentless binding driver, as a package neutron-server finds by entry point."""
    pylib = root() / "pylib"
    dist = pylib / "municloud_ml2_fakebind-0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("ml2_fakebind.py"),
                    pylib / "municloud_ml2_fakebind.py")
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: municloud-ml2-fakebind\nVersion: 0.1\n"
        "Summary: devcloud test infrastructure: ML2 driver binding ports without agents\n")
    (dist / "entry_points.txt").write_text(
        "[neutron.ml2.mechanism_drivers]\n"
        "municloud_fakebind = municloud_ml2_fakebind:FakeBindMechanismDriver\n")
