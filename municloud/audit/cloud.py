"""`municloud audit cloud`: what really runs in an OpenStack project, judged by the same
rule functions as the Pulumi policy pack (`municloud.audit.cloud_rules`), plus drift against
the topology that only a live audit can see (controls in tests/controls/cloud-audit.yml):

- CLOUD-DRIFT-01 servers missing from the cloud, or running but not in the topology;
- CLOUD-DRIFT-02 a server whose flavor is not its topology size's flavor;
- CLOUD-DRIFT-03 an ingress rule on a topology server that no declaration admits
  (compared with `municloud.core.ports.host_rules`, the one place rules come from).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from municloud.audit.cloud_rules import Estate, Finding, SecurityGroupRule, evaluate, expectations
from municloud.audit.cloud_rules.rules import prefix_within
from municloud.core import paths, topology
from municloud.core.errors import UserError
from municloud.core.ports import ProtocolRule, Rule, host_rules, protocol_rules
from municloud.core.topology import Topology


def declared(rule: SecurityGroupRule, allowed: list[Rule],
             protocols: list[ProtocolRule] | None = None) -> bool:
    """Does some declared rule admit everything `rule` admits? A port-less protocol
    (VRRP) is declared from the group's own members only (the service's peers)."""
    if rule.remote_group is not None:
        return (rule.remote_group == rule.group and rule.port_min is None
                and any(rule.protocol in (p.protocol, str(p.number)) for p in protocols or []))
    if rule.protocol in (None, "", "any"):
        return False
    low = rule.port_min or 1
    high = rule.port_max or (rule.port_min or 65535)
    return any(a.proto == rule.protocol and a.port <= low and high <= a.end
               and prefix_within(rule.remote_ip_prefix, a.sources) for a in allowed)


def drift(estate: Estate, topo: Topology) -> list[Finding]:
    out: list[Finding] = []
    running = {s.name: s for s in estate.servers}
    wanted = {h.name: h for h in topo.hosts}
    out += [Finding("CLOUD-DRIFT-01", "server", n, "in the topology but not in the cloud")
            for n in wanted if n not in running]
    out += [Finding("CLOUD-DRIFT-01", "server", n, "runs in the cloud but is not in the "
                    f"topology of {topo.environment}") for n in running if n not in wanted]
    for name, host in wanted.items():
        server = running.get(name)
        if server is None:
            continue
        size = topo.sizes[host.size]
        flavor = size.flavor or host.size
        if server.flavor is not None and server.flavor != flavor:
            out.append(Finding("CLOUD-DRIFT-02", "server", name,
                               f"flavor {server.flavor}, topology size {host.size} is {flavor}"))
        allowed = host_rules(topo, host)
        peers = protocol_rules(topo, host)
        for r in estate.rules_of(server):
            if r.direction == "ingress" and not declared(r, allowed, peers):
                source = r.remote_ip_prefix or (f"group {r.remote_group}" if r.remote_group
                                                else "anywhere")
                out.append(Finding("CLOUD-DRIFT-03", "server", name,
                                   f"security group {r.group} admits {r.protocol or 'any'} "
                                   f"{r.ports} from {source}, which no service declares"))
    return out


@dataclass(frozen=True)
class Report:
    cloud: str
    environment: str
    servers: int
    findings: list[Finding]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"cloud": self.cloud, "environment": self.environment,
                "servers": self.servers, "seconds": round(self.seconds, 3),
                "findings": [asdict(f) for f in self.findings]}


def environment_for(cloud: str, env: str | None) -> Topology:
    """The topology to audit against: `--env`, else the one whose openstack.cloud is `cloud`."""
    if env is not None:
        return topology.load(env)
    matches = []
    for name in paths.known_environments():
        topo = topology.load(name)
        if topo.openstack is not None and topo.openstack.cloud == cloud:
            matches.append(topo)
    if not matches:
        from municloud.audit import cloudconn

        cloudconn.entry(cloud)  # a cloud clouds.yaml does not know is named as such
    if len(matches) != 1:
        found = ", ".join(t.environment for t in matches) or "none"
        raise UserError(f"cloud '{cloud}': give --env ENV (topologies using this cloud: {found}; "
                        f"known environments: {', '.join(paths.known_environments())})")
    return matches[0]


def audit_estate(estate: Estate, topo: Topology) -> list[Finding]:
    """Every cloud rule plus drift, sorted by control and object."""
    found = evaluate(estate, expectations(topo)) + drift(estate, topo)
    return sorted(found, key=lambda f: (f.control, f.kind, f.name, f.message))


def audit(cloud: str, env: str | None = None, conn: Any = None) -> Report:
    from municloud.audit import cloudconn, sdk_estate

    topo = environment_for(cloud, env)
    start = time.monotonic()
    conn = conn or cloudconn.connect(cloud)
    try:
        estate = sdk_estate.estate(conn)
    except cloudconn.call_errors() as exc:
        raise UserError(f"cloud '{cloud}': reading the estate failed: {exc}") from exc
    findings = audit_estate(estate, topo)
    return Report(cloud, topo.environment, len(estate.servers), findings,
                  time.monotonic() - start)
