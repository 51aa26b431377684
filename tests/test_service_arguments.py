"""Policy for an ECS service's arguments when a platform team uses the components directly: every
value AWS or a production floor would refuse is refused by the component before anything exists,
every problem at once, each line naming the argument, the value and what is allowed; the values
beside them are accepted; and what a program passes as an Output (an ECR repository's URL, a tag,
a certificate) works and is checked once known."""

import json
from dataclasses import fields, is_dataclass

import pulumi
import pulumi_aws as aws
import pytest

from rollback_guard.components import ecs_service, load_balancer, network, service
from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.arguments import documented_fields
from rollback_guard.components.ecs_service import Container, NativeShift, Rolling
from rollback_guard.components.load_balancer import HealthCheck
from rollback_guard.components.network import ExistingVpc, Network, NetworkArgs, NewVpc
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.testing import ACCOUNT, FakeAws, run
from tests.library_use import NGINX, VPC, refused_before_anything_exists

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
ELSEWHERE = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
IN_US_EAST_1 = {"aws:region": "us-east-1"}
HTTPS = LoadBalancerOptions(certificate_arn=CERTIFICATE)
ARGS = "service web: EcsServiceWithRollbackArgs"


def web(production=False, container=NGINX, **args) -> EcsServiceWithRollback:
    if production:
        args = {"load_balancer": HTTPS} | args
    args = {"network": VPC} | args
    return EcsServiceWithRollback("web", EcsServiceWithRollbackArgs(container=container, production=production, **args))


def nginx(**fields) -> Container:
    return Container(**({"name": "web", "image": "public.ecr.aws/nginx/nginx", "tag": "1.27", "port": 80} | fields))


def refused(program=None, **args) -> list[str]:
    """The lines `web(**args)` is refused with, before anything exists."""
    return refused_before_anything_exists(program or (lambda: web(**args))).splitlines()


def accepted(stack="staging", config=None, **args):
    return run(lambda: web(**args), stack=stack, config=config)


# --- the values the issue measured, each refused naming its argument


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            {"container": nginx(cpu=256, memory=4096)},
            f"{ARGS}.container.memory = 4096: with cpu 256, Fargate allows 512 to 2048 MiB (512, 1024 or 2048)",
        ),
        (
            {"desired_count": -1},
            f"{ARGS}.desired_count = -1: a whole number from 1 to 1000 tasks (production at least 2)",
        ),
        ({"container": nginx(port=0)}, f"{ARGS}.container.port = 0: a whole number from 1 to 65535"),
        (
            {"log_retention_days": 45},
            f"{ARGS}.log_retention_days = 45: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
            "1096, 1827, 2192, 2557, 2922, 3288, 3653 (CloudWatch Logs' retention periods, in days; production at least "
            "30)",
        ),
        (
            {"network": NewVpc("10.0.0.0/33")},
            f"{ARGS}.network.cidr_block = '10.0.0.0/33': an IPv4 CIDR block with its prefix length and no host bits, "
            "such as 10.0.0.0/16 or 203.0.113.7/32",
        ),
    ],
)
def test_a_value_aws_refuses_is_refused_before_anything_exists_naming_the_argument(args, line):
    assert refused(**args) == [line]


def test_latest_is_refused_in_production_as_a_rollback_could_not_name_the_version_to_go_back_to():
    assert refused(production=True, container=nginx(tag="latest")) == [
        f"{ARGS}.container.tag = 'latest': a pinned tag in production: with 'latest' a rollback cannot name the "
        "version to go back to"
    ]


def test_latest_is_accepted_in_staging():
    built = accepted(container=nginx(tag="latest"))
    definition = json.loads(built.inputs("web-task")["containerDefinitions"])
    assert definition[0]["image"] == "public.ecr.aws/nginx/nginx:latest"


def test_a_production_certificate_of_another_region_is_refused_before_anything_exists_naming_the_stacks_region():
    def attempt():
        with pytest.raises(UnsafeConfiguration) as refusal:
            web(production=True, load_balancer=LoadBalancerOptions(certificate_arn=ELSEWHERE))
        return str(refusal.value)

    built = run(attempt, stack="prod", config=IN_US_EAST_1)
    assert built.value == (
        f"{ARGS}.load_balancer.certificate_arn = '{ELSEWHERE}': a certificate in the stack's region (us-east-1): an "
        "ALB uses ACM certificates of its own region"
    )
    assert built.monitor.registered == []


def test_a_certificate_of_the_stacks_region_is_accepted():
    built = accepted(production=True, stack="prod", config=IN_US_EAST_1)
    assert built.inputs("web-lb-prod")["certificateArn"] == CERTIFICATE


def test_a_certificate_known_only_once_created_is_checked_when_known_with_the_same_line():
    arn = pulumi.Output.from_input(ELSEWHERE)
    with pytest.raises(Exception, match=r"Args.load_balancer.certificate_arn = '.*eu-west-1.*': a certificate in the"):
        accepted(load_balancer=LoadBalancerOptions(certificate_arn=arn))


def test_every_problem_is_named_at_once():
    found = refused(
        desired_count=-1,
        log_retention_days=45,
        container=nginx(port=0, cpu=300),
        load_balancer=LoadBalancerOptions(ingress_cidrs=["10.0.0.0/33"], test_listener_port=70000),
    )
    named = [line.split(" = ")[0].removeprefix(f"{ARGS}.") for line in found]
    assert named == [
        "container.port",
        "container.cpu",
        "desired_count",
        "log_retention_days",
        "load_balancer.test_listener_port",
        "load_balancer.ingress_cidrs",
    ]


# --- the neighbours are accepted, the boundaries hold


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (256, 2048), (512, 1024), (512, 4096), (1024, 8192), (4096, 30720), (16384, 122880)],
)
def test_the_fargate_sizes_aws_allows_are_accepted(cpu, memory):
    assert nginx(cpu=cpu, memory=memory).problems() == []


@pytest.mark.parametrize(
    ("cpu", "memory", "allowed"),
    [
        (256, 1536, "512 to 2048 MiB (512, 1024 or 2048)"),
        (512, 512, "1024 to 4096 MiB in steps of 1024"),
        (512, 1536, "1024 to 4096 MiB in steps of 1024"),
        (8192, 20000, "16384 to 61440 MiB in steps of 4096"),
        (16384, 40000, "32768 to 122880 MiB in steps of 8192"),
    ],
)
def test_a_memory_size_fargate_does_not_pair_with_the_cpu_is_refused(cpu, memory, allowed):
    assert nginx(cpu=cpu, memory=memory).problems()[0].endswith(allowed)


def test_a_cpu_size_fargate_does_not_have_is_refused_naming_the_sizes():
    assert nginx(cpu=300).problems() == [
        "Container.cpu = 300: one of 256, 512, 1024, 2048, 4096, 8192, 16384 (Fargate's CPU units)"
    ]


@pytest.mark.parametrize(("port", "problems"), [(1, 0), (65535, 0), (0, 1), (65536, 1), (True, 1), ("80", 1)])
def test_a_port_is_a_whole_number_from_1_to_65535(port, problems):
    assert len(nginx(port=port).problems()) == problems


@pytest.mark.parametrize(
    ("count", "production", "refusals"),
    [(1, False, 0), (1000, False, 0), (0, False, 1), (1001, False, 1), (2, True, 0), (1, True, 1)],
)
def test_a_service_runs_1_to_1000_tasks_and_production_at_least_2(count, production, refusals):
    def attempt():
        try:
            web(desired_count=count, production=production)
        except UnsafeConfiguration as refusal:
            return refusal.violations
        return []

    assert len(run(attempt, stack="prod" if production else "staging").value) == refusals


@pytest.mark.parametrize(
    ("block", "zones", "allowed"),
    [
        *[("10.0.0.0/16", 2, True), ("10.0.0.0/24", 2, True), ("10.0.0.0/23", 3, True), ("10.0.0.0/22", 6, True)],
        *[("10.0.0.0/15", 2, False), ("10.0.0.0/25", 2, False), ("10.0.0.0/24", 3, False), ("10.0.0.0/28", 2, False)],
    ],
)
def test_a_new_vpc_is_from_16_to_the_largest_block_whose_public_subnets_a_load_balancer_takes(block, zones, allowed):
    assert (NewVpc(block, zones).problems() == []) is allowed


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ("10.0.0.0/33", "an IPv4 CIDR block"),
        ("10.0.0.1/16", "no host bits"),
        ("10.0.0.0", "with its prefix length"),
        ("10.0.0.0/28", "a load balancer needs /27 or larger (EC2 takes none smaller than /28)"),
        ("127.0.0.0/16", "EC2 refuses multicast, loopback"),
    ],
)
def test_a_new_vpc_block_aws_or_a_load_balancer_refuses_is_refused_saying_why(block, why):
    (problem,) = NewVpc(block).problems()
    assert problem[0] == "cidr_block" and why in problem[2]


def test_a_new_vpc_with_zones_awsx_does_not_lay_out_is_refused():
    assert NewVpc("10.0.0.0/16", 7).problems() == [
        (
            "availability_zones",
            7,
            "a whole number from 2 to 6 (at most the zones the region has, asked of AWS at preview)",
        )
    ]


def test_log_retention_takes_cloudwatchs_periods_and_production_keeps_30_days():
    assert accepted(log_retention_days=7).inputs("web-logs")["retentionInDays"] == 7
    assert refused(production=True, log_retention_days=14) == [
        f"{ARGS}.log_retention_days = 14: production keeps logs at least 30 days"
    ]


def test_a_health_check_that_outlasts_its_interval_or_accepts_a_server_error_is_refused():
    found = refused(load_balancer=LoadBalancerOptions(health_check=HealthCheck(interval_seconds=5, timeout_seconds=5)))
    assert found == [
        f"{ARGS}.load_balancer.health_check.timeout_seconds = 5: less than interval_seconds (5): ALB refuses a check "
        "that outlasts its interval"
    ]
    found = refused(load_balancer=LoadBalancerOptions(health_check=HealthCheck(matcher="200-500")))
    assert found == [
        f"{ARGS}.load_balancer.health_check.matcher = '200-500': HTTP codes from 200 to 499, such as 200, 200,302 "
        "or 200-399"
    ]


def test_a_repeated_block_is_refused_as_the_security_group_would_refuse_its_rule():
    office = "203.0.113.0/24"
    (line,) = refused(load_balancer=LoadBalancerOptions(test_ingress_cidrs=[office, office]))
    assert line.startswith(f"{ARGS}.load_balancer.test_ingress_cidrs = ['{office}', '{office}']: a list of CIDR")
    assert "given once (a security group refuses a rule twice)" in line


def test_an_existing_vpc_with_ids_ec2_never_gives_or_a_subnet_both_public_and_private_is_refused():
    assert refused(network=ExistingVpc("vpc-main", ("subnet-0a000001", "subnet-0a000002"), ("subnet-0b000001",))) == [
        f"{ARGS}.network.vpc_id = 'vpc-main': a VPC id: vpc- and 8 or 17 hexadecimal digits (vpc-0a1b2c3d)"
    ]
    shared = ExistingVpc("vpc-0a1b2c3d", ("subnet-0a000001", "subnet-0a000002"), ("subnet-0a000001",))
    assert refused(network=shared) == [
        f"{ARGS}.network.private_subnet_ids = ['subnet-0a000001']: subnets that are not also public (subnet-0a000001)"
    ]


def test_existing_vpc_ids_known_only_once_created_are_checked_when_known():
    bad = ExistingVpc(
        pulumi.Output.from_input("vpc-main"), ("subnet-0a000001", "subnet-0a000002"), ("subnet-0b000001",)
    )
    with pytest.raises(Exception, match=r"NetworkArgs.vpc.vpc_id = 'vpc-main': a VPC id"):
        run(lambda: Network("shared", NetworkArgs(bad)))


def test_an_alarm_given_by_its_arn_or_twice_is_refused():
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:db"
    (line,) = refused(alarms=ServiceAlarms(extra_alarm_names=[arn]))
    assert line.startswith(f"{ARGS}.alarms.extra_alarm_names = ['{arn}']") and "not its ARN" in line
    (line,) = refused(alarms=ServiceAlarms(extra_alarm_names=["db", "db"]))
    assert "given once (CodeDeploy rejects a repeated alarm name)" in line


def test_an_extra_alarm_known_only_once_created_stops_a_release_too():
    db = pulumi.Output.from_input("db-errors")
    built = accepted(alarms=ServiceAlarms(extra_alarm_names=[db]))
    assert built.inputs("web-deploy-group")["alarmConfiguration"]["alarms"][-2] == "db-errors"


def test_a_rolling_update_without_room_for_a_new_task_is_refused():
    strategy = Rolling(minimum_healthy_percent=100, maximum_percent=100)
    assert refused(desired_count=1, release=EcsRelease(strategy=strategy, smoke_paths=())) == [
        f"{ARGS}.release.strategy.maximum_percent = 100: room for one more task than minimum_healthy_percent (100) "
        "keeps running: with desired_count 1 that is 1 healthy and at most 1 running, so ECS cannot replace a task"
    ]


def test_a_native_shift_in_steps_ecs_does_not_take_is_refused():
    linear = NativeShift("LINEAR", step_percent=2.55, step_bake_minutes=1)
    (line,) = refused(release=EcsRelease(strategy=linear))
    assert (
        line
        == f"{ARGS}.release.strategy.step_percent = 2.55: a percentage from 3 to 100 in steps of 0.1 (production below 100)"
    )


def test_a_pinned_revision_of_another_services_family_is_refused():
    (line,) = refused(release=EcsRelease(pinned_revision="api-staging:3"))
    assert line.endswith("a revision of this service's own task definition, test-web-test:<n>")


# --- names


def test_a_service_named_so_its_target_groups_outgrow_32_characters_is_refused():
    def long_named():
        EcsServiceWithRollback("checkout-service-eu", EcsServiceWithRollbackArgs(network=VPC, container=NGINX))

    (line,) = refused(long_named)
    assert "at most 15 characters: its green target group is named checkout-service-eu-lb-green-" in line


def test_a_service_named_as_aws_reserves_or_in_capitals_is_refused():
    def named(name):
        return lambda: EcsServiceWithRollback(name, EcsServiceWithRollbackArgs(network=VPC, container=NGINX))

    assert "does not start with internal" in refused(named("internal-api"))[0]
    assert "lowercase letters, digits or dashes" in refused(named("Web"))[0]


def test_names_carry_the_project_unless_the_stack_keeps_them_as_they_were():
    built = accepted()
    assert built.inputs("web-logs")["name"] == "/ecs/test-web-staging"
    assert built.inputs("web-task")["family"] == "test-web-staging"
    kept = accepted(config={"rollback-guard:namePrefix": ""})
    assert kept.inputs("web-logs")["name"] == "/ecs/web-staging"
    assert kept.inputs("web-task")["family"] == "web-staging"


# --- Outputs where a program passes them


class WithRepositories(FakeAws):
    def new_resource(self, args):
        name, outputs = super().new_resource(args)
        if args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{args.name}"
        return name, outputs


def test_an_ecr_repository_made_in_the_same_program_and_an_output_tag_make_the_image():
    def program():
        repository = aws.ecr.Repository("shop")
        tag = pulumi.Output.from_input("2.4.1")
        return web(container=Container(name="web", image=repository.repository_url, tag=tag, port=80))

    built = run(program, stack="staging", mocks=WithRepositories())
    definition = json.loads(built.inputs("web-task")["containerDefinitions"])
    assert definition[0]["image"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shop:2.4.1"
    policy = json.loads(built.inputs("web-execution-policy")["policy"])
    pulls = [s for s in policy["Statement"] if "ecr:BatchGetImage" in s["Action"]]
    assert pulls == [
        {
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/shop",
        }
    ], "pulled from its own repository only"


def test_an_output_tag_of_latest_is_refused_in_production_when_it_resolves():
    tag = pulumi.Output.from_input("latest")
    with pytest.raises(
        Exception, match=r"service web: EcsServiceWithRollbackArgs.container.tag = 'latest': a pinned tag in production"
    ):
        run(lambda: web(production=True, container=nginx(tag=tag)), stack="prod")


def test_a_public_image_needs_no_pull_permission():
    policy = json.loads(accepted().inputs("web-execution-policy")["policy"])
    assert all("ecr:BatchGetImage" not in s["Action"] for s in policy["Statement"])


# --- HTTPS and staging defaults


def test_a_certificate_alone_serves_https_on_443_and_redirects_http_on_80():
    built = accepted(load_balancer=LoadBalancerOptions(certificate_arn=CERTIFICATE))
    production = built.inputs("web-lb-prod")
    assert (production["port"], production["protocol"]) == (443, "HTTPS")
    redirect = built.inputs("web-lb-redirect")
    assert (redirect["port"], redirect["protocol"]) == (80, "HTTP")
    assert redirect["defaultActions"][0]["redirect"]["port"] == "443"


def test_without_a_certificate_the_listener_is_http_on_80_and_an_explicit_port_is_kept():
    assert accepted().inputs("web-lb-prod")["port"] == 80
    assert accepted(load_balancer=LoadBalancerOptions(listener_port=8443)).inputs("web-lb-prod")["port"] == 8443


def test_a_staging_load_balancer_can_be_destroyed_and_a_production_one_cannot_by_default():
    assert accepted().inputs("web-lb-alb")["enableDeletionProtection"] is False
    built = run(lambda: web(production=True), stack="prod")
    assert built.inputs("web-lb-alb")["enableDeletionProtection"] is True
    assert refused(
        production=True, load_balancer=LoadBalancerOptions(certificate_arn=CERTIFICATE, deletion_protection=False)
    ) == [
        f"{ARGS}.load_balancer.deletion_protection = False: production load balancers keep deletion "
        "protection on: one deleted by mistake takes the service down"
    ]


# --- what help() shows


def _public_args_classes():
    """The dataclasses a user fills in, not the rules their fields declare (which have `allows`)."""
    for module in (ecs_service, load_balancer, network, service):
        for name, value in vars(module).items():
            defined_here = isinstance(value, type) and is_dataclass(value) and value.__module__ == module.__name__
            if defined_here and not name.startswith("_") and fields(value) and not hasattr(value, "allows"):
                yield value


@pytest.mark.parametrize("args_class", list(_public_args_classes()), ids=lambda c: c.__name__)
def test_every_field_of_every_public_args_class_is_documented_with_its_default(args_class):
    documented = documented_fields(args_class)
    assert sorted(documented) == sorted(f.name for f in fields(args_class))
    for declared in fields(args_class):
        text = documented[declared.name]
        assert text.startswith("Required") or "Default:" in text, (declared.name, text)


def test_a_production_floor_names_the_argument_and_its_value():
    assert refused(
        production=True, desired_count=1, load_balancer=LoadBalancerOptions(certificate_arn=CERTIFICATE)
    ) == [f"{ARGS}.desired_count = 1: production runs at least 2 tasks, so one failing task is not an outage"]
    assert refused(production=True, load_balancer=LoadBalancerOptions()) == [
        f"{ARGS}.load_balancer.certificate_arn = None: production listens on HTTPS: give the load "
        "balancer a certificate"
    ]


def test_an_options_argument_of_another_kind_is_named_not_an_attribute_error():
    assert refused(release="CodeDeployDefault.ECSAllAtOnce") == [
        f"{ARGS}.release = 'CodeDeployDefault.ECSAllAtOnce': an EcsRelease, not str"
    ]
    assert refused(deployment_log="table") == [
        f"{ARGS}.deployment_log = 'table': a DeploymentLog, or None for a table of its own"
    ]


def test_the_recorded_environment_is_checked_before_anything_exists():
    assert refused(environment="bad env!") == [f"{ARGS}.environment = 'bad env!': 1 to 64 letters, digits, - _ and ."]


def test_a_smoke_path_is_named_by_its_place():
    assert refused(release=EcsRelease(smoke_paths=[{"path": "health"}])) == [
        f"{ARGS}.release.smoke_paths[0] = {{'path': 'health'}}: path 'health': a path starting with / "
        "and without spaces"
    ]


def test_the_judges_heartbeat_alarm_is_not_an_extra_alarm():
    heartbeat = "test-web-judge-test-silent"
    found = refused(alarms=ServiceAlarms(extra_alarm_names=[heartbeat]))
    assert found == [
        f"{ARGS}.alarms.extra_alarm_names = ['{heartbeat}']: not the judge's own heartbeat alarm "
        f"({heartbeat}), which the deployment group watches already"
    ]


def test_the_documented_shortest_termination_wait_is_what_the_component_allows():
    from rollback_guard.components.arguments import documented_fields
    from rollback_guard.components.codedeploy import minimum_blue_kept_minutes

    shortest = minimum_blue_kept_minutes(AlarmEvaluation())
    assert (
        f"({shortest} minutes with the default evaluation)" in documented_fields(EcsRelease)["termination_wait_minutes"]
    )


def test_whole_lists_given_as_outputs_are_taken_as_another_stack_gives_them():
    def program():
        vpc = ExistingVpc(
            "vpc-0abc1234",
            pulumi.Output.from_input(["subnet-0a000001", "subnet-0a000002"]),
            pulumi.Output.from_input(["subnet-0b000001"]),
        )
        extra = pulumi.Output.from_input(["orders-5xx"])
        return web(network=vpc, alarms=ServiceAlarms(extra_alarm_names=extra))

    built = run(program)
    assert "orders-5xx" in built.inputs("web-deploy-group")["alarmConfiguration"]["alarms"]
    assert built.inputs("web-service")["networkConfiguration"]["subnets"] == ["subnet-0b000001"]


def test_more_zones_than_the_region_has_are_refused_before_anything_exists_naming_the_argument():
    def attempt() -> str:
        with pytest.raises(UnsafeConfiguration) as refusal:
            EcsServiceWithRollback(
                "web", EcsServiceWithRollbackArgs(network=NewVpc("10.0.0.0/16", availability_zones=4), container=NGINX)
            )
        return str(refusal.value)

    built = run(attempt, mocks=FakeAws(availability_zones=3))
    assert built.monitor.registered == []
    assert "EcsServiceWithRollbackArgs.network.availability_zones = 4: at most 3" in built.value
