"""Releasing through CodeDeploy: moto's server for the AWS state, scripted transitions for what moto
does not simulate (a deployment's progress and end)."""

from __future__ import annotations

import json

import boto3
import pytest

from hooks.revisions import appspec_content
from release.appspec import target_of
from release.engine import (
    Backoff,
    EcsTarget,
    LambdaTarget,
    ReleaseFailed,
    Releaser,
    ReleaseRequest,
)
from tests.hook_runs import fire_alarm
from tests.scenarios import ALARM, FUNCTION, HOOKS, ROLLED_BACK_BY_ALARM, ecs_service_on, lambda_target


class Recorder:
    def __init__(self):
        self.lines: list[str] = []
        self.sleeps: list[float] = []


@pytest.fixture
def recorder():
    return Recorder()


def releaser(recorder: Recorder) -> Releaser:
    return Releaser("us-east-1", on_progress=recorder.lines.append, sleep=recorder.sleeps.append, backoff=Backoff(1, 8))


def lambda_request(version: str, **overrides) -> ReleaseRequest:
    return ReleaseRequest(
        application="greeter",
        deployment_group="greeter-deploy",
        target=LambdaTarget(FUNCTION, "live", version, HOOKS),
        retry_setting="rollback-guard:function.retryRevision",
        alarm_names=(ALARM,),
        **overrides,
    )


def deployments() -> list[dict]:
    codedeploy = boto3.client("codedeploy")
    ids = codedeploy.list_deployments(applicationName="greeter", deploymentGroupName="greeter-deploy")["deployments"]
    return codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"] if ids else []


def test_the_first_release_of_a_new_function_needs_no_deployment(published_function, recorder):
    outcome = releaser(recorder).release(lambda_request("1"))
    assert (outcome.live_revision, outcome.deployment_id) == ("1", None)
    assert deployments() == []


def test_a_new_version_is_shifted_through_codedeploy_with_its_appspec(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment(
        [
            {"status": "InProgress", "targets": [lambda_target(0.1, ("BeforeAllowTraffic", "Succeeded"))]},
            {"status": "InProgress", "targets": [lambda_target(0.5, ("BeforeAllowTraffic", "Succeeded"))]},
            {"status": "Succeeded"},
        ]
    )
    outcome = releaser(recorder).release(lambda_request("2"))

    [deployment] = deployments()
    assert (outcome.live_revision, outcome.deployment_id) == ("2", deployment["deploymentId"])
    content = appspec_content(boto3.client("codedeploy"), deployment)
    properties = json.loads(content)["Resources"][0][FUNCTION]["Properties"]
    assert properties == {"Name": FUNCTION, "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}
    assert json.loads(content)["Hooks"] == [
        {"BeforeAllowTraffic": HOOKS["BeforeAllowTraffic"]},
        {"AfterAllowTraffic": HOOKS["AfterAllowTraffic"]},
    ]
    assert target_of(content) == "2"
    progress = "\n".join(recorder.lines)
    assert "10% of traffic on version 2" in progress and "50% of traffic on version 2" in progress
    assert "BeforeAllowTraffic Succeeded" in progress
    assert recorder.lines[-1].endswith(f"succeeded: {FUNCTION} version 2 is live")


def test_a_release_stopped_by_an_alarm_names_the_alarm_and_keeps_traffic_on_the_old_version(
    published_function, recorder, codedeploy_groups
):
    fire_alarm("Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (1.0)")
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    with pytest.raises(ReleaseFailed) as failed:
        releaser(recorder).release(lambda_request("2"))
    [deployment] = deployments()
    message = str(failed.value)
    assert message.startswith(
        f"release of {FUNCTION} version 2 failed: deployment {deployment['deploymentId']} Stopped"
    )
    assert f"alarm {ALARM} fired: Threshold Crossed: 3 out of the last 3 datapoints" in message
    assert f"traffic stays on {FUNCTION} version 1: CodeDeploy rolled back (deployment d-ROLLBACK1)" in message
    assert f"aws deploy get-deployment --deployment-id {deployment['deploymentId']}" in message


def test_a_stopped_release_says_so(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment(
        [
            {
                "status": "Stopped",
                "errorInformation": {"code": "DEPLOYMENT_STOPPED", "message": "stopped by a user"},
                "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK2"},
            }
        ]
    )
    with pytest.raises(ReleaseFailed, match="CodeDeploy says: DEPLOYMENT_STOPPED: stopped by a user"):
        releaser(recorder).release(lambda_request("2"))


def test_a_failed_hook_is_named_with_where_its_logs_are(published_function, recorder, codedeploy_groups):
    failed_hook = lambda_target(
        0.0,
        ("BeforeAllowTraffic", "Failed"),
        diagnostics={"errorCode": "ScriptFailed", "message": "smoke checks failed"},
    )
    codedeploy_groups.script_next_deployment(
        [{"status": "Failed", "errorInformation": {"code": "HOOK_EXECUTION_FAILURE"}, "targets": [failed_hook]}]
    )
    with pytest.raises(ReleaseFailed) as failed:
        releaser(recorder).release(lambda_request("2"))
    assert (
        "hook BeforeAllowTraffic failed: smoke checks failed (logs: /aws/lambda/greeter-hooks-pre-traffic-staging)"
        in str(failed.value)
    )
    assert "traffic was not shifted back automatically" in str(failed.value)


def test_polling_backs_off_while_nothing_changes(published_function, recorder, codedeploy_groups):
    steps = [{"status": "InProgress", "targets": [lambda_target(0.1)]}] * 4 + [{"status": "Succeeded"}]
    codedeploy_groups.script_next_deployment(steps)
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"
    assert recorder.sleeps == [1, 2, 4, 8], "each poll that brings no news waits longer, up to the maximum"


def test_polling_survives_throttling_beyond_the_sdk_retries(published_function, recorder, codedeploy_groups):
    codedeploy_groups.throttle_next_polls = 2  # both of the SDK's attempts
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"
    assert codedeploy_groups.throttle_next_polls == 0
    assert recorder.sleeps == [2], "a throttled poll backs off before the next"


def test_the_blue_termination_wait_is_part_of_the_release(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment(
        [
            {"status": "InProgress", "instanceTerminationWaitTimeStarted": True},
            {
                "status": "Stopped",
                "errorInformation": {"code": "ALARM_ACTIVE", "message": "alarm during the termination wait"},
                "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK3"},
            },
        ]
    )
    with pytest.raises(ReleaseFailed, match="alarm during the termination wait"):
        releaser(recorder).release(lambda_request("2"))
    assert any("keeping blue while the alarms watch" in line for line in recorder.lines)


def test_the_next_release_after_a_success_is_a_no_op(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    releaser(recorder).release(lambda_request("2"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")  # what CodeDeploy did

    outcome = releaser(recorder).release(lambda_request("2"))
    assert outcome.deployment_id is None
    assert len(deployments()) == 1


def test_a_rolled_back_revision_is_not_released_again_unless_retried_deliberately(
    published_function, recorder, codedeploy_groups
):
    fire_alarm("Threshold Crossed")
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    with pytest.raises(ReleaseFailed):
        releaser(recorder).release(lambda_request("2"))

    with pytest.raises(ReleaseFailed) as refused:
        releaser(recorder).release(lambda_request("2"))
    message = str(refused.value)
    assert message.startswith(f"refusing to release {FUNCTION} version 2 again: it was rolled back at ")
    assert f"Stopped: One or more alarms have been activated: {ALARM}" in message
    assert f"go back to what is live ({FUNCTION} version 1) or on to a fixed revision" in message
    assert (
        "retry this exact revision deliberately: pulumi config set --path rollback-guard:function.retryRevision 2"
        in message
    )
    assert len(deployments()) == 1, "the refusal creates no deployment"

    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2", retry_revision="2")).live_revision == "2"
    assert len(deployments()) == 2


def test_a_retry_setting_for_another_revision_does_not_unlock_this_one(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    with pytest.raises(ReleaseFailed):
        releaser(recorder).release(lambda_request("2"))
    with pytest.raises(ReleaseFailed, match="refusing"):
        releaser(recorder).release(lambda_request("2", retry_revision="3"))


def test_a_fixed_version_is_released_after_a_rolled_back_one(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    with pytest.raises(ReleaseFailed):
        releaser(recorder).release(lambda_request("2"))
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("3")).live_revision == "3"


def test_a_release_that_outlives_its_timeout_says_where_to_follow_it(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment([{"status": "InProgress"}])
    with pytest.raises(ReleaseFailed, match="has not finished after 0 minutes; it goes on in CodeDeploy"):
        releaser(recorder).release(lambda_request("2", timeout_minutes=0))


# --- ECS


@pytest.fixture
def service(codedeploy_groups):
    return ecs_service_on(live=0)


def ecs_request(task_definition_arn: str) -> ReleaseRequest:
    return ReleaseRequest(
        application="web",
        deployment_group="web-deploy",
        target=EcsTarget(
            "web-cluster",
            "web-service",
            task_definition_arn,
            "web",
            80,
            {"AfterAllowTestTraffic": "web-test-traffic-staging"},
        ),
    )


def test_the_service_is_live_on_the_task_definition_it_was_created_with(service, recorder):
    assert releaser(recorder).live_revision(ecs_request(service[0]).target) == "web-staging:1"
    assert releaser(recorder).release(ecs_request(service[0])).deployment_id is None


def test_a_new_task_definition_is_released_as_a_codedeploy_deployment(service, recorder, codedeploy_groups):
    green = {
        "deploymentTargetId": "web-cluster:web-service",
        "ecsTarget": {
            "taskSetsInfo": [
                {"taskSetLabel": "Blue", "trafficWeight": 70.0},
                {"taskSetLabel": "Green", "trafficWeight": 30.0},
            ],
            "lifecycleEvents": [{"lifecycleEventName": "AfterAllowTestTraffic", "status": "Succeeded"}],
        },
    }
    codedeploy_groups.script_next_deployment([{"status": "InProgress", "targets": [green]}, {"status": "Succeeded"}])
    outcome = releaser(recorder).release(ecs_request(service[1]))
    assert outcome.live_revision == "web-staging:2"

    codedeploy = boto3.client("codedeploy")
    [deployment_id] = codedeploy.list_deployments(applicationName="web", deploymentGroupName="web-deploy")[
        "deployments"
    ]
    content = appspec_content(codedeploy, codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"])
    service_spec = json.loads(content)["Resources"][0]["TargetService"]
    assert service_spec["Properties"] == {
        "TaskDefinition": service[1],
        "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
    }
    assert json.loads(content)["Hooks"] == [{"AfterAllowTestTraffic": "web-test-traffic-staging"}]
    assert any("30% of traffic on green" in line for line in recorder.lines)
