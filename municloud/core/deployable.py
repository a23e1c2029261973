"""What can actually run in an environment, so that only that is reachable.

A declared port is opened (host firewall, security groups, live audit, port scans) only
when something can serve it:

- its service's role is implemented (`implemented: true` in `roles/<role>/meta/service.yml`);
- and, for a port that names the vendor part serving it (`component:`), the
  environment's artifact manifest (`inventories/artifacts.yml` merged with
  `inventories/<env>/artifacts.yml`) lets a host obtain that part: the artifact is pinned
  (a checked sha256, or the signing key's fingerprint and, without a mirror, the key's
  sha256), which is exactly when `roles/vendor_artifact` uses it.

A component is an artifact name or a package of an apt artifact (`jitsi-videobridge2`);
the declarations may name only those the shared manifest lists
(`artifact_manifest.known_components`, checked by `services.load_services`).
"""

from __future__ import annotations

from functools import cache

from municloud.core import artifact_manifest as artifacts
from municloud.core.services import Port, Service


def components(m: artifacts.Manifest) -> dict[str, bool]:
    """Every component the manifest names (artifacts and their apt packages), and whether
    a host may obtain it under this manifest."""
    out: dict[str, bool] = {}
    for a in m.artifacts:
        if isinstance(a, artifacts.AptArtifact):
            usable = a.pinned and (m.mirror is not None or a.key_pinned)
            out.update(dict.fromkeys(a.packages, usable))
        else:
            usable = a.pinned
        out[a.name] = usable
    return out


@cache
def deployable_components(env: str) -> frozenset[str]:
    """The components the environment's manifest lets hosts obtain."""
    return frozenset(c for c, ok in components(artifacts.load(env)).items() if ok)


def port_open(env: str, service: Service, port: Port) -> bool:
    """Whether this declared port is opened in this environment."""
    if not service.implemented:
        return False
    return port.component is None or port.component in deployable_components(env)
