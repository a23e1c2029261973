"""The web sites the edge proxy publishes, derived from the topology and the declarations.

One site per entry of the topology's `public_names` ({service: name}). The service's
declaration (`roles/<role>/meta/service.yml`, key `publish`) says which port and scheme
its upstream serves and under which path; the topology says which hosts run it. Nothing
about a particular service is written in the edge role: publishing identity, files or
meetings later means adding their declaration and public name, not editing the edge.

A service whose declaration says `implemented: false` is still published (its name gets
a certificate and answers), but with an honest `503 not deployed` page instead of a
proxy to an upstream that does not exist. `deployed` in each site says which.

A vendor service whose upstream port stays closed in this environment (its `component:`
is not obtainable under the artifact manifest: municloud.core.deployable) gets its
"unavailable" page at once (`reachable: false`), instead of a proxy that would wait out
the connect timeout on the upstream's firewall before saying the same.

The inventory exposes the result as `municloud_published_sites` (see
`municloud.core.inventory.build`); the edge role reads only that variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from municloud.core import deployable
from municloud.core.errors import InvalidInput, Problem
from municloud.core.services import Service, load_services
from municloud.core.topology import Topology


def sites(topo: Topology, services: Mapping[str, Service] | None = None,
          addresses: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Sites in the order of `public_names`:
    [{name, service, deployed, vendor, reachable, upstreams: [{name, fqdn, address}],
      upstream_port, scheme, path, ssl_name}].

    `addresses` maps host name to the address the platform reported (default: the
    topology's own addresses). `ssl_name` is the name the edge verifies the upstream's
    certificate against: the upstream host's FQDN when one host runs the service (its
    host certificate carries it), else the public name (the service's hosts then share a
    certificate for it).
    """
    declared = load_services() if services is None else services
    problems: list[Problem] = []
    found: list[dict[str, Any]] = []
    for svc_name, public in topo.public_names.items():
        svc = declared.get(svc_name)
        shown = f"inventories/{topo.environment}/topology.yml"
        where = f"public_names.{svc_name}"
        if svc is None:
            problems.append(Problem(shown, where, f"unknown service {svc_name!r}",
                                    ", ".join(sorted(declared))))
            continue
        if svc.publish is None:
            problems.append(Problem(shown, where,
                                    f"service {svc_name!r} declares nothing to publish",
                                    f"a `publish:` entry in roles/{svc.role}/meta/service.yml"))
            continue
        hosts = topo.hosts_running(svc_name)
        if not hosts:
            problems.append(Problem(shown, where, f"service {svc_name!r} runs on no host"))
            continue
        upstreams = [{"name": h.name, "fqdn": topo.fqdn(h.name),
                      "address": (addresses or {}).get(h.name) or h.address}
                     for h in hosts]
        missing = [str(u["name"]) for u in upstreams if not u["address"]]
        if missing:
            problems.append(Problem(shown, where,
                                    f"no address for {', '.join(missing)}"))
            continue
        found.append({
            "name": public,
            "service": svc_name,
            "deployed": svc.implemented,
            # Vendor software may be absent where its artifact is (the edge then says so).
            "vendor": svc.vendor,
            "reachable": _upstream_opens(topo, svc),
            "upstreams": upstreams,
            "upstream_port": svc.publish.upstream_port,
            "scheme": svc.publish.upstream_scheme,
            "path": svc.publish.path,
            "ssl_name": upstreams[0]["fqdn"] if len(upstreams) == 1 else public,
        })
    if problems:
        raise InvalidInput(problems)
    return found


def _upstream_opens(topo: Topology, svc: Service) -> bool:
    """Whether the firewall of the service's hosts opens the published upstream port in
    this environment (a port the declaration does not list is taken as open)."""
    assert svc.publish is not None
    port = svc.publish.upstream_port
    declared = next((p for p in svc.ports
                     if p.proto == "tcp" and p.port <= port <= (p.end or p.port)), None)
    if declared is None:
        return svc.implemented
    return deployable.port_open(topo.environment, svc, declared)
