"""The journal is on disk: a message logged now is found in the persistent journal file."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest


@pytest.mark.control("BASE-LOG-01")
def test_messages_reach_the_persistent_journal(host: Any) -> None:
    machine_id = host.file("/etc/machine-id").content_string.strip()
    journal_dir = f"/var/log/journal/{machine_id}"
    assert host.file(journal_dir).is_directory, f"no persistent journal in {journal_dir}"
    token = f"municloud-probe-{uuid.uuid4()}"
    host.check_output(f"logger -t municloud-probe {token}")
    for _ in range(20):
        found = host.run(f"journalctl --directory={journal_dir} -t municloud-probe --no-pager "
                         f"-o cat --grep {token}")
        if token in found.stdout:
            break
        time.sleep(0.5)
    assert token in found.stdout, "the message is not in the persistent journal"


@pytest.mark.control("BASE-LOG-01")
def test_journal_is_bounded(host: Any) -> None:
    cfg = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    settings = dict(line.split("=", 1) for line in cfg.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings.get("Storage") == "persistent"
    assert settings.get("SystemMaxUse"), "no size limit on the journal"
