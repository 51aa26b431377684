"""The release pipeline (CodePipeline V2): GitHub → Build → Staging (deploy, smoke test) →
Approval → Production (deploy, health check), each deploy stage rolling back to the last
successful revision when it fails.

The smoke test and the health check are actions inside the deploy stages, not stages of their
own: CodePipeline rolls back the stage that failed, so a check must fail the stage whose deploy it
judges. The deploy stages run the project's own `pulumi up` against shared state in S3, encrypted
with the pipeline's KMS key, which is also the stacks' secrets provider.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

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
from rollback_guard.limits import CODEPIPELINE_BUILD_ACTION_MINUTES

# The CLI the deploy stages install: the same release as the SDK locked in requirements/runtime.txt.
PULUMI_VERSION = "3.272.0"
BUILD_IMAGE = "aws/codebuild/standard:7.0"
# A deploy step runs `pulumi up`, release included, for as long as CodePipeline lets a CodeBuild action.
DEPLOY_TIMEOUT_MINUTES = CODEPIPELINE_BUILD_ACTION_MINUTES
ARTIFACT_DAYS = 30
PROJECT = "rollback-guard"
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


def _project_arn(name: str) -> pulumi.Output[str]:
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:aws:codebuild:{0}:{1}:project/{2}", region, account, name)


@dataclass
class ReleasePipelineArgs:
    # Fixed, so that notification rules can match the pipeline's events.
    pipeline_name: str
    repository: str  # GitHub owner/name
    branch: str
    staging_stack: str
    production_stack: str
    smoke_test_arn: pulumi.Input[str]
    health_check_arn: pulumi.Input[str]
    notification_topic_arn: pulumi.Input[str]
    storage: PipelineStorage
    # The boundary of the roles the deploy roles create, and the deploy roles' own (boundaries.py).
    workload_boundary_arn: pulumi.Input[str]
    deployer_boundary_arn: pulumi.Input[str]
    log_retention_days: int = 90


@dataclass
class PipelineStorageArgs:
    # The KMS key's alias: the secrets provider the deploy stages name.
    key_alias_name: str


class PipelineStorage(pulumi.ComponentResource):
    """The KMS key (artifacts, Pulumi state and secrets, notifications) and two private buckets:
    pipeline artifacts, and the service stacks' Pulumi state. Losing the state bucket or the key
    loses every stack's state, so both are protected and kept even if Pulumi deletes them."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    artifact_bucket: aws.s3.Bucket
    state_bucket: aws.s3.Bucket

    def __init__(self, name: str, args: PipelineStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:pipeline:PipelineStorage", name, None, opts)
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


class ReleasePipeline(pulumi.ComponentResource):
    """The pipeline, its GitHub connection, and the CodeBuild projects with their own
    roles.

    The connection is created PENDING: someone with access to the GitHub organisation completes the
    handshake once in the console (Developer Tools → Settings → Connections → Update pending
    connection); until then the Source stage fails."""

    connection: aws.codestarconnections.Connection
    pipeline: aws.codepipeline.Pipeline

    def __init__(self, name: str, args: ReleasePipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:pipeline:ReleasePipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        storage = args.storage
        self.key, self.artifact_bucket, self.state_bucket = storage.key, storage.artifact_bucket, storage.state_bucket
        self.connection = aws.codestarconnections.Connection(f"{name}-github", provider_type="GitHub", opts=child)

        build = self._project("build", _BUILD_SPEC, {}, self._build_statements(), args.log_retention_days, 60)
        deploy_policies = self._deploy_policies()
        # One deploy job per stage, each with its own role: staging's cannot touch production's state,
        # and production's role serves only the production job.
        deploys = {
            stage: self._project(
                f"deploy-{stage}",
                _DEPLOY_SPEC,
                {
                    "STACK": stack,
                    "STATE_BUCKET": self.state_bucket.bucket,
                    "SECRETS_KEY_ALIAS": storage.key_alias.name,
                    "PULUMI_VERSION": PULUMI_VERSION,
                },
                self._build_statements() + self._deploy_statements(stack, args.workload_boundary_arn),
                args.log_retention_days,
                # A deploy waits for its releases, canary shifts and bake times included.
                DEPLOY_TIMEOUT_MINUTES,
                project_name=f"{args.pipeline_name}-deploy-{stage}",
                permissions_boundary=args.deployer_boundary_arn,
                managed_policies=deploy_policies,
            )
            for stage, stack in (("staging", args.staging_stack), ("production", args.production_stack))
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
            stages=_stages(args, self.connection.arn, build.name, deploys["staging"].name, deploys["production"].name),
            # A new pipeline starts a run at once, under its role's policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_policy]),
        )
        self.register_outputs({"pipelineName": self.pipeline.name, "connectionArn": self.connection.arn})

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
        source = _project_arn(project_name) if project_name else None
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

    def _deploy_statements(self, stack: str, workload_boundary_arn: pulumi.Input[str]) -> list:
        """The rest of `pulumi up` of one service stack (besides DEPLOY_POLICIES): its own state, roles
        and dashboards, and production's storage, each under a condition of its own."""
        state = self.state_bucket.arn
        # The DIY backend's layout in S3 (project-scoped since Pulumi 3.61; locks are kept under the
        # stack's fully qualified name, organization/<project>/<stack>).
        own_state = [
            state.apply(lambda arn, key=key: f"{arn}/.pulumi/{key}")
            for key in (
                f"stacks/{PROJECT}/{stack}.json*",
                f"history/{PROJECT}/{stack}/*",
                f"locks/organization/{PROJECT}/{stack}/*",
                f"backups/{PROJECT}/{stack}/*",
            )
        ]
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        partition = aws.get_partition_output().partition
        # The stack's own roles: each stack's roles live under a path of their own (program.py).
        roles = pulumi.Output.format("arn:aws:iam::{0}:role{1}{2}/*", account, ROLE_PATH, stack)
        keys = pulumi.Output.format("arn:aws:kms:{0}:{1}:key/*", region, account)
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
                    "arn:{0}:cloudwatch::{1}:dashboard/{2}*", partition, account, dashboard_name_prefix(PROJECT, stack)
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
                    pulumi.Output.format("arn:aws:iam::{0}:role/aws-service-role/{1}/*", account, service)
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
                "Resource": self.connection.arn,
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
                    name="GitHub",
                    category="Source",
                    owner="AWS",
                    provider="CodeStarSourceConnection",
                    version="1",
                    output_artifacts=["source"],
                    configuration={
                        "ConnectionArn": connection_arn,
                        "FullRepositoryId": args.repository,
                        "BranchName": args.branch,
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


_BUILD_SPEC = textwrap.dedent(
    """\
    version: 0.2
    phases:
      install:
        runtime-versions:
          python: 3.11
          nodejs: 20
      build:
        commands:
          - make test
          - make lint-migrations
    artifacts:
      files: ['**/*']
      exclude-paths: ['.venv/**/*', 'node_modules/**/*']
    """
)

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
          - export SERVICE_URL="$(pulumi stack output serviceUrl --stack "$STACK")"
          - export ROLLBACK_ALARMS="$(pulumi stack output rollbackAlarmNames --stack "$STACK" --json | tr -d ' \\n')"
    """
)
