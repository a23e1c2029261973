"""Timezone and locales are the municipality's."""

from __future__ import annotations

from typing import Any

import pytest


def norm(locale: str) -> str:
    return locale.lower().replace("utf-8", "utf8")


@pytest.mark.control("BASE-LOC-01")
def test_timezone(host: Any, hostvars: dict[str, Any]) -> None:
    tz = host.check_output("timedatectl show -p Timezone --value")
    assert tz == hostvars["municloud_timezone"]
    # The wall clock really is in that zone (Europe/Athens: EET or EEST).
    zone = host.check_output("date +%Z")
    expected = host.check_output(f"TZ={hostvars['municloud_timezone']} date +%Z")
    assert zone == expected


@pytest.mark.control("BASE-LOC-01")
def test_locales_are_generated(host: Any, hostvars: dict[str, Any]) -> None:
    available = {norm(x) for x in host.check_output("locale -a").split()}
    missing = [x for x in hostvars["municloud_locales"] if norm(x) not in available]
    assert not missing, f"locales not generated: {missing}"


@pytest.mark.control("BASE-LOC-01")
def test_default_locale(host: Any, hostvars: dict[str, Any]) -> None:
    status = host.check_output("localectl status")
    assert f"LANG={hostvars['municloud_default_locale']}" in status, status
