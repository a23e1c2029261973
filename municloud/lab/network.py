"""The lab bridge: one internal Podman network whose subnet is the smallest supernet of
the topology's tier networks (10.70.1-4.0/24 -> 10.70.0.0/21).

Each node keeps its tier address, so firewall rules by source network mean in the lab
what they mean in production; the tiers share one layer-2 segment (no router between
them, unlike production). The controller sits on the management network's gateway
address. Internal: no NAT and no route off the bridge.

(One Podman network with a subnet per tier does not work: Podman gives every container
an address in every subnet of its network.)
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

from municloud.core.errors import UserError
from municloud.core.topology import Topology
from municloud.lab import podman


def name(topo: Topology) -> str:
    return f"municloud-{topo.environment}"


def gateway_of(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))


def supernet(topo: Topology) -> str:
    nets = [ipaddress.ip_network(n.cidr) for n in topo.networks]
    wide = nets[0]
    while not all(n.subnet_of(wide) for n in nets):  # type: ignore[arg-type]
        wide = wide.supernet()
    return str(wide)


def controller_address(topo: Topology) -> str:
    """The controller's address on the bridge: the management network's gateway."""
    return gateway_of(topo.networks_with_purpose("management")[0].cidr)


def _subnets(info: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["subnet"], s.get("gateway", "")) for s in info.get("subnets", [])}


def local_addresses() -> set[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {a["local"] for link in json.loads(out) for a in link.get("addr_info", [])}


def require_on_bridge(topo: Topology) -> None:
    """Refuse to talk to lab addresses unless the bridge carries them: otherwise traffic
    for 10.x addresses would leave this machine by its default route."""
    addr = controller_address(topo)
    if addr not in local_addresses():
        raise UserError(f"the lab bridge {name(topo)} does not carry the controller address "
                        f"{addr}: run `municloud lab up` (no lab address is contacted until "
                        "it does)")


def ensure(topo: Topology) -> bool:
    """Create the network, or recreate it when its subnets differ. True when created."""
    net = name(topo)
    wanted = {(supernet(topo), controller_address(topo))}
    info = podman.inspect("network", net)
    if info is not None and _subnets(info) == wanted and info.get("internal"):
        return False
    if info is not None:
        remove(topo)
    args = ["network", "create", "--internal", "--disable-dns",
            "--label", f"municloud.env={topo.environment}"]
    # An internal network gets no gateway address unless one is given: the controller
    # needs one to reach the nodes and serve them.
    for cidr, gw in sorted(wanted):
        args += ["--subnet", cidr, "--gateway", gw]
    podman.run(*args, net)
    return True


def remove(topo: Topology) -> bool:
    net = name(topo)
    if podman.inspect("network", net) is None:
        return False
    podman.run("network", "rm", "--force", net)
    return True
