"""Nothing AWS would refuse reaches `pulumi up`: every stack this project deploys, and the longest
names and the largest maps its stack files allow, rendered under mocks and held to AWS's published
limits (rollback_guard.limits), which mocks and `pulumi preview` do not enforce."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ops.offline import build_stack, overlaid_config
from rollback_guard import limits
from rollback_guard.components.network import NewVpc
from rollback_guard.limits import LimitViolation, limit_violations, policy_characters
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.testing import FakeAws, run
from settings import (
    LONGEST_FUNCTION_SUFFIX,
    PIPELINE_LONGEST_FUNCTION,
    SettingsError,
)

WEB = overlaid_config("prod", {})["rollback-guard:services"]["web"]
GREETER = overlaid_config("prod", {})["rollback-guard:functions"]["greeter"]


def render(stack: str, file: str, mocks: FakeAws | None = None, **overrides):
    """The stack named `stack`, configured by Pulumi.<file>.yaml overlaid with `overrides`."""
    return build_stack(stack, mocks=mocks, file=file, **overrides)


def entries(prefix: str, count: int, length: int, settings: dict) -> dict:
    """`count` entries named `prefix` and digits, each `length` characters long."""
    return {f"{prefix}{i:0{length - len(prefix)}d}": settings for i in range(count)}


@pytest.mark.parametrize("stack", ["staging", "prod", "pipeline_stack"])
def test_every_stack_this_project_deploys_stays_within_aws_limits(stack, request):
    assert limit_violations(request.getfixturevalue(stack).monitor.registered) == []


def test_the_longest_service_name_in_the_longest_stack_name_stays_within_aws_limits():
    stack = "prod-" + "a" * (64 - len(LONGEST_FUNCTION_SUFFIX["services"]) - 15 - 5)
    function_room = 64 - len(LONGEST_FUNCTION_SUFFIX["functions"]) - len(stack)
    services = entries("w", 1, 15, WEB)
    built = render(
        stack,
        "prod",
        services={"web": None, **services},
        functions={"greeter": None, **entries("g", 1, function_room, GREETER)},
    )
    assert limit_violations(built.monitor.registered) == []
    functions = [r.inputs["name"] for r in built.of_type("aws:lambda/function:Function")]
    assert max(map(len, functions)) == 64, functions


def test_the_longest_function_name_stays_within_aws_limits():
    stack = "prod-" + "b" * (64 - len(LONGEST_FUNCTION_SUFFIX["functions"]) - 25 - 5)
    built = render(stack, "prod", functions={"greeter": None, **entries("g", 1, 25, GREETER)})
    assert limit_violations(built.monitor.registered) == []


def test_a_name_one_character_longer_than_the_stack_allows_is_refused_naming_it():
    stack = "prod-" + "a" * (64 - len(LONGEST_FUNCTION_SUFFIX["services"]) - 15 - 5 + 1)
    with pytest.raises(SettingsError) as refused:
        render(stack, "prod", services={"web": None, **entries("w", 1, 15, WEB)})
    assert any(
        line.startswith("rollback-guard:services = 'w00000000000000': a name of at most 14 characters")
        for line in refused.value.problems
    ), refused.value.problems


def test_the_largest_maps_a_stack_allows_stay_within_aws_limits():
    # 100 rollback alarms: 10 services with 9 each (3 built, the latency band, 5 extra: with the judge's
    # heartbeat, the 10 a deployment group watches), 5 functions with 2.
    service = {**WEB, "alarms": {**WEB["alarms"], "extraAlarmNames": [f"db-{n}" for n in range(5)]}}
    built = render(
        "staging",
        "staging",
        services={"web": None, **entries("web", 10, 15, service)},
        functions={"greeter": None, **entries("fn", 5, 25, GREETER)},
        pipelineService="web000000000000",
    )
    assert limit_violations(built.monitor.registered) == []
    groups = built.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")
    assert {len(group.inputs["alarmConfiguration"]["alarms"]) for group in groups} == {10, 3}


def test_the_longest_pipeline_stack_name_stays_within_aws_limits():
    stack = "pipeline-" + "c" * (64 - len(PIPELINE_LONGEST_FUNCTION) - 9)
    built = render(stack, "pipeline")
    assert limit_violations(built.monitor.registered) == []


def test_a_pipeline_stack_name_one_character_too_long_is_refused():
    stack = "pipeline-" + "c" * (64 - len(PIPELINE_LONGEST_FUNCTION) - 9 + 1)
    with pytest.raises(SettingsError) as refused:
        render(stack, "pipeline")
    assert refused.value.problems == [
        f"stack {stack}: a name of at most 32 characters (Lambda names hold 64): its functions are named "
        f"{PIPELINE_LONGEST_FUNCTION}<stack>"
    ]


@pytest.mark.parametrize(
    ("stack", "file"), [("prod.eu", "prod"), ("staging.eu", "staging"), ("pipeline.x", "pipeline")]
)
def test_a_stack_name_with_a_dot_is_refused_once_lambda_would_refuse_its_functions_names(stack, file):
    with pytest.raises(SettingsError) as refused:
        render(stack, file, environment="pipeline" if file == "pipeline" else None)
    assert [line for line in refused.value.problems if line.startswith(f"stack {stack}: ")] == [
        f"stack {stack}: a name of letters, digits, - and _ (Lambda's characters): its functions are named "
        + (f"{PIPELINE_LONGEST_FUNCTION}<stack>" if file == "pipeline" else "<name>-hooks-post-traffic-<stack>")
    ]


def test_a_stack_name_too_long_for_any_entry_is_said_once_of_the_stack():
    stack = "prod-" + "a" * 60
    with pytest.raises(SettingsError) as refused:
        render(stack, "prod")
    assert refused.value.problems == [
        f"stack {stack}: a name of at most 43 characters (Lambda names hold 64): its functions are named "
        "<name>-hooks-post-traffic-<stack>"
    ]


def test_a_stack_without_functions_may_have_a_longer_name():
    stack = "prod-" + "a" * 44
    built = render(stack, "prod", functions=None, services={"web": None, "w": WEB})
    assert limit_violations(built.monitor.registered) == []


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_a_region_outside_the_commercial_partition_is_refused(region):
    with pytest.raises(SettingsError) as refused:
        render("staging", "staging", **{"aws:region": region})
    assert refused.value.problems[0].startswith(f"aws:region = '{region}': a region of AWS's commercial partition")


@pytest.mark.parametrize("stack", ["Prod", "PROD", "Production-eu"])
def test_a_stack_named_prod_in_any_case_is_held_to_production_floors(stack):
    with pytest.raises(SettingsError) as refused:
        render(stack, "prod", environment="staging", services={"web": {"desiredCount": 1}})
    assert any("'prod' in stack" in line for line in refused.value.problems), refused.value.problems
    assert any("prod runs at least 2 tasks" in line for line in refused.value.problems), refused.value.problems


def test_more_zones_than_the_region_has_are_refused_naming_the_key_and_asking_aws():
    with pytest.raises(SettingsError) as refused:
        render("prod", "prod", mocks=FakeAws(availability_zones=3), network={"availabilityZones": 4})
    assert refused.value.problems == [
        "rollback-guard:network.availabilityZones = 4: at most 3: the zones the stack's region has available "
        "(us-east-1a, us-east-1b, us-east-1c; asked of AWS, DescribeAvailabilityZones)"
    ]


# --- the library, for programs that call the components directly


def test_a_new_vpc_too_small_for_a_load_balancer_is_refused_before_anything_is_created():
    from rollback_guard.components.network import Network, NetworkArgs

    with pytest.raises(
        UnsafeConfiguration, match=r"NetworkArgs.vpc.cidr_block = '10.0.0.0/24': a block from /16 to /23 .* /28 here"
    ):
        run(lambda: Network("net", NetworkArgs(NewVpc("10.0.0.0/24", availability_zones=3))))


def test_a_new_vpc_with_more_zones_than_the_region_has_is_refused():
    from rollback_guard.components.network import Network, NetworkArgs

    with pytest.raises(UnsafeConfiguration, match="availability_zones = 3: at most 2"):
        run(lambda: Network("net", NetworkArgs(NewVpc("10.0.0.0/16", 3))), mocks=FakeAws(availability_zones=2))


@pytest.mark.parametrize(("zones", "largest"), [(2, 24), (3, 23), (4, 23), (5, 22), (6, 22)])
def test_awsx_gives_the_largest_block_allowed_public_subnets_a_load_balancer_accepts(zones, largest):
    assert limits.smallest_public_subnet_prefix(f"10.0.0.0/{largest}", zones) == limits.LOAD_BALANCER_SUBNET_PREFIX
    assert NewVpc(f"10.0.0.0/{largest}", zones).problems() == []
    assert NewVpc(f"10.0.0.0/{largest + 1}", zones).problems()


# --- the checker itself: each limit it holds a stack to, broken once


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    inputs: dict = field(default_factory=dict)


def policy_of(characters: int) -> dict:
    """A policy document of exactly `characters` characters without whitespace."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Sid": ""}]}
    document["Statement"][0]["Sid"] = "x" * (characters - policy_characters(document))
    return document


def test_a_managed_policy_over_6144_characters_is_a_violation_and_6144_is_not():
    fits = Resource("aws:iam/policy:Policy", "fits", {"policy": policy_of(6144)})
    over = Resource("aws:iam/policy:Policy", "over", {"policy": policy_of(6145)})
    assert limit_violations([fits, over]) == [
        LimitViolation("over", "managed policy", "6145 characters", "at most 6144")
    ]


def test_whitespace_does_not_count_towards_a_policy_size():
    assert policy_characters('{"Version": "2012-10-17",\n  "Statement": []}') == len(
        '{"Version":"2012-10-17","Statement":[]}'
    )


def test_a_roles_inline_policies_are_counted_together():
    role = Resource("aws:iam/role:Role", "deploy-role", {"assumeRolePolicy": policy_of(500)})
    halves = [
        Resource("aws:iam/rolePolicy:RolePolicy", f"half-{i}", {"role": "deploy-role-id", "policy": policy_of(5200)})
        for i in range(2)
    ]
    assert [(v.resource, v.limit) for v in limit_violations([role, *halves])] == [("deploy-role", "inline policies")]


def test_a_trust_policy_over_2048_characters_and_an_eleventh_managed_policy_are_violations():
    role = Resource("aws:iam/role:Role", "r", {"assumeRolePolicy": policy_of(2049)})
    attachments = [
        Resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"a{i}", {"role": "r", "policyArn": f"arn:p/{i}"})
        for i in range(11)
    ]
    assert [v.limit for v in limit_violations([role, *attachments])] == ["trust policy", "managed policies"]


@pytest.mark.parametrize(
    ("resource", "limit"),
    [
        (Resource("aws:lambda/function:Function", "f", {"name": "f" * 65}), "name"),
        (Resource("aws:lb/targetGroup:TargetGroup", "a-twenty-five-characters-"), "name"),
        (Resource("aws:lb/loadBalancer:LoadBalancer", "lb", {"name": "ends-with-dash-"}), "name"),
        (Resource("aws:s3/bucket:Bucket", "b", {"bucket": "Upper-Case"}), "name"),
        (Resource("aws:cloudwatch/logGroup:LogGroup", "g", {"retentionInDays": 45}), "retentionInDays"),
        (Resource("aws:lambda/function:Function", "f", {"timeout": 901}), "timeout"),
        (Resource("aws:lambda/function:Function", "f", {"memorySize": 64}), "memorySize"),
        (
            Resource("aws:lambda/function:Function", "f", {"environment": {"variables": {"A": "x" * 4096}}}),
            "environment",
        ),
        (
            Resource(
                "aws:codedeploy/deploymentGroup:DeploymentGroup",
                "g",
                {"alarmConfiguration": {"alarms": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:db"]}},
            ),
            "alarms",
        ),
        (
            Resource(
                "aws:codedeploy/deploymentGroup:DeploymentGroup",
                "g",
                {"alarmConfiguration": {"alarms": [f"alarm-{i}" for i in range(11)]}},
            ),
            "alarms",
        ),
        (Resource("aws:ec2/securityGroup:SecurityGroup", "sg", {"ingress": [{}] * 61}), "ingress rules"),
        (Resource("aws:codebuild/project:Project", "p", {"buildTimeout": 2161}), "buildTimeout"),
        (Resource("aws:lambda/function:Function", "f", {"handler": "app." + "h" * 125}), "handler"),
        (
            Resource("aws:lambda/function:Function", "f", {"environment": {"variables": {"AWS_REGION": "x"}}}),
            "environment",
        ),
        (Resource("aws:lambda/function:Function", "f", {"environment": {"variables": {"1BAD": "x"}}}), "environment"),
        (
            Resource(
                "aws:ecs/taskDefinition:TaskDefinition",
                "t",
                {"containerDefinitions": [{"environment": [{"name": "BLOB", "value": "x" * 70_000}]}]},
            ),
            "containerDefinitions",
        ),
        (
            Resource("aws:ecs/taskDefinition:TaskDefinition", "t", {"containerDefinitions": [{"image": "r/" * 128}]}),
            "image",
        ),
        (Resource("aws:codedeploy/application:Application", "a", {"name": "checkout deploy"}), "name"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.type.split(":")[1] + " " + str(value.inputs)[:40],
)
def test_each_limit_is_held(resource, limit):
    assert [v.limit for v in limit_violations([resource])] == [limit]


def test_an_autonamed_resource_is_judged_by_its_longest_physical_name():
    # Pulumi appends "-" and 7 random characters: 24 + 8 is a target group's 32.
    assert limit_violations([Resource("aws:lb/targetGroup:TargetGroup", "a" * 24)]) == []
    assert limit_violations([Resource("aws:lb/targetGroup:TargetGroup", "a" * 25)])


def test_a_security_groups_rules_count_together_inline_and_as_resources():
    group = Resource("aws:ec2/securityGroup:SecurityGroup", "lb-sg", {"ingress": [{}] * 30})
    rules = [
        Resource(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", f"in-{i}", {"securityGroupId": "lb-sg-id"}
        )
        for i in range(31)
    ]
    egress = Resource(
        "aws:ec2/securityGroupRule:SecurityGroupRule", "out", {"securityGroupId": "lb-sg-id", "type": "egress"}
    )
    assert limit_violations([group, *rules[:30], egress]) == []
    assert limit_violations([group, *rules]) == [LimitViolation("lb-sg", "ingress rules", 61, "at most 60")]


def test_a_service_on_a_new_vpc_too_small_is_refused_before_anything_is_created():
    from rollback_guard.components.ecs_service import Container
    from rollback_guard.components.service import EcsServiceWithRollback, EcsServiceWithRollbackArgs

    nginx = Container(name="web", image="public.ecr.aws/nginx/nginx", tag="1.27", port=80)
    args = EcsServiceWithRollbackArgs(NewVpc("10.0.0.0/24", 6), nginx)
    # Refused in the service's own checks, before the service itself is registered.
    with pytest.raises(
        UnsafeConfiguration,
        match=r"^service web: EcsServiceWithRollbackArgs.network.cidr_block = '10.0.0.0/24': a block from /16",
    ):
        run(lambda: EcsServiceWithRollback("web", args))


def test_the_example_in_docs_limits_runs_as_written():
    page = (Path(__file__).resolve().parent.parent / "docs" / "limits.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/limits.md", "exec"), {})
