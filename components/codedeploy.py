"""CodeDeploy deployment groups that roll back by themselves.

Shaped like AWS CDK's aws-codedeploy: what identifies the deployment target is required, everything
else has a safe default (linear traffic shift, rollback on failure, stop and alarm, blue kept long
enough for a late alarm to still roll back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

# Predefined configurations, spelled as AWS spells them (ECS says "Minutes", Lambda "Minute").
ECS_PREDEFINED_CONFIGS = frozenset(
    {
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        "CodeDeployDefault.ECSAllAtOnce",
    }
)
ALL_AT_ONCE_CONFIGS = frozenset({"CodeDeployDefault.ECSAllAtOnce"})

MAX_ALARMS_PER_DEPLOYMENT_GROUP = 10
MAX_WAIT_MINUTES = 2880  # CodeDeploy's ceiling for both the approval wait and the termination wait


@dataclass(frozen=True)
class TimeBasedShift:
    """A custom traffic shift: `linear` moves `percentage` every `interval_minutes`; `canary` moves
    `percentage` first and the rest after `interval_minutes`."""

    kind: Literal["linear", "canary"]
    percentage: int
    interval_minutes: int


DeploymentConfigChoice = str | TimeBasedShift


@dataclass(frozen=True)
class AutoRollback:
    """Which events send traffic back to the previous version. All on by default: a rollback tool
    that needs opting into rollbacks would be a surprise."""

    failed_deployment: bool = True
    stopped_deployment: bool = True
    deployment_in_alarm: bool = True

    def events(self) -> list[str]:
        wanted = {
            "DEPLOYMENT_FAILURE": self.failed_deployment,
            "DEPLOYMENT_STOP_ON_REQUEST": self.stopped_deployment,
            "DEPLOYMENT_STOP_ON_ALARM": self.deployment_in_alarm,
        }
        return [event for event, on in wanted.items() if on]


@dataclass
class EcsDeploymentGroupArgs:
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    blue_target_group_name: pulumi.Input[str]
    green_target_group_name: pulumi.Input[str]
    production_listener_arn: pulumi.Input[str]
    test_listener_arn: pulumi.Input[str] | None = None
    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    deployment_config: DeploymentConfigChoice = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    # Alarms are still watched while blue waits for termination; once blue is gone there is
    # nothing to roll back to, so the wait is the window in which a late alarm still helps.
    termination_wait_minutes: int = 10
    # 0 shifts traffic as soon as green is ready; otherwise someone must continue the deployment
    # within this many minutes or it stops (and rolls back).
    approval_wait_minutes: int = 0
    auto_rollback: AutoRollback = field(default_factory=AutoRollback)
    # False: if CodeDeploy cannot read the alarms it stops the deployment instead of flying blind.
    ignore_poll_alarm_failure: bool = False


class EcsDeploymentGroup(pulumi.ComponentResource):
    """CodeDeploy application, blue/green deployment group with traffic control, and its service
    role (AWSCodeDeployRoleForECS) for one ECS service."""

    application: aws.codedeploy.Application
    deployment_group: aws.codedeploy.DeploymentGroup
    role: aws.iam.Role

    def __init__(self, name: str, args: EcsDeploymentGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:codedeploy:EcsDeploymentGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.application = aws.codedeploy.Application(f"{name}-app", compute_platform="ECS", opts=child)
        self.role = codedeploy_service_role(name, "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS", child)
        config_name = deployment_config_name(name, "ECS", args.deployment_config, child)

        wait = args.approval_wait_minutes
        self.deployment_group = aws.codedeploy.DeploymentGroup(
            f"{name}-group",
            app_name=self.application.name,
            deployment_group_name=name,
            service_role_arn=self.role.arn,
            deployment_config_name=config_name,
            deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            blue_green_deployment_config=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigArgs(
                deployment_ready_option=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs(
                    action_on_timeout="STOP_DEPLOYMENT" if wait else "CONTINUE_DEPLOYMENT",
                    wait_time_in_minutes=wait or None,
                ),
                terminate_blue_instances_on_deployment_success=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs(
                    action="TERMINATE", termination_wait_time_in_minutes=args.termination_wait_minutes
                ),
            ),
            ecs_service=aws.codedeploy.DeploymentGroupEcsServiceArgs(
                cluster_name=args.cluster_name, service_name=args.service_name
            ),
            load_balancer_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoArgs(
                target_group_pair_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs(
                    prod_traffic_route=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs(
                        listener_arns=[args.production_listener_arn]
                    ),
                    test_traffic_route=(
                        aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRouteArgs(
                            listener_arns=[args.test_listener_arn]
                        )
                        if args.test_listener_arn is not None
                        else None
                    ),
                    target_groups=[
                        aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs(name=tg)
                        for tg in (args.blue_target_group_name, args.green_target_group_name)
                    ],
                )
            ),
            auto_rollback_configuration=_auto_rollback(args.auto_rollback),
            alarm_configuration=_alarm_configuration(args.alarm_names, args.ignore_poll_alarm_failure),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role]),
        )

        self.register_outputs(
            {
                "applicationName": self.application.name,
                "applicationArn": self.application.arn,
                "deploymentGroupName": self.deployment_group.deployment_group_name,
                "deploymentGroupArn": self.deployment_group.arn,
            }
        )


def codedeploy_service_role(name: str, managed_policy_arn: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "codedeploy.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        opts=opts,
    )
    aws.iam.RolePolicyAttachment(f"{name}-role-managed", role=role.name, policy_arn=managed_policy_arn, opts=opts)
    return role


def deployment_config_name(
    name: str, compute_platform: Literal["ECS", "Lambda"], choice: DeploymentConfigChoice, opts: pulumi.ResourceOptions
) -> pulumi.Input[str]:
    """A predefined config is used by name; a custom shift becomes a DeploymentConfig of our own."""
    if isinstance(choice, str):
        return choice
    kind = {"linear": "TimeBasedLinear", "canary": "TimeBasedCanary"}[choice.kind]
    step = {"percentage": choice.percentage, "interval": choice.interval_minutes}
    routing = aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
        type=kind,
        time_based_linear=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedLinearArgs(**step)
        if choice.kind == "linear"
        else None,
        time_based_canary=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs(**step)
        if choice.kind == "canary"
        else None,
    )
    config = aws.codedeploy.DeploymentConfig(
        f"{name}-shift",
        deployment_config_name=f"{name}-{choice.kind}-{choice.percentage}pct-{choice.interval_minutes}min",
        compute_platform=compute_platform,
        traffic_routing_config=routing,
        opts=opts,
    )
    return config.deployment_config_name


def _auto_rollback(policy: AutoRollback) -> aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs:
    events = policy.events()
    return aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(enabled=bool(events), events=events)


def _alarm_configuration(
    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]], ignore_poll_alarm_failure: bool
) -> pulumi.Output[aws.codedeploy.DeploymentGroupAlarmConfigurationArgs]:
    def configure(names: list[str]) -> aws.codedeploy.DeploymentGroupAlarmConfigurationArgs:
        if len(names) > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
            raise ValueError(
                f"a deployment group takes at most {MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms, got {len(names)}"
            )
        return aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
            enabled=bool(names), alarms=names, ignore_poll_alarm_failure=ignore_poll_alarm_failure
        )

    return pulumi.Output.from_input(alarm_names).apply(configure)
