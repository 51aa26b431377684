"""The release pipeline, as one node: source (GitHub, Bitbucket or GitLab) → build → staging
(deploy, smoke test) → manual approval → production (deploy, alarm health check) with rollback of
the stage that failed, the Step Functions checks, its encrypted storage (artifacts, Pulumi state
and secrets) and the SNS notifications on success, failure and rollback.

What a repository makes its own (its source, build and test commands, test reports and the stack
outputs the checks read) is an argument; DeliveryPipelineArgs documents each and its default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from rollback_guard.components.arguments import OneOf, Text, Whole, allow, problems
from rollback_guard.components.boundaries import PermissionsBoundaries
from rollback_guard.components.iam import PIPELINE_ROLE_PATH, bounded_roles
from rollback_guard.components.naming import physical_name, too_long
from rollback_guard.components.notifications import (
    ReleaseNotifications,
    ReleaseNotificationsArgs,
    formatter_function_name,
)
from rollback_guard.components.parts import Component, part_of
from rollback_guard.components.pipeline import (
    OUTPUT_NAME,
    PIPELINE_NAME,
    PROJECT_NAME,
    STACK_NAME,
    BuildReport,
    Commands,
    PipelineSource,
    PipelineStorage,
    PipelineStorageArgs,
    ReleasePipeline,
    ReleasePipelineArgs,
    checked_connection_arn,
    key_alias_name,
    repository_problems,
)
from rollback_guard.components.pipeline_checks import (
    PipelineChecks,
    PipelineChecksArgs,
    check_function_names,
    check_log_group_names,
)
from rollback_guard.hooks.smoke import PathCheck
from rollback_guard.limits import LAMBDA_NAME_LENGTH, LOG_RETENTION_DAYS, NAME_RULES
from rollback_guard.policy import rules

MAX_SMOKE_ENDPOINTS = 40
LOG_GROUP_NAME_LENGTH = NAME_RULES["aws:cloudwatch/logGroup:LogGroup"].max_length
# The pipeline deploys production: its logs are kept as long as production's.
PIPELINE_LOG_RETENTION_DAYS = tuple(days for days in LOG_RETENTION_DAYS if days >= rules.PROD_MIN_LOG_RETENTION_DAYS)

# An address as SNS's email protocol takes it (what settings.py's stack files allow, too).
EMAIL_ADDRESS = Text(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+",
    "an e-mail address such as platform-team@example.com",
    max_length=254,
)


@dataclass(frozen=True)
class EmailAddresses:
    """A list of e-mail addresses, each once."""

    @property
    def allowed(self) -> str:
        return "a list of e-mail addresses (such as platform-team@example.com), each once"

    def allows(self, value: object) -> bool:
        return (
            isinstance(value, (list, tuple))
            and all(EMAIL_ADDRESS.allows(address) for address in value)
            and len(set(value)) == len(value)
        )

    def schema(self) -> dict:
        return {"type": "array", "items": EMAIL_ADDRESS.schema(), "uniqueItems": True, "description": self.allowed}


__all__ = ["BuildReport", "DeliveryPipeline", "DeliveryPipelineArgs", "PipelineSource"]


@dataclass
class DeliveryPipelineArgs:
    """A release pipeline for one repository whose Pulumi program has a staging and a production
    stack: each commit of the branch is built and tested, deployed to staging and smoke-tested,
    approved by a person, deployed to production and watched; a failed deploy stage rolls back.

    The deploy stages run `pulumi up` of the repository's project in its root folder, with the CLI
    of PULUMI_VERSION, against state in the pipeline's bucket. The roles `pulumi up` creates must
    live under the path /rollback-guard/<stack>/ with the workload boundary
    (`rollback_guard.components.iam.bounded_roles`): the deploy roles may create no others.

    Attributes:
        source: Required. The repository, its branch and the connection to its host: GitHub,
            Bitbucket or GitLab (PipelineSource; the branch defaults to "main", the host to GitHub).
        smoke_endpoints: Required. What the smoke test checks on staging after each deploy, all at
            once: 1 to 40 of {path, expectStatus, timeoutSeconds, expectBody}, relative to the URL
            in url_output.
        test_commands: Required. The shell commands that test a commit (`make test`, `npm test`),
            run in order by the Build stage; the first that fails stops the run before anything is
            deployed. Required, as AWS CDK's ShellStep requires its commands: no command tests every
            repository, and a default that tested nothing would release untested commits.
        url_output: Required. The stack output (top-level) whose value is the base URL the smoke test
            checks on staging, such as "serviceUrl". Required: the pipeline reads it from the
            repository's own stacks, and there is no name every program exports.
        alarm_names_output: Required. The stack output (top-level) whose value is the JSON list of
            alarm names the health check watches on production after its deploy, such as
            "rollbackAlarmNames". Required, for the same reason as url_output.
        install_commands: Shell commands run before the test commands, in the install phase (`npm ci`,
            `pip install -r requirements.txt`). Default: () — nothing beyond the build image's
            Python 3.11 and Node.js 20; a repository that needs no preparation adds nothing.
        test_reports: The test reports the test commands write, each read into a CodeBuild report
            group of its own (<pipeline name>-<report name>), so a failed run names its failing tests
            in the console (BuildReport: name, files, file_format JUNITXML by default,
            base_directory). Default: () — no report groups; a failing test still fails the build,
            and its log says which.
        staging_stack: The stack the Staging stage deploys and smoke-tests. Default: "staging".
        production_stack: The stack the Production stage deploys after the approval. Default: "prod".
            Must differ from staging_stack: production would be deployed before its checks.
        project: The Pulumi project the deploy stages run (the name in the repository's
            Pulumi.yaml), whose stacks' state they may write. Default: None — the project of the
            pipeline's own stack, as when the pipeline is a stack of the project it deploys.
        notification_emails: Addresses subscribed to the release notifications (each confirms by
            e-mail). Default: () — the topic is still there for other subscribers.
        health_check_minutes: How long production's rollback alarms must stay quiet after its
            deploy, 1 to 60. Default: 5, which covers an alarm of a few one-minute periods plus
            CloudWatch's delay.
        log_retention_days: How long the pipeline's logs (jobs, checks, notifications) are kept: one
            of CloudWatch Logs' retention periods, at least 30. Default: 90, a quarter of releases
            to look back on.
        pipeline_name: The pipeline's name, fixed so the notification rules match its events before
            it exists; its KMS alias, deploy jobs and report groups are named after it. Default: None
            — <prefix><component name>-<stack> (rollback_guard.components.naming.physical_name), unique
            per project, stack and component.
    """

    source: PipelineSource
    smoke_endpoints: Sequence[dict]
    test_commands: Sequence[str] = field(metadata=allow(Commands(fewest=1)))
    url_output: str = field(metadata=allow(OUTPUT_NAME))
    alarm_names_output: str = field(metadata=allow(OUTPUT_NAME))
    install_commands: Sequence[str] = field(default=(), metadata=allow(Commands()))
    test_reports: Sequence[BuildReport] = ()
    staging_stack: str = field(default="staging", metadata=allow(STACK_NAME))
    production_stack: str = field(default="prod", metadata=allow(STACK_NAME))
    project: str | None = field(default=None, metadata=allow(PROJECT_NAME))
    notification_emails: Sequence[str] = field(default=(), metadata=allow(EmailAddresses()))
    health_check_minutes: int = field(default=5, metadata=allow(Whole(1, 60, "minutes")))
    log_retention_days: int = field(
        default=90,
        metadata=allow(OneOf(PIPELINE_LOG_RETENTION_DAYS, why="CloudWatch Logs' retention periods, at least 30")),
    )
    pipeline_name: str | None = field(default=None, metadata=allow(PIPELINE_NAME))


class DeliveryPipeline(Component):
    """The release pipeline of one repository and everything it needs (see DeliveryPipelineArgs).
    Its arguments are checked before anything is registered: every problem at once, one line each
    naming the argument, its value and what is allowed (UnsafeConfiguration)."""

    boundaries: PermissionsBoundaries
    checks: PipelineChecks
    storage: PipelineStorage
    notifications: ReleaseNotifications
    pipeline: ReleasePipeline

    def __init__(self, name: str, args: DeliveryPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        pipeline_name = args.pipeline_name or physical_name(name)
        rules.refuse(f"pipeline {name}", _problems(name, args, pipeline_name))
        super().__init__("rollback-guard:delivery:DeliveryPipeline", name, opts)
        self.boundaries = PermissionsBoundaries(f"{name}-boundaries", opts=pulumi.ResourceOptions(parent=self))
        # Every role of the pipeline lives under a path of its own, out of the deploy roles' reach, with
        # the workload boundary; the deploy roles name the deployer boundary themselves.
        child = part_of(self, transformations=[bounded_roles(self.boundaries.workload.arn, PIPELINE_ROLE_PATH)])
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
            f"{name}-storage", PipelineStorageArgs(key_alias_name=key_alias_name(pipeline_name)), opts=child
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
        source = args.source
        if source.connection_arn is not None:
            # Named as the caller passed it, when it resolves.
            arn = checked_connection_arn(f"pipeline {name}", type(args).__name__, source)
            source = dataclasses.replace(source, connection_arn=arn)
        self.pipeline = ReleasePipeline(
            name,
            ReleasePipelineArgs(
                pipeline_name=pipeline_name,
                source=source,
                test_commands=args.test_commands,
                url_output=args.url_output,
                alarm_names_output=args.alarm_names_output,
                staging_stack=args.staging_stack,
                production_stack=args.production_stack,
                smoke_test_arn=self.checks.smoke_test.arn,
                health_check_arn=self.checks.health_check.arn,
                notification_topic_arn=self.notifications.topic.arn,
                storage=self.storage,
                workload_boundary_arn=self.boundaries.workload.arn,
                deployer_boundary_arn=self.boundaries.deployer.arn,
                install_commands=args.install_commands,
                test_reports=args.test_reports,
                project=args.project,
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
            "connectionArn": self.pipeline.connection_arn,
            "stateBackend": pulumi.Output.concat("s3://", self.storage.state_bucket.bucket),
            "secretsProvider": pulumi.Output.concat("awskms://", self.storage.key_alias.name),
            "notificationTopicArn": self.notifications.topic.arn,
            "smokeTestStateMachineArn": self.checks.smoke_test.arn,
            "healthCheckStateMachineArn": self.checks.health_check.arn,
        }


def _problems(name: str, args: DeliveryPipelineArgs, pipeline_name: str) -> list[str]:
    """Every argument AWS, git or the pipeline's own order would refuse, one line each."""
    found = problems(args) + repository_problems(
        args, pipeline_name, "DeliveryPipelineArgs.pipeline_name" if args.pipeline_name else None
    )
    if args.pipeline_name is None and not PIPELINE_NAME.allows(pipeline_name):
        found.append(
            f"the pipeline would be named {pipeline_name!r}: {PIPELINE_NAME.allowed}; "
            "set DeliveryPipelineArgs.pipeline_name"
        )
    endpoints = args.smoke_endpoints
    if isinstance(endpoints, (list, tuple)):
        found += rules.smoke_checks("DeliveryPipelineArgs.smoke_endpoints", endpoints, PathCheck.from_dict)
        if not 1 <= len(endpoints) <= MAX_SMOKE_ENDPOINTS:
            found.append(
                f"DeliveryPipelineArgs.smoke_endpoints: {len(endpoints)} smoke endpoints: "
                f"from 1 to {MAX_SMOKE_ENDPOINTS}"
            )
    else:
        found.append(
            f"DeliveryPipelineArgs.smoke_endpoints = {endpoints!r}: a list of 1 to {MAX_SMOKE_ENDPOINTS} "
            "{path, expectStatus, timeoutSeconds, expectBody}"
        )
    if args.staging_stack == args.production_stack:
        found.append(
            f"DeliveryPipelineArgs.production_stack = {args.production_stack!r}: staging and production are the "
            "same stack: production would be deployed before the smoke test and the approval"
        )
    for function in (*check_function_names(f"{name}-checks"), formatter_function_name(f"{name}-notifications")):
        found += too_long("a function of the pipeline", function, LAMBDA_NAME_LENGTH)
    for log_group in check_log_group_names(f"{name}-checks"):
        found += too_long("a state machine's log group", log_group, LOG_GROUP_NAME_LENGTH)
    return found
