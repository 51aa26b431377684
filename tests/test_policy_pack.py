"""The CrossGuard pack on raw pulumi_aws programs, each policy with programs that pass and fail, and
this project's own stacks; then the pack itself, served as `pulumi preview --policy-pack` runs it."""

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pulumi
import pulumi_aws as aws
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from ops.offline import settled_stack
from rollback_guard.components.codedeploy import LambdaDeploymentGroup, LambdaDeploymentGroupArgs, RollbackPolicy
from rollback_guard.components.release import LambdaReleaseTarget, Release, ReleaseArgs
from rollback_guard.policy import PACK_FOLDER
from rollback_guard.policy.pack import POLICIES
from rollback_guard.testing import policy_violations, run

ROOT = Path(__file__).resolve().parent.parent
ROLLBACK_ON_ALARM = {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
BLUE_GREEN = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
CODEDEPLOY = aws.ecs.ServiceDeploymentControllerArgs(type="CODE_DEPLOY")


def violations(program, stack="prod", config=None) -> dict[str, list[str]]:
    """What each policy reports on `program` built under mocks, by policy name."""
    found: dict[str, list[str]] = {}
    for violation in policy_violations(run(program, stack=stack), POLICIES, config):
        found.setdefault(violation.policy, []).append(violation.message)
    return found


def lambda_group(name="checkout", **args) -> aws.codedeploy.DeploymentGroup:
    app = aws.codedeploy.Application(f"{name}-app", compute_platform="Lambda")
    settings = dict(
        app_name=app.name,
        deployment_group_name=name,
        service_role_arn="arn:aws:iam::123456789012:role/codedeploy",
        deployment_style=BLUE_GREEN,
        deployment_config_name="CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        auto_rollback_configuration=ROLLBACK_ON_ALARM,
        alarm_configuration={"enabled": True, "alarms": ["checkout-errors"]},
    )
    return aws.codedeploy.DeploymentGroup(f"{name}-group", **(settings | args))


def ecs_group(termination=None, **args) -> aws.codedeploy.DeploymentGroup:
    app = aws.codedeploy.Application("web-app", compute_platform="ECS")
    listener = aws.lb.Listener("web-prod", load_balancer_arn="arn:lb", default_actions=[])
    settings = dict(
        app_name=app.name,
        deployment_group_name="web",
        service_role_arn="arn:aws:iam::123456789012:role/codedeploy",
        deployment_style=BLUE_GREEN,
        deployment_config_name="CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        auto_rollback_configuration=ROLLBACK_ON_ALARM,
        alarm_configuration={"enabled": True, "alarms": ["web-5xx"]},
        ecs_service={"clusterName": "web", "serviceName": "web"},
        blue_green_deployment_config={
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": termination
            or {"action": "TERMINATE", "terminationWaitTimeInMinutes": 15},
        },
        load_balancer_info={
            "targetGroupPairInfo": {
                "prodTrafficRoute": {"listenerArns": [listener.arn]},
                "targetGroups": [{"name": "blue"}, {"name": "green"}],
            }
        },
    )
    return aws.codedeploy.DeploymentGroup("web-group", **(settings | args))


# --- every CodeDeploy deployment group rolls back on alarm, with at least one alarm


def test_a_group_that_rolls_back_on_alarm_passes():
    assert violations(lambda_group) == {}


def test_a_group_without_alarms_or_rollback_is_refused_everywhere():
    def unsafe():
        lambda_group(auto_rollback_configuration={"enabled": False}, alarm_configuration={"enabled": False})

    found = violations(unsafe, stack="dev")["codedeploy-rolls-back-on-alarm"]
    assert found == [
        "deployment group checkout-group: it watches no alarm: give it at least one rollback alarm",
        "deployment group checkout-group: it does not roll back on DEPLOYMENT_FAILURE or DEPLOYMENT_STOP_ON_ALARM or "
        "DEPLOYMENT_STOP_ON_REQUEST",
    ]


def test_alarms_that_are_listed_but_switched_off_do_not_count():
    found = violations(lambda: lambda_group(alarm_configuration={"enabled": False, "alarms": ["x"]}), stack="dev")
    assert "watches no alarm" in found["codedeploy-rolls-back-on-alarm"][0]


# --- what CodeDeploy changes during a release is left to it


def test_an_ecs_service_under_codedeploy_must_ignore_its_task_definition_and_load_balancers():
    def service(ignore):
        aws.ecs.Service(
            "web",
            cluster="web",
            deployment_controller=CODEDEPLOY,
            opts=pulumi.ResourceOptions(ignore_changes=ignore),
        )

    found = violations(lambda: service(["taskDefinition"]), stack="dev")["codedeploy-owned-properties-ignored"]
    assert found == [
        "web: CodeDeploy changes loadBalancers during a release; without ignore_changes=['taskDefinition', "
        "'loadBalancers'] the next `pulumi up` sets it back and undoes the release or its rollback"
    ]
    assert violations(lambda: service(["taskDefinition", "loadBalancers"]), stack="dev") == {}


def test_a_service_ecs_releases_itself_may_set_its_task_definition():
    assert violations(lambda: aws.ecs.Service("web", cluster="web"), stack="dev") == {}


class Checkout(pulumi.ComponentResource):
    """A user's own component: a function's alias and the CodeDeploy group that shifts it, side by side."""

    def __init__(self, alias_ignores=(), alias="live"):
        super().__init__("shop:index:Checkout", "checkout")
        inside = pulumi.ResourceOptions(parent=self)
        app = aws.codedeploy.Application("checkout-app", compute_platform="Lambda", opts=inside)
        aws.codedeploy.DeploymentGroup(
            "checkout-group",
            app_name=app.name,
            deployment_group_name="checkout",
            service_role_arn="arn:aws:iam::123456789012:role/codedeploy",
            deployment_style=BLUE_GREEN,
            deployment_config_name="CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            auto_rollback_configuration=ROLLBACK_ON_ALARM,
            alarm_configuration={"enabled": True, "alarms": ["checkout-errors"]},
            opts=inside,
        )
        aws.lambda_.Alias(
            alias,
            function_name="checkout",
            function_version="1",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=list(alias_ignores)),
        )


def released_checkout(alias_ignores=()):
    """The alias `live` of `checkout`, which a release of rollback-guard's shifts through CodeDeploy."""
    group = LambdaDeploymentGroup(
        "checkout-deploy", LambdaDeploymentGroupArgs(rollback=RollbackPolicy(alarm_names=["checkout-errors"]))
    )
    aws.lambda_.Alias(
        "checkout-live",
        name="live",
        function_name="checkout",
        function_version="1",
        opts=pulumi.ResourceOptions(ignore_changes=list(alias_ignores)),
    )
    Release(
        "checkout-release",
        ReleaseArgs(
            deployment_group=group, target=LambdaReleaseTarget(function_name="checkout", alias="live", version="1")
        ),
    )


def weighted_alias(name="reports"):
    """An alias `pulumi up` shifts itself: a quarter of the traffic on version 4."""
    return aws.lambda_.Alias(
        name,
        function_name=name,
        function_version="3",
        routing_config={"additional_version_weights": {"4": 0.25}},
    )


def test_an_alias_in_a_component_beside_its_codedeploy_group_leaves_version_and_routing_to_it():
    found = violations(lambda: Checkout(), stack="dev")["codedeploy-owned-properties-ignored"]
    assert len(found) == 1 and found[0].startswith("live: CodeDeploy changes functionVersion, routingConfig")
    assert violations(lambda: Checkout(alias_ignores=["functionVersion", "routingConfig"]), stack="dev") == {}


def test_an_alias_a_release_targets_leaves_version_and_routing_to_codedeploy():
    found = violations(released_checkout, stack="dev")["codedeploy-owned-properties-ignored"]
    assert len(found) == 1 and found[0].startswith("checkout-live: CodeDeploy changes functionVersion, routingConfig")
    assert violations(lambda: released_checkout(["functionVersion", "routingConfig"]), stack="dev") == {}


def test_an_alias_pulumi_manages_beside_codedeploy_can_be_named():
    config = {"codedeploy-owned-properties-ignored": {"aliasesOutsideCodeDeploy": ["stable"]}}
    assert violations(lambda: Checkout(alias="stable"), stack="dev", config=config) == {}
    assert "codedeploy-owned-properties-ignored" in violations(lambda: Checkout(alias="stable"), stack="dev")


def test_aliases_in_a_stack_without_lambda_codedeploy_are_pulumis():
    assert violations(lambda: aws.lambda_.Alias("live", function_name="f", function_version="1"), stack="dev") == {}


def test_an_alias_beside_a_lambda_deployment_group_in_a_plain_program_is_taken_as_released():
    """A deployment group names no function: an alias beside one is CodeDeploy's unless listed."""

    def program():
        lambda_group("billing")
        aws.lambda_.Alias("stable", function_name="reports", function_version="3")

    assert "codedeploy-owned-properties-ignored" in violations(program, stack="dev")
    config = {"codedeploy-owned-properties-ignored": {"aliasesOutsideCodeDeploy": ["stable"]}}
    assert violations(program, stack="dev", config=config) == {}


def test_an_alias_in_a_component_without_a_deployment_group_is_pulumis_though_the_stack_uses_codedeploy():
    class Reports(pulumi.ComponentResource):
        def __init__(self):
            super().__init__("shop:index:Reports", "reports")
            aws.lambda_.Alias(
                "stable", function_name="reports", function_version="3", opts=pulumi.ResourceOptions(parent=self)
            )

    def program():
        Checkout(alias_ignores=["functionVersion", "routingConfig"])
        Reports()

    assert violations(program, stack="dev") == {}


# --- production: a Lambda alias's traffic moves through CodeDeploy, which rolls back


def test_a_production_alias_whose_weights_pulumi_shifts_is_refused_for_what_it_is():
    found = violations(weighted_alias)
    assert found == {
        "production-aliases-shift-through-codedeploy": [
            "reports: `pulumi up` shifts production traffic itself (routing_config: 25% to version 4); no alarm "
            "stops the shift and nothing rolls it back. Release the function through a CodeDeploy deployment group "
            "that rolls back on alarm (rollback_guard.LambdaCanary does), and leave functionVersion and routingConfig "
            "to it (ignore_changes)"
        ]
    }
    assert violations(weighted_alias, stack="staging") == {}


def test_beside_codedeploy_for_other_functions_a_weighted_alias_is_still_its_own_problem():
    def program():
        released_checkout(["functionVersion", "routingConfig"])
        weighted_alias()

    found = violations(program)
    assert list(found) == ["production-aliases-shift-through-codedeploy"]
    assert found["production-aliases-shift-through-codedeploy"][0].startswith("reports: `pulumi up` shifts")


def test_a_production_alias_codedeploy_shifts_passes_whatever_weights_it_holds():
    assert violations(lambda: released_checkout(["functionVersion", "routingConfig"])) == {}


def test_an_alias_without_weights_points_at_one_version_in_production():
    assert violations(lambda: aws.lambda_.Alias("stable", function_name="reports", function_version="3")) == {}


def test_a_listener_on_a_codedeploy_traffic_route_leaves_its_default_actions_to_codedeploy():
    found = violations(ecs_group, stack="dev")["codedeploy-owned-properties-ignored"]
    assert len(found) == 1 and found[0].startswith("web-prod: CodeDeploy changes defaultActions")


# --- production: gradual shifts


@pytest.mark.parametrize(
    "config", ["CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.AllAtOnce", None], ids=["named", "ec2", "unset"]
)
def test_production_groups_never_move_all_traffic_at_once(config):
    found = violations(lambda: lambda_group(deployment_config_name=config))["production-shifts-gradually"]
    assert len(found) == 1 and "not all at once" in found[0]


def test_all_at_once_is_allowed_outside_production():
    assert violations(lambda: lambda_group(deployment_config_name="CodeDeployDefault.LambdaAllAtOnce"), "staging") == {}


def test_a_stack_named_like_prod_is_production_by_default():
    found = violations(lambda: ecs_group(deployment_config_name="CodeDeployDefault.ECSAllAtOnce"), stack="prod-eu")
    assert "production-shifts-gradually" in found
    elsewhere = violations(lambda: ecs_group(deployment_config_name="CodeDeployDefault.ECSAllAtOnce"), stack="product")
    assert "production-shifts-gradually" not in elsewhere


def test_which_stacks_are_production_is_configurable():
    def program():
        lambda_group(deployment_config_name="CodeDeployDefault.LambdaAllAtOnce")

    config = {"production-shifts-gradually": {"productionStacks": ["live"]}}
    assert "production-shifts-gradually" in violations(program, stack="live", config=config)
    assert violations(program, stack="prod", config=config) == {}


@pytest.mark.parametrize(
    ("routing", "refused"),
    [
        ({"type": "AllAtOnce"}, True),
        ({"type": "TimeBasedCanary", "timeBasedCanary": {"percentage": 100, "interval": 5}}, True),
        ({"type": "TimeBasedLinear", "timeBasedLinear": {"percentage": 10, "interval": 1}}, False),
    ],
)
def test_a_custom_deployment_config_shifts_in_steps_in_production(routing, refused):
    found = violations(
        lambda: aws.codedeploy.DeploymentConfig("shift", compute_platform="Lambda", traffic_routing_config=routing)
    )
    assert ("production-shifts-gradually" in found) is refused


def test_a_production_ecs_canary_takes_part_of_the_traffic():
    def service(percent):
        aws.ecs.Service(
            "web",
            cluster="web",
            deployment_configuration={
                "strategy": "CANARY",
                "bakeTimeInMinutes": "15",
                "canaryConfiguration": {"canaryPercent": percent, "canaryBakeTimeInMinutes": "5"},
            },
        )

    assert "100%" in violations(lambda: service(100))["production-shifts-gradually"][0]
    assert violations(lambda: service(10)) == {}


def test_a_production_rolling_update_keeps_some_tasks_running():
    def service(minimum):
        aws.ecs.Service(
            "web", cluster="web", deployment_minimum_healthy_percent=minimum, deployment_maximum_percent=200
        )

    assert "minimum healthy percent 0" in violations(lambda: service(0))["production-shifts-gradually"][0]
    assert violations(lambda: service(50)) == {}
    assert violations(lambda: service(0), stack="staging") == {}


# --- production: blue kept


def test_production_keeps_blue_at_least_10_minutes():
    short = {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}
    found = violations(lambda: ecs_group(termination=short), stack="prod")["production-keeps-blue"]
    assert found == [
        "deployment group web-group: production keeps blue at least 10 minutes after the shift (termination wait 5)"
    ]


def test_blue_kept_until_someone_ends_the_deployment_is_kept_long_enough():
    found = violations(lambda: ecs_group(termination={"action": "KEEP_ALIVE"}), stack="prod")
    assert "production-keeps-blue" not in found


def test_a_production_ecs_native_shift_bakes_at_least_10_minutes():
    def service(bake):
        aws.ecs.Service(
            "web",
            cluster="web",
            deployment_configuration={
                "strategy": "LINEAR",
                "bakeTimeInMinutes": bake,
                "linearConfiguration": {"stepPercent": 10, "stepBakeTimeInMinutes": "1"},
            },
        )

    assert "bake time" in violations(lambda: service("3"))["production-keeps-blue"][0]
    assert violations(lambda: service("15")) == {}


def test_production_ecs_blue_green_moving_everything_at_once_is_refused():
    def service():
        aws.ecs.Service(
            "web", cluster="web", deployment_configuration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": "15"}
        )

    assert "not all at once" in violations(service)["production-shifts-gradually"][0]
    assert violations(service, stack="staging") == {}


# --- production: deletion protection and retained data


def test_production_load_balancers_keep_deletion_protection():
    found = violations(lambda: aws.lb.LoadBalancer("web", load_balancer_type="application"))
    assert found == {
        "production-deletion-protection": [
            "web: production keeps deletion protection on (enableDeletionProtection: true)"
        ]
    }
    assert violations(lambda: aws.lb.LoadBalancer("web", enable_deletion_protection=True)) == {}


def test_production_tables_keep_deletion_protection_and_are_protected():
    def table(protected):
        aws.dynamodb.Table(
            "releases",
            hash_key="pk",
            attributes=[{"name": "pk", "type": "S"}],
            deletion_protection_enabled=protected,
            opts=pulumi.ResourceOptions(protect=protected),
        )

    assert set(violations(lambda: table(False))) == {
        "production-deletion-protection",
        "production-stateful-data-retained",
    }
    assert violations(lambda: table(True)) == {}
    assert violations(lambda: table(False), stack="staging") == {}


def test_production_buckets_are_protected_from_deletion():
    found = violations(lambda: aws.s3.Bucket("artifacts"))
    assert list(found) == ["production-stateful-data-retained"]


# --- this project's stacks, built with the components, pass every policy


@pytest.mark.parametrize("stack", ["staging", "prod", "pipeline"])
def test_this_projects_stacks_pass_every_policy(stack):
    assert policy_violations(settled_stack(stack), POLICIES) == []


# --- unknown values: the SDK reports them as not checkable during a preview


def test_a_value_unknown_during_preview_is_left_to_the_update():
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.policy import UnknownValueError, unknown_checking_proxy

    props = unknown_checking_proxy(
        deserialize_properties({"alarmConfiguration": pulumi.runtime.rpc.UNKNOWN, "autoRollbackConfiguration": {}})
    )
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    args = ResourceValidationArgs(
        "aws:codedeploy/deploymentGroup:DeploymentGroup", props, "urn:pulumi:prod::p::t::g", "g", options, None
    )
    with pytest.raises(UnknownValueError):
        POLICIES[0].validate(args, lambda message, urn=None: None)


# --- the pack as the Pulumi CLI runs it: a gRPC analyzer


@pytest.fixture(scope="module", params=[PACK_FOLDER, ROOT / "policy-pack"], ids=["shipped", "checkout"])
def analyzer(request):
    """The pack shipped in the package, and this checkout's pointer to it, run as the Pulumi CLI runs a
    Python pack: `python -m pulumi.policy <engine> <folder>`, which runs the folder's __main__.py."""
    with subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:0", str(request.param)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=request.param,
        # As the Pulumi CLI runs Python plugins: unbuffered, so the port it prints arrives.
        env={"PYTHONPATH": str(ROOT), "PATH": "", "PYTHONUNBUFFERED": "1"},
    ) as pack:
        try:
            port = int(pack.stdout.readline())
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield analyzer_pb2_grpc.AnalyzerStub(channel)
        finally:
            pack.kill()


def test_the_served_pack_lists_every_policy(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "rollback-guard"
    assert sorted(policy.name for policy in info.policies) == sorted(policy.name for policy in POLICIES)


def test_the_served_pack_refuses_a_group_that_cannot_roll_back(analyzer):
    properties = struct_pb2.Struct()
    properties.update({"autoRollbackConfiguration": {"enabled": False}, "alarmConfiguration": {"enabled": False}})
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type="aws:codedeploy/deploymentGroup:DeploymentGroup",
            properties=properties,
            urn="urn:pulumi:prod::shop::aws:codedeploy/deploymentGroup:DeploymentGroup::checkout",
            name="checkout",
        ),
        timeout=30,
    )
    messages = [d.message for d in response.diagnostics if d.policyName == "codedeploy-rolls-back-on-alarm"]
    assert messages and all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in response.diagnostics)
    assert "watches no alarm" in json.dumps(messages)


# --- within-aws-limits: what AWS would refuse partway through `pulumi up`


def test_the_pack_refuses_a_program_whose_iam_and_names_aws_would_refuse():
    def program():
        role = aws.iam.Role("worker-role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
        statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/" + "k" * 5500}
        for half in ("a", "b"):
            aws.iam.RolePolicy(
                f"worker-{half}", role=role.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
            )
        aws.lambda_.Function("worker", name="w" * 65, role=role.arn, runtime="python3.13", handler="app.handler")
        lambda_group(alarm_configuration={"enabled": True, "alarms": ["arn:aws:cloudwatch:us-east-1:1:alarm:x"]})

    found = violations(program, stack="staging")["within-aws-limits"]
    assert any(line.startswith("AWS would refuse worker-role: inline policies 11") for line in found), found
    assert any(line.startswith("AWS would refuse worker: name 'wwww") for line in found), found
    assert any("checkout-group: alarms" in line and "by name" in line for line in found), found


def test_the_pack_passes_a_program_within_aws_limits():
    assert "within-aws-limits" not in violations(lambda: lambda_group(), stack="staging")
