"""Lambda lifecycle hooks against moto's server and real local HTTP targets.

Every case asserts exactly one status report, and the right one.
"""

from __future__ import annotations

import json

import boto3
import pytest

from hooks import lifecycle, post_traffic, pre_traffic, smoke, test_traffic
from hooks.deployment_log import last_good_version
from tests.conftest import TEST_HOST
from tests.local_aws import LocalAws
from tests.scenarios import TABLE, create_log_table

FUNCTION = "greeter-staging"


@pytest.fixture
def aws(local_aws, monkeypatch):
    local_aws.reset()
    for cached in (lifecycle.codedeploy, post_traffic.dynamodb, smoke._lambda_client, test_traffic.ec2):
        cached.cache_clear()
    local_aws.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 200, "body": "hello"}
    monkeypatch.setenv("TARGET_FUNCTION", FUNCTION)
    monkeypatch.setenv("CHECK_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("SMOKE_EVENTS", json.dumps([{"name": "hello", "payload": {}, "expect": {"statusCode": 200}}]))
    monkeypatch.setenv("SMOKE_ENDPOINTS", "[]")
    monkeypatch.setenv("DEPLOYMENT_LOG_TABLE", TABLE)
    monkeypatch.setenv("SERVICE_NAME", "greeter")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_application(applicationName="greeter", computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    return local_aws


def start_release(current: str = "1", target: str = "2", appspec: str | None = None) -> dict:
    """A Lambda deployment in moto, as the release resource creates it; returns the hook's event."""
    content = appspec or json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "greeter": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": FUNCTION,
                            "Alias": "live",
                            "CurrentVersion": current,
                            "TargetVersion": target,
                        },
                    }
                }
            ],
        }
    )
    deployment_id = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
    )["deploymentId"]
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": "execution-1"}


def reported(aws: LocalAws, event: dict) -> list[str]:
    assert all(r["deploymentId"] == event["DeploymentId"] for r in aws.status_reports)
    assert all(r["lifecycleEventHookExecutionId"] == event["LifecycleEventHookExecutionId"] for r in aws.status_reports)
    return [r["status"] for r in aws.status_reports]


# --- pre-traffic: smoke-test the target version before users reach it


def test_a_release_whose_checks_all_pass_is_allowed_traffic(aws, targets, monkeypatch):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/health")}, {"url": targets.url("/ok")}]))
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(aws, event) == ["Succeeded"]


def test_the_target_version_is_what_gets_invoked(aws):
    aws.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 500}
    aws.functions[(FUNCTION, "1")] = lambda event: {"statusCode": 200}
    event = start_release(current="1", target="2")
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_target_answering_500_fails_the_release(aws, targets, monkeypatch):
    monkeypatch.setenv(
        "SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/ok")}, {"url": targets.url("/status/500")}])
    )
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_a_target_that_hangs_past_its_timeout_fails_the_release(aws, targets, monkeypatch):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/hang"), "timeoutSeconds": 0.5}]))
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_target_that_resets_the_connection_fails_the_release(aws, targets, monkeypatch):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/reset")}]))
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_malformed_http_response_fails_the_release(aws, targets, monkeypatch):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/garbage")}]))
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_malformed_function_response_fails_the_release(aws):
    aws.functions[(FUNCTION, "2")] = lambda event: "not an object"
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_target_version_that_raises_fails_the_release(aws):
    def broken(event):
        raise RuntimeError("database password rotated")

    aws.functions[(FUNCTION, "2")] = broken
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TARGET_FUNCTION", None),
        ("SMOKE_EVENTS", "{not json"),
        ("SMOKE_EVENTS", '{"name": "an object, not a list"}'),
        ("SMOKE_ENDPOINTS", '[{"url": "ftp://example"}]'),
        ("CHECK_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_a_missing_or_malformed_environment_still_reports_failed(aws, monkeypatch, variable, value):
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_a_hook_with_no_checks_configured_refuses_to_pass(aws, monkeypatch):
    monkeypatch.setenv("SMOKE_EVENTS", "[]")
    event = start_release()
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_deployment_of_another_function_is_not_tested_here(aws):
    appspec = json.dumps(
        {
            "Resources": [
                {"x": {"Properties": {"Name": "billing", "Alias": "live", "CurrentVersion": 1, "TargetVersion": 2}}}
            ]
        }
    )
    event = start_release(appspec=appspec)
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_deployment_without_a_json_appspec_reports_failed(aws):
    event = start_release(appspec="version: 0.0\nResources: []\n")
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_throttled_status_report_is_retried_and_reported_once(aws):
    aws.throttle_next_reports = 1
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Succeeded"}
    assert aws.throttled_reports == 1
    assert reported(aws, event) == ["Succeeded"]


class LambdaContext:
    """What Lambda passes a handler: here only the time left, which is what the hook reads."""

    def __init__(self, remaining_seconds: float):
        self.remaining_seconds = remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_seconds * 1000)


def test_a_check_that_would_outlast_the_invocation_is_cut_short_and_reported(aws, targets, monkeypatch):
    # The endpoint would be allowed 5 s, but the invocation has only 31 s left and 30 s are kept for
    # the report: after 1 s the check counts as failed, and the report is made in time.
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/hang"), "timeoutSeconds": 5}]))
    event = start_release()
    assert pre_traffic.handler(event, LambdaContext(remaining_seconds=31)) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_a_hook_started_too_late_to_check_still_reports(aws):
    event = start_release()
    assert pre_traffic.handler(event, LambdaContext(remaining_seconds=10)) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_with_enough_time_left_a_passing_check_passes(aws):
    event = start_release()
    assert pre_traffic.handler(event, LambdaContext(remaining_seconds=150)) == {"status": "Succeeded"}
    assert reported(aws, event) == ["Succeeded"]


def test_an_event_that_is_not_from_codedeploy_is_refused(aws):
    with pytest.raises(lifecycle.HookError, match="not a CodeDeploy lifecycle event"):
        pre_traffic.handler({"hello": "world"})
    assert aws.status_reports == []


# --- post-traffic: record the release in the deployment log


def test_a_finished_release_is_recorded_then_reported(aws):
    create_log_table()
    event = start_release(current="1", target="2")
    assert post_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(aws, event) == ["Succeeded"]

    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert len(items) == 1
    item = {key: value["S"] for key, value in items[0].items()}
    assert item["pk"] == "greeter#staging"
    assert item["sk"].startswith("SUCCEEDED#") and item["sk"].endswith(f"#{event['DeploymentId']}")
    assert (item["deploymentId"], item["previousVersion"], item["version"]) == (event["DeploymentId"], "1", "2")
    assert (item["status"], item["service"], item["environment"]) == ("SUCCEEDED", "greeter", "staging")
    assert item["deploymentCreatedAt"] and item["recordedAt"]


def test_a_retried_post_traffic_hook_neither_duplicates_nor_clobbers_the_record(aws):
    create_log_table()
    event = start_release()
    post_traffic.handler(event)
    first = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]

    aws.status_reports.clear()
    assert post_traffic.handler(event) == {"status": "Succeeded"}, "the conditional-check failure is a repeat"
    assert reported(aws, event) == ["Succeeded"]
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Items"] == first


def test_a_release_that_cannot_be_recorded_fails(aws):
    event = start_release()  # no table
    assert post_traffic.handler(event) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_post_traffic_without_its_table_setting_reports_failed(aws, monkeypatch):
    create_log_table()
    monkeypatch.delenv("DEPLOYMENT_LOG_TABLE")
    event = start_release()
    post_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_the_last_good_version_is_one_query_away(aws):
    create_log_table()
    for current, target in (("1", "2"), ("2", "3")):
        post_traffic.handler(start_release(current, target))
    client = boto3.client("dynamodb")
    assert last_good_version(client, TABLE, "greeter", "staging") == "3"
    assert last_good_version(client, TABLE, "greeter", "prod") is None


# --- ECS AfterAllowTestTraffic: smoke-test green through the test listener


def ecs_event() -> dict:
    return {"DeploymentId": "d-ECS0001", "LifecycleEventHookExecutionId": "execution-ecs"}


def test_green_answering_on_the_test_listener_lets_production_traffic_move(aws, load_balancer_node):
    event = ecs_event()
    assert test_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(aws, event) == ["Succeeded"]
    assert load_balancer_node.hosts_seen == [TEST_HOST], "the node is asked for the load balancer's own name"


def test_green_failing_on_the_test_listener_stops_the_release_before_users_see_it(aws, load_balancer_node, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/health"}, {"path": "/status/503"}]))
    event = ecs_event()
    assert test_traffic.handler(event) == {"status": "Failed"}
    assert reported(aws, event) == ["Failed"]


def test_green_hanging_on_the_test_listener_fails_within_its_timeout(aws, load_balancer_node, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/hang", "timeoutSeconds": 0.5}]))
    event = ecs_event()
    test_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_a_load_balancer_that_cannot_be_found_reports_failed(aws, load_balancer_node, monkeypatch):
    monkeypatch.setenv("LOAD_BALANCER", "app/another/fedcba9876543210")
    event = ecs_event()
    test_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


@pytest.mark.parametrize("paths", ["[]", "not json", '{"path": "/"}'])
def test_smoke_paths_that_are_missing_or_malformed_report_failed(aws, load_balancer_node, monkeypatch, paths):
    monkeypatch.setenv("SMOKE_PATHS", paths)
    event = ecs_event()
    test_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]


def test_an_ecs_release_is_recorded_with_the_previous_recorded_revision(aws):
    create_log_table()
    task_definition = "arn:aws:ecs:us-east-1:123456789012:task-definition/web-staging:{}"
    for revision in (1, 2):
        content = json.dumps(
            {
                "version": 0.0,
                "Resources": [
                    {
                        "TargetService": {
                            "Type": "AWS::ECS::Service",
                            "Properties": {
                                "TaskDefinition": task_definition.format(revision),
                                "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
                            },
                        }
                    }
                ],
            }
        )
        event = start_release(appspec=content)
        assert post_traffic.handler(event) == {"status": "Succeeded"}
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    recorded = sorted((item["version"]["S"], item["previousVersion"]["S"], item["strategy"]["S"]) for item in items)
    assert recorded == [
        ("web-staging:1", "", "codedeploy-blue-green"),
        ("web-staging:2", "web-staging:1", "codedeploy-blue-green"),
    ]


def test_the_pre_traffic_hook_refuses_an_ecs_deployment(aws):
    content = json.dumps(
        {"Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "x/web:1"}}}]}
    )
    event = start_release(appspec=content)
    pre_traffic.handler(event)
    assert reported(aws, event) == ["Failed"]
