"""Running the real hook handlers as Lambda runs them: with a context that knows the invocation's
deadline, against AWS on loopback (tests/local_aws.py), with their structured logs read back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import pytest

from rollback_guard.hooks import timing
from rollback_guard.hooks.deployment_log import epoch_now, judge_key
from tests.scenarios import ALARM, FUNCTION, TABLE

LOGGER = "rollback-guard.hooks"
ROLLBACK_ALARMS = (ALARM, "greeter-rollback-throttle-rate")


class LambdaContext:
    """What Lambda passes a handler; the hooks read only the time left. The deadline is on the
    hooks' own clock, so it holds under a FakeClock too."""

    def __init__(self, remaining_seconds: float, function_arn: str | None = None, request_id: str = "request-1"):
        self.deadline = timing.clock.now() + remaining_seconds
        if function_arn:
            self.invoked_function_arn = function_arn
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - timing.clock.now()) * 1000)


@dataclass
class FakeClock:
    """Minutes of watching in milliseconds: sleeping moves time on and runs what was due by then."""

    now_seconds: float = 1_000.0
    due: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    # Wall time moves with the played time (hooks/deployment_log.epoch_now reads it).
    started_epoch: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.started_at = self.now_seconds

    def now(self) -> float:
        return self.now_seconds

    def epoch(self) -> float:
        return self.started_epoch + self.now_seconds - self.started_at

    def sleep(self, seconds: float) -> None:
        self.now_seconds += max(0.0, seconds)
        for entry in [entry for entry in self.due if entry[0] <= self.now_seconds]:
            self.due.remove(entry)
            entry[1]()

    def at(self, seconds_from_now: float, action: Callable[[], None]) -> None:
        self.due.append((self.now_seconds + seconds_from_now, action))


def lambda_appspec(current: str = "1", target: str = "2", function: str = FUNCTION) -> str:
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "greeter": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function,
                            "Alias": "live",
                            "CurrentVersion": current,
                            "TargetVersion": target,
                        },
                    }
                }
            ],
        }
    )


def ecs_appspec(revision: int) -> str:
    task_definition = f"arn:aws:ecs:us-east-1:123456789012:task-definition/web-staging:{revision}"
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": task_definition,
                            "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
                        },
                    }
                }
            ],
        }
    )


def start_release(appspec: str | None = None, execution: str = "execution-1") -> dict:
    """A deployment of the greeter group in moto, as the release resource creates it; returns the
    lifecycle event CodeDeploy would send a hook."""
    deployment_id = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec or lambda_appspec()}},
    )["deploymentId"]
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution}


def create_rollback_alarms() -> None:
    for name in ROLLBACK_ALARMS:
        create_alarm(name)


def create_alarm(name: str) -> None:
    """A rollback alarm on a function's errors (INSUFFICIENT_DATA until its state is set)."""
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )


def fire_alarm(
    reason: str = "Threshold Crossed: 3 out of the last 3 datapoints [4.2, 3.9, 5.1] were greater than the threshold",
) -> None:
    """The error-rate alarm goes to ALARM (created first if it is not there)."""
    cloudwatch = boto3.client("cloudwatch")
    if not cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]:
        create_rollback_alarms()
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason=reason)


def hook_logs(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """The hooks' log lines, as the JSON objects they are, each with its level."""
    return [
        {**json.loads(record.getMessage()), "level": record.levelname}
        for record in caplog.records
        if record.name == LOGGER
    ]


def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reasons the hooks gave for rejecting a release."""
    return [line["reason"] for line in hook_logs(caplog) if line["message"].startswith("release rejected")]


def enable_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)


def judge_looked(
    deployment_id: str, seconds_ago: float = 0.0, verdict: str | None = None, explanation: str = ""
) -> None:
    """The canary judge's item for a deployment, as the judge leaves it: a healthy look
    `seconds_ago`, or a verdict."""
    item = {
        **judge_key("greeter", "staging", deployment_id),
        "deploymentId": {"S": deployment_id},
        "lastLookAt": {"N": f"{epoch_now() - seconds_ago:.3f}"},
        "leaseOwner": {"S": "judge"},
        "leaseUntil": {"N": f"{epoch_now() + 90:.3f}"},
        "probes": {"N": "12"},
        "probeFailures": {"N": "0"},
        "findings": {"S": "[]"},
    }
    if verdict:
        item |= {"verdict": {"S": verdict}, "explanation": {"S": explanation}}
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=item)


def keep_judging(clock: FakeClock, deployment_id: str, every: float = 30, until: float = 3600) -> None:
    """A judge that looks at the deployment every `every` seconds of the played clock."""
    judge_looked(deployment_id)
    for moment in range(int(every), int(until), int(every)):
        clock.at(moment, lambda: judge_looked(deployment_id))
