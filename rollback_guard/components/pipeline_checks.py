"""The pipeline's two checks, as Step Functions state machines: the staging smoke test (every
endpoint at once, fails naming the failing ones) and the production health check (the rollback
alarms watched for a few minutes after the deploy)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rollback_guard.components.iam import role_policy, service_role
from rollback_guard.components.lambda_function import hook_handler, hooks_archive, logged_function
from rollback_guard.components.naming import physical_name
from rollback_guard.components.parts import Component

POLL_SECONDS = 30
CHECK_FUNCTION_TIMEOUT_SECONDS = 60
# Lambda's own transient errors are retried; a check that fails is a result, never retried.
_LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def smoke_test_definition(check_function_arn: str, endpoints: Sequence[dict]) -> dict:
    """Input: {"baseUrl"}. The endpoints ({path, expectStatus, timeoutSeconds, expectBody}) are part
    of the definition: a CodePipeline action's input is capped at 1000 characters. The Lambda
    integration is in the check function's partition."""
    partition = check_function_arn.split(":")[1]
    return {
        "Comment": "Checks every endpoint in parallel; fails naming the endpoints that failed.",
        "StartAt": "Endpoints",
        "States": {
            "Endpoints": {
                "Type": "Pass",
                "Parameters": {"baseUrl.$": "$.baseUrl", "endpoints": list(endpoints)},
                "Next": "CheckEndpoints",
            },
            "CheckEndpoints": {
                "Type": "Map",
                "ItemsPath": "$.endpoints",
                "ItemSelector": {"baseUrl.$": "$.baseUrl", "check.$": "$$.Map.Item.Value"},
                "MaxConcurrency": len(endpoints),
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Task",
                            "Resource": f"arn:{partition}:states:::lambda:invoke",
                            "Parameters": {"FunctionName": check_function_arn, "Payload.$": "$"},
                            "OutputPath": "$.Payload",
                            "TimeoutSeconds": CHECK_FUNCTION_TIMEOUT_SECONDS,
                            "Retry": [
                                {
                                    "ErrorEquals": _LAMBDA_SERVICE_ERRORS,
                                    "IntervalSeconds": 1,
                                    "MaxAttempts": 2,
                                    "BackoffRate": 2,
                                }
                            ],
                            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CheckCrashed"}],
                            "End": True,
                        },
                        "CheckCrashed": {
                            "Type": "Pass",
                            "Parameters": {
                                "url.$": "States.Format('{}{}', $.baseUrl, $.check.path)",
                                "ok": False,
                                "reason.$": "$.error.Error",
                            },
                            "End": True,
                        },
                    },
                },
                "ResultPath": "$.results",
                "Next": "Verdict",
            },
            "Verdict": {
                "Type": "Pass",
                "Parameters": {"failed.$": "$.results[?(@.ok == false)]", "checked.$": "States.ArrayLength($.results)"},
                "Next": "AnyFailed",
            },
            "AnyFailed": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.failed[0]", "IsPresent": True, "Next": "SmokeTestFailed"}],
                "Default": "SmokeTestPassed",
            },
            "SmokeTestFailed": {
                "Type": "Fail",
                "Error": "SmokeTestFailed",
                "CausePath": "States.JsonToString($.failed)",
            },
            "SmokeTestPassed": {"Type": "Succeed"},
        },
    }


def health_check_definition(watch_minutes: int, partition: str = "aws") -> dict:
    """Input: {"alarmNames": [...]}. Polls every POLL_SECONDS for `watch_minutes`; fails naming
    the alarms in ALARM as soon as one is. The CloudWatch integration is in `partition`."""
    return {
        "Comment": f"Watches the production rollback alarms for {watch_minutes} minutes after a deploy.",
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Pass",
                "Parameters": {"alarmNames.$": "$.alarmNames", "remaining": watch_minutes * 60 // POLL_SECONDS},
                "Next": "CheckAlarms",
            },
            "CheckAlarms": {
                "Type": "Task",
                "Resource": f"arn:{partition}:states:::aws-sdk:cloudwatch:describeAlarms",
                "Parameters": {"AlarmNames.$": "$.alarmNames", "StateValue": "ALARM"},
                "ResultSelector": {"firing.$": "$.MetricAlarms[*].AlarmName"},
                "ResultPath": "$.check",
                "Next": "AnyFiring",
            },
            "AnyFiring": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.check.firing[0]", "IsPresent": True, "Next": "Unhealthy"},
                    {"Variable": "$.remaining", "NumericLessThanEquals": 0, "Next": "Healthy"},
                ],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": POLL_SECONDS, "Next": "CountDown"},
            "CountDown": {
                "Type": "Pass",
                "Parameters": {"alarmNames.$": "$.alarmNames", "remaining.$": "States.MathAdd($.remaining, -1)"},
                "Next": "CheckAlarms",
            },
            "Unhealthy": {
                "Type": "Fail",
                "Error": "AlarmFired",
                "CausePath": "States.Format('production alarms fired: {}', States.JsonToString($.check.firing))",
            },
            "Healthy": {"Type": "Succeed"},
        },
    }


@dataclass
class PipelineChecksArgs:
    """What PipelineChecks builds (DeliveryPipeline checks these arguments before it builds them).

    Attributes:
        smoke_endpoints: Required. Checked on staging, all at once: {path, expectStatus,
            timeoutSeconds, expectBody}.
        health_check_minutes: How long the health check watches production's alarms. Default: 5,
            which covers an alarm of a few one-minute periods plus CloudWatch's delay.
        log_retention_days: How long the checks' logs are kept. Default: 90, as the pipeline's.
    """

    smoke_endpoints: Sequence[dict]
    health_check_minutes: int = 5
    log_retention_days: int = 90


def check_function_names(name: str) -> list[str]:
    """The names of the functions PipelineChecks `name` creates, as logged_function names them."""
    return [physical_name(f"{name}-smoke-check")]


def check_log_group_names(name: str) -> list[str]:
    """The log groups of the state machines of PipelineChecks `name`."""
    return [_log_group_name(f"{name}-{check}") for check in ("smoke-test", "health-check")]


def _log_group_name(state_machine: str) -> str:
    """Under /aws/vendedlogs/, where Step Functions' log delivery needs no resource policy of its
    own; unique per project and stack."""
    return f"/aws/vendedlogs/states/{physical_name(state_machine)}"


class PipelineChecks(Component):
    smoke_test: aws.sfn.StateMachine
    health_check: aws.sfn.StateMachine
    check_function: aws.lambda_.Function

    def __init__(self, name: str, args: PipelineChecksArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:pipeline_checks:PipelineChecks", name, opts)
        self.check_function, _ = logged_function(
            f"{name}-smoke-check",
            self,
            log_retention_days=args.log_retention_days,
            code=hooks_archive(),
            runtime="python3.13",
            handler=hook_handler("smoke_check"),
            timeout=CHECK_FUNCTION_TIMEOUT_SECONDS,
            memory_size=256,
        )
        role, policy = _state_machine_role(
            f"{name}-smoke-test",
            self,
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": self.check_function.arn},
        )
        self.smoke_test = aws.sfn.StateMachine(
            f"{name}-smoke-test",
            role_arn=role.arn,
            **_observed(f"{name}-smoke-test", self, args.log_retention_days),
            definition=self.check_function.arn.apply(
                lambda arn: json.dumps(smoke_test_definition(arn, args.smoke_endpoints))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        invoked = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoked).partition
        region = aws.get_region_output(opts=invoked).region
        account = aws.get_caller_identity_output(opts=invoked).account_id
        role, policy = _state_machine_role(
            f"{name}-health-check",
            self,
            {
                "Effect": "Allow",
                "Action": "cloudwatch:DescribeAlarms",
                "Resource": pulumi.Output.format("arn:{0}:cloudwatch:{1}:{2}:alarm:*", partition, region, account),
            },
        )
        self.health_check = aws.sfn.StateMachine(
            f"{name}-health-check",
            role_arn=role.arn,
            **_observed(f"{name}-health-check", self, args.log_retention_days),
            definition=partition.apply(
                lambda known: json.dumps(health_check_definition(args.health_check_minutes, known))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs({"smokeTestArn": self.smoke_test.arn, "healthCheckArn": self.health_check.arn})


# Step Functions delivers its logs through CloudWatch Logs' vended-log delivery, whose actions name
# no resource (IAM: logs:CreateLogDelivery and its kin take "*" only); so do X-Ray's.
OBSERVABILITY = [
    {
        "Effect": "Allow",
        "Action": [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        ],
        "Resource": "*",
    },
    {
        "Effect": "Allow",
        "Action": [
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        ],
        "Resource": "*",
    },
]


def _state_machine_role(name: str, parent: pulumi.Resource, statement: dict) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The role and its policy: Step Functions checks the role's log delivery when it creates the
    state machine, so the state machine waits for the policy."""
    child = pulumi.ResourceOptions(parent=parent)
    role = service_role(f"{name}-role", "states.amazonaws.com", child)
    return role, role_policy(f"{name}-policy", role.id, [statement, *OBSERVABILITY], child)


def _observed(name: str, parent: pulumi.Resource, log_retention_days: int) -> dict:
    """A state machine's error log (no execution data: the checks' inputs name internal URLs) and
    X-Ray tracing."""
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=_log_group_name(name),
        retention_in_days=log_retention_days,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return {
        "logging_configuration": aws.sfn.StateMachineLoggingConfigurationArgs(
            log_destination=log_group.arn.apply(lambda arn: f"{arn}:*"),
            include_execution_data=False,
            level="ERROR",
        ),
        "tracing_configuration": aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
    }
