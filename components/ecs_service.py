"""A Fargate service whose releases belong to CodeDeploy."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

# Under the CODE_DEPLOY controller ECS refuses UpdateService for these, and CodeDeploy changes them on
# every release; Pulumi must not try to put its stale copy back.
CODEDEPLOY_OWNED_SERVICE_PROPERTIES = ["taskDefinition", "loadBalancers", "networkConfiguration", "platformVersion"]

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


class FargateService(pulumi.ComponentResource):
    """Cluster with Container Insights, task definition logging to its own log group, separate
    execution and task roles, and a service on private subnets under the CODE_DEPLOY controller.

    The task definition created here is the first release; later releases are CodeDeploy
    deployments, so the service ignores what CodeDeploy changes."""

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
        self.execution_role = _ecs_tasks_role(f"{name}-execution", child)
        aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=self.execution_role.id,
            policy=self.log_group.arn.apply(lambda arn: _execution_policy(arn, container.image)),
            opts=child,
        )
        # The application's own permissions; none by default, granted by whoever owns the app.
        self.task_role = _ecs_tasks_role(f"{name}-task-role", child)

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
            # production stack (protection would refuse the replacement, and so every release).
            opts=pulumi.ResourceOptions(parent=self, protect=False),
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
            deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type="CODE_DEPLOY"),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    container_name=self.container_name,
                    container_port=container.port,
                )
            ],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids, security_groups=[self.security_group.id], assign_public_ip=False
            ),
            health_check_grace_period_seconds=args.health_check_grace_period_seconds,
            propagate_tags="SERVICE",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=CODEDEPLOY_OWNED_SERVICE_PROPERTIES),
        )

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "serviceName": self.service.name,
                "taskDefinitionArn": self.task_definition.arn,
            }
        )


def _ecs_tasks_role(name: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
        opts=opts,
    )


def _execution_policy(log_group_arn: str, image: str) -> str:
    """What ECS needs to start the task: write to this log group, and pull this image if it lives in
    ECR. Narrower than AmazonECSTaskExecutionRolePolicy, which allows every log group and repository."""
    statements = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        }
    ]
    ecr = _ECR_IMAGE.match(image)
    if ecr:
        statements += [
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                "Resource": f"arn:aws:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}",
            },
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
