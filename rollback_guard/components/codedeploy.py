"""CodeDeploy deployment groups that roll back by themselves.

Shaped like AWS CDK's aws-codedeploy: what identifies the deployment target is required, everything
else has a safe default (linear traffic shift, rollback on failure, stop and alarm, blue kept long
enough for a late alarm to still roll back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.iam import service_role
from rollback_guard.limits import ALARMS_PER_DEPLOYMENT_GROUP, CODEDEPLOY_WAIT_MINUTES
from rollback_guard.policy import rules

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
LAMBDA_PREDEFINED_CONFIGS = frozenset(
    {
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        "CodeDeployDefault.LambdaAllAtOnce",
    }
)
ALL_AT_ONCE_CONFIGS = rules.ALL_AT_ONCE_CONFIGS & (ECS_PREDEFINED_CONFIGS | LAMBDA_PREDEFINED_CONFIGS)

# The limited managed policies: hooks are invoked through each hook's own explicit grant, not the
# broader policies' "any function named CodeDeployHook_*" (Lambda) or "any function" (ECS).
ECS_ROLE_POLICY = "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECSLimited"
LAMBDA_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
MAX_ALARMS_PER_DEPLOYMENT_GROUP = ALARMS_PER_DEPLOYMENT_GROUP
# Every application this library creates: Pulumi names it "<service>-deploy-app-<suffix>"
# (EventBridge wildcard syntax, for rules that should see this project's deployments only).
APPLICATIONS = "*-deploy-app-*"
MAX_WAIT_MINUTES = CODEDEPLOY_WAIT_MINUTES  # for both the approval wait and the termination wait
# CodeDeploy (and ECS, for its own deployments) reads a deployment's alarms at an interval AWS does
# not document: assumed to be at most a minute.
ALARM_POLL_SECONDS = 60


def minimum_blue_kept_minutes(evaluation: AlarmEvaluation) -> int:
    """How long blue must outlive the last shift for an alarm on a version that went bad at that
    shift to still roll back: the alarm's worst detection time and one poll of its alarms."""
    return math.ceil((evaluation.worst_detection_seconds + ALARM_POLL_SECONDS) / 60)


@dataclass(frozen=True)
class TimeBasedShift:
    """A custom traffic shift: `linear` moves `percentage` every `interval_minutes`; `canary` moves
    `percentage` first and the rest after `interval_minutes`."""

    kind: Literal["linear", "canary"]
    percentage: int
    interval_minutes: int


DeploymentConfigChoice = str | TimeBasedShift


# The predefined configs as shifts; None moves all traffic at once.
PREDEFINED_SHIFTS: dict[str, TimeBasedShift | None] = {
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": TimeBasedShift("linear", 10, 1),
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": TimeBasedShift("linear", 10, 3),
    "CodeDeployDefault.ECSCanary10Percent5Minutes": TimeBasedShift("canary", 10, 5),
    "CodeDeployDefault.ECSCanary10Percent15Minutes": TimeBasedShift("canary", 10, 15),
    "CodeDeployDefault.ECSAllAtOnce": None,
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": TimeBasedShift("linear", 10, 1),
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes": TimeBasedShift("linear", 10, 2),
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes": TimeBasedShift("linear", 10, 3),
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": TimeBasedShift("linear", 10, 10),
    "CodeDeployDefault.LambdaCanary10Percent5Minutes": TimeBasedShift("canary", 10, 5),
    "CodeDeployDefault.LambdaCanary10Percent10Minutes": TimeBasedShift("canary", 10, 10),
    "CodeDeployDefault.LambdaCanary10Percent15Minutes": TimeBasedShift("canary", 10, 15),
    "CodeDeployDefault.LambdaCanary10Percent30Minutes": TimeBasedShift("canary", 10, 30),
    "CodeDeployDefault.LambdaAllAtOnce": None,
}


PREDEFINED_CONFIGS: dict[str, frozenset[str]] = {"ECS": ECS_PREDEFINED_CONFIGS, "Lambda": LAMBDA_PREDEFINED_CONFIGS}
SHIFT_KINDS = ("linear", "canary")


def deployment_config_problems(argument: str, choice: object, compute_platform: Literal["ECS", "Lambda"]) -> list[str]:
    """What is wrong with `choice` as the deployment config of a `compute_platform` release, one
    line each naming `argument`: a predefined config of that platform, or a TimeBasedShift (whose
    field types rules.argument_types checks)."""
    if isinstance(choice, TimeBasedShift):
        if rules.argument_types(choice):
            return []  # the wrong types, as rules.argument_types names them in the whole Args
        found = []
        if choice.kind not in SHIFT_KINDS:
            found.append(f"{argument}.kind {choice.kind!r}: one of {', '.join(SHIFT_KINDS)}")
        if not 1 <= choice.percentage <= 100:
            found.append(f"{argument}.percentage {choice.percentage!r}: from 1 to 100")
        if choice.interval_minutes < 1:
            found.append(f"{argument}.interval_minutes {choice.interval_minutes!r}: at least 1")
        return found
    valid = PREDEFINED_CONFIGS[compute_platform]
    if isinstance(choice, str) and choice in valid:
        return []
    other = next((platform for platform, names in PREDEFINED_CONFIGS.items() if str(choice) in names), None)
    why = f" ({other}'s, not {compute_platform}'s)" if other else ""
    return [
        f"{argument} {choice!r}{why}: a TimeBasedShift or one of the {compute_platform} configs "
        f"{', '.join(sorted(valid))}"
    ]


def _as_shift(choice: DeploymentConfigChoice) -> TimeBasedShift | None:
    if isinstance(choice, TimeBasedShift):
        shift = choice
    elif isinstance(choice, str) and choice in PREDEFINED_SHIFTS:
        shift = PREDEFINED_SHIFTS[choice]
    else:
        raise ValueError(
            f"deployment config {choice!r}: a TimeBasedShift or one of {', '.join(sorted(PREDEFINED_SHIFTS))}"
        )
    return None if shift is None or shift.percentage >= 100 else shift


def shift_minutes(choice: DeploymentConfigChoice) -> int:
    """How long a config takes to shift all traffic, counting each linear step as a full interval
    (10% every minute: ten minutes), as CodeDeploy's own estimates do."""
    shift = _as_shift(choice)
    if shift is None:
        return 0
    if shift.kind == "canary":
        return shift.interval_minutes
    return math.ceil(100 / shift.percentage) * shift.interval_minutes


def minutes_before_full_traffic(choice: DeploymentConfigChoice) -> int:
    """How long part of the traffic stays on the previous version: the time an alarm has to stop
    the release before every request reaches the new one (10% every minute: nine minutes)."""
    shift = _as_shift(choice)
    if shift is None:
        return 0
    if shift.kind == "canary":
        return shift.interval_minutes
    return (math.ceil(100 / shift.percentage) - 1) * shift.interval_minutes


def all_at_once(choice: DeploymentConfigChoice) -> bool:
    """Whether a config moves all traffic in one step."""
    return _as_shift(choice) is None


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
class RollbackPolicy:
    """What sends a deployment group's traffic back: the alarms it watches and the events it rolls
    back on."""

    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    auto_rollback: AutoRollback = field(default_factory=AutoRollback)
    # False: if CodeDeploy cannot read the alarms it stops the deployment instead of flying blind.
    ignore_poll_alarm_failure: bool = False


class DeploymentGroupBase(pulumi.ComponentResource):
    """Application, service role and deployment group; subclasses add what their platform needs."""

    application: aws.codedeploy.Application
    deployment_group: aws.codedeploy.DeploymentGroup
    role: aws.iam.Role

    def _build(
        self,
        name: str,
        compute_platform: Literal["ECS", "Lambda"],
        managed_policy_arn: str,
        deployment_config: DeploymentConfigChoice,
        policy: RollbackPolicy,
        production: bool,
        termination_wait_minutes: int | None = None,
        **platform_args,
    ) -> None:
        """Refuses an unsafe group (policy/rules.py) before creating anything: the alarm list
        once it is known."""
        names = policy.alarm_names
        known = isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)
        rules.refuse(
            f"deployment group {name}",
            rules.deployment_group(
                alarm_names=names if known else ["(known once created)"],
                rollback_events=policy.auto_rollback.events(),
                config=str(deployment_config),
                all_at_once=all_at_once(deployment_config),
                termination_wait_minutes=termination_wait_minutes,
                production=production,
            ),
        )
        child = pulumi.ResourceOptions(parent=self)
        self.application = aws.codedeploy.Application(f"{name}-app", compute_platform=compute_platform, opts=child)
        self.role, permissions = _service_role(name, managed_policy_arn, child)
        self.deployment_group = aws.codedeploy.DeploymentGroup(
            f"{name}-group",
            app_name=self.application.name,
            deployment_group_name=name,
            service_role_arn=self.role.arn,
            deployment_config_name=deployment_config_name(name, compute_platform, deployment_config, child),
            deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            auto_rollback_configuration=_auto_rollback(policy.auto_rollback),
            alarm_configuration=_alarm_configuration(name, policy.alarm_names, policy.ignore_poll_alarm_failure),
            # CodeDeploy checks the role's permissions when it creates the group.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
            **platform_args,
        )
        self.register_outputs(
            {
                "applicationName": self.application.name,
                "applicationArn": self.application.arn,
                "deploymentGroupName": self.deployment_group.deployment_group_name,
                "deploymentGroupArn": self.deployment_group.arn,
            }
        )


@dataclass
class EcsDeploymentGroupArgs:
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    blue_target_group_name: pulumi.Input[str]
    green_target_group_name: pulumi.Input[str]
    production_listener_arn: pulumi.Input[str]
    test_listener_arn: pulumi.Input[str] | None = None
    rollback: RollbackPolicy = field(default_factory=RollbackPolicy)
    deployment_config: DeploymentConfigChoice = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    # Alarms are still watched while blue waits for termination; once blue is gone there is
    # nothing to roll back to, so the wait is the window in which a late alarm still helps.
    termination_wait_minutes: int = 10
    # 0 shifts traffic as soon as green is ready; otherwise someone must continue the deployment
    # within this many minutes or it stops (and rolls back).
    approval_wait_minutes: int = 0
    # Production floors (policy/rules.py): gradual shifts, blue kept at least 10 minutes.
    production: bool = False


class EcsDeploymentGroup(DeploymentGroupBase):
    """Blue/green deployment group with traffic control for one ECS service, acting through
    AWSCodeDeployRoleForECSLimited."""

    def __init__(self, name: str, args: EcsDeploymentGroupArgs, opts: pulumi.ResourceOptions | None = None):
        _refuse_misuse(name, args, "ECS")
        super().__init__("rollback-guard:codedeploy:EcsDeploymentGroup", name, None, opts)
        cd = aws.codedeploy
        wait = args.approval_wait_minutes
        self._build(
            name,
            "ECS",
            ECS_ROLE_POLICY,
            args.deployment_config,
            args.rollback,
            args.production,
            args.termination_wait_minutes,
            blue_green_deployment_config=cd.DeploymentGroupBlueGreenDeploymentConfigArgs(
                deployment_ready_option=cd.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs(
                    action_on_timeout="STOP_DEPLOYMENT" if wait else "CONTINUE_DEPLOYMENT",
                    wait_time_in_minutes=wait or None,
                ),
                terminate_blue_instances_on_deployment_success=cd.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs(
                    action="TERMINATE", termination_wait_time_in_minutes=args.termination_wait_minutes
                ),
            ),
            ecs_service=cd.DeploymentGroupEcsServiceArgs(
                cluster_name=args.cluster_name, service_name=args.service_name
            ),
            load_balancer_info=cd.DeploymentGroupLoadBalancerInfoArgs(
                target_group_pair_info=cd.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs(
                    prod_traffic_route=cd.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs(
                        listener_arns=[args.production_listener_arn]
                    ),
                    test_traffic_route=(
                        cd.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRouteArgs(
                            listener_arns=[args.test_listener_arn]
                        )
                        if args.test_listener_arn is not None
                        else None
                    ),
                    target_groups=[
                        cd.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs(name=tg)
                        for tg in (args.blue_target_group_name, args.green_target_group_name)
                    ],
                )
            ),
        )


@dataclass
class LambdaDeploymentGroupArgs:
    rollback: RollbackPolicy = field(default_factory=RollbackPolicy)
    # Ten steps a minute apart: the whole shift takes ten minutes.
    deployment_config: DeploymentConfigChoice = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    # Production floors (policy/rules.py): gradual shifts.
    production: bool = False


class LambdaDeploymentGroup(DeploymentGroupBase):
    """Deployment group that shifts a Lambda alias, acting through AWSCodeDeployRoleForLambdaLimited.

    That role invokes only functions named CodeDeployHook_*; hooks with other names are granted
    invoke on this group's role by whoever creates them (see TrafficHooks)."""

    def __init__(self, name: str, args: LambdaDeploymentGroupArgs, opts: pulumi.ResourceOptions | None = None):
        _refuse_misuse(name, args, "Lambda")
        super().__init__("rollback-guard:codedeploy:LambdaDeploymentGroup", name, None, opts)
        self._build(
            name,
            "Lambda",
            LAMBDA_ROLE_POLICY,
            args.deployment_config,
            args.rollback,
            args.production,
        )


def _refuse_misuse(
    name: str, args: EcsDeploymentGroupArgs | LambdaDeploymentGroupArgs, compute_platform: Literal["ECS", "Lambda"]
) -> None:
    """Arguments of the wrong type and a config of another platform, refused before anything exists."""
    found = rules.argument_types(args)
    found += deployment_config_problems("deployment_config", args.deployment_config, compute_platform)
    rules.refuse(f"deployment group {name}", found)


def _service_role(
    name: str, managed_policy_arn: str, opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
    role = service_role(f"{name}-role", "codedeploy.amazonaws.com", opts)
    return role, aws.iam.RolePolicyAttachment(
        f"{name}-role-managed", role=role.name, policy_arn=managed_policy_arn, opts=opts
    )


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
        # Config names are unique per account and region: the stack keeps staging's and prod's apart.
        deployment_config_name=(
            f"{name}-{pulumi.get_stack()}-{choice.kind}-{choice.percentage}pct-{choice.interval_minutes}min"
        ),
        compute_platform=compute_platform,
        traffic_routing_config=routing,
        opts=opts,
    )
    return config.deployment_config_name


def _auto_rollback(policy: AutoRollback) -> aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs:
    events = policy.events()
    return aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(enabled=bool(events), events=events)


def _alarm_configuration(
    name: str, alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]], ignore_poll_alarm_failure: bool
) -> pulumi.Output[aws.codedeploy.DeploymentGroupAlarmConfigurationArgs]:
    def configure(names: list[str]) -> aws.codedeploy.DeploymentGroupAlarmConfigurationArgs:
        if not names:
            raise rules.UnsafeConfiguration(f"deployment group {name}", ["it watches no alarm: give it at least one"])
        if len(names) > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
            raise ValueError(
                f"a deployment group takes at most {MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms, got {len(names)}"
            )
        return aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
            enabled=bool(names), alarms=names, ignore_poll_alarm_failure=ignore_poll_alarm_failure
        )

    return pulumi.Output.from_input(alarm_names).apply(configure)
