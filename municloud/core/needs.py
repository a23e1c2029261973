"""What each provider must create for its consumers, from the declarations' `needs:`.

A service declares in `roles/<role>/meta/service.yml` what it needs from providers
(`municloud.core.services.Needs`); the inventory hands every host

- `municloud_declarations`: {service: its declaration as a dict} (`declarations()`), so a
  role reads its own or a peer's port, path or need instead of restating it;
- `municloud_consumers`: {kind: [consumer, ...]} (`consumers()`), so a provider (db,
  directory, mail, identity) creates what its consumers declared and nothing is listed in
  the provider's defaults.

Only services present in the topology count; consumers are sorted by service name. Each
consumer is {service, hosts: [addresses], ...the need's fields}; an OIDC client also gets
client_id (the service name), redirect_uris and post_logout_uris (absolute, on the
service's public name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from municloud.core.errors import InvalidInput, Problem
from municloud.core.services import NEED_KINDS, Service, load_services
from municloud.core.topology import Topology


def present(topo: Topology, services: Mapping[str, Service]) -> list[Service]:
    """The declared services this topology runs (the host-wide baseline included), sorted by
    name."""
    running = set(topo.services())
    return sorted((s for s in services.values() if s.host_wide or s.name in running),
                  key=lambda s: s.name)


def declarations(topo: Topology,
                 services: Mapping[str, Service] | None = None) -> dict[str, dict[str, Any]]:
    declared = load_services() if services is None else services
    return {s.name: s.export() for s in present(topo, declared)}


def consumers(topo: Topology, services: Mapping[str, Service] | None = None,
              addresses: Mapping[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """{kind: [{service, hosts, ...}]} for every kind of need, each list sorted by service."""
    declared = load_services() if services is None else services
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in NEED_KINDS}
    problems: list[Problem] = []
    for svc in present(topo, declared):
        hosts = [(addresses or {}).get(h.name) or h.address for h in topo.hosts_running(svc.name)]
        for kind, need in svc.needed().items():
            entry: dict[str, Any] = {"service": svc.name, "hosts": hosts,
                                     **need.model_dump(mode="json")}
            if kind == "oidc_client":
                public = topo.public_names.get(svc.name)
                if public is None:
                    problems.append(Problem(
                        f"inventories/{topo.environment}/topology.yml",
                        f"public_names.{svc.name}",
                        f"missing: roles/{svc.role}/meta/service.yml declares "
                        "needs.oidc_client, whose redirect URIs live on the public name",
                        f"a name such as {svc.name}.{topo.municipality.domain}"))
                    continue
                base = f"https://{public}"
                entry["client_id"] = svc.name
                entry["redirect_uris"] = [base + p for p in entry["redirect_paths"]]
                entry["post_logout_uris"] = [base + p for p in entry["post_logout_paths"]]
            out[kind].append(entry)
    if problems:
        raise InvalidInput(problems)
    return out
