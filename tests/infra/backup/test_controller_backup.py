"""The controller's own state off-host (BAK-CTRL-01): the municipal CA and every generated
secret live on the controller (<state>/secrets); losing the controller must not lose them.
The role backup_controller keeps them in an encrypted borg repository on the backup host;
this reads that repository back from the controller, with the controller's key and
passphrase, and restores the CA's key and certificate from the latest archive."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from .. import backup_lab as bl

pytestmark = pytest.mark.host_lock("backup-controller")


@pytest.fixture(scope="module")
def latest(lab: dict[str, Any]) -> str:
    if not bl.controller_client():
        pytest.skip("backup_server_controller_client is empty: no controller backup")
    r = bl.controller_borg("list", "--json", "--last", "1", "--glob-archives",
                           f"{bl.controller_client()}-*")
    assert r.returncode == 0, f"the controller's repository cannot be read: {r.stderr}"
    archives = json.loads(r.stdout)["archives"]
    assert archives, "the controller's state was never archived (playbooks/backups.yml)"
    return str(archives[-1]["name"])


@pytest.mark.control("BAK-CTRL-01")
def test_controller_state_is_in_an_encrypted_repository_on_the_backup_host(
        lab: dict[str, Any], target: Any, latest: str) -> None:
    r = bl.controller_borg("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["encryption"]["mode"] == bl.controller_setting("backup_controller_encryption")
    server = target(bl.backup_server(lab))
    repo = (f"{bl.controller_setting('backup_controller_server_root')}/repos/"
            f"{bl.controller_client()}")
    assert server.file(f"{repo}/config").exists, f"no repository at {repo} on the backup host"
    assert server.file(repo).user == "borg" and server.file(repo).mode == 0o700


@pytest.mark.control("BAK-CTRL-01")
def test_the_ca_restores_from_the_latest_controller_archive(latest: str) -> None:
    state = Path(bl.controller_setting("backup_controller_state_dir"))
    for rel in ("secrets/pki/ca.key", "secrets/pki/ca.crt"):
        r = bl.controller_borg("extract", "--stdout", f"::{latest}", rel)
        assert r.returncode == 0, f"{rel} is not in {latest}: {r.stderr}"
        restored = hashlib.sha256(r.stdout.encode()).hexdigest()
        live = hashlib.sha256((state / rel).read_bytes()).hexdigest()
        assert restored == live, f"{rel} in {latest} is not the CA the controller uses"
