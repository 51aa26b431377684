"""IAM building blocks every component uses: a role only one AWS service may assume, a policy
document and an inline policy from statements, and the one statement a log writer needs; and the
stack transformation a program registers to put every role it creates under one path and one
permissions boundary."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

# Where this project's roles and policies live: each service stack's roles under ROLE_PATH/<stack>/,
# where only that stack's deploy role may create them; the pipeline's own under PIPELINE_ROLE_PATH,
# where no deploy role reaches.
ROLE_PATH = "/rollback-guard/"
PIPELINE_ROLE_PATH = "/rollback-guard-pipeline/"
# A policy's statements: each may hold Outputs, and the list itself may be one.
Statements = Sequence[pulumi.Input[dict]] | pulumi.Output[list[dict]]


def service_role(
    name: str,
    service: str,
    opts: pulumi.ResourceOptions,
    source_arn: pulumi.Input[str] | None = None,
    permissions_boundary: pulumi.Input[str] | None = None,
) -> aws.iam.Role:
    """A role that `service` (e.g. lambda.amazonaws.com) may assume, and nobody else; with
    `source_arn`, only on behalf of that one resource (a CodeBuild project, say)."""
    trust = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    policy = pulumi.Output.from_input(source_arn).apply(
        lambda arn: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [trust | ({"Condition": {"ArnEquals": {"aws:SourceArn": arn}}} if arn else {})],
            }
        )
    )
    return aws.iam.Role(name, assume_role_policy=policy, permissions_boundary=permissions_boundary, opts=opts)


def bounded_roles(boundary_arn: pulumi.Input[str], path: str = ROLE_PATH) -> pulumi.ResourceTransformation:
    """A stack transformation (`pulumi.runtime.register_stack_transformation`): every IAM role the
    program creates lives under `path` and carries a permissions boundary, `boundary_arn` unless the
    role names its own."""

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "aws:iam/role:Role":
            return None
        boundary = args.props.get("permissions_boundary") or boundary_arn
        return pulumi.ResourceTransformationResult(
            {**args.props, "path": path, "permissions_boundary": boundary}, args.opts
        )

    return transformation


def customer_policy_arn(name: str, path: str = ROLE_PATH) -> pulumi.Output[str]:
    """The ARN of this account's managed policy `name` under `path`, in the stack's partition."""
    partition = aws.get_partition_output().partition
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:{0}:iam::{1}:policy{2}{3}", partition, account, path, name)


def role_policy(
    name: str, role: pulumi.Input[str], statements: Statements, opts: pulumi.ResourceOptions
) -> aws.iam.RolePolicy:
    """An inline policy of `statements` on the role named `role`."""
    return aws.iam.RolePolicy(name, role=role, policy=policy_document(statements), opts=opts)


def policy_document(statements: Statements) -> pulumi.Output[str]:
    """A policy document of `statements`, as IAM takes it. An Output of the list serves statements
    that depend on a value known later (an image's repository: an ECR image is pulled with a
    permission for its own repository)."""
    listed = statements if isinstance(statements, pulumi.Output) else list(statements)
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": listed})


def write_logs(log_group_arn: pulumi.Input[str]) -> dict:
    """Create streams in, and write to, one log group."""
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": pulumi.Output.from_input(log_group_arn).apply(lambda arn: f"{arn}:*"),
    }
