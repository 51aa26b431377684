"""Policy for the Lambda canary release path, checked on both real stacks under mocks."""

import json
from pathlib import Path

import pytest

from ops.offline import ROOT, build_stack, settled_stack
from rollback_guard.components.traffic_hooks import PostShiftWatch, ReleaseContext, TrafficHooks, TrafficHooksArgs
from rollback_guard.testing import mock_arn, resolved
from tests.library_use import refused_before_anything_exists
from tests.scenarios import greeter

GROUP = "greeter-deploy-group"
HOOKS = ("greeter-hooks-pre-traffic-function", "greeter-hooks-post-traffic-function")
SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}


@pytest.fixture(params=["staging", "prod"])
def stack(request, staging, prod):
    return {"staging": staging, "prod": prod}[request.param]


def policy_statements(stack, name: str) -> list[dict]:
    return json.loads(stack.inputs(name)["policy"])["Statement"]


def test_versions_are_published_and_live_starts_on_one(stack):
    assert stack.inputs("greeter-function")["publish"] is True
    alias = stack.inputs("greeter-live")
    assert alias["name"] == "live"
    assert alias["functionVersion"] == "1", "a numbered version, never $LATEST"


def test_the_alias_is_left_to_codedeploy_after_creation(stack):
    assert stack.registration("greeter-live").ignore_changes == ("functionVersion", "routingConfig")


def test_the_function_ships_the_sample_code_with_tracing_and_retention(prod, staging):
    function = prod.inputs("greeter-function")
    assert {name: Path(asset.path).resolve() for name, asset in function["code"].assets.items()} == {
        "app.py": ROOT / "functions/greeter/app.py"
    }
    assert (function["handler"], function["runtime"]) == ("app.handler", "python3.13")
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["loggingConfig"]["logGroup"] == "/aws/lambda/greeter-prod"
    assert prod.inputs("greeter-logs")["retentionInDays"] == 90
    # Prod reserves none until `ops preflight` shows the account keeps enough unreserved.
    assert "reservedConcurrentExecutions" not in function
    assert "reservedConcurrentExecutions" not in staging.inputs("greeter-function")


def test_the_lambda_deployment_group_rolls_back_on_failure_alarm_and_stop(stack):
    group = stack.inputs(GROUP)
    assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert set(group["autoRollbackConfiguration"]["events"]) == {
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
        "DEPLOYMENT_STOP_ON_REQUEST",
    }
    assert group["alarmConfiguration"]["alarms"] == [
        "greeter-rollback-error-rate",
        "greeter-rollback-throttle-rate",
        # The canary judge's heartbeat alarm (tests/test_canary_judge.py).
        f"greeter-judge-{stack.stack}-silent",
    ]
    assert stack.inputs("greeter-deploy-app")["computePlatform"] == "Lambda"


def test_codedeploy_may_invoke_exactly_the_hooks(stack):
    managed = stack.inputs("greeter-deploy-role-managed")["policyArn"]
    assert managed == "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
    invoke = stack.inputs("greeter-hooks-invoke")
    assert invoke["role"] == "greeter-deploy-role"
    assert json.loads(invoke["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [mock_arn("aws:lambda/function:Function", hook) for hook in HOOKS],
        }
    ]


def test_the_error_rate_alarm_measures_the_new_version_through_the_alias(prod):
    alarm = prod.inputs("greeter-rollback-error-rate")
    assert (alarm["threshold"], alarm["comparisonOperator"]) == (1, "GreaterThanThreshold")
    assert (alarm["datapointsToAlarm"], alarm["evaluationPeriods"]) == (3, 3)
    assert alarm["treatMissingData"] == "notBreaching"
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    for metric_id, metric_name in (("errors", "Errors"), ("invocations", "Invocations")):
        metric = queries[metric_id]["metric"]
        assert (metric["namespace"], metric["metricName"], metric["stat"]) == ("AWS/Lambda", metric_name, "Sum")
        assert metric["dimensions"] == {
            "FunctionName": "greeter-prod",
            "Resource": "greeter-prod:live",
            "ExecutedVersion": "1",
        }
    assert queries["rate"]["expression"] == "IF(FILL(invocations, 0) >= 50, 100 * (FILL(errors, 0)) / invocations, 0)"
    assert [q for q in queries if queries[q].get("returnData")] == ["rate"]


def test_throttles_through_the_alias_also_roll_back(staging):
    queries = {q["id"]: q for q in staging.inputs("greeter-rollback-throttle-rate")["metricQueries"]}
    assert queries["throttles"]["metric"]["dimensions"] == {
        "FunctionName": "greeter-staging",
        "Resource": "greeter-staging:live",
    }
    assert queries["rate"]["expression"].startswith("IF(FILL(requests, 0) >= 20,")


def test_hooks_are_packaged_from_the_installed_package(stack):
    for hook, module in zip(HOOKS, ("pre_traffic", "post_traffic"), strict=True):
        function = stack.inputs(hook)
        assert function["handler"] == f"rollback_guard.hooks.{module}.handler"
        packaged = function["code"].assets
        shipped = {"__init__.py", "hooks/__init__.py", "hooks/lifecycle.py", "hooks/pre_traffic.py"}
        assert {f"rollback_guard/{name}" for name in shipped} <= set(packaged)
        assert not [name for name in packaged if "__pycache__" in name or name.endswith(".pyc")]
        assert not [name for name in packaged if "/components/" in name], "Lambda has no Pulumi to import"


def test_every_hook_lives_long_enough_to_report_and_the_post_traffic_hook_to_watch_as_well(stack):
    assert stack.inputs(HOOKS[0])["timeout"] == 150
    watch_seconds = int(stack.inputs(HOOKS[1])["environment"]["variables"]["WATCH_SECONDS"])
    assert watch_seconds == 600
    assert stack.inputs(HOOKS[1])["timeout"] == 150 + watch_seconds <= 900, "within Lambda's 15 minutes"


def test_the_post_traffic_hook_keeps_watching_the_rollback_alarms_after_the_last_shift(prod):
    """The group's alarms, the judge's heartbeat alarm among them: a judge that dies during the watch
    fails it."""
    variables = prod.inputs("greeter-hooks-post-traffic-function")["environment"]["variables"]
    rollback = ["greeter-rollback-error-rate", "greeter-rollback-throttle-rate"]
    alarms = [*rollback, "greeter-judge-prod-silent"]
    assert json.loads(variables["ROLLBACK_ALARMS"]) == alarms
    assert prod.inputs(GROUP)["alarmConfiguration"]["alarms"] == alarms, "the same alarms CodeDeploy watches"
    alarm = "aws:cloudwatch/metricAlarm:MetricAlarm"
    assert {
        "Effect": "Allow",
        "Action": "cloudwatch:DescribeAlarms",
        "Resource": [
            *(mock_arn(alarm, name) for name in rollback),
            prod.registration("greeter-judge-silent").outputs["arn"],
        ],
    } in policy_statements(prod, "greeter-hooks-post-traffic-policy")


def test_the_error_rate_alarm_watches_the_version_being_released_even_when_pinned():
    pinned = settled_stack("staging", **greeter({"pinnedVersion": "7"}))
    dimensions = {q["id"]: q for q in pinned.inputs("greeter-rollback-error-rate")["metricQueries"]}["errors"]
    assert dimensions["metric"]["dimensions"]["ExecutedVersion"] == "7"
    assert pinned.inputs("greeter-release")["target"]["version"] == "7"


def test_the_pre_traffic_hook_may_invoke_only_the_target_function(prod):
    statements = policy_statements(prod, "greeter-hooks-pre-traffic-policy")
    target = mock_arn("aws:lambda/function:Function", "greeter-function")
    assert {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [target, f"{target}:*"]} in statements
    variables = prod.inputs("greeter-hooks-pre-traffic-function")["environment"]["variables"]
    assert variables["TARGET_FUNCTION"] == "greeter-prod"
    assert json.loads(variables["SMOKE_EVENTS"]) == [
        {"name": "greets", "payload": {"name": "smoke-test"}, "expect": {"statusCode": 200}}
    ]


def test_hooks_report_and_read_only_for_their_own_deployment_group(stack):
    group_arn = mock_arn("aws:codedeploy/deploymentGroup:DeploymentGroup", GROUP)
    application_arn = mock_arn("aws:codedeploy/application:Application", "greeter-deploy-app")
    for policy in ("greeter-hooks-pre-traffic-policy", "greeter-hooks-post-traffic-policy"):
        allowed = policy_statements(stack, policy)
        for action, resource in (
            ("codedeploy:PutLifecycleEventHookExecutionStatus", group_arn),
            ("codedeploy:GetDeployment", group_arn),
            ("codedeploy:GetApplicationRevision", application_arn),
        ):
            assert {"Effect": "Allow", "Action": action, "Resource": resource} in allowed


def test_the_post_traffic_hook_may_only_write_to_the_deployment_log(prod):
    statements = policy_statements(prod, "greeter-hooks-post-traffic-policy")
    table = mock_arn("aws:dynamodb/table:Table", "prod-deployment-log-table")
    assert {
        "Effect": "Allow",
        "Action": ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem"],
        "Resource": table,
    } in statements
    assert not any("lambda:InvokeFunction" in json.dumps(s) for s in statements)
    variables = prod.inputs("greeter-hooks-post-traffic-function")["environment"]["variables"]
    assert {key: variables[key] for key in ("DEPLOYMENT_LOG_TABLE", "SERVICE_NAME", "ENVIRONMENT")} == {
        "DEPLOYMENT_LOG_TABLE": "prod-deployment-log-table",
        "SERVICE_NAME": "greeter",
        "ENVIRONMENT": "prod",
    }


def test_every_function_logs_only_to_its_own_log_group(stack):
    for name in ("greeter", "greeter-hooks-pre-traffic", "greeter-hooks-post-traffic"):
        logs = policy_statements(stack, f"{name}-policy")[0]
        assert logs["Resource"] == mock_arn("aws:cloudwatch/logGroup:LogGroup", f"{name}-logs") + ":*"


def test_the_prod_deployment_log_survives_destroy_and_deletion(prod, staging):
    table = prod.registration("prod-deployment-log-table")
    assert (table.protect, table.retain_on_delete) == (True, True)
    assert table.inputs["deletionProtectionEnabled"] is True
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert (table.inputs["hashKey"], table.inputs["rangeKey"]) == ("pk", "sk")
    staged = staging.registration("staging-deployment-log-table")
    assert (staged.protect, staged.retain_on_delete, staged.inputs["deletionProtectionEnabled"]) == (
        False,
        False,
        False,
    )


def test_a_custom_canary_becomes_a_lambda_deployment_config():
    staged = settled_stack(
        "staging", **greeter({"deploymentConfig": {"type": "canary", "percentage": 25, "intervalMinutes": 5}})
    )
    config = staged.inputs("greeter-deploy-shift")
    assert config["computePlatform"] == "Lambda"
    assert config["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"percentage": 25, "interval": 5},
    }


def test_a_stack_without_a_function_builds_no_lambda():
    staged = settled_stack("staging", functions=None)
    assert not [name for name in staged.monitor.registrations if name.startswith("greeter")]
    assert staged.value.functions == {}


def test_exports_name_what_a_lambda_release_needs():
    expected = {
        "functionName": "greeter-staging",
        "aliasArn": mock_arn("aws:lambda/alias:Alias", "greeter-live"),
        "codedeployApplicationName": "greeter-deploy-app",
        "deploymentGroupName": "greeter-deploy",
        "deploymentGroupArn": mock_arn("aws:codedeploy/deploymentGroup:DeploymentGroup", GROUP),
        "preTrafficHookName": "greeter-hooks-pre-traffic-staging",
        "postTrafficHookName": "greeter-hooks-post-traffic-staging",
    }

    def check(exports):
        assert exports["deploymentLogTableName"] == "staging-deployment-log-table"
        _assert_includes(exports["functions"]["greeter"], expected)

    build_stack("staging", then=lambda built: resolved(built.exports).apply(check))


def _assert_includes(exports: dict, expected: dict) -> None:
    assert {key: exports[key] for key in expected} == expected


def release_context() -> ReleaseContext:
    return ReleaseContext("greeter", "staging", "group-arn", "application-arn", "table", "table-arn")


def hooks(**args) -> TrafficHooks:
    args = {
        "release": release_context(),
        "target_function_name": "greeter-staging",
        "target_function_arn": "arn",
        "codedeploy_role_name": "role",
        "watch": PostShiftWatch(["alarm"], ["alarm-arn"]),
    } | args
    return TrafficHooks("greeter-hooks", TrafficHooksArgs(**args))


def test_the_hooks_component_itself_refuses_a_pre_traffic_hook_that_cannot_reach_the_new_version():
    found = refused_before_anything_exists(lambda: hooks(smoke_endpoints=[{"url": "https://api.example.com/"}]))
    assert found.startswith("traffic hooks greeter-hooks: TrafficHooksArgs.smoke_events = (): at least one smoke event")


@pytest.mark.parametrize("minutes", [0, 13])
def test_the_hooks_component_itself_refuses_a_watch_lambda_cannot_hold(minutes):
    watch = PostShiftWatch(["alarm"], ["alarm-arn"], minutes)
    found = refused_before_anything_exists(lambda: hooks(smoke_events=[SMOKE_EVENT], watch=watch))
    assert found == (
        f"traffic hooks greeter-hooks: TrafficHooksArgs.watch.minutes = {minutes}: a whole number from 1 to 12 "
        "minutes (the post-traffic hook still reports within Lambda's 15-minute limit)"
    )
