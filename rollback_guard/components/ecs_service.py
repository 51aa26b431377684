"""A Fargate service, released by CodeDeploy (blue/green) or by ECS itself (rolling, or ECS's own
blue/green, canary and linear), rolling back automatically either way."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.components.iam import role_policy, service_role, write_logs
from rollback_guard.policy import rules

# Under the CODE_DEPLOY controller ECS refuses UpdateService for these, and CodeDeploy changes them on
# every release; Pulumi must not try to put its stale copy back.
CODEDEPLOY_OWNED_SERVICE_PROPERTIES = ["taskDefinition", "loadBalancers", "networkConfiguration", "platformVersion"]

# ECS-native shifts swap the service's primary and alternate target groups on every release.
ECS_OWNED_SERVICE_PROPERTIES = ["loadBalancers"]
ELB_ROLE_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[^:@]+)$"
)


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    tag: str
    port: int
    cpu: int = 256
    memory: int = 512
    cpu_architecture: str = "X86_64"
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class CodeDeployBlueGreen:
    """Releases are CodeDeploy deployments (see components/release.py); the service ignores what
    CodeDeploy changes."""


@dataclass(frozen=True)
class Rolling:
    """ECS replaces tasks in place; the deployment circuit breaker and the alarms roll back."""

    minimum_healthy_percent: int = 100
    maximum_percent: int = 200


@dataclass(frozen=True)
class NativeShift:
    """ECS's own blue/green, canary or linear deployment through weighted listener rules. Blue is
    kept for `bake_time_minutes` after the shift, while the alarms can still roll back."""

    strategy: Literal["BLUE_GREEN", "CANARY", "LINEAR"]
    bake_time_minutes: int = 15
    canary_percent: float | None = None
    canary_bake_minutes: int | None = None
    step_percent: float | None = None
    step_bake_minutes: int | None = None

    def __post_init__(self) -> None:
        """A strategy ECS knows, with the fields it needs: CANARY its canary's share and bake time,
        LINEAR its step and the bake time between steps."""
        needs = {"CANARY": ("canary_percent", "canary_bake_minutes"), "LINEAR": ("step_percent", "step_bake_minutes")}
        if self.strategy not in ("BLUE_GREEN", *needs):
            found = [f"strategy {self.strategy!r}: one of BLUE_GREEN, CANARY, LINEAR"]
        else:
            missing = [name for name in needs.get(self.strategy, ()) if getattr(self, name) is None]
            found = [f"{name} None: required with strategy {self.strategy!r}" for name in missing]
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
    the function that smoke-tests green once test traffic reaches it."""

    alternate_target_group_arn: pulumi.Input[str]
    production_listener_rule_arn: pulumi.Input[str]
    test_listener_rule_arn: pulumi.Input[str]
    smoke_test_function_arn: pulumi.Input[str]


@dataclass
class FargateServiceArgs:
    container: Container
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    load_balancer_security_group_id: pulumi.Input[str]
    # The target group the first task set registers in (blue); CodeDeploy alternates afterwards.
    target_group_arn: pulumi.Input[str]
    desired_count: int = 2
    log_retention_days: int = 30
    health_check_grace_period_seconds: int = 60
    strategy: EcsStrategy = field(default_factory=CodeDeployBlueGreen)
    # Under the ECS controller, these alarms roll a deployment back (CodeDeploy has its own list).
    rollback_alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    # Required with a NativeShift.
    native_routing: NativeRouting | None = None


class FargateService(pulumi.ComponentResource):
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
        super().__init__("rollback-guard:ecs_service:FargateService", name, None, opts)
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
            name=f"/ecs/{name}-{pulumi.get_stack()}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.execution_role = service_role(f"{name}-execution", "ecs-tasks.amazonaws.com", child)
        # What ECS needs to start a task: write to this log group, and pull the image if it lives in
        # ECR. Narrower than AmazonECSTaskExecutionRolePolicy, which allows every group and repository.
        execution_policy = role_policy(
            f"{name}-execution-policy",
            self.execution_role.id,
            [write_logs(self.log_group.arn), *_image_pull_statements(container.image)],
            child,
        )
        # The application's own permissions; none by default, granted by whoever owns the app.
        self.task_role = service_role(f"{name}-task-role", "ecs-tasks.amazonaws.com", child)

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{name}-{pulumi.get_stack()}",
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
                        "image": container.reference,
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
        if routing is None:
            raise ValueError(f"{name}: strategy {strategy.strategy} needs native_routing")
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
    """Pull `image` if it lives in ECR; a public image needs no permission."""
    ecr = _ECR_IMAGE.match(image)
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
