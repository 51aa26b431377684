"""The canary judge: a function that watches each CodeDeploy release of one deployment group while
it runs, probes the new version directly and stops the deployment with rollback on a bad verdict
(rollback_guard/hooks/judge.py decides; this component builds it, starts it and bounds it).

CodeDeploy stays the actor: the judge's verdict is a `StopDeployment` with rollback, never a traffic
change of its own. It is started by its group's deployment START event and, as a safety net for a
lost event or a run that ended early, every minute; each run looks for its group's deployments in
progress and continues itself (it may invoke itself) while one runs. Its verdicts go to the deployment
log, which the post-traffic hook reads before it lets a release complete (JUDGE_REQUIRED), and to
EventBridge as "Canary verdict" events, which the pipeline stack's notifications pass on.

The probes call the new version only: for Lambda, `Invoke` with the target version as qualifier (the
smoke events); for ECS, the test listener, which reaches green only (the smoke paths), from inside
the VPC as the test-traffic hook does.

A judge that crashes, or cannot work (its role, the deployment log), judges nothing, silently. So every
run that did its work reports a heartbeat (hooks/judge.py: JUDGE_NAMESPACE / HEARTBEAT_METRIC,
per deployment group), and the judge's heartbeat alarm (`<judge function>-silent`) fires once it
has not reported for HEARTBEAT_MINUTES minutes. That alarm is in its group's alarm list, so CodeDeploy
will not start a release, and stops (and rolls back) one in progress, while the judge is silent; the
Lambda post-traffic hook watches it too. Its name is known before anything exists
(heartbeat_alarm_name), so the group can list it although the judge is built after the group.

Only CodeDeploy release paths have a judge: ECS's own strategies (rolling, ecs-blue-green, ecs-canary,
ecs-linear) have no CodeDeploy deployment for it to stop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import RATE_PERCENT
from rollback_guard.components.arguments import LOG_RETENTION, PORT, Number, Text, Whole, allow, problems
from rollback_guard.components.codedeploy import DeploymentGroupBase
from rollback_guard.components.deployment_log import DeploymentLog
from rollback_guard.components.lambda_function import (
    VPC_FUNCTION_STATEMENT,
    hook_handler,
    hooks_archive,
    invoked_by_rule,
    logged_function,
    logged_function_name_problems,
    name_problems,
)
from rollback_guard.components.naming import physical_name
from rollback_guard.components.notifications import DEPLOYMENT_EVENTS, JUDGE_SOURCE, VERDICT_EVENTS
from rollback_guard.components.parts import Component
from rollback_guard.components.traffic_hooks import (
    CHECK_TIMEOUT_SECONDS,
    LAMBDA_ENVIRONMENT_BYTES,
    checks_fit,
    green_check_variables,
    security_group_to_test_listener,
)
from rollback_guard.hooks.judge import HEARTBEAT_ALARM_SUFFIX, HEARTBEAT_METRIC, JUDGE_NAMESPACE
from rollback_guard.limits import SECURITY_GROUP
from rollback_guard.policy import rules

DEFAULT_PROBES_PER_SECOND = 2.0
MAX_PROBES_PER_SECOND = 10.0
DEFAULT_MAX_PROBES_PER_RELEASE = 5000
MAX_PROBES_PER_RELEASE = 100_000
# Lambda's ceiling: a run judges for up to 15 minutes, then hands over to the next (it invokes itself).
JUDGE_TIMEOUT_SECONDS = 900
JUDGE_MEMORY_MB = 256
# Every minute, whether or not a START event arrived: a judge that missed its event still looks.
SCHEDULE = "rate(1 minute)"
# What the judge puts on the default event bus, which the pipeline's notifications pass on.
VERDICT_SOURCE, VERDICT_DETAIL_TYPE = JUDGE_SOURCE, VERDICT_EVENTS
JUDGE_HANDLER = hook_handler("judge")
# The heartbeat alarm: ALARM after this many one-minute periods in a row without a heartbeat. The
# judge runs every minute, so that is five runs missed (or failed) in a row, not one slow one.
HEARTBEAT_MINUTES = 5
# What the judge adds to its deployment group's alarms (CodeDeploy takes MAX_ALARMS_PER_DEPLOYMENT_GROUP).
JUDGE_ALARMS = 1
# What the judge's arguments may be (the stack files' `judge` keys read the same).
PROBES_PER_SECOND = Number(0, MAX_PROBES_PER_SECOND, "probes a second to the new version", above=True)
MAX_PROBES = Whole(
    0,
    MAX_PROBES_PER_RELEASE,
    why="the cost cap on a release's probes; 0 sends none, which production refuses (its judge needs probes)",
)
# The name a release is recorded under (the deployment log's keys, the judge's environment).
RECORDED_NAME = Text(r"[A-Za-z0-9_.-]+", "1 to 64 letters, digits, - _ and .", max_length=64)

# Stand-ins for what is known only at deploy time, at the longest AWS allows, so that a check that
# fits here fits in Lambda whatever the names become.
_LONGEST = {
    "application": "a" * 100,  # CodeDeploy application names
    "group": "g" * 100,  # deployment group names
    "table": "t" * 255,  # DynamoDB table names
    "service": "s" * 64,
    "environment": "e" * 64,
    "function": "f" * 64,  # Lambda function names
    "alias": "a" * 128,  # Lambda alias names
    "load_balancer": "app/" + "n" * 32 + "/" + "0" * 16,
    "dns": "d" * 128,
    "target_group": "t" * 32,
    "target_group_suffix": "targetgroup/" + "t" * 32 + "/" + "0" * 16,
    "number": "9" * 24,  # a float as str() writes it
}


@dataclass(frozen=True)
class JudgeOptions:
    """How hard the canary judge probes the new version during a release.

    Attributes:
        probes_per_second: Default: 2.0, enough to see a version that fails most requests within
            seconds at a cost of cents. Above 0, at most 10.
        max_probes_per_release: Default: 5000, the cost cap on one release's probes. 0 to 100000; 0
            sends none and the judge decides on metrics alone, which production refuses (metrics reach
            it a minute or more late).
    """

    probes_per_second: float = field(default=DEFAULT_PROBES_PER_SECOND, metadata=allow(PROBES_PER_SECOND))
    max_probes_per_release: int = field(default=DEFAULT_MAX_PROBES_PER_RELEASE, metadata=allow(MAX_PROBES))


@dataclass
class LambdaJudgeTarget:
    """A Lambda canary's function: the judge compares its versions' metrics under the alias and
    probes the new version with the smoke events (as hooks/smoke.py reads them).

    Attributes:
        function_name: Required. The function released.
        function_arn: Required. The same function: the judge may invoke its versions and no other function.
        alias: Required. The alias CodeDeploy shifts, under which the versions' metrics are compared.
        smoke_events: Required. {name, payload, expect}: what a probe sends the new version.
        check_timeout_seconds: Default: 20. Per probe, the new version's invocation with its cold start;
            above 0, at most 45 s.
        release_metrics: Default: False. True when the function publishes its own 10 s counts
            (rollback_guard.release_metrics), which the judge then reads too; only its code can say so.
    """

    function_name: pulumi.Input[str]
    function_arn: pulumi.Input[str]
    alias: pulumi.Input[str]
    smoke_events: Sequence[dict[str, Any]]
    check_timeout_seconds: float = field(default=20.0, metadata=allow(CHECK_TIMEOUT_SECONDS))
    release_metrics: bool = False


@dataclass
class TargetGroup:
    """One of an ECS service's two target groups.

    Attributes:
        name: Required. Its name, as CodeDeploy's deployment targets name it.
        arn_suffix: Required. Its ARN suffix, as CloudWatch's TargetGroup dimension names it.
    """

    name: pulumi.Input[str]
    arn_suffix: pulumi.Input[str]


@dataclass
class EcsJudgeTarget:
    """An ECS service released by CodeDeploy: the judge compares the target groups' metrics and
    probes green through the test listener (the smoke paths), from inside the VPC.

    Attributes:
        vpc_id: Required. The VPC the judge runs in (the test listener admits the VPC only).
        vpc_cidr: Required. The VPC's block, where the judge may reach the test listener.
        subnet_ids: Required. The private subnets it runs in.
        load_balancer_arn_suffix: Required. The load balancer, as CloudWatch names it.
        load_balancer_dns_name: Required. Where the judge reaches the test listener.
        test_listener_port: Required. The test listener's port, 1 to 65535.
        smoke_paths: Required. {path, expectStatus, timeoutSeconds, expectBody}: what a probe asks green.
        blue: Required. The blue target group.
        green: Required. The green target group.
    """

    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    load_balancer_arn_suffix: pulumi.Input[str]
    load_balancer_dns_name: pulumi.Input[str]
    test_listener_port: int = field(metadata=allow(PORT))
    smoke_paths: Sequence[dict[str, Any]]
    blue: TargetGroup
    green: TargetGroup


@dataclass
class CanaryJudgeArgs:
    """The canary judge of one release path.

    Attributes:
        service: Required. The name its releases are recorded under (1 to 64 letters, digits, - _ .).
        environment: Required. The environment they are recorded under (the stack's name, usually).
        deployment_group: Required. Its deployment group: the only one whose deployments it looks for,
            and stops.
        deployment_log: Required. Where it keeps its state and verdicts, beside the releases.
        target: Required. What it compares and probes: LambdaJudgeTarget or EcsJudgeTarget.
        error_rate_percent: Default: 1.0, the rollback alarms' default. The path's rollback threshold,
            the ceiling the new version is held to: above 0 and below 100.
        options: Default: JudgeOptions(), 2 probes a second, at most 5000 a release.
        log_retention_days: Default: 30, what production keeps at least. One of CloudWatch Logs'
            retention periods.
    """

    service: str = field(metadata=allow(RECORDED_NAME))
    environment: str = field(metadata=allow(RECORDED_NAME))
    deployment_group: DeploymentGroupBase
    deployment_log: DeploymentLog
    target: LambdaJudgeTarget | EcsJudgeTarget
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    options: JudgeOptions = field(default_factory=JudgeOptions)
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))


def _kind(target: LambdaJudgeTarget | EcsJudgeTarget) -> Literal["lambda", "ecs"]:
    return "lambda" if isinstance(target, LambdaJudgeTarget) else "ecs"


def _common_variables(
    kind: str,
    application_name: pulumi.Input[str],
    deployment_group_name: pulumi.Input[str],
    table_name: pulumi.Input[str],
    service: str,
    environment: str,
    error_rate_percent: Any,
    probes_per_second: Any,
    max_probes: Any,
) -> dict[str, pulumi.Input[str]]:
    return {
        "KIND": kind,
        "APPLICATION_NAME": application_name,
        "DEPLOYMENT_GROUP_NAME": deployment_group_name,
        "DEPLOYMENT_LOG_TABLE": table_name,
        "SERVICE_NAME": service,
        "ENVIRONMENT": environment,
        "ERROR_RATE_PERCENT": str(error_rate_percent),
        "PROBES_PER_SECOND": str(probes_per_second),
        "MAX_PROBES": str(max_probes),
    }


def _lambda_variables(
    function_name: pulumi.Input[str],
    alias: pulumi.Input[str],
    smoke_events: Sequence[dict[str, Any]],
    check_timeout_seconds: Any,
    release_metrics: bool = False,
) -> dict[str, pulumi.Input[str]]:
    return {
        "FUNCTION_NAME": function_name,
        "ALIAS": alias,
        "SMOKE_EVENTS": json.dumps(list(smoke_events)),
        "CHECK_TIMEOUT_SECONDS": str(check_timeout_seconds),
        "RELEASE_METRICS": "true" if release_metrics else "false",
    }


def _ecs_variables(
    load_balancer_arn_suffix: pulumi.Input[str],
    load_balancer_dns_name: pulumi.Input[str],
    test_listener_port: Any,
    smoke_paths: Sequence[dict[str, Any]],
    target_groups: pulumi.Input[str],
) -> dict[str, pulumi.Input[str]]:
    """What the test-traffic hook gets to reach green, and which target group is which."""
    checks = green_check_variables(load_balancer_arn_suffix, load_balancer_dns_name, test_listener_port, smoke_paths)
    return checks | {"TARGET_GROUPS": target_groups}


def _longest_common(kind: str) -> dict[str, str]:
    n = _LONGEST
    return _common_variables(
        kind,
        n["application"],
        n["group"],
        n["table"],
        n["service"],
        n["environment"],
        n["number"],
        n["number"],
        MAX_PROBES_PER_RELEASE,
    )


def lambda_judge_environment_bytes(smoke_events: Sequence[dict[str, Any]]) -> int:
    """A Lambda path's judge environment at its largest, for these smoke events."""
    n = _LONGEST
    variables = _longest_common("lambda") | _lambda_variables(n["function"], n["alias"], smoke_events, n["number"])
    return len(json.dumps(variables).encode())


def ecs_judge_environment_bytes(smoke_paths: Sequence[dict[str, Any]]) -> int:
    """An ECS path's judge environment at its largest, for these smoke paths."""
    n = _LONGEST
    groups = json.dumps({f"{n['target_group']}{i}": n["target_group_suffix"] for i in range(2)})
    variables = _longest_common("ecs") | _ecs_variables(n["load_balancer"], n["dns"], 65535, smoke_paths, groups)
    return len(json.dumps(variables).encode())


def judge_environment_fits(size: int) -> list[str]:
    """A refusal when the smoke checks would not fit the judge's environment."""
    if size > LAMBDA_ENVIRONMENT_BYTES:
        return [
            f"the smoke checks take up to {size} bytes of the canary judge's environment; Lambda allows "
            f"{LAMBDA_ENVIRONMENT_BYTES}: use fewer or shorter checks"
        ]
    return []


def judge_function_name(name: str) -> str:
    """The judge function's name (logged_function names it physical_name(name)), known before it exists."""
    return physical_name(name)


def heartbeat_alarm_name(name: str) -> str:
    """The name of the heartbeat alarm of the judge named `name` (its resource name, as
    CanaryJudge takes it): its function's name and `-silent`. Known before the judge and its
    deployment group exist, so the group can list the alarm without waiting for the judge, which
    is built after the group. judge_name_problems says when AWS would refuse it."""
    return f"{judge_function_name(name)}{HEARTBEAT_ALARM_SUFFIX}"


def judge_name_problems(name: str, in_vpc: bool = False) -> list[str]:
    """The names CanaryJudge(name) gives AWS that AWS would refuse: its function (with its log
    group, role and policy), its heartbeat alarm, its two EventBridge rules and, in a VPC, its
    security group. A component that lists the heartbeat alarm before the judge exists checks these
    first."""
    found = logged_function_name_problems("the canary judge's function", name)
    found += name_problems(
        "the canary judge's heartbeat alarm", "aws:cloudwatch/metricAlarm:MetricAlarm", heartbeat_alarm_name(name)
    )
    for rule in ("start", "every-minute"):
        found += name_problems(
            f"the canary judge's {rule} rule", "aws:cloudwatch/eventRule:EventRule", f"{name}-{rule}", autonamed=True
        )
    if in_vpc:
        found += name_problems("the canary judge's security group", SECURITY_GROUP, f"{name}-sg", autonamed=True)
    return found


def canary_judge_problems(name: str, args: CanaryJudgeArgs, where: str = "CanaryJudgeArgs") -> list[str]:
    """Everything CanaryJudge(name, args) refuses, each naming its argument: the declarations, the
    smoke checks' room in its environment and the names it gives AWS."""
    found = problems(args, where)
    if not found:
        target = args.target
        if isinstance(target, LambdaJudgeTarget):
            size = lambda_judge_environment_bytes(target.smoke_events)
            found += checks_fit(f"{where}.target.smoke_events", "canary judge's", size)
        elif isinstance(target, EcsJudgeTarget):
            size = ecs_judge_environment_bytes(target.smoke_paths)
            found += checks_fit(f"{where}.target.smoke_paths", "canary judge's", size)
        else:
            found.append(f"{where}.target = {target!r}: a LambdaJudgeTarget or an EcsJudgeTarget")
    return found + judge_name_problems(name, in_vpc=isinstance(args.target, EcsJudgeTarget))


def heartbeat_not_extra(where: str, extra_alarm_names: Any, component: str) -> list[str]:
    """A component's extra alarms do not name its judge's own heartbeat alarm (judge `<component>-judge`):
    its deployment group watches that one already, and CodeDeploy refuses an alarm listed twice."""
    heartbeat = heartbeat_alarm_name(f"{component}-judge")
    if isinstance(extra_alarm_names, (list, tuple)) and heartbeat in extra_alarm_names:
        return [
            f"{where} = {list(extra_alarm_names)!r}: not the judge's own heartbeat alarm ({heartbeat}), "
            "which the deployment group watches already"
        ]
    return []


def start_event_pattern(application_name: str, deployment_group_name: str) -> dict:
    """The START of a deployment of one deployment group, as CodeDeploy reports it to EventBridge."""
    return {
        "source": ["aws.codedeploy"],
        "detail-type": [DEPLOYMENT_EVENTS],
        "detail": {"state": ["START"], "application": [application_name], "deploymentGroup": [deployment_group_name]},
    }


class CanaryJudge(Component):
    """See the module docstring. Its function may read its own group's deployments and stop a
    deployment, read metrics, put its heartbeat (its own namespace only), use the deployment log, put
    verdict events on the default bus and invoke itself (and, for Lambda, the target function's
    versions); in the VPC, manage its network interfaces and find the load balancer's. Its heartbeat
    alarm is `heartbeat_alarm` (named heartbeat_alarm_name(name)); its function logs to `log_group_name`."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    start_rule: aws.cloudwatch.EventRule
    schedule_rule: aws.cloudwatch.EventRule
    security_group: aws.ec2.SecurityGroup | None
    heartbeat_alarm: aws.cloudwatch.MetricAlarm
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: CanaryJudgeArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"canary judge {name}", canary_judge_problems(name, args))
        super().__init__("rollback-guard:canary_judge:CanaryJudge", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        target, group, options = args.target, args.deployment_group, args.options
        kind = _kind(target)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id
        # The function's name is known before it exists (logged_function names it <name>-<stack>), so
        # its role may invoke it without waiting for it: its policy comes first.
        own_arn = pulumi.Output.format(
            "arn:{0}:lambda:{1}:{2}:function:{3}", partition, region, account, judge_function_name(name)
        )
        application_name = group.application.name
        group_name = group.deployment_group.deployment_group_name
        variables = _common_variables(
            kind,
            application_name,
            group_name,
            args.deployment_log.table.name,
            args.service,
            args.environment,
            args.error_rate_percent,
            options.probes_per_second,
            options.max_probes_per_release,
        )
        invocable: list[pulumi.Input[str]] = [own_arn]
        statements: list[pulumi.Input[dict[str, Any]]] = [
            {
                "Effect": "Allow",
                "Action": ["codedeploy:ListDeployments", "codedeploy:GetDeployment"],
                "Resource": group.deployment_group.arn,
            },
            {
                # AWS lists no resource type for these (Service Authorization Reference, CodeDeploy),
                # so "*" is the only resource IAM grants them on: the judge stops only the deployments
                # ListDeployments and GetDeployment above show it in its own group.
                "Effect": "Allow",
                "Action": [
                    "codedeploy:ListDeploymentTargets",
                    "codedeploy:GetDeploymentTarget",
                    "codedeploy:StopDeployment",
                ],
                "Resource": "*",
            },
            # GetMetricData has no resource type: "*" is the only valid resource (it reads, never writes).
            {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
            {
                # Its heartbeat. PutMetricData has no resource type either ("*" is the only valid
                # resource); the namespace condition keeps it to the judges' own namespace, so it
                # cannot write (or fake) any other metric, an alarm's included.
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": JUDGE_NAMESPACE}},
            },
            {
                # Its state and verdicts, next to the releases: read, written and updated conditionally.
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": args.deployment_log.table.arn,
            },
            {
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": pulumi.Output.format(
                    "arn:{0}:events:{1}:{2}:event-bus/default", partition, region, account
                ),
            },
        ]
        function_args: dict[str, Any] = {}
        self.security_group = None
        if isinstance(target, LambdaJudgeTarget):
            variables |= _lambda_variables(
                target.function_name,
                target.alias,
                target.smoke_events,
                target.check_timeout_seconds,
                target.release_metrics,
            )
            # The probes: the target function's versions, each by its number.
            invocable.append(pulumi.Output.from_input(target.function_arn).apply(lambda arn: f"{arn}:*"))
        else:
            groups = pulumi.Output.all(
                target.blue.name, target.blue.arn_suffix, target.green.name, target.green.arn_suffix
            ).apply(lambda g: json.dumps({g[0]: g[1], g[2]: g[3]}))
            variables |= _ecs_variables(
                target.load_balancer_arn_suffix,
                target.load_balancer_dns_name,
                target.test_listener_port,
                target.smoke_paths,
                groups,
            )
            self.security_group = security_group_to_test_listener(
                name,
                child,
                target.vpc_id,
                target.vpc_cidr,
                target.test_listener_port,
                purpose="probes of green through the test listener",
                # CodeDeploy, CloudWatch, DynamoDB, EventBridge, Lambda and EC2.
                apis="AWS APIs",
            )
            statements.append(VPC_FUNCTION_STATEMENT)
            function_args["vpc_config"] = aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=target.subnet_ids, security_group_ids=[self.security_group.id]
            )
        # A run hands over to the next before Lambda's 15 minutes are up.
        statements.append({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": invocable})
        self.function, self.role = logged_function(
            name,
            self,
            log_retention_days=args.log_retention_days,
            statements=statements,
            code=hooks_archive(),
            runtime="python3.13",
            handler=JUDGE_HANDLER,
            timeout=JUDGE_TIMEOUT_SECONDS,
            memory_size=JUDGE_MEMORY_MB,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            **function_args,
        )
        self.start_rule = aws.cloudwatch.EventRule(
            f"{name}-start",
            description=f"rollback-guard: a deployment of {args.service}'s group started; its judge looks",
            event_pattern=pulumi.Output.all(application_name, group_name).apply(
                lambda names: json.dumps(start_event_pattern(*names))
            ),
            opts=child,
        )
        self.schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-every-minute",
            description=f"rollback-guard: {args.service}'s judge looks for deployments in progress every minute",
            schedule_expression=SCHEDULE,
            opts=child,
        )
        for rule_name, rule in (("start", self.start_rule), ("every-minute", self.schedule_rule)):
            invoked_by_rule(f"{name}-{rule_name}", rule, self.function, child)
        self.heartbeat_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-silent",
            name=heartbeat_alarm_name(name),
            alarm_description=(
                f"Stops {args.service}'s releases: its canary judge has not reported for {HEARTBEAT_MINUTES} minutes, "
                "so it is not judging (crashed, or cannot reach CodeDeploy, CloudWatch or the deployment log). "
                "CodeDeploy does not start a release, and stops and rolls back one in progress, while this is "
                "in ALARM. Missing data is breaching on purpose: a dead judge publishes nothing."
            ),
            namespace=JUDGE_NAMESPACE,
            metric_name=HEARTBEAT_METRIC,
            dimensions={"DeploymentGroup": group_name},
            statistic="Sum",
            period=60,
            evaluation_periods=HEARTBEAT_MINUTES,
            datapoints_to_alarm=HEARTBEAT_MINUTES,
            comparison_operator="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",
            opts=child,
        )
        # Where its looks, probes and verdicts are logged (one JSON line each, hooks/logs.py): the
        # release dashboards query it.
        self.log_group_name = self.function.logging_config.apply(lambda config: config.log_group)
        self.register_outputs(
            {
                "functionName": self.function.name,
                "startRuleArn": self.start_rule.arn,
                "heartbeatAlarmName": self.heartbeat_alarm.name,
                "logGroupName": self.log_group_name,
            }
        )
