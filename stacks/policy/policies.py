"""The pack's policies: one stack validation policy per cloud rule (municloud.audit.cloud_rules),
named after its control id. A plain module: building these starts nothing; only
`__main__.py` constructs the `PolicyPack` (which serves the engine over gRPC).

The pack judges the estate against the environment's topology: the environment named by
MUNICLOUD_ENV, else the `environment` metadata the program puts on every server.
MUNICLOUD_TOPOLOGY may name the topology file directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi_estate import PulumiEstate, estate_from_resources
from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy

from municloud.audit.cloud_rules import RULES, Estate, Expectations, Rule, expectations
from municloud.core import controls, topology
from municloud.core.services import load_services

ReportViolation = Callable[..., None]


def environment_of(estate: Estate) -> str | None:
    envs = {s.metadata.get("environment") for s in estate.servers} - {None, ""}
    return envs.pop() if len(envs) == 1 else None


def expectations_for(estate: Estate) -> Expectations | None:
    path = os.environ.get("MUNICLOUD_TOPOLOGY")
    if path:
        return expectations(topology.load_file(Path(path), load_services()))
    env = os.environ.get("MUNICLOUD_ENV") or environment_of(estate)
    return expectations(topology.load(env)) if env else None


def check(control: str, rule: Rule, resources: list[Any],
          report_violation: ReportViolation) -> None:
    """Run one rule over the stack's resources and report each finding."""
    adapted: PulumiEstate = estate_from_resources(resources)
    expected = expectations_for(adapted.estate)
    if expected is None:
        report_violation(f"{control}: cannot tell the environment (set MUNICLOUD_ENV)", None)
        return
    for f in rule(adapted.estate, expected):
        report_violation(str(f), adapted.urn(f.kind, f.name))


def _validator(control: str, rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        check(control, rule, list(args.resources), report_violation)
    return validate


def policies() -> list[StackValidationPolicy]:
    catalog = controls.catalog()
    return [
        StackValidationPolicy(
            name=control.lower(),
            description=f"{control}: {catalog[control].title}" if control in catalog else control,
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=_validator(control, rule))
        for control, rule in RULES.items()
    ]
