"""Lookup plugin: one vendor artifact from the municloud manifest, as a host obtains it.

The manifest is `municloud.core.artifact_manifest` (shared with `municloud artifacts`); the
view of one artifact a host gets is `municloud.artifacts.resolve`.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: municloud_artifact
short_description: A vendor artifact of the municloud manifest, resolved for the hosts
description:
  - Reads C(inventories/artifacts.yml) merged with C(inventories/<env>/artifacts.yml), or
    one explicit manifest file, and returns the artifact's URL (mirror or upstream),
    checksum, policy and, for apt repositories, the pinned packages.
options:
  _terms:
    description: Names of the artifacts (none with I(component)).
    required: false
  component:
    description: Every artifact the manifest lists for this service (its C(component)).
    type: str
    default: ""
  env:
    description: The environment whose overrides apply.
    type: str
    required: true
  manifest:
    description: A manifest file to use instead of the environment's (empty = none).
    type: str
    default: ""
"""


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None,
            **kwargs: Any) -> list[dict[str, Any]]:
        self.set_options(var_options=variables, direct=kwargs)
        from pathlib import Path

        from municloud.artifacts.resolve import resolve
        from municloud.core import artifact_manifest as manifest
        from municloud.core.errors import UserError

        explicit = self.get_option("manifest")
        try:
            m = manifest.load(self.get_option("env"), Path(explicit) if explicit else None)
            names = [str(t) for t in terms]
            component = self.get_option("component")
            if component:
                names += [n for n in m.of_component(str(component)) if n not in names]
            return [resolve(m, name) for name in names]
        except UserError as exc:
            raise AnsibleLookupError(f"artifact manifest: {exc}") from exc
