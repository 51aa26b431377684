"""CodeDeploy deployment groups that roll back by themselves.

Shaped like AWS CDK's aws-codedeploy: what identifies the deployment target is required, everything
else has a safe default (linear traffic shift, rollback on failure, stop and alarm, blue kept long
enough for a late alarm to still roll back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import AlarmEvaluation, alarm_name_problem
from rollback_guard.components.arguments import OneOf, Whole, allow, problems, resolved
from rollback_guard.components.iam import service_role
from rollback_guard.components.naming import physical_name, too_long
from rollback_guard.components.parts import Component
from rollback_guard.limits import ALARMS_PER_DEPLOYMENT_GROUP, CODEDEPLOY_WAIT_MINUTES, NAME_RULES
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


SHIFT_KINDS = ("linear", "canary")


@dataclass(frozen=True)
class TimeBasedShift:
    """A custom traffic shift: `linear` moves `percentage` every `interval_minutes`; `canary` moves
    `percentage` first and the rest after `interval_minutes`. Becomes a CodeDeploy deployment config
    of the component's own, named `<prefix><group>-<stack>-<kind>-<percentage>pct-<interval>min`.

    Attributes:
        kind: Required. "linear" or "canary".
        percentage: Required. The traffic moved at each step (linear) or first (canary), 1 to 100; 100
            moves all at once, which production refuses.
        interval_minutes: Required. Minutes between steps, 1 to 2880 (CodeDeploy's two days); the whole
            shift must also end within 2880 minutes.
    """

    kind: Literal["linear", "canary"] = field(metadata=allow(OneOf(SHIFT_KINDS)))
    percentage: int = field(metadata=allow(Whole(1, 100, "%", why="100 moves all traffic at once")))
    interval_minutes: int = field(metadata=allow(Whole(1, MAX_WAIT_MINUTES, "minutes", why="CodeDeploy's two days")))


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


@dataclass(frozen=True)
class DeploymentConfig:
    """What a `compute_platform` release's deployment config may be (a Rule, as arguments.OneOf): one
    of that platform's predefined configs, by name, or a TimeBasedShift (whose fields declare their own)."""

    compute_platform: Literal["ECS", "Lambda"]

    @property
    def allowed(self) -> str:
        platform = self.compute_platform
        others = " and ".join(other for other in PREDEFINED_CONFIGS if other != platform)
        names = ", ".join(sorted(PREDEFINED_CONFIGS[platform]))
        return f"a TimeBasedShift or one of the {platform} configs {names} ({others}'s are not {platform}'s)"

    def allows(self, value: Any) -> bool:
        return isinstance(value, TimeBasedShift) or (
            isinstance(value, str) and value in PREDEFINED_CONFIGS[self.compute_platform]
        )

    def schema(self) -> dict:
        shift = {
            "type": "object",
            "properties": {
                "type": {"enum": list(SHIFT_KINDS)},
                "percentage": {"type": "integer", "minimum": 1, "maximum": 100},
                "intervalMinutes": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_MINUTES},
            },
            "required": ["type", "percentage", "intervalMinutes"],
        }
        return {
            "anyOf": [{"enum": sorted(PREDEFINED_CONFIGS[self.compute_platform])}, shift],
            "description": self.allowed,
        }


ECS_CONFIG = DeploymentConfig("ECS")
LAMBDA_CONFIG = DeploymentConfig("Lambda")


def deployment_config_problems(argument: str, choice: object, compute_platform: Literal["ECS", "Lambda"]) -> list[str]:
    """What is wrong with `choice` as the deployment config of a `compute_platform` release, one
    line each naming `argument` (a path such as `LambdaCanaryArgs.deployment_config`): a predefined
    config of that platform, or a TimeBasedShift whose fields are valid and that ends within
    CodeDeploy's two days."""
    rule = DeploymentConfig(compute_platform)
    if not rule.allows(choice):
        return [f"{argument} = {choice!r}: {rule.allowed}"]
    if isinstance(choice, TimeBasedShift):
        return problems(choice, argument) or shift_problems(argument, choice)
    return []


def shift_problems(argument: str, choice: TimeBasedShift) -> list[str]:
    """A custom shift whose fields are valid but that CodeDeploy would not complete in time."""
    minutes = shift_minutes(choice)
    if minutes <= MAX_WAIT_MINUTES:
        return []
    return [
        f"{argument} = {choice!r}: a shift CodeDeploy completes within {MAX_WAIT_MINUTES} minutes (two days); "
        f"this one takes {minutes}"
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
    that needs opting into rollbacks would be a surprise.

    Attributes:
        failed_deployment: Default: True. A failed deployment (a hook that fails, tasks that do not
            start) rolls back; a deployment group refuses False.
        stopped_deployment: Default: True. A deployment someone (or the canary judge) stops rolls back.
        deployment_in_alarm: Default: True. A deployment stopped by an alarm rolls back; a deployment
            group refuses False.
    """

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
    back on.

    Attributes:
        alarm_names: Default: () (none), which a deployment group refuses. The alarms that stop a
            deployment, by name (CodeDeploy looks them up by name; an ARN names none), 1 to 10 of them,
            each once. A list, an Output of one, or a list of Outputs (alarms made in the same program):
            names are checked when known.
        auto_rollback: Default: AutoRollback(), every event rolls back.
        ignore_poll_alarm_failure: Default: False. If CodeDeploy cannot read the alarms it stops the
            deployment instead of flying blind.
    """

    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    auto_rollback: AutoRollback = field(default_factory=AutoRollback)
    ignore_poll_alarm_failure: bool = False


def alarm_names_problems(where: str, names: Any) -> list[str]:
    """The alarm names of `where` (`LambdaDeploymentGroupArgs.rollback.alarm_names`) a deployment
    group would refuse, as far as they are known: each name, a repeated one, more than CodeDeploy
    takes. An Output (the list, or a name in it) is checked when known (_alarm_configuration)."""
    if isinstance(names, pulumi.Output):
        return []
    if isinstance(names, str) or not isinstance(names, Sequence):
        return [f"{where} = {names!r}: a list of alarm names, 1 to {MAX_ALARMS_PER_DEPLOYMENT_GROUP}"]
    found = [
        f"{where}[{i}] = {name!r}: {problem}"
        for i, name in enumerate(names)
        if not isinstance(name, pulumi.Output) and (problem := alarm_name_problem(name))
    ]
    known = [name for name in names if isinstance(name, str)]
    repeated = sorted({name for name in known if known.count(name) > 1})
    if repeated:
        found.append(
            f"{where} = {list(names)!r}: each alarm once ({', '.join(repeated)} repeated): CodeDeploy refuses it"
        )
    if len(names) > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
        found.append(
            f"{where} = {len(names)} alarms: a deployment group takes at most {MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms"
        )
    return found


def checked_alarm_names(what: str, where: str, names: Any) -> pulumi.Output[list[str]]:
    """Alarm names, each checked when known as a known one is at construction, named at `where` (the
    argument that gave them): a list of names and Outputs, or an Output of the whole list (another
    stack's)."""
    if isinstance(names, pulumi.Output):

        def first_problem(known: list[str]) -> str | None:
            return next((f"{alarm!r}: {problem}" for alarm in known if (problem := alarm_name_problem(alarm))), None)

        return resolved(what, where, names, first_problem)
    return pulumi.Output.all(
        *(resolved(what, f"{where}[{index}]", alarm, alarm_name_problem) for index, alarm in enumerate(names))
    )


class DeploymentGroupBase(Component):
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


WAIT_MINUTES = Whole(0, MAX_WAIT_MINUTES, "minutes", why="CodeDeploy's two days")


@dataclass
class EcsDeploymentGroupArgs:
    """A blue/green deployment group with traffic control for one ECS service.

    Attributes:
        cluster_name: Required. The service's cluster.
        service_name: Required. The service, under the CODE_DEPLOY deployment controller.
        blue_target_group_name: Required. The target group serving the live version.
        green_target_group_name: Required. The target group the new version starts in.
        production_listener_arn: Required. The listener CodeDeploy switches between the target groups.
        test_listener_arn: Default: None, no test traffic. The listener that reaches green only, for
            the AfterAllowTestTraffic hook's smoke tests before production traffic moves.
        rollback: Default: RollbackPolicy(), which watches no alarm and is refused: give it the
            rollback alarms.
        deployment_config: Default: CodeDeployDefault.ECSLinear10PercentEvery1Minutes, ten steps a
            minute apart. One of the ECS configs, or a TimeBasedShift.
        termination_wait_minutes: Default: 10, production's floor. Alarms are still watched while blue
            waits for termination; once blue is gone there is nothing to roll back to. 0 to 2880.
        approval_wait_minutes: Default: 0, traffic shifts as soon as green is ready; otherwise someone
            must continue the deployment within this many minutes or it stops (and rolls back). 0 to 2880.
        production: Default: False. True holds the production floors (policy/rules.py): gradual
            shifts, blue kept at least 10 minutes.
    """

    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    blue_target_group_name: pulumi.Input[str]
    green_target_group_name: pulumi.Input[str]
    production_listener_arn: pulumi.Input[str]
    test_listener_arn: pulumi.Input[str] | None = None
    rollback: RollbackPolicy = field(default_factory=RollbackPolicy)
    deployment_config: DeploymentConfigChoice = field(
        default="CodeDeployDefault.ECSLinear10PercentEvery1Minutes", metadata=allow(ECS_CONFIG)
    )
    termination_wait_minutes: int = field(default=10, metadata=allow(WAIT_MINUTES))
    approval_wait_minutes: int = field(default=0, metadata=allow(WAIT_MINUTES))
    production: bool = False


class EcsDeploymentGroup(DeploymentGroupBase):
    """Blue/green deployment group with traffic control for one ECS service, acting through
    AWSCodeDeployRoleForECSLimited."""

    def __init__(self, name: str, args: EcsDeploymentGroupArgs, opts: pulumi.ResourceOptions | None = None):
        _refuse_misuse(name, args, "ECS")
        super().__init__("rollback-guard:codedeploy:EcsDeploymentGroup", name, opts)
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
    """A deployment group that shifts a Lambda alias.

    Attributes:
        rollback: Default: RollbackPolicy(), which watches no alarm and is refused: give it the
            rollback alarms.
        deployment_config: Default: CodeDeployDefault.LambdaLinear10PercentEvery1Minute, ten steps a
            minute apart: the whole shift takes ten minutes. One of the Lambda configs, or a TimeBasedShift.
        production: Default: False. True holds the production floors (policy/rules.py): gradual shifts.
    """

    rollback: RollbackPolicy = field(default_factory=RollbackPolicy)
    deployment_config: DeploymentConfigChoice = field(
        default="CodeDeployDefault.LambdaLinear10PercentEvery1Minute", metadata=allow(LAMBDA_CONFIG)
    )
    production: bool = False


class LambdaDeploymentGroup(DeploymentGroupBase):
    """Deployment group that shifts a Lambda alias, acting through AWSCodeDeployRoleForLambdaLimited.

    That role invokes only functions named CodeDeployHook_*; hooks with other names are granted
    invoke on this group's role by whoever creates them (see TrafficHooks)."""

    def __init__(self, name: str, args: LambdaDeploymentGroupArgs, opts: pulumi.ResourceOptions | None = None):
        _refuse_misuse(name, args, "Lambda")
        super().__init__("rollback-guard:codedeploy:LambdaDeploymentGroup", name, opts)
        self._build(
            name,
            "Lambda",
            LAMBDA_ROLE_POLICY,
            args.deployment_config,
            args.rollback,
            args.production,
        )


def deployment_group_problems(
    name: str,
    args: EcsDeploymentGroupArgs | LambdaDeploymentGroupArgs,
    compute_platform: Literal["ECS", "Lambda"],
    where: str | None = None,
) -> list[str]:
    """What a deployment group refuses in `args` before anything exists, each naming its argument of
    `where` (the Args class by default): the declarations, a config of another platform, a shift
    CodeDeploy would not complete, the alarm names known, and the names it gives AWS."""
    where = where or type(args).__name__
    found = problems(args, where)
    if not found and isinstance(args.deployment_config, TimeBasedShift):
        found += shift_problems(f"{where}.deployment_config", args.deployment_config)
    found += alarm_names_problems(f"{where}.rollback.alarm_names", args.rollback.alarm_names)
    return found + deployment_group_name_problems(name, args.deployment_config)


def deployment_group_name_problems(name: str, choice: Any) -> list[str]:
    """The names DeploymentGroupBase(name) gives AWS that AWS would refuse: its own and its
    application's, its role, and a custom shift's deployment config."""
    found = []
    for what, type_token, held in (
        ("the deployment group", "aws:codedeploy/deploymentGroup:DeploymentGroup", name),
        ("the CodeDeploy application", "aws:codedeploy/application:Application", f"{name}-app-xxxxxxx"),
        ("the deployment group's role", "aws:iam/role:Role", f"{name}-role-xxxxxxx"),
    ):
        found += too_long(what, held, NAME_RULES[type_token].max_length)
    if isinstance(choice, TimeBasedShift):
        rule = NAME_RULES["aws:codedeploy/deploymentConfig:DeploymentConfig"]
        found += too_long("the custom shift's deployment config", custom_config_name(name, choice), rule.max_length)
    return found


def custom_config_name(name: str, choice: TimeBasedShift) -> str:
    """The name of the deployment config a custom shift of the group `name` becomes: config names are
    unique per account and region, so it carries the project (or the stack's prefix) and the stack."""
    return f"{physical_name(name)}-{choice.kind}-{choice.percentage}pct-{choice.interval_minutes}min"


def _refuse_misuse(
    name: str, args: EcsDeploymentGroupArgs | LambdaDeploymentGroupArgs, compute_platform: Literal["ECS", "Lambda"]
) -> None:
    """Arguments the group refuses (deployment_group_problems), before anything exists."""
    rules.refuse(f"deployment group {name}", deployment_group_problems(name, args, compute_platform))


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
        deployment_config_name=custom_config_name(name, choice),
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
        # The names known only now (Outputs), refused as known ones are at construction.
        rules.refuse(f"deployment group {name}", alarm_names_problems("RollbackPolicy.alarm_names", names))
        return aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
            enabled=bool(names), alarms=names, ignore_poll_alarm_failure=ignore_poll_alarm_failure
        )

    return pulumi.Output.from_input(alarm_names).apply(configure)
