"""devcloud: a real OpenStack (Debian's Zed packages) on loopback, to rehearse provisioning
and to test the live audit against real APIs.

It is TEST INFRASTRUCTURE, never production: nova runs `fake.FakeDriver` (no VMs), cinder
the fake volume driver, neutron an ML2 mechanism driver that binds ports without an agent
(`ml2_fakebind.py`). APIs, validation, quotas, IPAM and scheduling are the real ones.

Everything lives under one directory, `<state>/devcloud/` (default
`/var/lib/municloud/devcloud/`): configuration (`etc/`), data, logs (`logs/`), pid files
(`run/`), generated passwords and `clouds.yaml`. Modules:

- `install`   -- the Debian packages (apt-get, idempotent)
- `config`    -- the configuration files, rendered from the settings below
- `processes` -- start, check and stop the services as plain processes (no systemd)
- `bootstrap` -- databases, migrations, keystone bootstrap, service users and catalog
- `seed`      -- flavors from the topologies' sizes, images, external network, project
- `ml2_fakebind` -- the mechanism driver neutron loads (runs under /usr/bin/python3)
- `control`   -- `up`, `down`, `status`: the steps above in order
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from municloud.core import paths

CLOUD = "devcloud"
ADMIN_CLOUD = "devcloud-admin"
PROJECT = "municloud"
USER = "municloud"
REGION = "RegionOne"
HOST = "127.0.0.1"
SYSTEM_PYTHON = "/usr/bin/python3"

# Every port devcloud listens on (all bound to 127.0.0.1).
PORTS: dict[str, int] = {
    "mariadb": 3306,
    "rabbitmq": 5672,
    "rabbitmq-dist": 25672,
    "epmd": 4369,
    "keystone": 5000,
    "neutron": 9696,
    "glance": 9292,
    "placement": 8778,
    "nova-api": 8774,
    "cinder-api": 8776,
}

SERVICE_USERS = ("nova", "neutron", "glance", "cinder", "placement")


def root() -> Path:
    return paths.state_root() / "devcloud"


def etc() -> Path:
    return root() / "etc"


def logs() -> Path:
    return root() / "logs"


def run_dir() -> Path:
    return root() / "run"


def clouds_yaml() -> Path:
    return root() / "clouds.yaml"


@dataclass(frozen=True)
class Secrets:
    """Passwords generated on the first `up` (kept in `secrets.json`, mode 0600)."""

    db: str
    admin: str
    service: str
    user: str

    @classmethod
    def load(cls) -> Secrets:
        f = root() / "secrets.json"
        if f.exists():
            return cls(**json.loads(f.read_text()))
        s = cls(*(secrets.token_hex(12) for _ in range(4)))
        f.parent.mkdir(parents=True, exist_ok=True)
        f.touch(mode=0o600)
        f.write_text(json.dumps(s.__dict__) + "\n")
        return s
