"""Debian's OpenStack Zed packages, installed with apt-get (idempotent, retried).

The daemons' packages bring the Python code, the paste files and the wsgi entry points;
`nova-compute` (the package) is left out because it pulls qemu and libvirt: the compute
service runs from python3-nova with the fake driver. `/usr/sbin/policy-rc.d` keeps the
packages from starting anything; devcloud starts its own processes.
"""

from __future__ import annotations

import os
import subprocess
import time

from municloud.core.errors import UserError
from municloud.devcloud import logs
from municloud.devcloud.processes import open_log

PACKAGES = (
    "keystone", "glance-api", "placement-api", "nova-api", "nova-conductor",
    "nova-scheduler", "python3-nova", "neutron-server", "cinder-api", "cinder-scheduler",
    "python3-cinder", "mariadb-server", "rabbitmq-server", "uwsgi-core",
    "uwsgi-plugin-python3", "python3-pymysql",
)

APT_TIMEOUT = 1200  # seconds per apt-get run


def missing() -> list[str]:
    """Packages of PACKAGES not installed."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES],
        capture_output=True, text=True, check=False,
    ).stdout
    installed = {ln.split()[0] for ln in out.splitlines() if ln.endswith(" installed")}
    return [p for p in PACKAGES if p not in installed]


def _apt(args: list[str], log: str, attempts: int = 3) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    logfile = logs() / f"{log}.log"
    for attempt in range(1, attempts + 1):
        with open_log(log) as f:
            try:
                rc = subprocess.run(["apt-get", *args], env=env, stdout=f,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=APT_TIMEOUT, check=False).returncode
            except subprocess.TimeoutExpired:
                raise UserError(f"apt-get {args[0]} did not finish within {APT_TIMEOUT}s "
                                f"(log: {logfile})") from None
        if rc == 0:
            return
        time.sleep(5 * attempt)
    raise UserError(f"apt-get {args[0]} failed {attempts} times (log: {logfile})")


def install() -> bool:
    """Install what is missing; True when something was installed."""
    todo = missing()
    if not todo:
        return False
    if os.geteuid() != 0:
        raise UserError(f"devcloud needs root to install {', '.join(todo)}")
    _apt(["update", "-q"], "apt")
    _apt(["install", "-y", "-q", "--no-install-recommends",
          "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
          *todo], "apt")
    return True
