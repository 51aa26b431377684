"""The release pipeline (CodePipeline V2): source (GitHub, Bitbucket or GitLab) → Build → Staging
(deploy, smoke test) → Approval → Production (deploy, health check), each deploy stage rolling back
to the last successful revision when it fails.

The smoke test and the health check are actions inside the deploy stages, not stages of their
own: CodePipeline rolls back the stage that failed, so a check must fail the stage whose deploy it
judges. The deploy stages run the repository's own `pulumi up` against shared state in S3, encrypted
with the pipeline's KMS key, which is also the stacks' secrets provider.

What is particular to a repository (its source, its build and test commands, its test reports and
the stack outputs the checks read) is an argument: PipelineSource, BuildReport and ReleasePipelineArgs
declare what each allows (rollback_guard.components.arguments).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.arguments import OneOf, Text, allow, problems, refused_by, resolved
from rollback_guard.components.boundaries import (
    ACCESS_LOG_BUCKET_ACTIONS,
    ACCESS_LOG_BUCKETS,
    ANY_RESOURCE_ACTIONS,
    DASHBOARD_DEPLOY_ACTIONS,
    DEPLOY_ACTIONS,
    DEPLOY_SCOPES,
    KEY_TAG,
    LOGS_KEY_DEPLOY_ACTIONS,
    LOGS_KEY_TAG_VALUE,
    actions,
)
from rollback_guard.components.codedeploy import ECS_ROLE_POLICY, LAMBDA_ROLE_POLICY
from rollback_guard.components.dashboard import dashboard_name_prefix
from rollback_guard.components.ecs_service import ELB_ROLE_POLICY
from rollback_guard.components.encryption import account_key, expire_objects, private_bucket
from rollback_guard.components.iam import (
    PIPELINE_ROLE_PATH,
    ROLE_PATH,
    policy_document,
    role_policy,
    service_role,
    write_logs,
)
from rollback_guard.components.naming import too_long
from rollback_guard.components.parts import Component
from rollback_guard.limits import CODEPIPELINE_BUILD_ACTION_MINUTES, NAME_RULES
from rollback_guard.policy import rules

# The CLI the deploy stages install: the same release as the SDK locked in requirements/runtime.txt.
PULUMI_VERSION = "3.272.0"
BUILD_IMAGE = "aws/codebuild/standard:7.0"
# A deploy step runs `pulumi up`, release included, for as long as CodePipeline lets a CodeBuild action.
DEPLOY_TIMEOUT_MINUTES = CODEPIPELINE_BUILD_ACTION_MINUTES
ARTIFACT_DAYS = 30
# The only managed policies the deploy roles may attach: those the stacks' roles use.
ATTACHABLE_POLICIES = (ECS_ROLE_POLICY, LAMBDA_ROLE_POLICY, ELB_ROLE_POLICY)
# What `pulumi up` does to a service stack's resources, as managed policies both deploy roles carry,
# one per family of services: IAM holds a managed policy to 6,144 characters and a role's inline
# policies together to 10,240, and the whole list fits neither.
DEPLOY_POLICIES = {
    "network": ("ec2", "elasticloadbalancing"),
    "services": ("ecs", "lambda", "codedeploy", "cloudwatch", "logs", "events", "dynamodb"),
}
# The services the stacks' roles are for.
PASSED_TO_SERVICES = (
    "ecs-tasks.amazonaws.com",
    "ecs.amazonaws.com",
    "lambda.amazonaws.com",
    "codedeploy.amazonaws.com",
)

# The hosts a CodeConnections connection reaches without a host of its own (GitHub Enterprise Server
# and GitLab self-managed need one): the provider types of CreateConnection,
# https://docs.aws.amazon.com/codeconnections/latest/APIReference/API_CreateConnection.html
SOURCE_PROVIDERS = ("GitHub", "Bitbucket", "GitLab")
# GitHub and Bitbucket name a repository owner/name (workspace/name); GitLab nests groups.
NESTED_REPOSITORY_PROVIDERS = ("GitLab",)
# CodeBuild's test report formats (code coverage formats make coverage reports, not test reports):
# https://docs.aws.amazon.com/codebuild/latest/userguide/report-group-test-cases.html
TEST_REPORT_FORMATS = ("JUNITXML", "CUCUMBERJSON", "NUNITXML", "NUNIT3XML", "TESTNGXML", "VISUALSTUDIOTRX")
# A report group's name: 2 to 128 characters,
# https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateReportGroup.html
REPORT_GROUP_NAME_LENGTH = 128
PIPELINE_NAME_LENGTH = NAME_RULES["aws:codepipeline/pipeline:Pipeline"].max_length
PROJECT_NAME_LENGTH = NAME_RULES["aws:codebuild/project:Project"].max_length
KMS_ALIAS_LENGTH = NAME_RULES["aws:kms/alias:Alias"].max_length
# What names derived from the pipeline's take: a KMS alias and a CodeBuild project take neither . nor @.
PIPELINE_NAME = Text(r"[A-Za-z0-9][A-Za-z0-9_-]*", "letters, digits, - and _, starting with a letter or digit")
STACK_NAME = Text(r"[A-Za-z0-9_.-]+", "a stack name (letters, digits, - _ .)", max_length=100)
PROJECT_NAME = Text(r"[A-Za-z0-9_.-]+", "a Pulumi project name (letters, digits, - _ .)", max_length=100)
# A stack output the deploy stages read with `pulumi stack output <name>`: top-level, and safe to
# write into a shell command line.
OUTPUT_NAME = Text(
    r"[A-Za-z_][A-Za-z0-9_-]*", "a top-level Pulumi stack output name: a letter or _, then letters, digits, _ or -"
)
CONNECTION_ARN = Text(
    r"arn:aws[a-z-]*:(?:codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9-]+",
    "the ARN of a CodeConnections (or CodeStar Connections) connection, "
    "arn:aws:codeconnections:<region>:<account>:connection/<id>",
)
# What YAML would read as something other than the command's text when written plain.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


@dataclass(frozen=True)
class GitBranch:
    """A branch name git accepts (`git check-ref-format --branch`)."""

    max_length: int = 255

    @property
    def allowed(self) -> str:
        return (
            f"a git branch name (git check-ref-format --branch): at most {self.max_length} characters; no spaces, "
            "control characters, ~ ^ : ? * [ \\, '..', '//' or '@{'; no part starting with . or ending with .lock; "
            "not starting with -, / or refs/ (which names a ref, not a branch), nor ending with / or .; not @ or HEAD"
        )

    def allows(self, value: Any) -> bool:
        if not isinstance(value, str) or not value or len(value) > self.max_length:
            return False
        parts = value.split("/")
        return not (
            re.search(r"[\x00-\x20\x7f~^:?*\[\\]", value)
            or any(text in value for text in ("..", "//", "@{"))
            or value.startswith(("/", "-", "refs/"))
            or value.endswith(("/", "."))
            or value in ("@", "HEAD")
            or any(part.startswith(".") or part.endswith(".lock") for part in parts)
        )

    def schema(self) -> dict:
        return {"type": "string", "minLength": 1, "maxLength": self.max_length, "description": self.allowed}


@dataclass(frozen=True)
class Commands:
    """A list of shell commands, each one line; at least `fewest` of them."""

    fewest: int = 0

    @property
    def allowed(self) -> str:
        least = f"at least {self.fewest} " if self.fewest else ""
        return f"a list of {least}shell commands, each a non-blank string of one line (no control characters)"

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= self.fewest
            and all(isinstance(command, str) and _one_line(command) for command in value)
        )

    def schema(self) -> dict:
        return {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"},
            "minItems": self.fewest,
            "description": self.allowed,
        }


@dataclass(frozen=True)
class Paths:
    """A non-empty list of file paths or glob patterns."""

    @property
    def allowed(self) -> str:
        return "a list of at least one file path or glob pattern (such as reports/*.xml), each of one line"

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= 1
            and all(isinstance(path, str) and _one_line(path) for path in value)
        )

    def schema(self) -> dict:
        return {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": self.allowed}


@dataclass
class PipelineSource:
    """Where the pipeline's commits come from: a branch of a repository on GitHub, Bitbucket or GitLab,
    reached through an AWS CodeConnections (formerly CodeStar Connections) connection.

    A connection the pipeline creates is PENDING: someone with access to the repository's organisation
    completes the handshake once in the console (Developer Tools → Settings → Connections → Update
    pending connection); until then the Source stage fails.

    Attributes:
        repository: Required. The repository as its host names it: owner/name on GitHub,
            workspace/name on Bitbucket, group/name (or group/subgroup/name) on GitLab.
        branch: The branch whose commits are released. Default: "main", the branch GitHub, Bitbucket
            and GitLab create first; checked with git's own rules, so a name git refuses fails here,
            not at the first run.
        provider: The host: "GitHub", "Bitbucket" or "GitLab". Default: "GitHub". The type of the
            connection the pipeline creates, and the name of the Source action.
        connection_arn: An existing connection to use (an Input: another stack's output will do).
            Default: None, and the pipeline creates a connection of its own (PENDING, see above); pass
            one when the account already has an approved connection to the host, so nobody has to
            approve another.
    """

    repository: str = field(
        metadata=allow(
            Text(
                r"[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)+",
                "a repository as its host names it, owner/name (GitLab: group/…/name), letters, digits, . _ and -",
                max_length=255,
            )
        )
    )
    branch: str = field(default="main", metadata=allow(GitBranch()))
    provider: str = field(default="GitHub", metadata=allow(OneOf(SOURCE_PROVIDERS)))
    connection_arn: pulumi.Input[str] | None = field(default=None, metadata=allow(CONNECTION_ARN))


@dataclass
class BuildReport:
    """A test report the build's test commands write: CodeBuild reads it into a report group, so
    a failed run names the failing test cases in the console, not only in the log.

    Attributes:
        name: Required. The report's name: letters, digits, - and _; its report group is named
            <pipeline name>-<name>.
        files: Required. The report files, as paths or glob patterns relative to base_directory
            (`junit.xml`, `reports/**/*.xml`).
        file_format: The files' format. Default: "JUNITXML", which most test runners write
            (pytest --junitxml, jest-junit, Maven Surefire). Also CUCUMBERJSON, NUNITXML, NUNIT3XML,
            TESTNGXML, VISUALSTUDIOTRX.
        base_directory: The folder `files` are relative to, relative to the repository's root.
            Default: ".", the repository's root.
    """

    name: str = field(
        metadata=allow(Text(r"[A-Za-z0-9][A-Za-z0-9_-]*", "letters, digits, - and _, starting with a letter or digit"))
    )
    files: Sequence[str] = field(metadata=allow(Paths()))
    file_format: str = field(default="JUNITXML", metadata=allow(OneOf(TEST_REPORT_FORMATS)))
    base_directory: str = field(
        default=".", metadata=allow(Text(r"[^\x00-\x1f\x7f]+", "a folder of the repository, on one line"))
    )


def checked_connection_arn(what: str, path: str, source: PipelineSource) -> pulumi.Output[str]:
    """The source's connection_arn, refused when it resolves to anything but a connection's ARN
    (a value known at construction is checked there, with the same line)."""
    return resolved(
        what,
        f"{path}.source.connection_arn",
        source.connection_arn,
        refused_by(CONNECTION_ARN),
    )


def _one_line(text: str) -> bool:
    return bool(text.strip()) and not re.search(r"[\x00-\x1f\x7f]", text)


def _codebuild_arn(kind: str, name: pulumi.Input[str]) -> pulumi.Output[str]:
    """The ARN of this account's and region's CodeBuild `kind` (project, report-group) `name`."""
    partition = aws.get_partition_output().partition
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:{0}:codebuild:{1}:{2}:{3}/{4}", partition, region, account, kind, name)


@dataclass
class ReleasePipelineArgs:
    """What ReleasePipeline builds: the pipeline of a repository whose stacks it deploys, with its
    build and deploy jobs. DeliveryPipeline fills in what it creates itself (the checks, the storage,
    the topic and the boundaries); the rest is DeliveryPipelineArgs', documented there.

    Attributes:
        pipeline_name: Required. The pipeline's name, fixed so that notification rules can match its
            events; its KMS alias and deploy jobs are named after it.
        source: Required. The repository and branch, and the connection to their host (PipelineSource).
        test_commands: Required. As DeliveryPipelineArgs.test_commands.
        url_output: Required. As DeliveryPipelineArgs.url_output.
        alarm_names_output: Required. As DeliveryPipelineArgs.alarm_names_output.
        staging_stack: Required. The stack the Staging stage deploys.
        production_stack: Required. The stack the Production stage deploys.
        smoke_test_arn: Required. The state machine the Staging stage runs after its deploy.
        health_check_arn: Required. The state machine the Production stage runs after its deploy.
        notification_topic_arn: Required. The topic the approval request goes to.
        storage: Required. The key and buckets for artifacts and the stacks' state (PipelineStorage).
        workload_boundary_arn: Required. The permissions boundary the roles the deploy jobs create
            must carry (boundaries.py).
        deployer_boundary_arn: Required. The deploy roles' own permissions boundary.
        install_commands: As DeliveryPipelineArgs.install_commands. Default: ().
        test_reports: As DeliveryPipelineArgs.test_reports. Default: ().
        project: As DeliveryPipelineArgs.project. Default: None, the pipeline stack's own project.
        log_retention_days: How long the jobs' logs are kept. Default: 90.
    """

    pipeline_name: str = field(metadata=allow(PIPELINE_NAME))
    source: PipelineSource
    test_commands: Sequence[str] = field(metadata=allow(Commands(fewest=1)))
    url_output: str = field(metadata=allow(OUTPUT_NAME))
    alarm_names_output: str = field(metadata=allow(OUTPUT_NAME))
    staging_stack: str = field(metadata=allow(STACK_NAME))
    production_stack: str = field(metadata=allow(STACK_NAME))
    smoke_test_arn: pulumi.Input[str]
    health_check_arn: pulumi.Input[str]
    notification_topic_arn: pulumi.Input[str]
    storage: PipelineStorage
    workload_boundary_arn: pulumi.Input[str]
    deployer_boundary_arn: pulumi.Input[str]
    install_commands: Sequence[str] = field(default=(), metadata=allow(Commands()))
    test_reports: Sequence[BuildReport] = ()
    project: str | None = field(default=None, metadata=allow(PROJECT_NAME))
    log_retention_days: int = 90


def repository_problems(args: Any, pipeline_name: str, shorten: str | None = None) -> list[str]:
    """What problems(args) does not see in the repository-specific arguments DeliveryPipelineArgs and
    ReleasePipelineArgs share: each test report (a list of BuildReport), a report name given twice, a
    repository path the host does not nest, and the names derived from `pipeline_name` that AWS would
    refuse for their length (`shorten`: the argument that gave the name, when one did)."""
    path = type(args).__name__
    found = []
    reports = args.test_reports
    if not isinstance(reports, (list, tuple)) or not all(isinstance(report, BuildReport) for report in reports):
        found.append(f"{path}.test_reports = {reports!r}: a list of BuildReport")
        reports = ()
    for i, report in enumerate(reports):
        found += problems(report, f"{path}.test_reports[{i}]")
    names = [report.name for report in reports]
    found += [
        f"{path}.test_reports: the report name {twice!r} is given more than once: each report needs a group of its own"
        for twice in sorted({name for name in names if names.count(name) > 1})
    ]
    source = args.source
    if isinstance(source, PipelineSource):
        if source.provider not in NESTED_REPOSITORY_PROVIDERS and str(source.repository).count("/") > 1:
            found.append(
                f"{path}.source.repository = {source.repository!r}: {source.provider} names a repository "
                "owner/name, with one /"
            )
    else:
        found.append(f"{path}.source = {source!r}: a PipelineSource")
    if PIPELINE_NAME.allows(pipeline_name):
        found += too_long("the pipeline", pipeline_name, PIPELINE_NAME_LENGTH, shorten)
        found += too_long("the pipeline's KMS alias", key_alias_name(pipeline_name), KMS_ALIAS_LENGTH, shorten)
        for stage in DEPLOY_STAGES:
            found += too_long(
                f"the {stage} deploy job", deploy_project_name(pipeline_name, stage), PROJECT_NAME_LENGTH, shorten
            )
        for name in dict.fromkeys(names):
            if isinstance(name, str):
                group = report_group_name(pipeline_name, name)
                found += too_long(f"the report group of {name}", group, REPORT_GROUP_NAME_LENGTH, shorten)
    return found


DEPLOY_STAGES = ("staging", "production")


def key_alias_name(pipeline_name: str) -> str:
    """The alias of the pipeline's KMS key: the secrets provider the deploy stages name."""
    return f"alias/{pipeline_name}"


def deploy_project_name(pipeline_name: str, stage: str) -> str:
    """The deploy job of `stage`, named so that only it may assume its role."""
    return f"{pipeline_name}-deploy-{stage}"


def report_group_name(pipeline_name: str, report: str) -> str:
    return f"{pipeline_name}-{report}"


@dataclass
class PipelineStorageArgs:
    """What PipelineStorage builds.

    Attributes:
        key_alias_name: Required. The KMS key's alias (alias/<name>): the secrets provider the deploy
            stages name, so it must not change once stacks are encrypted with it.
    """

    key_alias_name: str


class PipelineStorage(Component):
    """The KMS key (artifacts, Pulumi state and secrets, notifications) and two private buckets:
    pipeline artifacts, and the service stacks' Pulumi state. Losing the state bucket or the key
    loses every stack's state, so both are protected and kept even if Pulumi deletes them."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    artifact_bucket: aws.s3.Bucket
    state_bucket: aws.s3.Bucket

    def __init__(self, name: str, args: PipelineStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:pipeline:PipelineStorage", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        self.key = account_key(
            f"{name}-key", "rollback-guard: pipeline artifacts, Pulumi state and secrets, notifications", kept
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=args.key_alias_name,
            target_key_id=self.key.key_id,
            opts=child,
        )
        self.artifact_bucket = self._private_bucket(f"{name}-artifacts", child)
        # Artifacts matter for the pipeline's rollbacks (the last successful revision of a stage):
        # a month of them is plenty. The state bucket keeps everything: it is every stack's memory.
        expire_objects(f"{name}-artifacts", self.artifact_bucket, ARTIFACT_DAYS, child)
        self.state_bucket = self._private_bucket(f"{name}-state", kept)
        self.register_outputs({"stateBucket": self.state_bucket.bucket, "keyAlias": self.key_alias.name})

    def _private_bucket(self, name: str, opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
        """Private, encrypted with the pipeline's key, versioned."""
        encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
        )
        bucket = private_bucket(name, encryption, opts)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return bucket


class ReleasePipeline(Component):
    """The pipeline, the connection to its source's host (unless it is given one), its test report
    groups, and the CodeBuild projects with their own roles. Its arguments are checked before
    anything is registered (UnsafeConfiguration, one line per problem)."""

    # None when the source names an existing connection (PipelineSource.connection_arn).
    connection: aws.codestarconnections.Connection | None
    connection_arn: pulumi.Output[str]
    report_groups: dict[str, aws.codebuild.ReportGroup]
    pipeline: aws.codepipeline.Pipeline

    def __init__(self, name: str, args: ReleasePipelineArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(
            f"pipeline {name}",
            problems(args) + repository_problems(args, args.pipeline_name, "ReleasePipelineArgs.pipeline_name"),
        )
        super().__init__("rollback-guard:pipeline:ReleasePipeline", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        storage = args.storage
        self.key, self.artifact_bucket, self.state_bucket = storage.key, storage.artifact_bucket, storage.state_bucket
        source = args.source
        if source.connection_arn is None:
            self.connection = aws.codestarconnections.Connection(
                f"{name}-{source.provider.lower()}", provider_type=source.provider, opts=child
            )
            self.connection_arn = self.connection.arn
        else:
            self.connection = None
            self.connection_arn = checked_connection_arn(f"pipeline {name}", type(args).__name__, source)
        self.report_groups = {
            report.name: aws.codebuild.ReportGroup(
                f"{name}-report-{report.name}",
                name=report_group_name(args.pipeline_name, report.name),
                type="TEST",
                # The reports stay in CodeBuild (30 days); deleting the group deletes them with it.
                export_config=aws.codebuild.ReportGroupExportConfigArgs(type="NO_EXPORT"),
                delete_reports=True,
                opts=child,
            )
            for report in args.test_reports
        }
        project = args.project or pulumi.get_project()

        build = self._project(
            "build",
            self._build_spec(args),
            {},
            self._build_statements() + self._report_statements(),
            args.log_retention_days,
            60,
        )
        deploy_policies = self._deploy_policies()
        # One deploy job per stage, each with its own role: staging's cannot touch production's state,
        # and production's role serves only the production job.
        deploys = {
            stage: self._project(
                f"deploy-{stage}",
                deploy_spec(args.url_output, args.alarm_names_output),
                {
                    "STACK": stack,
                    "STATE_BUCKET": self.state_bucket.bucket,
                    "SECRETS_KEY_ALIAS": storage.key_alias.name,
                    "PULUMI_VERSION": PULUMI_VERSION,
                },
                self._build_statements() + self._deploy_statements(project, stack, args.workload_boundary_arn),
                args.log_retention_days,
                # A deploy waits for its releases, canary shifts and bake times included.
                DEPLOY_TIMEOUT_MINUTES,
                project_name=deploy_project_name(args.pipeline_name, stage),
                permissions_boundary=args.deployer_boundary_arn,
                managed_policies=deploy_policies,
            )
            for stage, stack in zip(DEPLOY_STAGES, (args.staging_stack, args.production_stack), strict=True)
        }
        role, pipeline_policy = self._pipeline_role(args, [build, *deploys.values()])
        self.pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            name=args.pipeline_name,
            pipeline_type="V2",
            role_arn=role.arn,
            artifact_stores=[
                aws.codepipeline.PipelineArtifactStoreArgs(
                    type="S3",
                    location=self.artifact_bucket.bucket,
                    encryption_key=aws.codepipeline.PipelineArtifactStoreEncryptionKeyArgs(type="KMS", id=self.key.arn),
                )
            ],
            stages=_stages(args, self.connection_arn, build.name, deploys["staging"].name, deploys["production"].name),
            # A new pipeline starts a run at once, under its role's policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_policy]),
        )
        self.register_outputs({"pipelineName": self.pipeline.name, "connectionArn": self.connection_arn})

    def _build_spec(self, args: ReleasePipelineArgs) -> pulumi.Input[str]:
        """The build's buildspec, naming each report group by its ARN (known once the group exists)."""
        reports = list(args.test_reports)
        if not reports:
            return build_spec(args.install_commands, args.test_commands)
        arns = [self.report_groups[report.name].arn for report in reports]
        return pulumi.Output.all(*arns).apply(
            lambda known: build_spec(args.install_commands, args.test_commands, list(zip(known, reports, strict=True)))
        )

    def _report_statements(self) -> list:
        """The build writes its test reports into its own report groups only."""
        if not self.report_groups:
            return []
        return [
            {
                "Effect": "Allow",
                "Action": ["codebuild:CreateReport", "codebuild:UpdateReport", "codebuild:BatchPutTestCases"],
                "Resource": [group.arn for group in self.report_groups.values()],
            }
        ]

    # --- CodeBuild

    def _project(
        self,
        purpose: str,
        buildspec: str,
        variables: dict,
        statements: list,
        log_retention_days: int,
        timeout_minutes: int,
        project_name: str | None = None,
        permissions_boundary: pulumi.Input[str] | None = None,
        managed_policies: Mapping[str, aws.iam.Policy] | None = None,
    ) -> aws.codebuild.Project:
        """A CodeBuild project with a role of its own, `statements` inline and `managed_policies`
        attached; with `project_name`, a role only that project may assume."""
        name = f"{self._name}-{purpose}"
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=log_retention_days, opts=child)
        source = _codebuild_arn("project", project_name) if project_name else None
        role = service_role(f"{name}-role", "codebuild.amazonaws.com", child, source, permissions_boundary)
        policies = [
            role_policy(f"{name}-policy", role.id, [write_logs(log_group.arn), *statements], child),
            *(
                aws.iam.RolePolicyAttachment(f"{name}-{family}", role=role.name, policy_arn=policy.arn, opts=child)
                for family, policy in (managed_policies or {}).items()
            ),
        ]
        return aws.codebuild.Project(
            name,
            name=project_name,
            service_role=role.arn,
            source=aws.codebuild.ProjectSourceArgs(type="CODEPIPELINE", buildspec=buildspec),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="CODEPIPELINE"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                compute_type="BUILD_GENERAL1_SMALL",
                image=BUILD_IMAGE,
                type="LINUX_CONTAINER",
                environment_variables=[
                    aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=key, value=value)
                    for key, value in variables.items()
                ],
            ),
            encryption_key=self.key.arn,
            build_timeout=timeout_minutes,
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(group_name=log_group.name)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=policies),
        )

    def _build_statements(self) -> list:
        """Read the source artifact, write the build's, with the pipeline's key."""
        return [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                "Resource": self.artifact_bucket.arn.apply(lambda arn: f"{arn}/*"),
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": self.key.arn,
            },
        ]

    def _deploy_statements(self, project: str, stack: str, workload_boundary_arn: pulumi.Input[str]) -> list:
        """The rest of `pulumi up` of one service stack of `project` (besides DEPLOY_POLICIES): its own
        state, roles and dashboards, and production's storage, each under a condition of its own."""
        state = self.state_bucket.arn
        # The DIY backend's layout in S3 (project-scoped since Pulumi 3.61; locks are kept under the
        # stack's fully qualified name, organization/<project>/<stack>).
        own_state = [
            state.apply(lambda arn, key=key: f"{arn}/.pulumi/{key}")
            for key in (
                f"stacks/{project}/{stack}.json*",
                f"history/{project}/{stack}/*",
                f"locks/organization/{project}/{stack}/*",
                f"backups/{project}/{stack}/*",
            )
        ]
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        partition = aws.get_partition_output().partition
        # The stack's own roles: each stack's roles live under a path of their own (program.py).
        roles = pulumi.Output.format("arn:{0}:iam::{1}:role{2}{3}/*", partition, account, ROLE_PATH, stack)
        keys = pulumi.Output.format("arn:{0}:kms:{1}:{2}:key/*", partition, region, account)
        boundary = {"iam:PermissionsBoundary": workload_boundary_arn}
        return [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": own_state},
            {
                # The backend's version marker, which the first login writes.
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": state.apply(lambda arn: f"{arn}/.pulumi/meta.yaml"),
            },
            {
                # Listing names the stacks and tells a missing object (404) from a forbidden one.
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": state,
            },
            {
                # The stack's own release dashboards, by the name their component gives them
                # (<project>-<stack>-<release>). Dashboards are global: the ARN names no region.
                "Effect": "Allow",
                "Action": actions(DASHBOARD_DEPLOY_ACTIONS),
                "Resource": pulumi.Output.format(
                    "arn:{0}:cloudwatch::{1}:dashboard/{2}*", partition, account, dashboard_name_prefix(project, stack)
                ),
            },
            {
                # Production's access-log buckets, by the name their component gives them.
                "Effect": "Allow",
                "Action": actions(ACCESS_LOG_BUCKET_ACTIONS),
                "Resource": [ACCESS_LOG_BUCKETS, f"{ACCESS_LOG_BUCKETS}/*"],
            },
            {
                # Production's logs key, created with its tag (CreateKey names no resource)...
                "Effect": "Allow",
                "Action": "kms:CreateKey",
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:RequestTag/{KEY_TAG}": LOGS_KEY_TAG_VALUE}},
            },
            {
                "Effect": "Allow",
                "Action": "kms:TagResource",
                "Resource": keys,
                "Condition": {"StringEquals": {f"aws:RequestTag/{KEY_TAG}": LOGS_KEY_TAG_VALUE}},
            },
            {
                # ... and managed by it: never the pipeline's key, which has no such tag.
                "Effect": "Allow",
                "Action": actions(LOGS_KEY_DEPLOY_ACTIONS),
                "Resource": keys,
                "Condition": {"StringEquals": {f"aws:ResourceTag/{KEY_TAG}": LOGS_KEY_TAG_VALUE}},
            },
            {
                # Roles only under the project's path, only with the workload boundary.
                "Effect": "Allow",
                "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy"],
                "Resource": roles,
                "Condition": {"ArnEquals": boundary},
            },
            {
                "Effect": "Allow",
                "Action": "iam:AttachRolePolicy",
                "Resource": roles,
                "Condition": {"ArnEquals": boundary | {"iam:PolicyARN": list(ATTACHABLE_POLICIES)}},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                ],
                "Resource": roles,
            },
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": roles,
                "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
            },
            {
                # A fresh account has no service-linked roles for ECS and load balancers yet.
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": [
                    pulumi.Output.format("arn:{0}:iam::{1}:role/aws-service-role/{2}/*", partition, account, service)
                    for service in ("ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com")
                ],
            },
        ]

    def _deploy_policies(self) -> dict[str, aws.iam.Policy]:
        """What `pulumi up` does to the resources of either service stack, by family of services
        (DEPLOY_POLICIES): the stacks' resources get names Pulumi generates at creation, so the
        actions act on this account's resources of each service, in the stack's region."""
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id

        def statements(services: tuple[str, ...]) -> list:
            granted = actions({service: DEPLOY_ACTIONS[service] for service in services})
            return [
                {
                    "Effect": "Allow",
                    "Action": [action for action in granted if action not in ANY_RESOURCE_ACTIONS],
                    "Resource": [
                        pulumi.Output.format(DEPLOY_SCOPES[service], region=region, account=account)
                        for service in services
                    ],
                },
                {
                    # These name no resource type: IAM grants them on "*" only.
                    "Effect": "Allow",
                    "Action": [action for action in granted if action in ANY_RESOURCE_ACTIONS],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
                },
            ]

        return {
            family: aws.iam.Policy(
                f"{self._name}-deploy-{family}",
                # Beside the pipeline's roles, which no deploy role reaches.
                path=PIPELINE_ROLE_PATH,
                description=f"rollback-guard: what a deploy job does to its stack's {family} resources",
                policy=policy_document(statements(services)),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for family, services in DEPLOY_POLICIES.items()
        }

    # --- CodePipeline

    def _pipeline_role(
        self, args: ReleasePipelineArgs, projects: list[aws.codebuild.Project]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        role = service_role(f"{self._name}-role", "codepipeline.amazonaws.com", child)
        machines = [args.smoke_test_arn, args.health_check_arn]
        executions = [
            pulumi.Output.from_input(arn).apply(lambda arn: arn.replace(":stateMachine:", ":execution:") + ":*")
            for arn in machines
        ]
        statements = [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketVersioning"],
                "Resource": [self.artifact_bucket.arn, self.artifact_bucket.arn.apply(lambda arn: f"{arn}/*")],
            },
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": self.key.arn,
            },
            {
                "Effect": "Allow",
                "Action": ["codeconnections:UseConnection", "codestar-connections:UseConnection"],
                "Resource": self.connection_arn,
            },
            {
                "Effect": "Allow",
                "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                "Resource": [project.arn for project in projects],
            },
            {
                "Effect": "Allow",
                "Action": ["states:StartExecution", "states:DescribeStateMachine"],
                "Resource": machines,
            },
            {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": args.notification_topic_arn},
        ]
        return role, role_policy(f"{self._name}-role-policy", role.id, statements, child)


def _stages(
    args: ReleasePipelineArgs,
    connection_arn: pulumi.Input[str],
    build_project: pulumi.Input[str],
    staging_project: pulumi.Input[str],
    production_project: pulumi.Input[str],
) -> list[aws.codepipeline.PipelineStageArgs]:
    cp = aws.codepipeline
    source = args.source
    rollback = cp.PipelineStageOnFailureArgs(result="ROLLBACK")

    def deploy(stack: str, namespace: str, project: pulumi.Input[str]) -> cp.PipelineStageActionArgs:
        return cp.PipelineStageActionArgs(
            name=f"Deploy-{stack}",
            category="Build",
            owner="AWS",
            provider="CodeBuild",
            version="1",
            input_artifacts=["built"],
            namespace=namespace,
            run_order=1,
            configuration={"ProjectName": project},
        )

    def invoke(name: str, state_machine: pulumi.Input[str], payload: str) -> cp.PipelineStageActionArgs:
        return cp.PipelineStageActionArgs(
            name=name,
            category="Invoke",
            owner="AWS",
            provider="StepFunctions",
            version="1",
            run_order=2,
            configuration={
                "StateMachineArn": state_machine,
                "ExecutionNamePrefix": name,
                "InputType": "Literal",
                "Input": payload,
            },
        )

    # Pipeline variables, filled in by the deploy actions (see _DEPLOY_SPEC's exported-variables).
    smoke_input = '{"baseUrl": "#{Staging.SERVICE_URL}"}'
    health_input = '{"alarmNames": #{Production.ROLLBACK_ALARMS}}'
    return [
        cp.PipelineStageArgs(
            name="Source",
            actions=[
                cp.PipelineStageActionArgs(
                    name=source.provider,
                    category="Source",
                    owner="AWS",
                    provider="CodeStarSourceConnection",
                    version="1",
                    output_artifacts=["source"],
                    configuration={
                        "ConnectionArn": connection_arn,
                        "FullRepositoryId": source.repository,
                        "BranchName": source.branch,
                        "OutputArtifactFormat": "CODE_ZIP",
                    },
                )
            ],
        ),
        cp.PipelineStageArgs(
            name="Build",
            actions=[
                cp.PipelineStageActionArgs(
                    name="TestAndPackage",
                    category="Build",
                    owner="AWS",
                    provider="CodeBuild",
                    version="1",
                    input_artifacts=["source"],
                    output_artifacts=["built"],
                    configuration={"ProjectName": build_project},
                )
            ],
        ),
        cp.PipelineStageArgs(
            name="Staging",
            actions=[
                deploy(args.staging_stack, "Staging", staging_project),
                invoke("SmokeTest", args.smoke_test_arn, smoke_input),
            ],
            on_failure=rollback,
        ),
        cp.PipelineStageArgs(
            name="Approval",
            actions=[
                cp.PipelineStageActionArgs(
                    name="ApproveProduction",
                    category="Approval",
                    owner="AWS",
                    provider="Manual",
                    version="1",
                    configuration={
                        "NotificationArn": args.notification_topic_arn,
                        "CustomData": "Staging passed its smoke test. Approve to release to production.",
                        "ExternalEntityLink": "#{Staging.SERVICE_URL}",
                    },
                )
            ],
        ),
        cp.PipelineStageArgs(
            name="Production",
            actions=[
                deploy(args.production_stack, "Production", production_project),
                invoke("HealthCheck", args.health_check_arn, health_input),
            ],
            on_failure=rollback,
        ),
    ]


def yaml_scalar(text: str) -> str:
    """`text` as a YAML scalar that reads back as the same string: plain where YAML would read it
    so (`make test`), otherwise double-quoted (JSON's escapes are YAML's)."""
    plain = re.fullmatch(r"[A-Za-z][A-Za-z0-9_./=+ -]*[A-Za-z0-9_./=+-]|[A-Za-z]", text)
    if plain and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def build_spec(
    install_commands: Sequence[str],
    test_commands: Sequence[str],
    reports: Sequence[tuple[str, BuildReport]] = (),
) -> str:
    """The build job's buildspec: the install commands, then the test commands; the source with
    what they made is the artifact the deploy stages run. `reports` pairs each report group's ARN
    with the report it reads. Python 3.11 and Node.js 20 are the runtimes the build image offers
    (and the deploy stages' CLI needs)."""
    lines = [
        "version: 0.2",
        "phases:",
        "  install:",
        "    runtime-versions:",
        "      python: 3.11",
        "      nodejs: 20",
    ]
    if install_commands:
        lines += ["    commands:", *(f"      - {yaml_scalar(command)}" for command in install_commands)]
    lines += ["  build:", "    commands:", *(f"      - {yaml_scalar(command)}" for command in test_commands)]
    if reports:
        lines.append("reports:")
        for arn, report in reports:
            lines += [
                f"  {yaml_scalar(arn)}:",
                f"    files: [{', '.join(json.dumps(path, ensure_ascii=False) for path in report.files)}]",
                f"    base-directory: {yaml_scalar(report.base_directory)}",
                f"    file-format: {report.file_format}",
            ]
    lines += [
        "artifacts:",
        "  files: ['**/*']",
        "  exclude-paths: ['.venv/**/*', 'node_modules/**/*']",
    ]
    return "\n".join(lines) + "\n"


def deploy_spec(url_output: str, alarm_names_output: str) -> str:
    """A deploy job's buildspec: `pulumi up` of its stack, then the stack's outputs the stage's check
    reads, exported as pipeline variables (see _stages): the URL the smoke test checks
    (`url_output`) and the JSON list of alarm names the health check watches (`alarm_names_output`).
    Both are OUTPUT_NAMEs, safe on a command line."""
    return _DEPLOY_SPEC.format(url_output=url_output, alarm_names_output=alarm_names_output)


_DEPLOY_SPEC = textwrap.dedent(
    """\
    version: 0.2
    env:
      variables:
        PULUMI_SKIP_UPDATE_CHECK: "true"
      exported-variables: [SERVICE_URL, ROLLBACK_ALARMS]
    phases:
      install:
        runtime-versions:
          python: 3.11
        commands:
          - curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
          - export PATH="$HOME/.pulumi/bin:$PATH"
      build:
        commands:
          - pulumi login "s3://$STATE_BUCKET"
          - pulumi stack select "$STACK" --create --secrets-provider "awskms://$SECRETS_KEY_ALIAS?region=$AWS_REGION"
          - pulumi up --stack "$STACK" --yes --non-interactive
          - export SERVICE_URL="$(pulumi stack output {url_output} --stack "$STACK")"
          - export ROLLBACK_ALARMS="$(pulumi stack output {alarm_names_output} --stack "$STACK" --json | tr -d ' \\n')"
    """
)
