"""Secrets hygiene: no value of the controller's secret store (/var/lib/municloud/<env>/
secrets) in git, in Ansible's -vvv output, in a host's journal or in a world-readable file
on a host. Findings name the secret's file in the store, never its value
(municloud/audit/secrets_scan.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from municloud.audit import secrets_scan
from municloud.deploy.ansible_run import run_playbook

from ..environment import ENV

# The hosts holding most secrets (database and directory passwords, service bind accounts).
VERBOSE_LIMIT = "db1:dir1"


@pytest.fixture(scope="module")
def secrets(lab: dict[str, Any]) -> list[secrets_scan.Secret]:
    found = secrets_scan.load(ENV)
    assert found, f"the secret store of {ENV} is empty: has the environment been deployed?"
    return found


def _names(hits: list[secrets_scan.Hit]) -> list[str]:
    return [f"{h.secret} in {h.where}" for h in hits]


@pytest.mark.control("SEC-GIT-01")
def test_no_secret_in_git(secrets: list[secrets_scan.Secret]) -> None:
    """Every value of the store searched in the repository's tracked files (git grep -F)."""
    hits = secrets_scan.in_git(secrets)
    assert not hits, f"secrets in the repository: {_names(hits)}"


@pytest.mark.control("SEC-JRN-01")
def test_no_secret_in_the_journal(env_host: str, secrets: list[secrets_scan.Secret]) -> None:
    """Every value of the store searched in the host's whole systemd journal."""
    hits = secrets_scan.on_host(ENV, env_host, secrets, "journal")
    assert not hits, f"secrets in the journal: {_names(hits)}"


@pytest.mark.host_lock("secret-files")
@pytest.mark.control("SEC-FILE-01")
def test_no_secret_in_world_readable_files(env_host: str,
                                           secrets: list[secrets_scan.Secret]) -> None:
    """Every value of the store searched in the host's world-readable files (/etc, /var,
    /home, /root, /srv, /opt, /tmp, /run; below 1 MiB)."""
    hits = secrets_scan.on_host(ENV, env_host, secrets, "files")
    assert not hits, f"secrets in world-readable files: {_names(hits)}"


@pytest.mark.exercise
@pytest.mark.control("SEC-LOG-01")
def test_no_secret_in_ansible_output_at_vvv(secrets: list[secrets_scan.Secret],
                                            tmp_path: Path) -> None:
    """A check-mode run of the site playbook at -vvv on the database and directory hosts,
    its whole output searched for every value of the store."""
    log = tmp_path / "ansible-vvv.log"
    result = run_playbook(ENV, "site.yml", check=True, limit=VERBOSE_LIMIT,
                          extra_args=["-vvv"], output=log)
    assert result.stats, f"the -vvv run reached no host (exit {result.returncode})"
    assert log.stat().st_size > 100_000, "suspiciously little output for -vvv"
    hits = secrets_scan.in_file(log, secrets)
    assert not hits, f"secrets in ansible-playbook -vvv output: {_names(hits)}"
