"""Cloud policy rules, shared by the plan-time Pulumi policy pack and the live cloud audit.

The rules never look at Pulumi or openstacksdk objects. They judge a neutral, typed
picture of an OpenStack estate (`estate.Estate`: servers, security-group rules, volumes,
floating IPs, server groups, ports) against what the topology allows (`expect.Expectations`,
built from the topology and the service declarations through `municloud.core.ports`, the one
place that turns port declarations into rules). Each finding names its catalog control
(`tests/controls/cloud.yml`).

Adapters turn a platform's objects into an `Estate`:
- plan time: `stacks/policy/pulumi_estate.py` (Pulumi resource props, camelCase);
- live audit: an openstacksdk adapter (`municloud audit cloud`, issue 4).

Use:

    from municloud.audit.cloud_rules import Estate, expectations, evaluate
    findings = evaluate(estate, expectations(topo))        # every rule
    findings = RULES["CLOUD-NET-02"](estate, expected)      # one rule
"""

from __future__ import annotations

from municloud.audit.cloud_rules.estate import (
    ANYWHERE,
    Estate,
    Finding,
    FloatingIp,
    NetPort,
    SecurityGroupRule,
    Server,
    ServerGroup,
    Volume,
)
from municloud.audit.cloud_rules.expect import (
    REQUIRED_METADATA,
    Expectations,
    HostFacts,
    expectations,
)
from municloud.audit.cloud_rules.rules import RULES, Rule, evaluate

__all__ = [
    "ANYWHERE",
    "REQUIRED_METADATA",
    "RULES",
    "Estate",
    "Expectations",
    "Finding",
    "FloatingIp",
    "HostFacts",
    "NetPort",
    "Rule",
    "SecurityGroupRule",
    "Server",
    "ServerGroup",
    "Volume",
    "evaluate",
    "expectations",
]
