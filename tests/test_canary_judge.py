"""Policy for the canary judge (components/canary_judge.py): every CodeDeploy release path in both
stacks has one, started by its own group's deployments and every minute, allowed to stop a
deployment and to read only its own group's, probing the new version only, and required by the
post-traffic hook before a release completes."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from ops.offline import build_stack, settled_stack
from rollback_guard.components.boundaries import WORKLOAD_ACTIONS, actions
from rollback_guard.components.canary_judge import (
    JUDGE_ALARMS,
    JUDGE_HANDLER,
    VERDICT_DETAIL_TYPE,
    VERDICT_SOURCE,
    JudgeOptions,
    ecs_judge_environment_bytes,
    heartbeat_alarm_name,
    judge_name_problems,
    lambda_judge_environment_bytes,
)
from rollback_guard.components.codedeploy import MAX_ALARMS_PER_DEPLOYMENT_GROUP
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.service import (
    ALARMS_BUILT_HERE,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    ServiceAlarms,
)
from rollback_guard.components.traffic_hooks import LAMBDA_ENVIRONMENT_BYTES, pre_traffic_environment_bytes
from rollback_guard.hooks.judge import HEARTBEAT_METRIC, JUDGE_NAMESPACE
from rollback_guard.testing import mock_arn, resolved, run
from tests.library_use import GREETER, NGINX, VPC, refused_before_anything_exists
from tests.scenarios import greeter, released_by, web

STACKS = ("staging", "prod")
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
FUNCTION = "aws:lambda/function:Function"
JUDGE = "rollback-guard:canary_judge:CanaryJudge"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}
DEPLOYMENT_EVENTS = "CodeDeploy Deployment State-change Notification"


def judges(stack) -> list:
    return [f for f in stack.of_type(FUNCTION) if f.inputs["handler"] == JUDGE_HANDLER]


def variables(stack, function: str) -> dict:
    return stack.inputs(function)["environment"]["variables"]


def statements(stack, policy: str) -> list[dict]:
    return json.loads(stack.inputs(policy)["policy"])["Statement"]


def granted(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def deployment_event(state: str, application: str, group: str) -> dict:
    return {
        "source": "aws.codedeploy",
        "detail-type": DEPLOYMENT_EVENTS,
        "detail": {"state": state, "application": application, "deploymentGroup": group, "deploymentId": "d-1"},
    }


# --- every release path


@pytest.mark.parametrize("stack", STACKS)
def test_every_codedeploy_release_path_in_both_stacks_has_a_canary_judge(settled, stack):
    built = settled(stack)
    groups = {
        (g.outputs["appName"], g.inputs["deploymentGroupName"]) for g in built.of_type(GROUP)
    }  # web-deploy, greeter-deploy
    judged = {
        (variables(built, f.name)["APPLICATION_NAME"], variables(built, f.name)["DEPLOYMENT_GROUP_NAME"])
        for f in judges(built)
    }
    assert judged == groups and len(groups) == 2
    assert {r.name for r in built.of_type(JUDGE)} == {"web-judge", "greeter-judge"}


def test_every_release_path_names_its_judge_for_ops(prod):
    exports = {
        "web": prod.value.services["web"].release_path("web", "codedeploy-blue-green"),
        "greeter": prod.value.functions["greeter"].release_path("greeter"),
    }
    assert {name: path["judge"] for name, path in exports.items()}.keys() == {"web", "greeter"}


def test_ecs_native_and_rolling_strategies_have_no_judge():
    """ECS releases the service itself: there is no CodeDeploy deployment for a judge to stop."""
    for strategy, keys in (("rolling", {}), ("ecs-canary", {"bakeTimeMinutes": 15})):
        built = settled_stack("staging", **released_by(strategy, **keys))
        assert [r.name for r in built.of_type(JUDGE)] == ["greeter-judge"], strategy


def test_a_release_starts_once_its_judge_listens(prod):
    for path in ("web", "greeter"):
        waits_for = prod.registration(f"{path}-release").dependencies
        for part in ("start", "start-target", "start-invoke", "function"):
            assert prod.registration(f"{path}-judge-{part}").urn in waits_for, (path, part)


# --- what it may do


@pytest.mark.parametrize("path", ["web", "greeter"])
def test_the_judge_may_stop_only_its_own_deployment_groups_deployments(prod, path):
    """It finds deployments only in its own group (ListDeployments and GetDeployment take the group's
    ARN); StopDeployment, ListDeploymentTargets and GetDeploymentTarget have no resource type in IAM
    (AWS's Service Authorization Reference), so they are granted on "*", and stopping is its only
    CodeDeploy write: no lifecycle status, no deployment of its own, no continue."""
    group = mock_arn(GROUP, f"{path}-deploy-group")
    codedeploy = [s for s in statements(prod, f"{path}-judge-policy") if granted(s)[0].startswith("codedeploy:")]
    scoped = {a: s["Resource"] for s in codedeploy for a in granted(s)}
    assert scoped == {
        "codedeploy:ListDeployments": group,
        "codedeploy:GetDeployment": group,
        "codedeploy:ListDeploymentTargets": "*",
        "codedeploy:GetDeploymentTarget": "*",
        "codedeploy:StopDeployment": "*",
    }
    assert variables(prod, f"{path}-judge-function")["DEPLOYMENT_GROUP_NAME"] == f"{path}-deploy"


def test_the_judge_reads_metrics_uses_the_deployment_log_and_puts_verdicts_on_the_default_bus(prod):
    for path in ("web", "greeter"):
        by_action = {a: s["Resource"] for s in statements(prod, f"{path}-judge-policy") for a in granted(s)}
        assert by_action["cloudwatch:GetMetricData"] == "*", "GetMetricData names no resource"
        table = mock_arn("aws:dynamodb/table:Table", "prod-deployment-log-table")
        assert {by_action[f"dynamodb:{a}"] for a in ("GetItem", "PutItem", "UpdateItem")} == {table}
        assert not {"dynamodb:DeleteItem", "dynamodb:Scan"} & set(by_action)
        assert by_action["events:PutEvents"] == "arn:aws:events:us-east-1:123456789012:event-bus/default"


def test_the_judge_invokes_itself_and_for_lambda_the_target_versions_only(prod):
    def invoked(path: str) -> list[str]:
        [invoke] = [s for s in statements(prod, f"{path}-judge-policy") if "lambda:InvokeFunction" in granted(s)]
        return invoke["Resource"]

    own = "arn:aws:lambda:us-east-1:123456789012:function:{}"
    assert invoked("web") == [own.format(prod.inputs("web-judge-function")["name"])]
    versions = mock_arn(FUNCTION, "greeter-function") + ":*"
    assert invoked("greeter") == [own.format(prod.inputs("greeter-judge-function")["name"]), versions]
    assert prod.inputs("greeter-judge-function")["name"] == "greeter-judge-prod"


@pytest.mark.parametrize("stack", STACKS)
def test_the_judges_role_is_bounded_like_every_workload_role(settled, stack):
    built = settled(stack)
    for path in ("web", "greeter"):
        role = built.inputs(f"{path}-judge-role")
        assert role["path"] == f"/rollback-guard/{stack}/"
        assert role["permissionsBoundary"].endswith("/rollback-guard-workload-boundary")
        assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


# --- when it is silent


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("path", ["web", "greeter"])
def test_a_judge_that_stops_reporting_stops_the_release(settled, stack, path):
    """Its heartbeat alarm is in its deployment group's alarms (CodeDeploy neither starts nor lets
    finish a release while one is in ALARM) and fires after five minutes without a heartbeat, missing
    data breaching: a judge that crashed or cannot work publishes nothing at all."""
    built = settled(stack)
    alarm = built.inputs(f"{path}-judge-silent")
    assert alarm["name"] == f"{path}-judge-{stack}-silent"
    assert alarm["name"] in built.inputs(f"{path}-deploy-group")["alarmConfiguration"]["alarms"]
    assert built.inputs(f"{path}-deploy-group")["alarmConfiguration"]["enabled"] is True
    assert (alarm["namespace"], alarm["metricName"]) == (JUDGE_NAMESPACE, HEARTBEAT_METRIC)
    # The dimension the judge puts its heartbeat under: its own group's name.
    assert alarm["dimensions"] == {
        "DeploymentGroup": variables(built, f"{path}-judge-function")["DEPLOYMENT_GROUP_NAME"]
    }
    assert (alarm["statistic"], alarm["period"]) == ("Sum", 60)
    assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (5, 5)
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["treatMissingData"] == "breaching"
    assert "missing data is breaching on purpose" in alarm["alarmDescription"].lower()


@pytest.mark.parametrize("path", ["web", "greeter"])
def test_a_release_waits_for_its_judge_to_report_before_it_starts(prod, path):
    """A judge created by the same `up` has not reported yet: the release waits for its heartbeat
    alarm to leave ALARM (rollback_guard/release/engine.py) rather than have CodeDeploy stop it."""
    assert prod.inputs(f"{path}-release")["judge_alarm"] == f"{path}-judge-prod-silent"


def test_the_heartbeat_alarms_name_is_known_before_the_deployment_group(prod):
    """The group lists the alarm by a name known before anything exists; the alarm (its dimension)
    waits for the group, the group for nothing of the judge's: no cycle."""
    for path in ("web", "greeter"):
        name = prod.inputs(f"{path}-judge-silent")["name"]
        assert name == f"{path}-judge-prod-silent" == prod.inputs(f"{path}-judge-function")["name"] + "-silent"
        group, alarm = prod.registration(f"{path}-deploy-group"), prod.registration(f"{path}-judge-silent")
        assert alarm.urn not in group.dependencies
        assert not {prod.registration(f"{path}-judge{part}").urn for part in ("", "-function")} & set(
            group.dependencies
        )
        assert group.urn in alarm.dependencies


def test_the_heartbeat_alarm_is_not_a_health_check_of_the_service():
    """The pipeline's post-deploy health check (rollbackAlarmNames) and ops read the service's own
    alarms: a silent judge stops releases, it does not make the service unhealthy."""

    def check(exports):
        paths = {path["service"]: path for path in exports["releasePaths"]}
        for path in ("web", "greeter"):
            heartbeat = f"{path}-judge-prod-silent"
            assert heartbeat not in exports["rollbackAlarmNames"], path
            assert heartbeat not in paths[path]["alarms"], path
            assert set(paths[path]["alarms"]) <= set(exports["rollbackAlarmNames"]), path

    build_stack("prod", then=lambda program: resolved(program.exports).apply(check))


def test_the_judge_may_put_metrics_only_in_its_own_namespace(prod):
    for path in ("web", "greeter"):
        [put] = [s for s in statements(prod, f"{path}-judge-policy") if "cloudwatch:PutMetricData" in granted(s)]
        assert granted(put) == ["cloudwatch:PutMetricData"]
        # PutMetricData has no resource type: the namespace condition is what scopes it.
        assert put["Resource"] == "*"
        assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": JUDGE_NAMESPACE}}
    assert JUDGE_NAMESPACE == "RollbackGuard/Judge"
    assert "cloudwatch:PutMetricData" in actions(WORKLOAD_ACTIONS), "the workload boundary lets it through"


def test_a_heartbeat_alarm_name_is_its_judge_functions_name_and_at_most_255_characters():
    def names():
        # The judge's function is named <project>-<name>-<stack> (rollback_guard.components.naming).
        assert heartbeat_alarm_name("web-judge") == "test-web-judge-test-silent"
        longest = "j" * (255 - len("test--test-silent"))
        assert not [line for line in judge_name_problems(longest) if "heartbeat alarm" in line]
        [refused] = [line for line in judge_name_problems(longest + "j") if "heartbeat alarm" in line]
        assert "(256 characters); AWS allows 255" in refused

    run(names)


def test_an_11th_alarm_is_refused_with_the_judges_heartbeat_alarm_counted():
    def program(extra: int):
        return lambda: EcsServiceWithRollback(
            "checkout",
            EcsServiceWithRollbackArgs(
                network=VPC,
                container=NGINX,
                alarms=ServiceAlarms(extra_alarm_names=[f"alarm-{i}" for i in range(extra)]),
            ),
        )

    fits = MAX_ALARMS_PER_DEPLOYMENT_GROUP - ALARMS_BUILT_HERE - JUDGE_ALARMS
    built = run(program(fits))
    assert len(built.inputs("checkout-deploy-group")["alarmConfiguration"]["alarms"]) == MAX_ALARMS_PER_DEPLOYMENT_GROUP
    with pytest.raises(ValueError, match="at most 10 alarms"):
        run(program(fits + 1))


# --- when it runs


@pytest.mark.parametrize("path", ["web", "greeter"])
def test_the_judge_is_started_by_its_groups_deployment_start_event_and_every_minute(prod, path):
    application = prod.registration(f"{path}-deploy-app").outputs["name"]
    rule = prod.inputs(f"{path}-judge-start")
    pattern = EventPattern(rule["eventPattern"], json.loads(rule["eventPattern"]))
    assert pattern.matches_event(deployment_event("START", application, f"{path}-deploy"))
    assert not pattern.matches_event(deployment_event("START", application, "other-deploy")), "another group's"
    assert not pattern.matches_event(deployment_event("START", "other-app", f"{path}-deploy"))
    assert not pattern.matches_event(deployment_event("SUCCESS", application, f"{path}-deploy"))
    assert prod.inputs(f"{path}-judge-every-minute")["scheduleExpression"] == "rate(1 minute)"
    for trigger in ("start", "every-minute"):
        assert prod.inputs(f"{path}-judge-{trigger}-target")["arn"] == mock_arn(FUNCTION, f"{path}-judge-function")
        permission = prod.inputs(f"{path}-judge-{trigger}-invoke")
        assert (permission["principal"], permission["function"]) == ("events.amazonaws.com", f"{path}-judge-prod")
        assert permission["sourceArn"] == mock_arn("aws:cloudwatch/eventRule:EventRule", f"{path}-judge-{trigger}")


@pytest.mark.parametrize("stack", STACKS)
def test_the_judge_runs_up_to_lambdas_15_minutes_traced_with_its_own_retained_logs(settled, stack):
    built = settled(stack)
    days = {"staging": 14, "prod": 90}[stack]
    for judge in judges(built):
        inputs = judge.inputs
        assert (inputs["runtime"], inputs["timeout"], inputs["memorySize"]) == ("python3.13", 900, 256)
        assert inputs["tracingConfig"] == {"mode": "Active"}
        log = built.inputs(judge.name.removesuffix("-function") + "-logs")
        assert (log["name"], log["retentionInDays"]) == (f"/aws/lambda/{inputs['name']}", days)


# --- what it looks at


def test_the_lambda_judges_environment_names_its_versions_metrics_and_probes(prod):
    assert variables(prod, "greeter-judge-function") == {
        "KIND": "lambda",
        "APPLICATION_NAME": "greeter-deploy-app",
        "DEPLOYMENT_GROUP_NAME": "greeter-deploy",
        "DEPLOYMENT_LOG_TABLE": "prod-deployment-log-table",
        "SERVICE_NAME": "greeter",
        "ENVIRONMENT": "prod",
        "ERROR_RATE_PERCENT": "1.0",
        "PROBES_PER_SECOND": "2.0",
        "MAX_PROBES": "5000",
        # Metrics per ExecutedVersion under the alias; probes invoke the new version with the smoke events.
        "FUNCTION_NAME": "greeter-prod",
        "ALIAS": "live",
        "SMOKE_EVENTS": json.dumps(
            [{"name": "greets", "payload": {"name": "smoke-test"}, "expect": {"statusCode": 200}}]
        ),
        "CHECK_TIMEOUT_SECONDS": "20.0",
        "RELEASE_METRICS": "false",
    }


def test_the_ecs_judges_environment_names_its_target_groups_metrics_and_probes(prod):
    assert variables(prod, "web-judge-function") == {
        "KIND": "ecs",
        "APPLICATION_NAME": "web-deploy-app",
        "DEPLOYMENT_GROUP_NAME": "web-deploy",
        "DEPLOYMENT_LOG_TABLE": "prod-deployment-log-table",
        "SERVICE_NAME": "web",
        "ENVIRONMENT": "prod",
        "ERROR_RATE_PERCENT": "1.0",
        "PROBES_PER_SECOND": "2.0",
        "MAX_PROBES": "5000",
        # Probes reach green only, through the test listener; metrics per target group (blue and green).
        "LOAD_BALANCER": "app/web-lb-alb/0123456789abcdef",
        "TEST_HOST": "web-lb-alb.us-east-1.elb.amazonaws.com",
        "TEST_LISTENER_PORT": "8080",
        "SMOKE_PATHS": json.dumps([{"expectStatus": 200, "path": "/"}]),
        "TARGET_GROUPS": json.dumps(
            {
                "web-lb-blue": "targetgroup/web-lb-blue/0123456789abcdef",
                "web-lb-green": "targetgroup/web-lb-green/0123456789abcdef",
            }
        ),
    }


def test_the_judge_holds_each_path_to_its_own_rollback_threshold(staging):
    assert variables(staging, "web-judge-function")["ERROR_RATE_PERCENT"] == "5.0"
    assert variables(staging, "greeter-judge-function")["ERROR_RATE_PERCENT"] == "1.0"


def test_the_stack_files_judge_settings_reach_the_judge():
    built = settled_stack(
        "staging",
        **web({"judge": {"probesPerSecond": 0.5, "maxProbesPerRelease": 600}}),
        **greeter({"judge": {"maxProbesPerRelease": 0}}),
    )
    web_judge, greeter_judge = variables(built, "web-judge-function"), variables(built, "greeter-judge-function")
    assert (web_judge["PROBES_PER_SECOND"], web_judge["MAX_PROBES"]) == ("0.5", "600")
    assert (greeter_judge["PROBES_PER_SECOND"], greeter_judge["MAX_PROBES"]) == ("2.0", "0"), (
        "staging may turn them off"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_ecs_judge_runs_in_the_vpc_reaching_only_the_test_listener_and_aws_apis(settled, stack):
    built = settled(stack)
    config = built.inputs("web-judge-function")["vpcConfig"]
    assert config["subnetIds"] == built.inputs("web-service")["networkConfiguration"]["subnets"], "private subnets"
    assert config["securityGroupIds"] == ["web-judge-sg-id"]
    cidr = {"staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}[stack]
    egress = {
        (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["cidrIpv4"])
        for rule in built.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if rule.inputs["securityGroupId"] == "web-judge-sg-id"
    }
    assert egress == {(8080, 8080, cidr), (443, 443, "0.0.0.0/0")}
    assert not [
        r
        for r in built.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == "web-judge-sg-id"
    ], "nothing calls in"
    assert "vpcConfig" not in built.inputs("greeter-judge-function"), "a Lambda judge needs no VPC"


# --- the post-traffic hook and the notifications


@pytest.mark.parametrize("stack", STACKS)
def test_a_release_completes_only_with_its_judges_verdict(settled, stack):
    built = settled(stack)
    for hook in ("web-recorder-function", "greeter-hooks-post-traffic-function"):
        assert variables(built, hook)["JUDGE_REQUIRED"] == "true", hook
        reads = {a for s in statements(built, hook.removesuffix("-function") + "-policy") for a in granted(s)}
        assert "dynamodb:GetItem" in reads, "the hook reads the judge's item in the deployment log"


def test_a_verdict_reaches_the_release_notifications(pipeline_stack):
    rule = pipeline_stack.inputs("release-notifications-deployments")["eventPattern"]
    pattern = EventPattern(rule, json.loads(rule))
    verdict = {"source": VERDICT_SOURCE, "detail-type": VERDICT_DETAIL_TYPE, "detail": {"verdict": "ROLLBACK"}}
    assert pattern.matches_event(verdict)
    assert pattern.matches_event(deployment_event("FAILURE", "web-deploy-app-1234567", "web-deploy"))
    assert not pattern.matches_event(deployment_event("START", "web-deploy-app-1234567", "web-deploy"))
    assert not pattern.matches_event({**verdict, "source": "someone.else"})


# --- what it refuses


def test_production_judges_send_probes():
    program = lambda: LambdaCanary(  # noqa: E731
        "greeter",
        LambdaCanaryArgs(
            code_path=GREETER,
            handler="app.handler",
            smoke_events=[SMOKE_EVENT],
            judge=JudgeOptions(max_probes_per_release=0),
            production=True,
        ),
    )
    with pytest.raises(ValueError, match="at least one probe per release"):
        run(program, stack="prod")


def test_judge_options_are_bounded_and_refused_naming_each():
    options = JudgeOptions(probes_per_second=0, max_probes_per_release=100_001)
    found = refused_before_anything_exists(
        lambda: LambdaCanary(
            "greeter",
            LambdaCanaryArgs(code_path=GREETER, handler="app.handler", smoke_events=[SMOKE_EVENT], judge=options),
        )
    )
    assert found.splitlines() == [
        "Lambda canary greeter: LambdaCanaryArgs.judge.probes_per_second = 0: a number above 0, at most 10 probes a "
        "second to the new version",
        "Lambda canary greeter: LambdaCanaryArgs.judge.max_probes_per_release = 100001: a whole number from 0 to "
        "100000 (the cost cap on a release's probes; 0 sends none, which production refuses (its judge needs probes))",
    ]


def test_smoke_checks_that_would_not_fit_the_judges_environment_are_refused():
    # Events that fit the pre-traffic hook's environment but not the judge's, which holds more.
    events = [
        {"name": f"event-{i:03d}", "payload": {"text": "x" * 80}, "expect": {"statusCode": 200}} for i in range(20)
    ]
    assert pre_traffic_environment_bytes(events, [], 20.0) <= LAMBDA_ENVIRONMENT_BYTES
    assert lambda_judge_environment_bytes(events) > LAMBDA_ENVIRONMENT_BYTES
    with pytest.raises(ValueError, match="canary judge's environment"):
        run(
            lambda: LambdaCanary(
                "greeter", LambdaCanaryArgs(code_path=GREETER, handler="app.handler", smoke_events=events)
            ),
            stack="staging",
        )
    assert ecs_judge_environment_bytes([{"path": "/"}]) < LAMBDA_ENVIRONMENT_BYTES


def test_a_function_that_publishes_its_own_counts_has_a_judge_that_reads_them():
    built = settled_stack("staging", **greeter({"releaseMetrics": True}))
    assert variables(built, "greeter-judge-function")["RELEASE_METRICS"] == "true"


def test_a_function_that_does_not_publish_its_own_counts_has_a_judge_that_does_not_look_for_them(prod):
    assert variables(prod, "greeter-judge-function")["RELEASE_METRICS"] == "false"
