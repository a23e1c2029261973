"""Unattended security upgrades: enabled by apt's timers, limited to the security suite,
which the host's sources provide."""

from __future__ import annotations

import re
from typing import Any

import pytest


def apt_config(host: Any) -> list[tuple[str, str]]:
    out = host.check_output("apt-config dump")
    return [(m.group(1), m.group(2)) for m in re.finditer(r'^(\S+) "(.*)";$', out, re.M)]


@pytest.mark.control("BASE-UPD-01")
def test_periodic_upgrades_are_on(host: Any) -> None:
    cfg = dict(apt_config(host))
    assert cfg.get("APT::Periodic::Update-Package-Lists") == "1"
    assert cfg.get("APT::Periodic::Unattended-Upgrade") == "1"


@pytest.mark.control("BASE-UPD-01")
def test_only_the_security_suite_is_unattended(host: Any) -> None:
    patterns = [v for k, v in apt_config(host) if k == "Unattended-Upgrade::Origins-Pattern::"]
    assert patterns, "no Unattended-Upgrade::Origins-Pattern"
    assert all("label=Debian-Security" in p for p in patterns), patterns
    assert any("-security" in p for p in patterns), patterns


@pytest.mark.control("BASE-UPD-01")
def test_security_suite_is_a_package_source(host: Any) -> None:
    policy = host.check_output("apt-cache policy")
    assert re.search(r"n=bookworm-security,l=Debian-Security", policy), policy


@pytest.mark.control("BASE-UPD-01")
@pytest.mark.parametrize("timer", ["apt-daily.timer", "apt-daily-upgrade.timer"])
def test_apt_timers_are_active(host: Any, timer: str) -> None:
    unit = host.service(timer)
    assert unit.is_enabled
    assert unit.is_running
    assert host.package("unattended-upgrades").is_installed
