"""The deployment log table: every release recorded, the known-good source for rollbacks.

Key schema and queries live with the code that writes them (hooks/deployment_log.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rollback_guard.components.arguments import problems
from rollback_guard.components.parts import Component
from rollback_guard.policy import rules


@dataclass
class DeploymentLogArgs:
    """The table every release is recorded in.

    Attributes:
        protected: Default: True, as production's log is what a rollback trusts: the table is
            protected from `pulumi destroy`, kept if Pulumi ever deletes it, and refuses DeleteTable.
            False for a stack that must be destroyable (staging).
    """

    protected: bool = True


class DeploymentLog(Component):
    table: aws.dynamodb.Table

    def __init__(self, name: str, args: DeploymentLogArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"deployment log {name}", problems(args))
        super().__init__("rollback-guard:deployment_log:DeploymentLog", name, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            range_key="sk",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="pk", type="S"),
                aws.dynamodb.TableAttributeArgs(name="sk", type="S"),
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            # The AWS-managed key: a customer-managed one would need a KMS grant for every hook,
            # both deploy roles and every operator who runs `ops` (README: Security).
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=args.protected,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected, retain_on_delete=args.protected),
        )
        self.register_outputs({"tableName": self.table.name, "tableArn": self.table.arn})
