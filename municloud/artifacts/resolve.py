"""One artifact of the manifest as a host obtains it (the role `vendor_artifact` reads it
through its lookup plugin): from the municipal mirror when the manifest names one, else
from upstream. The manifest itself (model, layers, checks) is `municloud.core.artifact_manifest`.
"""

from __future__ import annotations

from typing import Any

from municloud.core.artifact_manifest import FileArtifact, Manifest
from municloud.core.errors import InvalidInput, Problem


def resolve(m: Manifest, name: str) -> dict[str, Any]:
    """One artifact as a host obtains it: from the mirror when configured, else upstream.

    The shape the role `vendor_artifact` reads (through its lookup plugin).
    """
    try:
        a = m.get(name)
    except KeyError:
        raise InvalidInput([Problem("artifact manifest", name, f"no artifact named {name!r}",
                                    ", ".join(m.names()) or "none declared")]) from None
    base = m.mirror.rstrip("/") + "/" if m.mirror else None
    out: dict[str, Any] = {"name": a.name, "kind": a.kind, "component": a.component,
                           "version": a.version, "policy": m.policy, "pinned": a.pinned,
                           "source": "mirror" if base else "upstream", "upstream_url": a.url}
    if isinstance(a, FileArtifact):
        out.update(url=f"{base}{a.mirror_path}" if base else a.url, sha256=a.sha256,
                   file=a.file, probe_url=f"{base}{a.mirror_path}" if base else a.url)
    else:
        repo = f"{base}{a.mirror_path}" if base else a.url.rstrip("/") + "/"
        suite = "./" if base else a.suite
        out.update(url=repo, suite=suite, probe_url=f"{repo}{suite.removeprefix('./')}Release",
                   packages=[f"{p}={v}" for p, v in sorted(a.packages.items())],
                   package_versions=dict(sorted(a.packages.items())),
                   key_url=a.key_url, key_sha256=a.key_sha256,
                   key_pinned=a.key_pinned, key_fingerprint=a.key_fingerprint)
    return out


