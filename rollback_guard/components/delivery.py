"""The release pipeline, as one node: GitHub → build → staging (deploy, smoke test) → manual
approval → production (deploy, alarm health check) with rollback of the stage that failed, the
Step Functions checks, its encrypted storage (artifacts, Pulumi state and secrets) and the SNS
notifications on success, failure and rollback.

Required: the repository and what to smoke-test; the stacks default to `staging` and `prod`, the
health check to 5 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from rollback_guard.components.boundaries import PermissionsBoundaries
from rollback_guard.components.iam import PIPELINE_ROLE_PATH, bounded_roles
from rollback_guard.components.notifications import ReleaseNotifications, ReleaseNotificationsArgs
from rollback_guard.components.parts import part_of
from rollback_guard.components.pipeline import (
    PipelineStorage,
    PipelineStorageArgs,
    ReleasePipeline,
    ReleasePipelineArgs,
)
from rollback_guard.components.pipeline_checks import PipelineChecks, PipelineChecksArgs
from rollback_guard.hooks.smoke import PathCheck
from rollback_guard.policy import rules

MAX_SMOKE_ENDPOINTS = 40


@dataclass
class DeliveryPipelineArgs:
    # GitHub owner/name, and the branch whose commits are released.
    repository: str
    # Checked on staging after each deploy, all at once: {path, expectStatus, timeoutSeconds, expectBody}.
    smoke_endpoints: Sequence[dict]
    branch: str = "main"
    staging_stack: str = "staging"
    production_stack: str = "prod"
    notification_emails: Sequence[str] = ()
    # How long production's rollback alarms must stay quiet after its deploy.
    health_check_minutes: int = 5
    log_retention_days: int = 90
    # None: rollback-guard-<stack>. Fixed, so the notifications can match its events before it exists.
    pipeline_name: str | None = None


class DeliveryPipeline(pulumi.ComponentResource):
    boundaries: PermissionsBoundaries
    checks: PipelineChecks
    storage: PipelineStorage
    notifications: ReleaseNotifications
    pipeline: ReleasePipeline

    def __init__(self, name: str, args: DeliveryPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        _check(name, args)
        super().__init__("rollback-guard:delivery:DeliveryPipeline", name, None, opts)
        self.boundaries = PermissionsBoundaries(f"{name}-boundaries", opts=pulumi.ResourceOptions(parent=self))
        # Every role of the pipeline lives under a path of its own, out of the deploy roles' reach, with
        # the workload boundary; the deploy roles name the deployer boundary themselves.
        child = part_of(self, transformations=[bounded_roles(self.boundaries.workload.arn, PIPELINE_ROLE_PATH)])
        pipeline_name = args.pipeline_name or f"rollback-guard-{pulumi.get_stack()}"
        self.checks = PipelineChecks(
            f"{name}-checks",
            PipelineChecksArgs(
                smoke_endpoints=args.smoke_endpoints,
                health_check_minutes=args.health_check_minutes,
                log_retention_days=args.log_retention_days,
            ),
            opts=child,
        )
        self.storage = PipelineStorage(
            f"{name}-storage", PipelineStorageArgs(key_alias_name=f"alias/{pipeline_name}"), opts=child
        )
        self.notifications = ReleaseNotifications(
            f"{name}-notifications",
            ReleaseNotificationsArgs(
                pipeline_name=pipeline_name,
                kms_key_arn=self.storage.key.arn,
                email_subscribers=args.notification_emails,
                log_retention_days=args.log_retention_days,
            ),
            opts=child,
        )
        self.pipeline = ReleasePipeline(
            name,
            ReleasePipelineArgs(
                pipeline_name=pipeline_name,
                repository=args.repository,
                branch=args.branch,
                staging_stack=args.staging_stack,
                production_stack=args.production_stack,
                smoke_test_arn=self.checks.smoke_test.arn,
                health_check_arn=self.checks.health_check.arn,
                notification_topic_arn=self.notifications.topic.arn,
                storage=self.storage,
                workload_boundary_arn=self.boundaries.workload.arn,
                deployer_boundary_arn=self.boundaries.deployer.arn,
                log_retention_days=args.log_retention_days,
            ),
            opts=child,
        )
        self.register_outputs(
            {"pipelineName": self.pipeline.pipeline.name, "notificationTopicArn": self.notifications.topic.arn}
        )

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        """What the stacks' deploy stages and an operator need."""
        return {
            "pipelineName": self.pipeline.pipeline.name,
            "githubConnectionArn": self.pipeline.connection.arn,
            "stateBackend": pulumi.Output.concat("s3://", self.storage.state_bucket.bucket),
            "secretsProvider": pulumi.Output.concat("awskms://", self.storage.key_alias.name),
            "notificationTopicArn": self.notifications.topic.arn,
            "smokeTestStateMachineArn": self.checks.smoke_test.arn,
            "healthCheckStateMachineArn": self.checks.health_check.arn,
        }


def _check(name: str, args: DeliveryPipelineArgs) -> None:
    found = rules.smoke_checks(args.smoke_endpoints, PathCheck.from_dict)
    if not 1 <= len(args.smoke_endpoints) <= MAX_SMOKE_ENDPOINTS:
        found.append(f"{len(args.smoke_endpoints)} smoke endpoints: from 1 to {MAX_SMOKE_ENDPOINTS}")
    if args.staging_stack == args.production_stack:
        found.append(
            f"staging and production are the same stack ({args.staging_stack}): production would be deployed "
            "before the smoke test and the approval"
        )
    if args.health_check_minutes < 1:
        found.append(f"health check of {args.health_check_minutes} minutes: at least 1")
    rules.refuse(f"pipeline {name}", found)
