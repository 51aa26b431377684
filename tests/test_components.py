"""Policy for the library's components as a platform team uses them directly, without this
project's settings: one node each, safe by default, and the production floors enforced by the
components themselves."""

import pulumi
import pytest

from rollback_guard.components.codedeploy import (
    AutoRollback,
    EcsDeploymentGroup,
    EcsDeploymentGroupArgs,
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    TimeBasedShift,
)
from rollback_guard.components.delivery import DeliveryPipeline, DeliveryPipelineArgs
from rollback_guard.components.ecs_service import NativeShift, Rolling
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.lambda_function import CanaryFunction, CanaryFunctionArgs, function_code_problems
from rollback_guard.components.pipeline import PipelineSource
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from rollback_guard.limits import SECURITY_GROUP_RULES
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.testing import run

# What the mocks' VPC lookup answers.
from tests.library_use import GREETER, NGINX, VPC

VPC_CIDR = "172.31.0.0/16"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}
SERVICE_TYPE = "rollback-guard:service:EcsServiceWithRollback"
CANARY_TYPE = "rollback-guard:lambda_canary:LambdaCanary"


def service(name="checkout", production=False, **args) -> EcsServiceWithRollback:
    if production:
        args = {"load_balancer": LoadBalancerOptions(listener_port=443, certificate_arn=CERTIFICATE)} | args
    return EcsServiceWithRollback(
        name, EcsServiceWithRollbackArgs(network=VPC, container=NGINX, production=production, **args)
    )


def canary(name="greeter", production=False, **args) -> LambdaCanary:
    args = {"smoke_events": [SMOKE_EVENT]} | args
    return LambdaCanary(name, LambdaCanaryArgs(code_path=GREETER, handler="app.handler", production=production, **args))


def group(production=True, **args) -> EcsDeploymentGroup:
    defaults = dict(
        cluster_name="c",
        service_name="s",
        blue_target_group_name="blue",
        green_target_group_name="green",
        production_listener_arn="arn:prod",
        test_listener_arn="arn:test",
        rollback=RollbackPolicy(alarm_names=["checkout-5xx"]),
        production=production,
    )
    return EcsDeploymentGroup("checkout-deploy", EcsDeploymentGroupArgs(**(defaults | args)))


def refusal(program, stack="prod") -> str:
    # Known arguments are refused as UnsafeConfiguration; an alarm list known once created, when the
    # engine resolves it (which wraps the error).
    with pytest.raises(ValueError) as refused:
        run(program, stack=stack)
    return str(refused.value)


def refusal_before_anything_exists(program) -> str:
    """What `program` is refused for, which must happen before it registers anything."""

    def attempt() -> str:
        with pytest.raises(UnsafeConfiguration) as refused:
            program()
        return str(refused.value)

    built = run(attempt)
    assert built.monitor.registered == [], "nothing is created"
    return built.value


# --- one node each


def shop_pipeline(**args) -> DeliveryPipelineArgs:
    return DeliveryPipelineArgs(
        source=PipelineSource("acme/shop"),
        smoke_endpoints=[{"path": "/"}],
        test_commands=["make test"],
        url_output="serviceUrl",
        alarm_names_output="rollbackAlarmNames",
        **args,
    )


def test_an_ecs_service_is_one_node_holding_every_part_of_its_release_path():
    built = run(service)
    parts = {r.type.rsplit(":", 1)[1] for r in built.children_of("checkout", SERVICE_TYPE)}
    assert parts == {
        "Network",
        "BlueGreenLoadBalancer",
        "LoadBalancerAlarms",
        "FargateService",
        "EcsDeploymentGroup",
        "TestTrafficHook",
        "DeploymentLog",
        "ReleaseRecorder",
        "CanaryJudge",
        "Release",
        "ReleaseDashboard",
    }
    assert [r.name for r in built.top_level] == ["checkout"], "nothing of the service lives outside its node"


def test_a_lambda_canary_is_one_node_holding_function_alarms_group_hooks_log_and_release():
    built = run(canary)
    parts = {r.type.rsplit(":", 1)[1] for r in built.children_of("greeter", CANARY_TYPE)}
    assert parts == {
        "CanaryFunction",
        "LambdaAlarms",
        "LambdaDeploymentGroup",
        "DeploymentLog",
        "TrafficHooks",
        "CanaryJudge",
        "Release",
        "ReleaseDashboard",
    }
    assert [r.name for r in built.top_level] == ["greeter"]


def test_the_pipeline_is_one_node():
    built = run(lambda: DeliveryPipeline("release", shop_pipeline()))
    assert [r.name for r in built.top_level] == ["release"]
    parts = {r.type for r in built.children_of("release", "rollback-guard:delivery:DeliveryPipeline")}
    assert parts == {
        "rollback-guard:boundaries:PermissionsBoundaries",
        "rollback-guard:pipeline_checks:PipelineChecks",
        "rollback-guard:pipeline:PipelineStorage",
        "rollback-guard:notifications:ReleaseNotifications",
        "rollback-guard:pipeline:ReleasePipeline",
    }


def test_ecs_native_and_rolling_strategies_leave_codedeploy_out():
    for strategy in (Rolling(), NativeShift("CANARY", canary_percent=10, canary_bake_minutes=5)):
        built = run(lambda strategy=strategy: service(release=EcsRelease(strategy=strategy)))
        assert not built.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup"), strategy
        assert not built.of_type("pulumi-python:dynamic:Resource"), "ECS releases the service itself"
        assert not built.of_type("rollback-guard:canary_judge:CanaryJudge"), "no CodeDeploy deployment to stop"


def test_parts_built_at_the_top_level_before_move_into_the_node_without_replacement():
    built = run(service)
    for part in built.children_of("checkout", SERVICE_TYPE):
        assert {"spec": {"noParent": True}} in part.aliases, part.name


# --- safe defaults


def test_by_default_a_service_shifts_10_percent_a_minute_and_rolls_back_on_its_alarms():
    alarms = ["checkout-rollback-5xx-rate", "checkout-rollback-target-5xx-rate", "checkout-rollback-unhealthy-hosts"]

    def its_alarms_are(svc: EcsServiceWithRollback):
        return svc.alarm_names.apply(lambda names: _equal(names, alarms))

    built = run(service, then=its_alarms_are)
    group = built.inputs("checkout-deploy-group")
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    assert set(group["autoRollbackConfiguration"]["events"]) >= {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}
    # The service's alarms, and its canary judge's heartbeat alarm (`<judge function>-silent`).
    assert group["alarmConfiguration"]["alarms"] == [*alarms, "test-checkout-judge-test-silent"]


def _equal(got, wanted) -> None:
    assert got == wanted


def test_a_production_service_and_canary_are_protected_from_destroy():
    for program, name, type_token in ((service, "checkout", SERVICE_TYPE), (canary, "greeter", CANARY_TYPE)):
        built = run(lambda program=program: program(production=True), stack="prod")
        assert built.registration(name, type_token).protect
        unprotected = [r.type for r in built.monitor.registered if not r.protect]
        # Every release replaces the task definition: protecting it would refuse every release.
        assert set(unprotected) <= {"aws:ecs/taskDefinition:TaskDefinition"}, "children inherit protection"


def test_a_canary_watches_the_version_it_releases():
    built = run(canary)
    error_rate = built.inputs("greeter-rollback-error-rate")
    dimensions = [q["metric"]["dimensions"] for q in error_rate["metricQueries"] if q.get("metric")]
    assert all(d["ExecutedVersion"] == "1" for d in dimensions)


# --- production floors, enforced by the components


def test_a_production_deployment_group_built_directly_may_not_shift_all_at_once():
    found = refusal(lambda: group(deployment_config="CodeDeployDefault.ECSAllAtOnce"))
    assert "not all at once (CodeDeployDefault.ECSAllAtOnce)" in found


def test_a_custom_shift_of_100_percent_is_all_at_once_too():
    found = refusal(lambda: group(deployment_config=TimeBasedShift("canary", 100, 5)))
    assert "not all at once" in found


def test_a_deployment_group_must_roll_back_on_alarm_and_on_failure_everywhere():
    found = refusal(lambda: group(production=False, rollback=RollbackPolicy(["a"], AutoRollback(False, True, False))))
    assert "does not roll back on DEPLOYMENT_FAILURE" in found and "DEPLOYMENT_STOP_ON_ALARM" in found


def test_a_deployment_group_must_watch_an_alarm():
    assert "watches no alarm" in refusal(lambda: group(production=False, rollback=RollbackPolicy([])))
    assert "watches no alarm" in refusal(lambda: LambdaDeploymentGroup("fn", LambdaDeploymentGroupArgs()))


def test_an_alarm_list_known_only_once_created_is_checked_then():
    empty = pulumi.Output.from_input([])
    assert "watches no alarm" in refusal(lambda: group(rollback=RollbackPolicy(alarm_names=empty)))


def test_production_keeps_blue_at_least_10_minutes():
    found = refusal(lambda: group(termination_wait_minutes=5))
    assert "keeps blue at least 10 minutes" in found


def test_the_direct_case_refuses_all_three_at_once_naming_each():
    unsafe = RollbackPolicy([], AutoRollback(False, False, False))
    found = refusal(lambda: group(rollback=unsafe, deployment_config="CodeDeployDefault.ECSAllAtOnce"))
    assert len(found.splitlines()) == 3, found


def test_staging_may_shift_all_at_once():
    built = run(lambda: group(production=False, deployment_config="CodeDeployDefault.ECSAllAtOnce"), stack="staging")
    assert built.inputs("checkout-deploy-group")["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"desired_count": 1}, "at least 2 tasks"),
        ({"log_retention_days": 7}, "logs at least 30 days"),
        (
            {"load_balancer": LoadBalancerOptions(certificate_arn=CERTIFICATE, deletion_protection=False)},
            "deletion protection",
        ),
        ({"load_balancer": LoadBalancerOptions()}, "production listens on HTTPS"),
        (
            {"load_balancer": LoadBalancerOptions(listener_port=80, certificate_arn=CERTIFICATE)},
            "ports of their own",
        ),
        ({"alarms": ServiceAlarms(error_rate_percent=100)}, "can never fire"),
        ({"release": EcsRelease(termination_wait_minutes=5)}, "termination wait at least 10"),
        ({"release": EcsRelease(strategy=NativeShift("CANARY", canary_percent=100, canary_bake_minutes=5))}, "100%"),
        ({"alarms": ServiceAlarms(error_rate_percent=20)}, "of at most 10% (20%)"),
        ({"release": EcsRelease(config="CodeDeployDefault.ECSCanary10Percent5Minutes")}, "reaches 100% after 5 min"),
        ({"release": EcsRelease(strategy=NativeShift("BLUE_GREEN", bake_time_minutes=15))}, "not all at once"),
        (
            {"release": EcsRelease(strategy=NativeShift("CANARY", 3, canary_percent=10, canary_bake_minutes=10))},
            "bake time",
        ),
        ({"release": EcsRelease(strategy=NativeShift("CANARY", canary_percent=10, canary_bake_minutes=5))}, "5 min"),
        ({"release": EcsRelease(strategy=NativeShift("LINEAR", step_percent=100, step_bake_minutes=1))}, "100%"),
        (
            {"release": EcsRelease(smoke_paths=[{"path": f"/a/long/path/{i:04d}"} for i in range(200)])},
            "Lambda allows 4096",
        ),
        ({"release": EcsRelease(strategy=Rolling(minimum_healthy_percent=0))}, "keep some tasks running"),
        ({"release": EcsRelease(config="CodeDeployDefault.ECSAllAtOnce")}, "not all at once"),
    ],
)
def test_a_production_service_refuses_what_production_may_not_do(args, named):
    found = refusal(lambda: service(production=True, **args))
    assert found.startswith("service checkout: ") and named in found


def test_everywhere_blue_outlives_the_alarms_worst_detection():
    found = refusal(lambda: service(release=EcsRelease(termination_wait_minutes=2)), stack="staging")
    assert "the alarms need that long to fire" in found


def test_a_smoke_path_the_hook_cannot_read_is_refused_before_anything_exists():
    found = refusal(lambda: service(release=EcsRelease(smoke_paths=[{"path": "/", "expectStatuss": 200}])), "staging")
    assert "expectStatuss" in found


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"watch_minutes": 5}, "post-shift watch at least 10 minutes"),
        ({"error_rate_percent": 100}, "can never fire"),
        ({"log_retention_days": 14}, "logs at least 30 days"),
        ({"deployment_config": "CodeDeployDefault.LambdaAllAtOnce"}, "not all at once"),
        ({"smoke_events": []}, "at least one smoke event"),
        ({"smoke_events": [{"name": "x", "expected": {}}]}, "expected"),
        ({"smoke_endpoints": [{"url": "ftp://x"}]}, "ftp://x"),
        ({"check_timeout_seconds": 0}, "check timeout"),
        ({"error_rate_percent": 20}, "of at most 10% (20%)"),
        ({"deployment_config": TimeBasedShift("canary", 10, 1)}, "reaches 100% after 1 min"),
        ({"smoke_endpoints": [{"url": f"https://api.example.com/route/{i:04d}"} for i in range(100)]}, "allows 4096"),
    ],
)
def test_a_production_canary_refuses_what_production_may_not_do(args, named):
    found = refusal(lambda: canary(production=True, **args))
    assert found.startswith("Lambda canary greeter: ") and named in found


def test_staging_may_try_a_quick_canary():
    built = run(lambda: canary(deployment_config=TimeBasedShift("canary", 10, 1)), stack="staging")
    assert built.inputs("greeter-deploy-shift")["trafficRoutingConfig"]["timeBasedCanary"] == {
        "interval": 1,
        "percentage": 10,
    }


def test_a_canary_watch_shorter_than_its_alarms_can_fire_is_refused_everywhere():
    found = refusal(lambda: canary(watch_minutes=2), stack="staging")
    assert "the alarms need up to that long" in found


def test_the_pipeline_never_deploys_production_as_its_staging_stage():
    args = shop_pipeline(staging_stack="prod", production_stack="prod")
    assert "same stack" in refusal(lambda: DeliveryPipeline("release", args), stack="pipeline")


# --- bad input, refused before anything exists, naming the argument


def test_a_smoke_url_with_a_password_is_refused_before_anything_is_created():
    endpoint = {"url": "https://ops:hunter2@api.example.com/health"}
    found = refusal_before_anything_exists(lambda: canary(smoke_endpoints=[endpoint]))
    assert "url 'https://ops:***@api.example.com/health': a URL without user:password@" in found
    assert "unauthenticated health endpoints" in found
    assert "hunter2" not in found, "the refusal never shows the password"


def test_a_nodejs_canary_with_python_code_is_refused_before_anything_is_created():
    found = refusal_before_anything_exists(lambda: canary(runtime="nodejs22.x"))
    assert found == (
        f"Lambda canary greeter: LambdaCanaryArgs.handler = 'app.handler': a function in a file of {GREETER}; runtime nodejs22.x "
        "looks for app.js or app.mjs or app.cjs there, and there is none"
    )


def test_a_canary_function_built_directly_checks_its_handler_too():
    args = CanaryFunctionArgs(code_path=GREETER, handler="greeter.handler")
    found = refusal_before_anything_exists(lambda: CanaryFunction("greeter", args))
    assert (
        found.startswith("function greeter: CanaryFunctionArgs.handler = 'greeter.handler': ")
        and "looks for greeter.py" in found
    )


@pytest.mark.parametrize(
    ("file", "handler", "runtime"),
    [
        ("app.py", "app.handler", "python3.13"),
        ("shop/orders.py", "shop.orders.handler", "python3.12"),
        ("app.js", "app.handler", "nodejs22.x"),
        ("app.mjs", "app.handler", "nodejs20.x"),
        ("src/app.cjs", "src/app.handler", "nodejs22.x"),
    ],
)
def test_a_handler_is_found_where_its_runtime_loads_it_from(tmp_path, file, handler, runtime):
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text("def handler(event, context):\n    return event\n")
    assert function_code_problems(tmp_path, handler, runtime) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def handler(event, context): ...", True),
        ("async def handler(event, context): ...", True),
        ("from app.main import handler", True),
        ("handler = make_handler()", True),
        ("def other(event, context): ...", False),
        ("def handler(:", False),  # Lambda could not import it either
    ],
)
def test_a_python_handler_must_be_bound_in_its_module(tmp_path, source, found):
    (tmp_path / "app.py").write_text(source)
    problems = function_code_problems(tmp_path, "app.handler", "python3.13")
    assert (problems == []) is found, problems


@pytest.mark.parametrize(
    ("handler", "runtime", "problem"),
    [
        (
            "app.handler",
            "nodejs22.x",
            (
                "handler",
                "app.handler",
                "a function in a file of {code}; runtime nodejs22.x looks for app.js or app.mjs "
                "or app.cjs there, and there is none",
            ),
        ),
        (
            "orders.handler",
            "python3.13",
            (
                "handler",
                "orders.handler",
                "a function in a file of {code}; runtime python3.13 looks for orders.py or orders/__init__.py there, and there is none",
            ),
        ),
        ("app", "python3.13", ("handler", "app", "module.function, such as app.handler")),
        ("app.handler", "java21", ("runtime", "java21", "a Python or Node.js runtime (python3.x, nodejsNN.x)")),
    ],
)
def test_a_handler_its_runtime_would_not_find_is_a_problem_naming_what_was_looked_for(
    tmp_path, handler, runtime, problem
):
    (tmp_path / "app.py").write_text("")
    argument, value, allowed = problem
    assert function_code_problems(tmp_path, handler, runtime) == [(argument, value, allowed.format(code=tmp_path))]


def test_a_code_path_that_is_not_a_folder_is_a_problem():
    assert function_code_problems("functions/nowhere", "app.handler", "python3.13") == [
        ("code_path", "functions/nowhere", "a folder holding the function's code (there is none)")
    ]


def test_each_test_listener_block_is_one_rule_the_vpcs_own_always_among_them():
    office = "203.0.113.0/24"
    # The VPC's own block, known only once looked up, is allowed once even when given too.
    options = LoadBalancerOptions(test_ingress_cidrs=[office, VPC_CIDR])
    built = run(lambda: service(load_balancer=options))
    rules = [r.inputs for r in built.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    into_test_listener = [
        r["cidrIpv4"] for r in rules if r["securityGroupId"] == "checkout-lb-sg-id" and r["fromPort"] == 8080
    ]
    assert sorted(into_test_listener) == [VPC_CIDR, office], "AWS refuses a rule twice"


def test_more_test_listener_blocks_than_a_security_group_holds_are_refused_naming_the_arguments():
    blocks = [f"198.51.{i}.0/24" for i in range(SECURITY_GROUP_RULES - 1)]
    found = refusal_before_anything_exists(
        lambda: service(load_balancer=LoadBalancerOptions(test_ingress_cidrs=blocks))
    )
    assert found == (
        f"service checkout: ingress_cidrs and test_ingress_cidrs need {SECURITY_GROUP_RULES + 1} inbound rules in "
        f"the load balancer's security group, one per block and listener (1 on the public listeners, "
        f"{SECURITY_GROUP_RULES} on the test listener, the VPC's own block included): at most "
        f"{SECURITY_GROUP_RULES} (AWS's default quota)"
    )
