"""A Fargate service, released by CodeDeploy (blue/green) or by ECS itself (rolling, or ECS's own
blue/green, canary and linear), rolling back automatically either way."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.components import naming
from rollback_guard.components.arguments import (
    LOG_RETENTION,
    PORT,
    OneOf,
    Text,
    Whole,
    allow,
    problems,
    refused_by,
    resolved,
)
from rollback_guard.components.iam import role_policy, service_role, write_logs
from rollback_guard.components.parts import Component
from rollback_guard.limits import IMAGE_REFERENCE_LENGTH, TASK_DEFINITION_BYTES
from rollback_guard.policy import rules

DESIRED_COUNT = Whole(1, 1000, "tasks", f"production at least {rules.PROD_MIN_DESIRED_COUNT}")

# Under the CODE_DEPLOY controller ECS refuses UpdateService for these, and CodeDeploy changes them on
# every release; Pulumi must not try to put its stale copy back.
CODEDEPLOY_OWNED_SERVICE_PROPERTIES = ["taskDefinition", "loadBalancers", "networkConfiguration", "platformVersion"]

# ECS-native shifts swap the service's primary and alternate target groups on every release.
ECS_OWNED_SERVICE_PROPERTIES = ["loadBalancers"]
ELB_ROLE_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[^:@]+)$"
)

# What ECS takes (RegisterTaskDefinition's ContainerDefinition:
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html).
CONTAINER_NAME = Text(r"[A-Za-z0-9_-]{1,255}", "1 to 255 letters, digits, _ or -")
IMAGE = Text(
    r"([A-Za-z0-9.-]+(:\d+)?/)?[a-z0-9]+(([._]|__|-+|/)[a-z0-9]+)*",
    "an image repository without a tag or digest (the tag is `tag`), such as public.ecr.aws/nginx/nginx or "
    "registry.example.com:5000/team/web, up to 255 characters",
    max_length=255,
)
TAG = Text(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]*",
    'an image tag of letters, digits, _ . - (up to 128, not starting with . or -), such as "1.27"',
    max_length=128,
)
# The tag production refuses: with it a rollback cannot name the version to go back to.
UNPINNED_TAG = "latest"
# Fargate's CPU units and the memory (MiB) each allows: (lowest, highest, step; None: 512, 1024, 2048 only).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
FARGATE_MEMORY = {
    256: (512, 2048, None),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
# What a task definition holds besides the container's environment (its ports, logs and names).
TASK_DEFINITION_ROOM = 4096
ENVIRONMENT_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,254}"
# ECS numbers a family's revisions up to 1,000,000.
TASK_REVISION = Text(
    r"[A-Za-z0-9_-]{1,255}:(?:[1-9][0-9]{0,5}|1000000)",
    "a task definition revision such as web-prod:7 (ECS numbers them up to 1000000)",
    max_length=300,
)
# ECS's ceiling for every bake time, in minutes.
MAX_BAKE_MINUTES = 1440
# Task family 255 characters (RegisterTaskDefinition), log group 512 (CreateLogGroup).
TASK_FAMILY_LENGTH = 255
LOG_GROUP_NAME_LENGTH = 512


@dataclass(frozen=True)
class EnvironmentVariables:
    """A container's environment: names of letters, digits and _ (not starting with a digit) to
    text, that fit in a task definition beside the rest of it."""

    @property
    def allowed(self) -> str:
        return (
            "a mapping of environment variable names (letters, digits and _, not starting with a digit) to text, "
            f"at most {TASK_DEFINITION_BYTES - TASK_DEFINITION_ROOM} bytes: ECS takes a task definition of "
            f"{TASK_DEFINITION_BYTES // 1024} KiB, {TASK_DEFINITION_ROOM // 1024} of them kept for the rest of it"
        )

    def allows(self, value: Any) -> bool:
        if not isinstance(value, Mapping):
            return False
        if not all(
            isinstance(k, str) and re.fullmatch(ENVIRONMENT_NAME, k) and isinstance(v, str) for k, v in value.items()
        ):
            return False
        size = len(json.dumps([{"name": k, "value": v} for k, v in value.items()]))
        return size <= TASK_DEFINITION_BYTES - TASK_DEFINITION_ROOM

    def schema(self) -> dict:
        return {
            "type": "object",
            "propertyNames": {"pattern": f"^{ENVIRONMENT_NAME}$"},
            "additionalProperties": {"type": "string"},
            "description": self.allowed,
        }


@dataclass(frozen=True)
class Tenths:
    """A percentage from `low` to 100 in steps of 0.1, as ECS takes a shift's share."""

    low: float

    @property
    def allowed(self) -> str:
        return f"a percentage from {self.low:g} to 100 in steps of 0.1 (production below 100)"

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= value <= 100
            and abs(value * 10 - round(value * 10)) < 1e-9
        )

    def schema(self) -> dict:
        # No multipleOf: JSON Schema validators compute 3.3 / 0.1 in floating point and refuse it.
        return {"type": "number", "minimum": self.low, "maximum": 100, "description": self.allowed}


@dataclass(frozen=True)
class Container:
    """What the service runs.

    Attributes:
        name: Required. The container's name in the task definition: 1 to 255 letters, digits, _ or -.
        image: Required. The image repository without a tag or digest (public.ecr.aws/nginx/nginx),
            or an Output of one: an ECR repository's `repository_url` made in the same program, or
            another stack's. An ECR image is pulled with a permission for that repository only.
        tag: Required. The image's tag ("1.27"), or an Output of one: up to 128 letters, digits,
            _ . -. Production refuses "latest": a rollback must name the version to go back to.
            Image and tag together hold at most 255 characters.
        port: Required. The port the container listens on, from 1 to 65535.
        cpu: Default: 256, Fargate's smallest size. Fargate's CPU units: 256, 512, 1024, 2048, 4096,
            8192 or 16384.
        memory: Default: 512 MiB, the least 256 CPU units take. What Fargate allows for the cpu:
            512, 1024 or 2048 with 256; 1024 to 4096 with 512, 2048 to 8192 with 1024, 4096 to
            16384 with 2048, 8192 to 30720 with 4096 (steps of 1024); 16384 to 61440 in steps of
            4096 with 8192; 32768 to 122880 in steps of 8192 with 16384.
        cpu_architecture: Default: "X86_64", which every image is built for; "ARM64" (Graviton) costs
            less for images built for it.
        environment: Default: {} (none). Environment variables, names of letters, digits and _ to
            text, within the task definition's 64 KiB.
    """

    name: str = field(metadata=allow(CONTAINER_NAME))
    image: pulumi.Input[str] = field(metadata=allow(IMAGE))
    tag: pulumi.Input[str] = field(metadata=allow(TAG))
    port: int = field(metadata=allow(PORT))
    cpu: int = field(default=256, metadata=allow(OneOf(tuple(FARGATE_MEMORY), "Fargate's CPU units")))
    memory: int = field(default=512, metadata=allow(Whole(512, 122880, "MiB", "as Fargate allows for the cpu")))
    cpu_architecture: str = field(default="X86_64", metadata=allow(OneOf(("X86_64", "ARM64"))))
    environment: Mapping[str, str] = field(default_factory=dict, metadata=allow(EnvironmentVariables()))

    @property
    def reference(self) -> pulumi.Output[str]:
        """The image reference a task definition names: `image:tag`, once both are known."""
        return pulumi.Output.all(self.image, self.tag).apply(lambda parts: f"{parts[0]}:{parts[1]}")

    def problems(self, where: str = "Container", production: bool = False) -> list[str]:
        """Every field a declaration refuses, then what spans fields or is production's: the memory
        Fargate allows for the cpu, the image and tag's length together, a pinned tag in production."""
        found = problems(self, where)
        if found:
            return found
        if problem := fargate_size_problem(self.cpu, self.memory):
            found.append(f"{where}.memory = {self.memory!r}: {problem}")
        if isinstance(self.image, str) and isinstance(self.tag, str):
            found += [f"{where}.tag = {self.tag!r}: {p}" for p in _reference_problems(self.image, self.tag)]
        if isinstance(self.tag, str) and (problem := pinned_tag_problem(self.tag, production)):
            found.append(f"{where}.tag = {self.tag!r}: {problem}")
        return found


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """Why Fargate refuses `memory` MiB with `cpu` units, or None."""
    lowest, highest, step = FARGATE_MEMORY[cpu]
    sizes = (512, 1024, 2048) if step is None else range(lowest, highest + 1, step)
    if memory in sizes:
        return None
    steps = f" in steps of {step}" if step else " (512, 1024 or 2048)"
    return f"with cpu {cpu}, Fargate allows {lowest} to {highest} MiB{steps}"


def pinned_tag_problem(tag: str, production: bool) -> str | None:
    if production and tag == UNPINNED_TAG:
        return "a pinned tag in production: with 'latest' a rollback cannot name the version to go back to"
    return None


def _reference_problems(image: str, tag: str) -> list[str]:
    return [problem] if (problem := _reference_problem(f"{image}:{tag}")) else []


def _reference_problem(reference: str) -> str | None:
    if len(reference) <= IMAGE_REFERENCE_LENGTH:
        return None
    return (
        f"an image and tag of at most {IMAGE_REFERENCE_LENGTH} characters together (ECS's limit; {len(reference)} here)"
    )


def checked_container(what: str, where: str, container: Container, production: bool) -> Container:
    """`container` with an image or tag known only later checked when known, named at `where` (the
    argument of the component that was given it): one known now was checked at construction."""
    image, tag = container.image, container.tag
    if isinstance(image, pulumi.Output):
        image = resolved(what, f"{where}.image", image, refused_by(IMAGE))
    if isinstance(tag, pulumi.Output):
        tag = resolved(what, f"{where}.tag", tag, lambda known: _tag_problem(known, production))
    return replace(container, image=image, tag=tag)


def _tag_problem(tag: str, production: bool) -> str | None:
    return refused_by(TAG)(tag) or pinned_tag_problem(tag, production)


def checked_reference(what: str, where: str, container: Container, production: bool) -> pulumi.Output[str]:
    """`image:tag` once both are known (an Output from an ECR repository of the same program, say),
    each checked then (checked_container), and the two together within ECS's limit."""
    checked = checked_container(what, where, container, production)
    reference = pulumi.Output.all(checked.image, checked.tag).apply(lambda parts: f"{parts[0]}:{parts[1]}")
    return resolved(what, f"{where}.image:tag", reference, _reference_problem)


@dataclass(frozen=True)
class CodeDeployBlueGreen:
    """Releases are CodeDeploy deployments (see components/release.py); the service ignores what
    CodeDeploy changes."""


@dataclass(frozen=True)
class Rolling:
    """ECS replaces tasks in place; the deployment circuit breaker and the alarms roll back.

    Attributes:
        minimum_healthy_percent: Default: 100, so no task stops before its replacement is healthy.
            From 0 to 100 of the desired count; production keeps some running (above 0).
        maximum_percent: Default: 200, so a whole new set starts beside the old. From 100 to 200, with
            room for one task more than minimum_healthy_percent keeps running.
    """

    minimum_healthy_percent: int = field(default=100, metadata=allow(Whole(0, 100, "percent", "production above 0")))
    maximum_percent: int = field(default=200, metadata=allow(Whole(100, 200, "percent")))


@dataclass(frozen=True)
class NativeShift:
    """ECS's own blue/green, canary or linear deployment through weighted listener rules. Blue is
    kept for `bake_time_minutes` after the shift, while the alarms can still roll back.

    Attributes:
        strategy: Required. "BLUE_GREEN" (all traffic at once, which production refuses), "CANARY"
            or "LINEAR".
        bake_time_minutes: Default: 15, longer than the default alarms need to fire. How long blue is
            kept after the last shift, from 0 to 1440; production at least 10, and everywhere at least
            what the alarms need to fire on a version that went bad at the last shift.
        canary_percent: Required with CANARY, else None. The canary's share, 0.1 to 100 in steps of
            0.1; production below 100.
        canary_bake_minutes: Required with CANARY, else None. How long the canary runs before the
            rest moves, from 0 to 1440; production at least the alarms' worst detection time.
        step_percent: Required with LINEAR, else None. Each step's share, 3 to 100 in steps of 0.1;
            production below 100.
        step_bake_minutes: Required with LINEAR, else None. The wait between steps, from 0 to 1440.
    """

    strategy: Literal["BLUE_GREEN", "CANARY", "LINEAR"] = field(
        metadata=allow(OneOf(("BLUE_GREEN", "CANARY", "LINEAR")))
    )
    bake_time_minutes: int = field(
        default=15,
        metadata=allow(
            Whole(0, MAX_BAKE_MINUTES, "minutes", f"production at least {rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES}")
        ),
    )
    canary_percent: float | None = field(default=None, metadata=allow(Tenths(0.1)))
    canary_bake_minutes: int | None = field(default=None, metadata=allow(Whole(0, MAX_BAKE_MINUTES, "minutes")))
    step_percent: float | None = field(default=None, metadata=allow(Tenths(3)))
    step_bake_minutes: int | None = field(default=None, metadata=allow(Whole(0, MAX_BAKE_MINUTES, "minutes")))

    def __post_init__(self) -> None:
        """A strategy ECS knows, with the fields it needs: CANARY its canary's share and bake time,
        LINEAR its step and the bake time between steps."""
        needs = {"CANARY": ("canary_percent", "canary_bake_minutes"), "LINEAR": ("step_percent", "step_bake_minutes")}
        if self.strategy not in ("BLUE_GREEN", *needs):
            found = [f"NativeShift.strategy = {self.strategy!r}: one of BLUE_GREEN, CANARY, LINEAR"]
        else:
            missing = [name for name in needs.get(self.strategy, ()) if getattr(self, name) is None]
            found = [f"NativeShift.{name} = None: required with strategy {self.strategy!r}" for name in missing]
        rules.refuse(f"NativeShift({self.strategy!r})", found)

    @property
    def minutes_before_full_traffic(self) -> float:
        """How long part of production traffic stays on blue; blue/green moves it all at once."""
        if self.strategy == "CANARY":
            return self.canary_bake_minutes or 0
        if self.strategy == "LINEAR" and self.step_percent:
            return (math.ceil(100 / self.step_percent) - 1) * (self.step_bake_minutes or 0)
        return 0


EcsStrategy = CodeDeployBlueGreen | Rolling | NativeShift


@dataclass
class NativeRouting:
    """What ECS-native shifts need: the green target group, the weighted rules it rewrites, and
    the function that smoke-tests green once test traffic reaches it.

    Attributes:
        alternate_target_group_arn: Required. The green target group.
        production_listener_rule_arn: Required. The production listener's weighted rule.
        test_listener_rule_arn: Required. The test listener's weighted rule.
        smoke_test_function_arn: Required. The function ECS invokes once test traffic reaches green.
    """

    alternate_target_group_arn: pulumi.Input[str]
    production_listener_rule_arn: pulumi.Input[str]
    test_listener_rule_arn: pulumi.Input[str]
    smoke_test_function_arn: pulumi.Input[str]


@dataclass
class FargateServiceArgs:
    """What a FargateService is built from.

    Attributes:
        container: Required. What the service runs (Container).
        vpc_id: Required. The VPC its tasks run in.
        subnet_ids: Required. The private subnets its tasks run in (no public addresses).
        load_balancer_security_group_id: Required. The load balancer's security group, the only
            source the tasks accept traffic from.
        target_group_arn: Required. The target group the first task set registers in (blue);
            CodeDeploy or ECS alternates afterwards.
        desired_count: Default: 2, so one failing task is not an outage. From 1 to 1000; production
            at least 2.
        log_retention_days: Default: 30. How long the tasks' logs are kept: one of CloudWatch's
            retention periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ... days); production
            at least 30.
        health_check_grace_period_seconds: Default: 60, time for a task to start before failed
            health checks count. From 0 to 2147483647.
        strategy: Default: CodeDeployBlueGreen(). Who releases the service: CodeDeployBlueGreen,
            Rolling or NativeShift.
        rollback_alarm_names: Default: () (none). Under the ECS controller, these alarms roll a
            deployment back (CodeDeploy has its own list).
        native_routing: Default: None. Required with a NativeShift: the green target group, the
            weighted rules and the smoke-test hook (NativeRouting).
        production: Default: False. True holds production's floors (a pinned tag, two tasks, 30 days
            of logs).
    """

    container: Container
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    load_balancer_security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    desired_count: int = field(default=2, metadata=allow(DESIRED_COUNT))
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))
    health_check_grace_period_seconds: int = field(default=60, metadata=allow(Whole(0, 2_147_483_647, "seconds")))
    strategy: EcsStrategy = field(default_factory=CodeDeployBlueGreen)
    rollback_alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    native_routing: NativeRouting | None = None
    production: bool = False


def fargate_service_problems(name: str, args: FargateServiceArgs) -> list[str]:
    """Every argument a FargateService refuses, one line each, and the names it would give AWS."""
    where = "FargateServiceArgs"
    found = problems(args, where)
    if not isinstance(args.container, Container):
        found.append(f"{where}.container = {args.container!r}: a Container, not {type(args.container).__name__}")
    if not isinstance(args.strategy, (CodeDeployBlueGreen, Rolling, NativeShift)):
        found.append(
            f"{where}.strategy = {args.strategy!r}: CodeDeployBlueGreen, Rolling or NativeShift, "
            f"not {type(args.strategy).__name__}"
        )
    if found:
        return found
    found += args.container.problems(f"{where}.container", args.production)
    if isinstance(args.strategy, NativeShift) and args.native_routing is None:
        found.append(f"{where}.native_routing = None: required with a NativeShift ({args.strategy.strategy})")
    if args.production and args.desired_count < rules.PROD_MIN_DESIRED_COUNT:
        found.append(
            f"{where}.desired_count = {args.desired_count!r}: production runs at least "
            f"{rules.PROD_MIN_DESIRED_COUNT} tasks so one failing task is not an outage"
        )
    found += [
        f"{where}.log_retention_days = {args.log_retention_days!r}: {p}"
        for p in rules.logs(args.log_retention_days, args.production)
    ]
    found += service_name_problems(name)
    return found


def service_name_problems(name: str) -> list[str]:
    """The names a FargateService gives AWS, within AWS's lengths."""
    return naming.too_long("the task definition family", task_family(name), TASK_FAMILY_LENGTH) + naming.too_long(
        "the log group", log_group_name(name), LOG_GROUP_NAME_LENGTH
    )


def task_family(name: str) -> str:
    """The task definition family of the service `name`: `<prefix><name>-<stack>`."""
    return naming.physical_name(name)


def log_group_name(name: str) -> str:
    return f"/ecs/{naming.physical_name(name)}"


class FargateService(Component):
    """Cluster with Container Insights, task definition logging to its own log group, separate
    execution and task roles, and a service on private subnets released by its strategy.

    Under CodeDeploy the task definition created here is the first release and later releases are
    CodeDeploy deployments, so the service ignores what CodeDeploy changes; under the ECS
    controller a release is a change of task definition, which ECS rolls out and rolls back."""

    cluster: aws.ecs.Cluster
    service: aws.ecs.Service
    task_definition: aws.ecs.TaskDefinition
    security_group: aws.ec2.SecurityGroup
    log_group: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role
    task_role: aws.iam.Role
    container_name: str
    container_port: int

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None):
        what = f"service {name}"
        rules.refuse(what, fargate_service_problems(name, args))
        super().__init__("rollback-guard:ecs_service:FargateService", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        container = args.container
        self.container_name = args.container.name
        self.container_port = container.port

        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.execution_role = service_role(f"{name}-execution", "ecs-tasks.amazonaws.com", child)
        # What ECS needs to start a task: write to this log group, and pull the image if it lives in
        # ECR. Narrower than AmazonECSTaskExecutionRolePolicy, which allows every group and repository.
        execution_policy = role_policy(
            f"{name}-execution-policy",
            self.execution_role.id,
            pulumi.Output.from_input(container.image).apply(
                lambda image: [write_logs(self.log_group.arn), *_image_pull_statements(image)]
            ),
            child,
        )
        # The application's own permissions; none by default, granted by whoever owns the app.
        self.task_role = service_role(f"{name}-task-role", "ecs-tasks.amazonaws.com", child)

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=task_family(name),
            cpu=str(container.cpu),
            memory=str(container.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=container.cpu_architecture
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            # A new image replaces the task definition; the old revision must stay ACTIVE, because
            # it is what is live until CodeDeploy has shifted traffic, and what a rollback returns to.
            skip_destroy=True,
            container_definitions=pulumi.Output.json_dumps(
                [
                    {
                        "name": self.container_name,
                        "image": checked_reference(what, "FargateServiceArgs.container", container, args.production),
                        "essential": True,
                        "portMappings": [{"containerPort": container.port, "protocol": "tcp"}],
                        "environment": [{"name": k, "value": v} for k, v in sorted(container.environment.items())],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": self.log_group.name,
                                "awslogs-region": region,
                                "awslogs-stream-prefix": self.container_name,
                            },
                        },
                    }
                ]
            ),
            # Every release replaces the task definition, so it stays unprotected even in a protected
            # production stack (protection would refuse the replacement, and so every release). Its
            # first tasks pull the image and write logs through the execution role's policy.
            opts=pulumi.ResourceOptions(parent=self, protect=False, depends_on=[execution_policy]),
        )

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks-sg",
            vpc_id=args.vpc_id,
            description=f"{name} tasks, reachable from the load balancer only",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-alb",
            security_group_id=self.security_group.id,
            referenced_security_group_id=args.load_balancer_security_group_id,
            ip_protocol="tcp",
            from_port=container.port,
            to_port=container.port,
            description="requests and health checks from the load balancer",
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress",
            security_group_id=self.security_group.id,
            # Tasks pull images and call AWS APIs through the NAT gateway, whose addresses are not
            # known in advance: egress stays open; ingress is what keeps the tasks private.
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="-1",
            description="image pulls and AWS APIs",
            opts=child,
        )

        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids, security_groups=[self.security_group.id], assign_public_ip=False
            ),
            health_check_grace_period_seconds=args.health_check_grace_period_seconds,
            propagate_tags="SERVICE",
            **self._release_settings(name, args),
        )

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "serviceName": self.service.name,
                "taskDefinitionArn": self.task_definition.arn,
            }
        )

    def _release_settings(self, name: str, args: FargateServiceArgs) -> dict:
        """The service arguments that decide how a release happens and how it rolls back."""
        target = dict(container_name=self.container_name, container_port=self.container_port)
        strategy = args.strategy
        if isinstance(strategy, CodeDeployBlueGreen):
            return dict(
                deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type="CODE_DEPLOY"),
                load_balancers=[aws.ecs.ServiceLoadBalancerArgs(target_group_arn=args.target_group_arn, **target)],
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=CODEDEPLOY_OWNED_SERVICE_PROPERTIES),
            )
        ecs_controlled = dict(
            deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type="ECS"),
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            alarms=aws.ecs.ServiceAlarmsArgs(alarm_names=args.rollback_alarm_names, enable=True, rollback=True),
            # `pulumi up` returns when the deployment has finished (bake time included) or rolled back.
            wait_for_steady_state=True,
        )
        if isinstance(strategy, Rolling):
            return dict(
                **ecs_controlled,
                deployment_minimum_healthy_percent=strategy.minimum_healthy_percent,
                deployment_maximum_percent=strategy.maximum_percent,
                load_balancers=[aws.ecs.ServiceLoadBalancerArgs(target_group_arn=args.target_group_arn, **target)],
                opts=pulumi.ResourceOptions(parent=self, custom_timeouts=_deployment_timeouts(strategy)),
            )
        routing = args.native_routing
        role, permissions = self._infrastructure_role(name, routing.smoke_test_function_arn)
        return dict(
            **ecs_controlled,
            deployment_configuration=aws.ecs.ServiceDeploymentConfigurationArgs(
                strategy=strategy.strategy,
                bake_time_in_minutes=str(strategy.bake_time_minutes),
                canary_configuration=aws.ecs.ServiceDeploymentConfigurationCanaryConfigurationArgs(
                    canary_percent=strategy.canary_percent,
                    canary_bake_time_in_minutes=str(strategy.canary_bake_minutes),
                )
                if strategy.strategy == "CANARY"
                else None,
                linear_configuration=aws.ecs.ServiceDeploymentConfigurationLinearConfigurationArgs(
                    step_percent=strategy.step_percent,
                    step_bake_time_in_minutes=str(strategy.step_bake_minutes),
                )
                if strategy.strategy == "LINEAR"
                else None,
                lifecycle_hooks=[
                    aws.ecs.ServiceDeploymentConfigurationLifecycleHookArgs(
                        hook_target_arn=routing.smoke_test_function_arn,
                        role_arn=role.arn,
                        lifecycle_stages=["POST_TEST_TRAFFIC_SHIFT"],
                    )
                ],
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    advanced_configuration=aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
                        alternate_target_group_arn=routing.alternate_target_group_arn,
                        production_listener_rule=routing.production_listener_rule_arn,
                        test_listener_rule=routing.test_listener_rule_arn,
                        role_arn=role.arn,
                    ),
                    **target,
                )
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=ECS_OWNED_SERVICE_PROPERTIES,
                custom_timeouts=_deployment_timeouts(strategy),
                depends_on=permissions,
            ),
        )

    def _infrastructure_role(self, name: str, hook_arn: pulumi.Input[str]) -> tuple[aws.iam.Role, list]:
        """The role ECS acts through during a native shift: it rewrites the listener rules
        (AmazonECSInfrastructureRolePolicyForLoadBalancers) and invokes the smoke-test hook."""
        child = pulumi.ResourceOptions(parent=self)
        role = service_role(f"{name}-ecs-infrastructure", "ecs.amazonaws.com", child)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-ecs-infrastructure-elb", role=role.name, policy_arn=ELB_ROLE_POLICY, opts=child
        )
        policy = role_policy(
            f"{name}-ecs-infrastructure-hook",
            role.id,
            [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": hook_arn}],
            child,
        )
        # The service must not exist without them: ECS checks them on create, and needs them until
        # the service is gone on delete.
        return role, [attachment, policy]


def deployment_minutes(strategy: Rolling | NativeShift) -> int:
    """How long `pulumi up` may wait for a deployment ECS releases itself (waitForSteadyState):
    half an hour to start and replace tasks, plus the shift's and blue's bake times."""
    minutes = 30
    if isinstance(strategy, NativeShift):
        minutes += strategy.bake_time_minutes
        if strategy.strategy == "CANARY":
            minutes += strategy.canary_bake_minutes
        elif strategy.strategy == "LINEAR":
            minutes += math.ceil(100 / strategy.step_percent) * strategy.step_bake_minutes
    return minutes


def _deployment_timeouts(strategy: Rolling | NativeShift) -> pulumi.CustomTimeouts:
    """Longer than the provider's default of 20 minutes once shifting and baking are counted."""
    minutes = deployment_minutes(strategy)
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")


def _image_pull_statements(image: str) -> list[dict]:
    """Pull `image` if it lives in ECR; a public image needs no permission. An image still unknown
    (None: under mocks that do not compute it) needs none either."""
    ecr = _ECR_IMAGE.match(image) if isinstance(image, str) else None
    if not ecr:
        return []
    return [
        {
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": f"arn:aws:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}",
        },
        # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    ]
