"""The cloud rules: plain functions `(Estate, Expectations) -> list[Finding]`.

Each rule is registered under the id of the control it checks (tests/controls/cloud.yml).
The plan-time policy pack (stacks/policy) and the live audit call them unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from municloud.audit.cloud_rules.estate import Estate, Finding, SecurityGroupRule, Server, Volume
from municloud.audit.cloud_rules.expect import ALWAYS_PUBLIC, SSH_PORT, Expectations

Rule = Callable[[Estate, Expectations], list[Finding]]
ANTI_AFFINITY = ("anti-affinity", "soft-anti-affinity")
BACKUP_TAG = "municloud_backup"


def prefix_within(prefix: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether an address prefix lies inside one of the allowed CIDRs (same family)."""
    if prefix is None:
        return False
    try:
        net = ipaddress.ip_network(prefix, strict=False)
        return any(net.version == a.version and net.subnet_of(a)  # type: ignore[arg-type]
                   for a in (ipaddress.ip_network(c, strict=False) for c in allowed))
    except ValueError:
        return False


def _public_allowed(rule: SecurityGroupRule, declared: frozenset[tuple[str, int, int]]) -> bool:
    """Is the whole port range of an internet-facing rule declared public?"""
    if rule.protocol in (None, "", "any") or rule.port_min is None:
        return False
    low, high = rule.port_min, rule.port_max or rule.port_min
    if low == high and (rule.protocol, low) in ALWAYS_PUBLIC:
        return True
    return any(p == rule.protocol and first <= low and high <= last
               for p, first, last in declared)


def internet_ingress(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-NET-01: ingress from 0.0.0.0/0 or ::/0 only on edge hosts, and only to 80/443
    or a port one of the host's services declares `from: [internet]`."""
    out = []
    for server in estate.servers:
        facts = expected.host(server.name)
        for r in estate.rules_of(server):
            if r.direction != "ingress" or not r.from_anywhere:
                continue
            if facts is None or not facts.edge:
                why = "is not an edge host of the topology"
            elif not _public_allowed(r, facts.internet_ports):
                why = "declares no such internet-facing port"
            else:
                continue
            out.append(Finding("CLOUD-NET-01", "server", server.name,
                               f"security group {r.group} admits {r.protocol or 'any protocol'} "
                               f"{r.ports} from {r.remote_ip_prefix or 'anywhere'}, but the host "
                               f"{why}"))
    return out


def ssh_sources(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-NET-02: SSH (TCP 22) only from the management network, the admin sources, or
    tiers a service on the host declares for port 22 (borg over SSH) - never the internet."""
    out = []
    for server in estate.servers:
        facts = expected.host(server.name)
        allowed = facts.ssh_sources if facts else expected.ssh_sources
        for r in estate.rules_of(server):
            if r.direction != "ingress" or not r.covers("tcp", SSH_PORT):
                continue
            if r.remote_group is None and prefix_within(r.remote_ip_prefix, allowed):
                continue
            source = (f"group {r.remote_group}" if r.remote_group
                      else r.remote_ip_prefix or "anywhere")
            out.append(Finding("CLOUD-NET-02", "server", server.name,
                               f"security group {r.group} admits SSH from {source} "
                               f"(allowed: {', '.join(allowed) or 'none'})"))
    return out


def floating_ips(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-NET-03: a floating IP only on a host of an edge network."""
    out = []
    for fip in estate.floating_ips:
        if fip.server is None:
            continue
        facts = expected.host(fip.server)
        if facts is None or not facts.edge:
            out.append(Finding("CLOUD-NET-03", "floating_ip", fip.address or fip.server,
                               f"floating IP on {fip.server}, which is not an edge host"))
    return out


def restricted_egress(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-NET-04: hosts on a network with `egress: restricted` reach only the
    topology's own networks."""
    out = []
    for server in estate.servers:
        facts = expected.host(server.name)
        if facts is None or not facts.restricted_egress:
            continue
        for r in estate.rules_of(server):
            if r.direction != "egress" or r.remote_group is not None:
                continue
            if r.from_anywhere or not prefix_within(r.remote_ip_prefix, expected.internal_cidrs):
                out.append(Finding("CLOUD-NET-04", "server", server.name,
                                   f"security group {r.group} allows egress to "
                                   f"{r.remote_ip_prefix or 'anywhere'} from a restricted tier"))
    return out


def _stateful_data_volumes(estate: Estate, expected: Expectations) -> list[tuple[Volume, str]]:
    by_name = {s.name: s for s in estate.servers}
    found = []
    for vol in estate.volumes:
        if vol.root:
            continue
        for name in vol.attached_to:
            if _is_stateful(by_name.get(name), name, expected):
                found.append((vol, name))
                break
    return found


def _is_stateful(server: Server | None, name: str, expected: Expectations) -> bool:
    facts = expected.host(name)
    if facts is not None and facts.stateful:
        return True
    return server is not None and any(s in expected.stateful_services for s in server.services)


def volume_backup(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-DATA-01: every data volume of a stateful host is tagged `municloud_backup: true`."""
    return [Finding("CLOUD-DATA-01", "volume", vol.name,
                    f"data volume of stateful host {host} is not tagged {BACKUP_TAG}=true")
            for vol, host in _stateful_data_volumes(estate, expected)
            if str(vol.metadata.get(BACKUP_TAG, "")).lower() != "true"]


def volume_encryption(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-DATA-02: where the topology names an encrypted volume type, every data volume
    of a stateful host uses it."""
    wanted = expected.encrypted_volume_type
    if wanted is None:
        return []
    return [Finding("CLOUD-DATA-02", "volume", vol.name,
                    f"data volume of stateful host {host} has type "
                    f"{vol.volume_type or 'default'}, not the encrypted type {wanted}")
            for vol, host in _stateful_data_volumes(estate, expected)
            if vol.volume_type != wanted]


def server_metadata(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-META-01: every server carries municloud_services, environment and owner, and
    its environment is the one audited."""
    out = []
    for server in estate.servers:
        missing = [k for k in expected.required_metadata if not server.metadata.get(k)]
        if missing:
            out.append(Finding("CLOUD-META-01", "server", server.name,
                               f"metadata missing: {', '.join(missing)}"))
        env = server.metadata.get("environment")
        if env and env != expected.environment:
            out.append(Finding("CLOUD-META-01", "server", server.name,
                               f"metadata environment is {env!r}, expected "
                               f"{expected.environment!r}"))
    return out


def replica_anti_affinity(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-HA-01: the hosts of a replicated service share one anti-affinity server group."""
    out = []
    by_name = {s.name: s for s in estate.servers}
    for service, hosts in sorted(expected.replicated.items()):
        groups: set[str | None] = set()
        for name in hosts:
            server = by_name.get(name)
            if server is None:
                continue
            group = estate.server_group(server.server_group)
            if group is None or group.policy not in ANTI_AFFINITY:
                out.append(Finding("CLOUD-HA-01", "server", name,
                                   f"replica of {service} is in no anti-affinity server group"))
            groups.add(server.server_group)
        if len(groups) > 1 and None not in groups:
            out.append(Finding("CLOUD-HA-01", "service", service,
                               f"replicas are split over server groups {sorted(groups)}"))  # type: ignore[type-var]
    return out


MIN_BACKENDS = 2


def published_backends(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-HA-02: every published web service has at least two edge backends: a port
    holding the edge network's virtual address (no server's own port) with the public
    floating IP bound to it, and two edge hosts whose ports carry that address in their
    allowed-address-pairs (so whichever keepalived elects may answer for it)."""
    if not expected.published:
        return []
    names = ", ".join(expected.published)
    vip = expected.virtual_address
    if vip is None:
        return [Finding("CLOUD-HA-02", "topology", expected.environment,
                        f"publishes {names} but the edge network declares no virtual_address: "
                        "each edge host alone is a single point of failure")]
    out = []
    holders = [p for p in estate.ports if vip in p.fixed_ips and p.server is None]
    if not holders:
        out.append(Finding("CLOUD-HA-02", "port", vip,
                           f"no port (outside any server) holds the virtual address {vip}"))
    elif not any(f.port in {p.name for p in holders} for f in estate.floating_ips):
        out.append(Finding("CLOUD-HA-02", "port", holders[0].name,
                           f"no floating IP is bound to the port of the virtual address {vip}: "
                           "the public names do not reach it"))
    backends = sorted({p.server for p in estate.ports
                       if p.server in expected.edge_hosts and vip in p.allowed_addresses})
    if len(backends) < MIN_BACKENDS:
        out.extend(Finding("CLOUD-HA-02", "service", svc,
                           f"published through {vip} with {len(backends)} backend(s) "
                           f"({', '.join(backends) or 'none'}); at least {MIN_BACKENDS} edge "
                           "hosts must carry the virtual address in their allowed-address-pairs")
                   for svc in expected.published)
    return out


def pinned_image(estate: Estate, expected: Expectations) -> list[Finding]:
    """CLOUD-IMG-01: no server boots an image named "latest" (images are pinned)."""
    return [Finding("CLOUD-IMG-01", "server", s.name, f"image {s.image!r} is not pinned")
            for s in estate.servers if s.image and "latest" in s.image.lower()]


RULES: dict[str, Rule] = {
    "CLOUD-NET-01": internet_ingress,
    "CLOUD-NET-02": ssh_sources,
    "CLOUD-NET-03": floating_ips,
    "CLOUD-NET-04": restricted_egress,
    "CLOUD-DATA-01": volume_backup,
    "CLOUD-DATA-02": volume_encryption,
    "CLOUD-META-01": server_metadata,
    "CLOUD-HA-01": replica_anti_affinity,
    "CLOUD-HA-02": published_backends,
    "CLOUD-IMG-01": pinned_image,
}


def evaluate(estate: Estate, expected: Expectations) -> list[Finding]:
    """Every rule's findings, in the order of RULES."""
    return [f for rule in RULES.values() for f in rule(estate, expected)]
