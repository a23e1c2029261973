"""Kernel hardening parameters (VMs); in containers the recorded waiver is the result."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from municloud.core import paths

DEFAULTS = paths.ROLES / "common" / "defaults" / "main.yml"


@pytest.mark.control("BASE-SYSCTL-01")
def test_kernel_parameters(host: Any) -> None:
    if host.run("systemd-detect-virt --container").rc == 0:
        waiver = host.file("/etc/municloud/waivers/sysctl")
        assert waiver.exists, "container without the recorded sysctl waiver"
        reason = yaml.safe_load(waiver.content_string)["reason"]
        pytest.skip(f"waived in containers: {reason}")
    wanted = yaml.safe_load(DEFAULTS.read_text())["common_sysctl"]
    wrong = {}
    for name, value in wanted.items():
        actual = host.check_output(f"sysctl -n {name}")
        if actual.split() != str(value).split():
            wrong[name] = (value, actual)
    assert not wrong, f"kernel parameters (wanted, actual): {wrong}"
