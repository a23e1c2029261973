"""Where things live: the repository's folders and the controller's state directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = REPO / "inventories"
ROLES = REPO / "roles"
PLAYBOOKS = REPO / "playbooks"
TESTS = REPO / "tests"


def state_root() -> Path:
    """The controller's state (lab images, SSH keys, generated inventories, secrets).

    Never in git. `MUNICLOUD_STATE` overrides the default `/var/lib/municloud`.
    """
    return Path(os.environ.get("MUNICLOUD_STATE", "/var/lib/municloud"))


def env_state(env: str) -> Path:
    return state_root() / env


def secrets_dir(env: str) -> Path:
    """Secrets generated at deploy time for one environment (0700 directory, 0600 files)."""
    return env_state(env) / "secrets"


def inventories() -> Path:
    """The inventories folder; `MUNICLOUD_INVENTORIES` overrides it (a municipality's own
    inventories kept outside this repository, or tests)."""
    return Path(os.environ.get("MUNICLOUD_INVENTORIES", INVENTORIES))


def known_environments() -> list[str]:
    return sorted(p.parent.name for p in inventories().glob("*/topology.yml"))
