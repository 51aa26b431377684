"""The notification formatter against moto's SNS (read back through an SQS subscription) and a
CodeDeploy deployment whose end is scripted."""

from __future__ import annotations

import json

import boto3
import pytest

from rollback_guard.hooks import notify
from tests.conftest import fresh_hook_clients
from tests.scenarios import ALARM, ROLLED_BACK_BY_ALARM


@pytest.fixture
def inbox(codedeploy_groups, monkeypatch):
    """A topic with a queue subscribed to it: what the formatter publishes lands in the queue."""
    fresh_hook_clients()
    topic = boto3.client("sns").create_topic(Name="releases")["TopicArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("TOPIC_ARN", topic)

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received


def pipeline_event(state: str, trigger: str = "StartPipelineExecution") -> dict:
    return {
        "source": "aws.codepipeline",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "region": "us-east-1",
        "detail": {
            "pipeline": "rollback-guard-pipeline",
            "execution-id": "0f1e2d3c-0000-4000-8000-000000000001",
            "state": state,
            "execution-trigger": {"trigger-type": trigger},
        },
    }


def test_a_released_pipeline_run_is_announced(inbox):
    notify.handler(pipeline_event("SUCCEEDED"))
    [message] = inbox()
    assert message["Subject"] == "released: pipeline rollback-guard-pipeline"
    assert "execution 0f1e2d3c-0000-4000-8000-000000000001: SUCCEEDED" in message["Message"]


def test_a_failed_pipeline_run_is_announced(inbox):
    notify.handler(pipeline_event("FAILED"))
    assert inbox()[0]["Subject"] == "FAILED: pipeline rollback-guard-pipeline"


def test_a_pipeline_rollback_is_announced_as_a_rollback(inbox):
    notify.handler(pipeline_event("STARTED", trigger="AutomatedRollback"))
    [message] = inbox()
    assert message["Subject"] == "ROLLBACK: pipeline rollback-guard-pipeline is rolling back"
    assert "redeploying the last successful revision" in message["Message"]


def test_a_deployment_rolled_back_by_an_alarm_names_the_alarm_and_the_deployment(inbox, codedeploy_groups):
    codedeploy = boto3.client("codedeploy")
    deployment = codedeploy.create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM[-1:])
    notify.handler(
        {
            "source": "aws.codedeploy",
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "detail": {"deploymentId": deployment, "deploymentGroup": "greeter-deploy", "state": "FAILURE"},
        }
    )
    [message] = inbox()
    assert message["Subject"] == "ROLLBACK: greeter-deploy"
    assert f"CodeDeploy deployment {deployment} of greeter-deploy: FAILURE." in message["Message"]
    assert f"Why: ALARM_ACTIVE: One or more alarms have been activated: {ALARM}" in message["Message"]
    assert "rollback deployment d-ROLLBACK1" in message["Message"]


def test_a_successful_deployment_is_announced(inbox):
    event = {
        "source": "aws.codedeploy",
        "detail": {"deploymentId": "d-1", "deploymentGroup": "web-deploy", "state": "SUCCESS"},
    }
    notify.handler(event)
    assert inbox()[0]["Subject"] == "released: web-deploy"


def test_a_notice_still_goes_out_when_the_deployment_cannot_be_read(inbox):
    event = {
        "source": "aws.codedeploy",
        "detail": {"deploymentId": "d-GONE", "deploymentGroup": "web-deploy", "state": "STOP"},
    }
    notify.handler(event)
    [message] = inbox()
    assert message["Subject"] == "STOP: web-deploy"
    assert "details unavailable" in message["Message"]


def judge_event(stopped: bool = True) -> dict:
    """What the canary judge puts on the default bus when it stops a release (hooks/judge.py)."""
    explanation = (
        "ROLLBACK: errors-vs-old: error rate Errors/Invocations of version 2 (old: version 1) 20% against 0.1% "
        "over 1 min from 2026-11-26T13:51:00Z; likelihood ratio 10^25.31, rolls back from 10^2.82"
    )
    findings = [
        {
            "check": "errors-vs-old",
            "metric": "error rate Errors/Invocations of version 2 (old: version 1)",
            "newValue": 0.2,
            "oldValue": 0.001,
            "statistic": 25.31,
            "threshold": 2.824,
            "window": "1 min from 2026-11-26T13:51:00Z",
            "bad": True,
            "explanation": explanation,
        },
        {
            "check": "latency",
            "metric": "p90 latency Duration of version 2 (old: version 1)",
            "newValue": 212.0,
            "oldValue": 101.5,
            "statistic": 5.85,
            "threshold": 5.422,
            "window": "11 comparable min of 11 min from 2026-11-26T13:51:00Z",
            "bad": True,
            "explanation": "ROLLBACK: latency: ...",
        },
        {
            "check": "probes",
            "metric": "probe failure rate of version 2",
            "newValue": 0.0,
            "oldValue": 0.01,
            "statistic": -0.1,
            "threshold": 2.824,
            "window": "120 probes",
            "bad": False,
            "explanation": "ok: probes: ...",
        },
    ]
    return {
        "source": "rollback-guard.judge",
        "detail-type": "Canary verdict",
        "detail": {
            "service": "greeter",
            "environment": "staging",
            "deploymentGroup": "greeter-deploy",
            "deploymentId": "d-JUDGED1",
            "verdict": "ROLLBACK",
            "explanation": explanation,
            "findings": findings,
            "stopped": stopped,
        },
    }


def test_a_canary_verdict_is_announced_with_every_finding_that_called_for_it(inbox):
    event = judge_event()
    notify.handler(event)
    [message] = inbox()
    assert message["Subject"] == "ROLLBACK: greeter-deploy (canary judge)"
    assert message["Message"].splitlines() == [
        "The canary judge stopped deployment d-JUDGED1 of greeter-deploy (greeter staging) with rollback.",
        "CodeDeploy is putting traffic back on the previous version.",
        f"Why: {event['detail']['explanation']}",
        "- errors-vs-old: error rate Errors/Invocations of version 2 (old: version 1): new 20%, old 0.1%; "
        "statistic 25.31 (log10 likelihood ratio) against threshold 2.824; window 1 min from 2026-11-26T13:51:00Z",
        "- latency: p90 latency Duration of version 2 (old: version 1): new 212 ms, old 101.5 ms; "
        "statistic 5.85 (-log10 p) against threshold 5.422; window 11 comparable min of 11 min from 2026-11-26T13:51:00Z",
    ]


def test_a_verdict_whose_stop_did_not_go_through_says_so(inbox):
    notify.handler(judge_event(stopped=False))
    [message] = inbox()
    assert "The stop did not go through: the post-traffic hook still refuses the release." in message["Message"]
