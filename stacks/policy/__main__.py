"""The municloud policy pack: `pulumi preview --policy-pack stacks/policy`.

Constructing PolicyPack serves the engine; tests import `policies` instead.
"""

from policies import policies
from pulumi_policy import EnforcementLevel, Policy, PolicyPack

pack: list[Policy] = [*policies()]  # PolicyPack takes a list of the base class (invariant)
PolicyPack(name="municloud", enforcement_level=EnforcementLevel.MANDATORY, policies=pack)
