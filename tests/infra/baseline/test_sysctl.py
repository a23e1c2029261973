"""Kernel hardening parameters (VMs). Where the environment's waivers.yml waives the control
for this host (the lab's containers: read-only /proc/sys), the valid waiver is the result;
an expired one no longer skips the check."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from municloud.audit import waivers
from municloud.core import paths

from ..environment import ENV

DEFAULTS = paths.ROLES / "common" / "defaults" / "main.yml"
CONTROL = "BASE-SYSCTL-01"  # (the marker spells it out: the catalog test reads literals)


@pytest.mark.control("BASE-SYSCTL-01")
def test_kernel_parameters(host: Any, hostvars: dict[str, Any]) -> None:
    waiver = waivers.waiver_for(waivers.load(ENV), CONTROL, hostvars["inventory_hostname"],
                                tuple(hostvars.get("municloud_services", ())))
    if waiver is not None and not waiver.expired():
        pytest.skip(f"waived until {waiver.expires} ({waivers.waivers_file(ENV).name}, "
                    f"approved by {waiver.approver}): {waiver.reason}")
    wanted = yaml.safe_load(DEFAULTS.read_text())["common_sysctl"]
    wrong = {}
    for name, value in wanted.items():
        actual = host.check_output(f"sysctl -n {name}")
        if actual.split() != str(value).split():
            wrong[name] = (value, actual)
    assert not wrong, f"kernel parameters (wanted, actual): {wrong}"
