"""Policy for what a security scan of the stacks looks for beyond IAM (tests/test_iam_lint.py):
traced functions, state machines that log their errors, notifications about this project only,
artifacts that expire, production logs under a key of the project's own."""

from __future__ import annotations

import json

import pytest

STACKS = ("staging", "prod", "pipeline")


@pytest.mark.parametrize("stack", STACKS)
def test_every_function_is_traced_by_xray(settled, stack):
    for function in settled(stack).of_type("aws:lambda/function:Function"):
        assert function.inputs["tracingConfig"] == {"mode": "Active"}, function.name


def test_the_state_machines_log_their_errors_without_execution_data_and_are_traced(settled):
    pipeline = settled("pipeline")
    for machine in pipeline.of_type("aws:sfn/stateMachine:StateMachine"):
        logging = machine.inputs["loggingConfiguration"]
        assert (logging["level"], logging["includeExecutionData"]) == ("ERROR", False), machine.name
        assert logging["logDestination"].startswith("arn:aws:logs:us-east-1:123456789012:log-group:")
        assert machine.inputs["tracingConfiguration"] == {"enabled": True}


def test_pipeline_artifacts_expire_after_a_month_and_state_never_does(settled):
    pipeline = settled("pipeline")
    [lifecycle] = pipeline.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["bucket"] == "release-storage-artifacts-id"
    [rule] = lifecycle.inputs["rules"]
    assert rule["expiration"] == {"days": 30} and rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}


def test_production_log_groups_are_encrypted_with_productions_own_retained_key(settled):
    prod = settled("prod")
    key = prod.registration("prod-logs-key")
    assert (key.protect, key.retain_on_delete) == (True, True)
    assert key.inputs["enableKeyRotation"] is True
    for group in prod.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["kmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/prod-logs-key", group.name


def test_only_cloudwatch_logs_uses_the_logs_key_for_this_accounts_log_groups(settled):
    statements = json.loads(settled("prod").inputs("prod-logs-key")["policy"])["Statement"]
    service = [s for s in statements if "Service" in s["Principal"]]
    assert {s["Principal"]["Service"] for s in service} == {"logs.us-east-1.amazonaws.com"}
    [using] = [s for s in service if s["Action"] != "kms:DescribeKey"]
    assert using["Condition"] == {
        "StringLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}
    }


def test_staging_logs_stay_under_cloudwatchs_own_key(settled):
    staging = settled("staging")
    assert all("kmsKeyId" not in group.inputs for group in staging.of_type("aws:cloudwatch/logGroup:LogGroup"))


def test_production_load_balancers_keep_access_logs_in_an_encrypted_expiring_bucket(settled):
    prod = settled("prod")
    access_logs = prod.inputs("web-lb-alb")["accessLogs"]
    assert access_logs == {"bucket": "web-lb-logs", "enabled": True}
    rule = prod.inputs("web-lb-logs-encryption")["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}, "the only kind ALBs write"
    [lifecycle] = prod.inputs("web-lb-logs-lifecycle")["rules"]
    assert lifecycle["expiration"] == {"days": 90}
    allow, deny = json.loads(prod.inputs("web-lb-logs-policy")["policy"])["Statement"]
    assert allow["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}, "us-east-1's log delivery account"
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == "arn:aws:s3:::web-lb-logs/AWSLogs/123456789012/*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    registration = prod.registration("web-lb-logs")
    assert registration.protect


def test_staging_load_balancers_keep_no_access_logs(settled):
    staging = settled("staging")
    assert "accessLogs" not in staging.inputs("web-lb-alb")
    assert not staging.of_type("rollback-guard:load_balancer:AccessLogBucket")
