"""The pre- and post-traffic hooks of a Lambda deployment group, packaged from hooks/."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.lambda_function import logged_function

HOOKS_DIRECTORY = Path(__file__).resolve().parent.parent / "hooks"
HOOK_TIMEOUT_SECONDS = 60
# A check may take this long and the hook still has time to report before Lambda stops it.
MAX_CHECK_TIMEOUT_SECONDS = 45


@dataclass
class TrafficHooksArgs:
    service: str
    environment: str
    target_function_name: pulumi.Input[str]
    target_function_arn: pulumi.Input[str]
    deployment_group_arn: pulumi.Input[str]
    # The deployment group's service role: it must be allowed to invoke these hooks.
    codedeploy_role_name: pulumi.Input[str]
    deployment_log_table_name: pulumi.Input[str]
    deployment_log_table_arn: pulumi.Input[str]
    smoke_events: Sequence[dict[str, Any]] = ()
    smoke_endpoints: Sequence[dict[str, Any]] = ()
    # Per check; well inside HOOK_TIMEOUT_SECONDS so the hook always lives to report.
    check_timeout_seconds: float = 10.0
    log_retention_days: int = 30


class TrafficHooks(pulumi.ComponentResource):
    """BeforeAllowTraffic smoke-tests the target version; AfterAllowTraffic records the release.

    Each hook may report status and read deployments of its own deployment group only; the
    pre-traffic hook may invoke the target function only, the post-traffic hook may write to the
    deployment log only."""

    pre_traffic: aws.lambda_.Function
    post_traffic: aws.lambda_.Function

    def __init__(self, name: str, args: TrafficHooksArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:traffic_hooks:TrafficHooks", name, None, opts)
        report = {
            "Effect": "Allow",
            "Action": ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"],
            "Resource": args.deployment_group_arn,
        }
        common = dict(
            log_retention_days=args.log_retention_days,
            code=pulumi.AssetArchive({"hooks": pulumi.FileArchive(str(HOOKS_DIRECTORY))}),
            runtime="python3.13",
            timeout=HOOK_TIMEOUT_SECONDS,
            memory_size=256,
        )
        self.pre_traffic, _ = logged_function(
            f"{name}-pre-traffic",
            self,
            statements=[
                report,
                {
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": pulumi.Output.from_input(args.target_function_arn).apply(lambda arn: [arn, f"{arn}:*"]),
                },
            ],
            handler="hooks.pre_traffic.handler",
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "TARGET_FUNCTION": args.target_function_name,
                    "SMOKE_EVENTS": json.dumps(list(args.smoke_events)),
                    "SMOKE_ENDPOINTS": json.dumps(list(args.smoke_endpoints)),
                    "CHECK_TIMEOUT_SECONDS": str(args.check_timeout_seconds),
                }
            ),
            **common,
        )
        self.post_traffic, _ = logged_function(
            f"{name}-post-traffic",
            self,
            statements=[
                report,
                {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": args.deployment_log_table_arn},
            ],
            handler="hooks.post_traffic.handler",
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "DEPLOYMENT_LOG_TABLE": args.deployment_log_table_name,
                    "SERVICE_NAME": args.service,
                    "ENVIRONMENT": args.environment,
                }
            ),
            **common,
        )
        # AWSCodeDeployRoleForLambdaLimited invokes only functions named CodeDeployHook_*.
        aws.iam.RolePolicy(
            f"{name}-invoke",
            role=args.codedeploy_role_name,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "lambda:InvokeFunction",
                            "Resource": [self.pre_traffic.arn, self.post_traffic.arn],
                        }
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"preTrafficHookName": self.pre_traffic.name, "postTrafficHookName": self.post_traffic.name}
        )
