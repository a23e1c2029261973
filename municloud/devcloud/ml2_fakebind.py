"""TEST INFRASTRUCTURE: an ML2 mechanism driver that binds every port without an agent.

Debian ships no mechanism driver that binds ports when no L2 agent runs (the drivers in
`neutron.tests` bind only magic host names or need agent records), so nova's boot fails
with PortBindingFailed. devcloud has no dataplane: binding is bookkeeping. This driver
binds the first segment as an OVS port, ACTIVE.

It runs inside neutron-server under Debian's /usr/bin/python3, not in municloud's venv:
`municloud.devcloud.bootstrap.install_ml2_driver` copies this file to
`<devcloud>/pylib/municloud_ml2_fakebind.py` with a dist-info whose entry point
registers it as `municloud_fakebind` in `neutron.ml2.mechanism_drivers`; neutron-server
runs with PYTHONPATH=<devcloud>/pylib. Never load it in a real cloud.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class FakeBindMechanismDriver(api.MechanismDriver):  # type: ignore[misc]
    """Binds any port on its first segment, as if an OVS agent had plugged it."""

    def initialize(self) -> None:
        pass

    def bind_port(self, context: Any) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True,
                                 portbindings.OVS_HYBRID_PLUG: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
