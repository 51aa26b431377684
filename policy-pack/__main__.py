"""rollback-guard's CrossGuard pack: `pulumi preview --policy-pack policy-pack` (README: Policy pack).

The policies live in the package (rollback_guard/policy/pack.py) where tests reach them; this file
only serves them, which blocks, so nothing imports it.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from rollback_guard.policy.pack import POLICIES

PolicyPack(name="rollback-guard", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
