"""Secrets hygiene: no value of the controller's secret store (/var/lib/municloud/<env>/
secrets) in git, in Ansible's -vvv output, in a host's journal or in a world-readable file
on a host. Findings name the secret's file in the store, never its value
(municloud/audit/secrets_scan.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from municloud.audit import secrets_scan
from municloud.deploy.ansible_run import run_playbook

from ..environment import ENV

# The hosts holding most secrets (database and directory passwords, service bind accounts).
VERBOSE_LIMIT = "db1:dir1"
# How Ansible shows a result of a task with no_log, at any verbosity.
NO_LOG_RESULT = "'no_log: true' was specified for this result"


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
    its whole output searched for every value of the store. The run must have reached
    both hosts to the end, and tasks handling secrets on each (their censored results):
    a run stopped early, or one that skipped them, would pass without having looked."""
    log = tmp_path / "ansible-vvv.log"
    result = run_playbook(ENV, "site.yml", check=True, limit=VERBOSE_LIMIT,
                          extra_args=["-vvv"], output=log)
    hosts = VERBOSE_LIMIT.split(":")
    assert set(result.stats) >= set(hosts), (
        f"the -vvv run did not reach {hosts} (exit {result.returncode}, reached "
        f"{sorted(result.stats)})")
    text = log.read_text(errors="replace")
    hits = secrets_scan.in_text(text, secrets, str(log))
    assert not hits, f"secrets in ansible-playbook -vvv output: {_names(hits)}"
    failed = [f"{t['host']}: {t['role']} : {t['task']}: {str(t.get('msg', ''))[:200]}"
              for t in result.failed]
    assert not failed, f"the -vvv run stopped early, its later tasks unsearched: {failed}"
    for host in hosts:
        ran = re.findall(rf"^(?:ok|changed): \[{host}\][^\n]*=> {{\n\s*\"censored\": "
                         rf"\"[^\n]*{re.escape(NO_LOG_RESULT)}", text, flags=re.MULTILINE)
        assert ran, f"{host}: no task with no_log ran, so no secret was handled to be searched"
