"""Each release strategy, in both environments, under mocks; switching between them; the ECS-native
smoke-test hook against local servers."""

from __future__ import annotations

import functools
import json

import pytest

from ops.offline import settled_stack
from rollback_guard.hooks import ecs_lifecycle
from rollback_guard.testing import mock_arn
from tests.scenarios import released_by

STRATEGIES = {
    "rolling": {"minimumHealthyPercent": 50, "maximumPercent": 200},
    "ecs-blue-green": {"bakeTimeMinutes": 15},
    "ecs-canary": {"bakeTimeMinutes": 15, "canaryPercent": 10, "canaryBakeMinutes": 10},
    "ecs-linear": {"bakeTimeMinutes": 15, "stepPercent": 10, "stepBakeMinutes": 1},
}
NATIVE = ("ecs-blue-green", "ecs-canary", "ecs-linear")
BLUE = mock_arn("aws:lb/targetGroup:TargetGroup", "web-lb-blue")
GREEN = mock_arn("aws:lb/targetGroup:TargetGroup", "web-lb-green")
HOOK = mock_arn("aws:lambda/function:Function", "web-test-traffic-function")
INFRASTRUCTURE_ROLE = mock_arn("aws:iam/role:Role", "web-ecs-infrastructure", path="/rollback-guard/staging/")


@functools.cache
def strategy_stack(environment: str, strategy: str):
    """Built once per environment and strategy: a settled stack is a read-only record."""
    return settled_stack(environment, **released_by(strategy, **STRATEGIES[strategy]))


# Production moves part of the traffic first: ECS-native blue/green (all at once) is staging's only.
@pytest.fixture(
    params=[
        (env, strategy)
        for strategy in STRATEGIES
        for env in ("staging", "prod")
        if (env, strategy) != ("prod", "ecs-blue-green")
    ]
)
def built(request):
    environment, strategy = request.param
    return strategy, strategy_stack(environment, strategy)


def test_ecs_controlled_strategies_roll_back_on_failure_and_on_alarm(built):
    _, stack = built
    service = stack.registration("web-service")
    assert service.inputs["deploymentController"] == {"type": "ECS"}
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    alarms = service.inputs["alarms"]
    assert (alarms["enable"], alarms["rollback"]) == (True, True)
    assert "web-rollback-5xx-rate" in alarms["alarmNames"] and "web-rollback-target-5xx-rate" in alarms["alarmNames"]
    assert service.inputs["waitForSteadyState"] is True, "pulumi up waits for the deployment, bake time included"
    assert "taskDefinition" not in service.ignore_changes, "under the ECS controller, a release is a service update"


def test_ecs_controlled_strategies_need_no_codedeploy(built):
    _, stack = built
    leftovers = [name for name in stack.monitor.registrations if name.startswith(("web-deploy", "web-release"))]
    assert leftovers == []


@pytest.mark.parametrize(
    ("strategy", "minutes"), [("rolling", 30), ("ecs-blue-green", 45), ("ecs-canary", 55), ("ecs-linear", 55)]
)
def test_pulumi_up_waits_as_long_as_the_deployment_takes(strategy, minutes):
    service = strategy_stack("staging", strategy).registration("web-service")
    assert service.update_timeout == f"{minutes}m", "shift and bake time, plus 30 minutes"


def test_rolling_replaces_tasks_within_the_configured_bounds():
    stack = strategy_stack("staging", "rolling")
    service = stack.inputs("web-service")
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (50, 200)
    assert "deploymentConfiguration" not in service
    assert "web-test-traffic" not in stack.monitor.registrations, "rolling has no test traffic to check"
    assert "web-lb-prod-rule" not in stack.monitor.registrations


@pytest.mark.parametrize(
    ("strategy", "configuration"),
    [
        ("ecs-blue-green", {}),
        ("ecs-canary", {"canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": "10"}}),
        ("ecs-linear", {"linearConfiguration": {"stepPercent": 10, "stepBakeTimeInMinutes": "1"}}),
    ],
)
def test_native_shifts_bake_and_smoke_test_green_through_the_test_listener(strategy, configuration):
    deployment = strategy_stack("staging", strategy).inputs("web-service")["deploymentConfiguration"]
    assert deployment == {
        "strategy": {"ecs-blue-green": "BLUE_GREEN", "ecs-canary": "CANARY", "ecs-linear": "LINEAR"}[strategy],
        "bakeTimeInMinutes": "15",
        "lifecycleHooks": [
            {"hookTargetArn": HOOK, "roleArn": INFRASTRUCTURE_ROLE, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
        ],
        **configuration,
    }


@pytest.mark.parametrize("strategy", NATIVE)
def test_native_shifts_route_through_weighted_rules_that_ecs_owns(strategy):
    stack = strategy_stack("staging", strategy)
    service = stack.registration("web-service")
    assert service.ignore_changes == ("loadBalancers",), "ECS swaps primary and alternate target groups"
    assert service.inputs["loadBalancers"][0]["advancedConfiguration"] == {
        "alternateTargetGroupArn": GREEN,
        "productionListenerRule": mock_arn("aws:lb/listenerRule:ListenerRule", "web-lb-prod-rule"),
        "testListenerRule": mock_arn("aws:lb/listenerRule:ListenerRule", "web-lb-test-rule"),
        "roleArn": INFRASTRUCTURE_ROLE,
    }
    for role in ("prod", "test"):
        rule = stack.registration(f"web-lb-{role}-rule")
        assert rule.ignore_changes == ("actions",), "ECS rewrites the weights"
        assert rule.inputs["actions"] == [
            {
                "type": "forward",
                "forward": {"targetGroups": [{"arn": BLUE, "weight": 100}, {"arn": GREEN, "weight": 0}]},
            }
        ]


@pytest.mark.parametrize("strategy", NATIVE)
def test_ecs_acts_through_a_role_that_may_move_traffic_and_invoke_only_the_hook(strategy):
    stack = strategy_stack("staging", strategy)
    assert stack.inputs("web-ecs-infrastructure-elb")["policyArn"] == (
        "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
    )
    trust = json.loads(stack.inputs("web-ecs-infrastructure")["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert json.loads(stack.inputs("web-ecs-infrastructure-hook")["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": HOOK}
    ]
    hook = stack.inputs("web-test-traffic-function")
    assert hook["handler"] == "rollback_guard.hooks.ecs_lifecycle.handler"
    hook_policy = stack.inputs("web-test-traffic-policy")["policy"]
    assert "PutLifecycleEventHookExecutionStatus" not in hook_policy, "ECS reads the answer; nothing to report"
    assert "web-test-traffic-invoke" not in stack.monitor.registrations


def test_switching_from_codedeploy_to_an_ecs_native_shift_changes_routing_not_the_load_balancer(staging):
    canary = strategy_stack("staging", "ecs-canary")
    before, after = set(staging.monitor.registrations), set(canary.monitor.registrations)
    assert {name for name in before - after if name.startswith("web")} == {
        "web-deploy",
        "web-deploy-app",
        "web-deploy-group",
        "web-deploy-role",
        "web-deploy-role-managed",
        "web-deploy-pass-task-roles",
        "web-release",
        "web-test-traffic-invoke",
        *(f"web-recorder{part}" for part in ("", "-function", "-invoke", "-logs", "-policy", "-role")),
        # ECS releases it itself: no CodeDeploy deployment for a canary judge to stop.
        *(f"web-judge{part}" for part in ("", "-function", "-logs", "-policy", "-role", "-sg", "-silent")),
        *(f"web-judge-{part}" for part in ("to-test-listener", "to-aws-apis")),
        *(f"web-judge-{rule}{part}" for rule in ("start", "every-minute") for part in ("", "-target", "-invoke")),
    }
    assert {name for name in after - before if name.startswith("web")} == {
        "web-lb-prod-rule",
        "web-lb-test-rule",
        "web-ecs-infrastructure",
        "web-ecs-infrastructure-elb",
        "web-ecs-infrastructure-hook",
    }
    for kept in ("web-lb-alb", "web-lb-blue", "web-lb-green", "web-lb-prod", "web-lb-test", "web-cluster"):
        assert staging.inputs(kept) == canary.inputs(kept), kept
    # The deployment controller cannot change in place: Pulumi replaces the service (see README).
    assert staging.inputs("web-service")["deploymentController"] != canary.inputs("web-service")["deploymentController"]


# --- the ECS-native hook: it answers with a status instead of reporting one


def test_green_answering_lets_ecs_shift_production_traffic(load_balancer_node):
    assert ecs_lifecycle.handler({"executionId": "x1", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"}) == {
        "hookStatus": "SUCCEEDED"
    }


def test_green_failing_makes_ecs_roll_back(load_balancer_node, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/status/502"}]))
    assert ecs_lifecycle.handler({"executionId": "x2"}) == {"hookStatus": "FAILED"}


def test_green_hanging_fails_within_its_timeout(load_balancer_node, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/hang", "timeoutSeconds": 0.5}]))
    assert ecs_lifecycle.handler({"executionId": "x3"}) == {"hookStatus": "FAILED"}


def test_a_hook_without_its_settings_still_answers(load_balancer_node, monkeypatch):
    monkeypatch.delenv("TEST_LISTENER_PORT")
    assert ecs_lifecycle.handler("not even an event") == {"hookStatus": "FAILED"}
