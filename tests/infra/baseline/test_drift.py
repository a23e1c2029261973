"""No drift: a check-mode run of the site playbook against the converged environment
changes nothing (the auditor's view of the idempotency gate)."""

from __future__ import annotations

from typing import Any

import pytest

from municloud.deploy.ansible_run import run_playbook

from ..environment import ENV


@pytest.mark.exercise
@pytest.mark.control("BASE-IDEM-01")
def test_check_mode_reports_no_change(lab: dict[str, Any]) -> None:
    result = run_playbook(ENV, "site.yml", check=True, quiet=True)
    assert result.returncode == 0 and not result.failed, result.failed
    assert result.stats, "the check run reached no host"
    assert set(result.stats) >= set(lab["all"]["hosts"])
    drift = [f"{t['host']}: {t['role']} : {t['task']}" for t in result.changed]
    assert not drift, "configuration drift (check mode would change):\n" + "\n".join(drift)
