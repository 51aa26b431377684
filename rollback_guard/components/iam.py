"""IAM building blocks every component uses: a role only one AWS service may assume, an inline
policy from statements, and the one statement a log writer needs."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def service_role(name: str, service: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    """A role that `service` (e.g. lambda.amazonaws.com) may assume, and nobody else."""
    return aws.iam.Role(
        name,
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            }
        ),
        opts=opts,
    )


def role_policy(
    name: str, role: pulumi.Input[str], statements: Sequence[pulumi.Input[dict]], opts: pulumi.ResourceOptions
) -> aws.iam.RolePolicy:
    """An inline policy of `statements` on the role named `role`."""
    return aws.iam.RolePolicy(
        name,
        role=role,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        opts=opts,
    )


def write_logs(log_group_arn: pulumi.Input[str]) -> dict:
    """Create streams in, and write to, one log group."""
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": pulumi.Output.from_input(log_group_arn).apply(lambda arn: f"{arn}:*"),
    }
