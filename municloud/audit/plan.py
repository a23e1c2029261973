"""Plan time: the cloud rules over the resources the stack would create.

Either the Pulumi program run against mocks (what tests/stacks does: no CLI, no plugin,
no cloud; `tests/stacks/mock_cloud.py`), or a saved `pulumi preview --json`.
Returns the findings of `municloud.audit.cloud_rules` per rule's control.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from municloud.audit.cloud_rules import RULES, Finding, expectations
from municloud.core import paths
from municloud.core.errors import InvalidInput, Problem
from municloud.core.topology import Topology

STACKS = paths.REPO / "stacks"


@dataclass
class PreviewResource:
    """A resource of a `pulumi preview --json` step, shaped like a PolicyResource."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]
    property_dependencies: dict[str, list[Any]] = field(default_factory=dict)


def _path() -> None:
    for p in (STACKS, STACKS / "policy", paths.TESTS / "stacks"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def mocked_resources(topo: Topology) -> list[Any]:
    _path()
    import mock_cloud

    return list(mock_cloud.run(topo).resources)


def preview_resources(file: Path) -> list[Any]:
    try:
        doc = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput([Problem(str(file), "", f"not a `pulumi preview --json` "
                                    f"document: {exc}")]) from exc
    out = []
    for step in doc.get("steps", []) if isinstance(doc, dict) else []:
        state = step.get("newState") or {}
        urn = str(step.get("urn") or state.get("urn") or "")
        typ = str(state.get("type") or urn.split("::")[-2] if "::" in urn else "")
        props = dict(state.get("inputs") or {}) | dict(state.get("outputs") or {})
        if state.get("id"):
            props.setdefault("id", state["id"])
        out.append(PreviewResource(typ, urn.rsplit("::", 1)[-1], urn, props))
    if not out:
        raise InvalidInput([Problem(str(file), "steps", "no resources in the preview",
                                    "the output of `pulumi preview --json`")])
    return out


def findings(topo: Topology, preview: Path | None = None) -> tuple[dict[str, list[Finding]],
                                                                    int]:
    """Findings per control (every rule's control present, maybe empty) and the number of
    resources judged."""
    _path()
    from pulumi_estate import estate_from_resources

    resources = preview_resources(preview) if preview else mocked_resources(topo)
    estate = estate_from_resources(resources).estate
    expected = expectations(topo)
    return {control: rule(estate, expected) for control, rule in RULES.items()}, len(resources)
