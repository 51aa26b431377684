"""Releasing through CodeDeploy: moto's server for the AWS state, scripted transitions for what moto
does not simulate (a deployment's progress and end)."""

from __future__ import annotations

import json

import boto3
import pytest

from rollback_guard.hooks.revisions import appspec_content, describe
from rollback_guard.release import appspec
from rollback_guard.release.appspec import target_of
from rollback_guard.release.engine import (
    Backoff,
    EcsTarget,
    LambdaTarget,
    ReleaseFailed,
    Releaser,
    ReleaseRequest,
)
from tests.hook_runs import fire_alarm
from tests.local_aws import Fault
from tests.scenarios import ALARM, FUNCTION, HOOKS, ROLLED_BACK_BY_ALARM, ecs_service_on, lambda_target, zipped_code


class Recorder:
    """What the engine said and how long it slept; its clock moves only by those sleeps."""

    def __init__(self):
        self.lines: list[str] = []
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return sum(self.sleeps)


@pytest.fixture
def recorder():
    return Recorder()


def releaser(recorder: Recorder) -> Releaser:
    return Releaser(
        "us-east-1",
        on_progress=recorder.lines.append,
        sleep=recorder.sleeps.append,
        clock=recorder.clock,
        backoff=Backoff(1, 8),
    )


def lambda_request(version: str, **overrides) -> ReleaseRequest:
    return ReleaseRequest(
        application="greeter",
        deployment_group="greeter-deploy",
        target=LambdaTarget(FUNCTION, "live", version, HOOKS),
        retry_setting="rollback-guard:functions.greeter.retryRevision",
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
    assert failed.value.summary == (
        f"release of {FUNCTION} version 2 failed: deployment {deployment['deploymentId']} Stopped; "
        f"traffic is back on {FUNCTION} version 1"
    )
    assert message.startswith(failed.value.summary + "\n"), "one line first, then the details"
    assert f"alarm {ALARM} fired: Threshold Crossed: 3 out of the last 3 datapoints" in message
    assert "CodeDeploy rolled back (deployment d-ROLLBACK1 succeeded)" in message
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


def test_polling_survives_throttling(published_function, recorder, codedeploy_groups):
    codedeploy_groups.throttle_next_polls = 2
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"
    assert codedeploy_groups.throttle_next_polls == 0
    assert recorder.sleeps == [1, 2], "each throttled poll backs off before the next"


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
    assert message.startswith(f"refusing to release {FUNCTION} version 2 again: it was rolled back (deployment ")
    assert "Stopped at 20" in message and f"One or more alarms have been activated: {ALARM})" in message
    assert f"go back to what is live ({FUNCTION} version 1) or on to a fixed revision" in message
    assert (
        "retry this exact revision deliberately: pulumi config set --path rollback-guard:functions.greeter.retryRevision 2"
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
    with pytest.raises(ReleaseFailed, match="has not finished after 0 minutes\n  it goes on in CodeDeploy"):
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


# --- when things go wrong: interrupted ups, flaky AWS, what CodeDeploy did, what to refuse


def in_flight(local_aws, version: str, steps: list[dict], **info) -> str:
    """A deployment an earlier `up` started and was killed during: it goes on in CodeDeploy."""
    codedeploy = boto3.client("codedeploy")
    deployment = codedeploy.create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", version, HOOKS)),
        description=describe("release", version, "1", "an interrupted up"),
    )["deploymentId"]
    local_aws.script_next_deployment(steps)
    codedeploy.get_deployment(deploymentId=deployment)  # its first step
    return deployment


def test_an_interrupted_up_is_resumed_by_the_next_one(published_function, recorder, codedeploy_groups):
    deployment = in_flight(codedeploy_groups, "2", [{"status": "InProgress"}, {"status": "Succeeded"}])
    outcome = releaser(recorder).release(lambda_request("2"))
    assert outcome.deployment_id == deployment
    assert len(deployments()) == 1, "adopted, not started again"
    assert "an earlier `up` started it and was interrupted" in recorder.lines[0]


def test_a_release_still_in_blues_termination_wait_is_not_finished(published_function, recorder, codedeploy_groups):
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")  # traffic has moved
    in_flight(
        codedeploy_groups,
        "2",
        [
            {"status": "InProgress", "instanceTerminationWaitTimeStarted": True},
            {
                "status": "Stopped",
                "errorInformation": {"code": "ALARM_ACTIVE", "message": "alarm during the termination wait"},
                "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK4"},
            },
        ],
    )
    with pytest.raises(ReleaseFailed) as failed:
        releaser(recorder).release(lambda_request("2"))
    assert "already live" not in " ".join(recorder.lines)
    assert failed.value.summary.endswith("Stopped; traffic is back on the revision before it")


def test_another_deployment_in_flight_is_named(published_function, recorder, codedeploy_groups):
    deployment = in_flight(codedeploy_groups, "3", [{"status": "InProgress"}])
    with pytest.raises(ReleaseFailed) as refused:
        releaser(recorder).release(lambda_request("2"))
    assert refused.value.summary.startswith(
        f"cannot release {FUNCTION} version 2: a deployment of {FUNCTION} version 3 is in progress in greeter-deploy "
        f"(deployment {deployment}, InProgress, created 20"
    )
    assert refused.value.deployment_id is None, "nothing was started"


def test_codedeploys_own_rollback_in_flight_is_waited_for_not_fought(published_function, recorder, codedeploy_groups):
    rollback = in_flight(
        codedeploy_groups,
        "1",
        [
            {"status": "InProgress", "creator": "codeDeployRollback"},
            {"status": "Succeeded", "creator": "codeDeployRollback"},
        ],
    )
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"
    assert f"deployment {rollback}: a rollback is in progress in greeter-deploy; waiting for it to end" in " ".join(
        recorder.lines
    )
    assert codedeploy_groups.stopped_deployments == [], "never stopped: that would undo it"


def test_the_wait_survives_resets_5xx_answers_and_expired_credentials(published_function, recorder, codedeploy_groups):
    codedeploy_groups.script_next_deployment([{"status": "InProgress"}, {"status": "Succeeded"}])
    for fault in (
        Fault(error="InternalFailure", status=500),
        Fault(lose_answer=True),
        Fault(error="ExpiredTokenException"),
        Fault(error="ServiceUnavailable", status=503),
    ):
        codedeploy_groups.inject("GetDeployment", fault)
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"
    assert sum("retrying" in line for line in recorder.lines) == 4


def test_an_alarm_read_that_fails_does_not_hide_the_explanation(published_function, recorder, codedeploy_groups):
    fire_alarm()
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    codedeploy_groups.inject("DescribeAlarms", Fault(error="ThrottlingException"), times=1000)
    with pytest.raises(ReleaseFailed) as failed:
        releaser(recorder).release(lambda_request("2"))
    message = str(failed.value)
    assert failed.value.summary.endswith(f"traffic is back on {FUNCTION} version 1")
    assert "CodeDeploy says: ALARM_ACTIVE" in message
    assert "the alarms' states cannot be read now (An error occurred (ThrottlingException)" in message


def test_a_failed_codedeploy_rollback_is_never_reported_as_traffic_back(
    published_function, recorder, codedeploy_groups
):
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)
    codedeploy_groups.rollback_outcomes["d-ROLLBACK1"] = "Failed"
    with pytest.raises(ReleaseFailed) as failed:
        releaser(recorder).release(lambda_request("2"))
    assert failed.value.summary.endswith(
        "CodeDeploy's rollback FAILED: traffic may still be on the bad revision; run `python -m ops rollback`"
    )
    assert "traffic is back" not in str(failed.value)
    assert "CodeDeploy's rollback deployment d-ROLLBACK1 Failed: the rollback could not complete" in str(failed.value)


@pytest.mark.parametrize(
    "ended",
    [
        {
            "status": "Failed",
            "errorInformation": {"code": "INTERNAL_ERROR", "message": "CodeDeploy had a bad day"},
            "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Failed"))],
        },
        # A hotfix stopped at its start because the previous incident's alarm had not cleared.
        {
            "status": "Stopped",
            "errorInformation": {"code": "ALARM_ACTIVE", "message": "alarm already in ALARM"},
            "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Pending"))],
        },
    ],
    ids=["infrastructure failure", "stopped before any traffic"],
)
def test_a_revision_that_never_got_a_fair_try_may_be_released_again(
    published_function, recorder, codedeploy_groups, ended
):
    codedeploy_groups.script_next_deployment([ended])
    with pytest.raises(ReleaseFailed):
        releaser(recorder).release(lambda_request("2"))
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2")).live_revision == "2"


def test_a_revision_whose_hook_failed_is_refused_next_time(published_function, recorder, codedeploy_groups):
    failed_hook = lambda_target(0.0, ("BeforeAllowTraffic", "Failed"))
    codedeploy_groups.script_next_deployment([{"status": "Failed", "targets": [failed_hook]}])
    with pytest.raises(ReleaseFailed):
        releaser(recorder).release(lambda_request("2"))
    with pytest.raises(ReleaseFailed, match="refusing to release greeter-staging version 2 again"):
        releaser(recorder).release(lambda_request("2"))


def test_the_memory_reads_no_appspec_of_a_deployment_it_described_itself(
    published_function, recorder, codedeploy_groups
):
    for version in ("2", "3"):
        codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
        releaser(recorder).release(lambda_request(version))
        published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)
    codedeploy_groups.calls.clear()
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    published_function.update_function_code(FunctionName=FUNCTION, ZipFile=zipped_code(4))
    published_function.publish_version(FunctionName=FUNCTION)
    releaser(recorder).release(lambda_request("4"))
    assert "GetApplicationRevision" not in codedeploy_groups.calls


def released_bad_version_3(local_aws, published_function, recorder) -> None:
    """2 went out and was good; 3 went out, passed its canary and is now live, and bad."""
    for version in ("2", "3"):
        local_aws.script_next_deployment([{"status": "Succeeded"}])
        releaser(recorder).release(lambda_request(version))
        published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)


def republish(published_function, release: int) -> str:
    """What `pulumi up` on an earlier commit does: the old code again, as a new version number."""
    published_function.update_function_code(FunctionName=FUNCTION, ZipFile=zipped_code(release))
    return published_function.publish_version(FunctionName=FUNCTION)["Version"]


def test_going_back_to_known_good_code_while_the_alarms_fire_is_a_rollback_they_cannot_stop(
    published_function, recorder, codedeploy_groups
):
    released_bad_version_3(codedeploy_groups, published_function, recorder)
    fire_alarm()
    version = republish(published_function, 2)  # the pipeline's stage rollback: the previous artifact
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request(version)).live_revision == version
    corrective = codedeploy_groups.created_deployments[-1]
    assert corrective["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert corrective["overrideAlarmConfiguration"] == {"enabled": False, "alarms": []}
    assert corrective["autoRollbackConfiguration"] == {"enabled": False, "events": []}
    assert corrective["description"].startswith(f"rollback-guard rollback {version} (from 3)")
    assert any(
        line.startswith(f"rolling back: {FUNCTION} version {version} brings back known-good 2")
        for line in recorder.lines
    )


def test_old_code_without_an_alarm_firing_goes_out_through_the_canary(published_function, recorder, codedeploy_groups):
    released_bad_version_3(codedeploy_groups, published_function, recorder)
    version = republish(published_function, 2)
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    releaser(recorder).release(lambda_request(version))
    assert "overrideAlarmConfiguration" not in codedeploy_groups.created_deployments[-1]


def test_new_code_is_never_a_rollback_even_while_the_alarms_fire(published_function, recorder, codedeploy_groups):
    released_bad_version_3(codedeploy_groups, published_function, recorder)
    fire_alarm()
    version = republish(published_function, 9)  # a hotfix
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    releaser(recorder).release(lambda_request(version))
    assert "overrideAlarmConfiguration" not in codedeploy_groups.created_deployments[-1]


# --- the memory, read straight from the history


def ended(local_aws, target: str, source: str, step: dict) -> str:
    """A Lambda deployment rollback-guard created, which ended as `step` says."""
    codedeploy = boto3.client("codedeploy")
    deployment = codedeploy.create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", source, target, HOOKS)),
        description=describe("release", target, source, "a release"),
    )["deploymentId"]
    local_aws.script_next_deployment([step])
    codedeploy.get_deployment(deploymentId=deployment)
    return deployment


STOPPED_BY_ALARM_AFTER_TRAFFIC = {
    "status": "Stopped",
    "errorInformation": {"code": "ALARM_ACTIVE", "message": "alarm"},
    "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Failed"))],
}


def history(recorder):
    return releaser(recorder).history("greeter", "greeter-deploy")


def test_known_good_passes_over_a_revision_rolled_back_for_cause_and_sees_every_older_one(
    published_function, recorder, codedeploy_groups
):
    ended(codedeploy_groups, "2", "1", {"status": "Succeeded"})
    ended(codedeploy_groups, "3", "2", {"status": "Succeeded"})
    ended(codedeploy_groups, "4", "3", STOPPED_BY_ALARM_AFTER_TRAFFIC)
    ended(codedeploy_groups, "5", "4", {"status": "Succeeded"})
    assert history(recorder).known_good("5") == "3", "4 was rolled back; 3 is the newest good one before it"


def test_known_good_after_codedeploys_own_rollback_failed_is_what_the_release_replaced(
    published_function, recorder, codedeploy_groups
):
    ended(codedeploy_groups, "2", "1", {"status": "Succeeded"})
    ended(
        codedeploy_groups, "3", "2", {**STOPPED_BY_ALARM_AFTER_TRAFFIC, "rollbackInfo": {"rollbackDeploymentId": "d-X"}}
    )
    assert history(recorder).known_good("3") == "2"


def test_codedeploys_own_rollback_says_nothing_against_the_revision_it_puts_back(
    published_function, recorder, codedeploy_groups
):
    ended(codedeploy_groups, "2", "1", {"status": "Succeeded"})
    # CodeDeploy's rollback deployment may carry the description of the release it undoes.
    ended(codedeploy_groups, "1", "2", {"status": "Succeeded", "creator": "codeDeployRollback"})
    remembered = history(recorder)
    assert remembered.rolled_back("2") is None and remembered.rolled_back("1") is None


# --- the canary judge must be listening


def judge_alarm(state: str) -> str:
    name = "greeter-judge-staging-silent"
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="RollbackGuard/Judge",
        MetricName="Heartbeat",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=5,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"{state} for the test")
    return name


def test_a_release_waits_for_a_new_judge_to_report_before_it_starts(published_function, recorder, codedeploy_groups):
    alarm = judge_alarm("ALARM")
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        recorder.sleeps.append(seconds)
        if len(waits) == 3:  # the judge's first heartbeats arrive
            boto3.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="heartbeats")

    engine = Releaser("us-east-1", on_progress=recorder.lines.append, sleep=sleep, clock=recorder.clock)
    outcome = engine.release(lambda_request("2", judge_alarm=alarm))
    assert outcome.live_revision == "2"
    assert waits == [20, 20, 20], "polled until the judge reported"
    assert f"waiting for the canary judge to report (alarm {alarm} in ALARM)" in recorder.lines


def test_a_release_whose_judge_stays_silent_does_not_start(published_function, recorder, codedeploy_groups):
    alarm = judge_alarm("ALARM")
    with pytest.raises(ReleaseFailed, match="the canary judge has not reported for 8 minutes") as failed:
        releaser(recorder).release(lambda_request("2", judge_alarm=alarm))
    assert "a release nobody judges does not start" in str(failed.value)
    assert deployments() == [], "no deployment was created"
    assert sum(recorder.sleeps) >= 480


def test_a_release_with_a_reporting_judge_does_not_wait(published_function, recorder, codedeploy_groups):
    alarm = judge_alarm("OK")
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert releaser(recorder).release(lambda_request("2", judge_alarm=alarm)).live_revision == "2"
    assert not any("waiting for the canary judge" in line for line in recorder.lines)


def test_a_release_stopped_because_its_judge_fell_silent_says_so(published_function, recorder, codedeploy_groups):
    alarm = judge_alarm("OK")
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM)

    def sleep(seconds: float) -> None:
        recorder.sleeps.append(seconds)
        boto3.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="no heartbeat")

    engine = Releaser("us-east-1", on_progress=recorder.lines.append, sleep=sleep, clock=recorder.clock)
    with pytest.raises(ReleaseFailed) as failed:
        engine.release(lambda_request("2", judge_alarm=alarm))
    assert f"alarm {alarm} fired: no heartbeat (the canary judge fell silent: see its logs)" in str(failed.value)
