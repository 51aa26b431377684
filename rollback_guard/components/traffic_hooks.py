"""CodeDeploy lifecycle hooks, packaged from hooks/: Lambda pre/post-traffic hooks and the ECS
test-traffic hook.

Every hook may report status for its own deployment group only. The managed CodeDeploy roles
invoke only functions named CodeDeployHook_*, so each hook component grants the deployment group's
role invoke on exactly its own functions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.codedeploy import DeploymentGroupBase
from rollback_guard.components.deployment_log import DeploymentLog
from rollback_guard.components.iam import role_policy
from rollback_guard.components.lambda_function import (
    VPC_FUNCTION_STATEMENT,
    hook_handler,
    hooks_archive,
    logged_function,
)
from rollback_guard.hooks.alarm_watch import POLL_SECONDS
from rollback_guard.hooks.post_traffic import MAX_WATCH_SECONDS
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS
from rollback_guard.limits import LAMBDA_ENVIRONMENT_BYTES

# Room for one check of at most MAX_CHECK_TIMEOUT_SECONDS, the hook's AWS reads with their retries
# and the report's reserve (hooks/lifecycle.py), so the hook always lives to report. The
# post-traffic hook has its watch on top.
HOOK_TIMEOUT_SECONDS = 150
MAX_WATCH_MINUTES = MAX_WATCH_SECONDS // 60


def minimum_watch_minutes(evaluation: AlarmEvaluation) -> int:
    """The shortest watch after the last shift in which an alarm can still fire for a version that
    went bad at that shift: the alarm's worst detection time and one poll of the hook."""
    return math.ceil((evaluation.worst_detection_seconds + POLL_SECONDS) / 60)


# Stand-ins for what is known only at deploy time, at their longest.
_LONGEST_FUNCTION_NAME = "f" * 64
_LONGEST_LOAD_BALANCER_SUFFIX = "app/" + "n" * 32 + "/" + "0" * 16
_LONGEST_LOAD_BALANCER_DNS = "d" * 128


def _pre_traffic_variables(
    target_function_name: pulumi.Input[str],
    smoke_events: Sequence[dict[str, Any]],
    smoke_endpoints: Sequence[dict[str, Any]],
    check_timeout_seconds: float,
) -> dict[str, pulumi.Input[str]]:
    return {
        "TARGET_FUNCTION": target_function_name,
        "SMOKE_EVENTS": json.dumps(list(smoke_events)),
        "SMOKE_ENDPOINTS": json.dumps(list(smoke_endpoints)),
        "CHECK_TIMEOUT_SECONDS": str(check_timeout_seconds),
    }


def green_check_variables(
    load_balancer_arn_suffix: pulumi.Input[str],
    load_balancer_dns_name: pulumi.Input[str],
    test_listener_port: int,
    smoke_paths: Sequence[dict[str, Any]],
) -> dict[str, pulumi.Input[str]]:
    """How a function in the VPC reaches green through the test listener, and what it checks there."""
    return {
        "LOAD_BALANCER": load_balancer_arn_suffix,
        "TEST_HOST": load_balancer_dns_name,
        "TEST_LISTENER_PORT": str(test_listener_port),
        "SMOKE_PATHS": json.dumps(list(smoke_paths)),
    }


def pre_traffic_environment_bytes(
    smoke_events: Sequence[dict[str, Any]], smoke_endpoints: Sequence[dict[str, Any]], check_timeout_seconds: float
) -> int:
    """The pre-traffic hook's environment at its largest, for these checks."""
    variables = _pre_traffic_variables(_LONGEST_FUNCTION_NAME, smoke_events, smoke_endpoints, check_timeout_seconds)
    return len(json.dumps(variables).encode())


def test_traffic_environment_bytes(smoke_paths: Sequence[dict[str, Any]]) -> int:
    """The test-traffic hook's environment at its largest, for these paths."""
    variables = green_check_variables(_LONGEST_LOAD_BALANCER_SUFFIX, _LONGEST_LOAD_BALANCER_DNS, 65535, smoke_paths)
    return len(json.dumps(variables).encode())


# Against Lambda's limit on a function's environment variables, a size counted as the UTF-8 JSON of
# the whole map (above): a little more than the keys and values alone, so a map that fits here fits.
def environment_fits(hook: str, size: int) -> list[str]:
    """A refusal when the smoke checks would not fit the hook's environment."""
    if size > LAMBDA_ENVIRONMENT_BYTES:
        return [
            f"the smoke checks take up to {size} bytes of the {hook} hook's environment; Lambda allows "
            f"{LAMBDA_ENVIRONMENT_BYTES}: use fewer or shorter checks"
        ]
    return []


def _hook(
    name: str,
    parent: pulumi.Resource,
    handler: str,
    deployment_group_arn: pulumi.Input[str] | None,
    variables: dict[str, pulumi.Input[str]],
    log_retention_days: int,
    statements: Sequence[pulumi.Input[dict[str, Any]]] = (),
    timeout_seconds: int = HOOK_TIMEOUT_SECONDS,
    **function_args: Any,
) -> aws.lambda_.Function:
    """A hook function; with a deployment group, allowed to report its status there."""
    report = {
        "Effect": "Allow",
        "Action": "codedeploy:PutLifecycleEventHookExecutionStatus",
        "Resource": deployment_group_arn,
    }
    function, _ = logged_function(
        name,
        parent,
        log_retention_days=log_retention_days,
        statements=[report, *statements] if deployment_group_arn is not None else list(statements),
        code=hooks_archive(),
        runtime="python3.13",
        handler=handler,
        timeout=timeout_seconds,
        memory_size=256,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
        **function_args,
    )
    return function


def _grant_invoke(
    name: str, parent: pulumi.Resource, codedeploy_role_name: pulumi.Input[str], hooks: list[aws.lambda_.Function]
) -> None:
    role_policy(
        f"{name}-invoke",
        codedeploy_role_name,
        [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [hook.arn for hook in hooks]}],
        pulumi.ResourceOptions(parent=parent),
    )


def _read_deployments(deployment_group_arn: pulumi.Input[str], application_arn: pulumi.Input[str]) -> list[dict]:
    """Read a deployment of the group, and its AppSpec from the application."""
    return [
        {"Effect": "Allow", "Action": "codedeploy:GetDeployment", "Resource": deployment_group_arn},
        {"Effect": "Allow", "Action": "codedeploy:GetApplicationRevision", "Resource": application_arn},
    ]


@dataclass
class ReleaseContext:
    """Whose releases a hook serves: the service and environment it records them under, the
    deployment group and application it reads them from, and the deployment log it writes to."""

    service: str
    environment: str
    deployment_group_arn: pulumi.Input[str]
    application_arn: pulumi.Input[str]
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    log_retention_days: int = 30

    @classmethod
    def of(
        cls, service: str, environment: str, group: DeploymentGroupBase, log: DeploymentLog, log_retention_days: int
    ) -> ReleaseContext:
        """`service`'s releases through `group`, recorded in `log`."""
        return cls(
            service,
            environment,
            group.deployment_group.arn,
            group.application.arn,
            log.table.name,
            log.table.arn,
            log_retention_days,
        )


@dataclass
class PostShiftWatch:
    """Which alarms the post-traffic hook keeps watching after the last traffic shift, and for how
    long: CodeDeploy stops watching a Lambda deployment's alarms at its last step."""

    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]]
    alarm_arns: pulumi.Input[Sequence[pulumi.Input[str]]]
    # At least the alarms' worst detection time; at most MAX_WATCH_MINUTES (Lambda's 15 minutes).
    minutes: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.minutes <= MAX_WATCH_MINUTES:
            raise ValueError(
                f"watch minutes {self.minutes!r}: from 1 to {MAX_WATCH_MINUTES}, so the hook can still report within "
                "Lambda's 15-minute limit"
            )


def _recorder(
    name: str, parent: pulumi.Resource, release: ReleaseContext, watch: PostShiftWatch | None, judge_required: bool
) -> aws.lambda_.Function:
    """AfterAllowTraffic (hooks/post_traffic.py): watches `watch`'s alarms, which it may read, then
    records the release in the deployment log, which it may read (for the previous version and, with
    `judge_required`, the canary judge's verdict) and write, and nothing else."""
    watch_seconds = watch.minutes * 60 if watch else 0
    statements = [
        *_read_deployments(release.deployment_group_arn, release.application_arn),
        # GetItem: a consistent read of the record after a write whose answer was lost.
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem"],
            "Resource": release.table_arn,
        },
    ]
    if watch:
        # Scoped to the alarms: DescribeAlarms takes alarm ARNs for metric alarms (composite
        # alarms would need "*", and none are watched).
        statements.append({"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": watch.alarm_arns})
    return _hook(
        name,
        parent,
        hook_handler("post_traffic"),
        release.deployment_group_arn,
        {
            "DEPLOYMENT_LOG_TABLE": release.table_name,
            "SERVICE_NAME": release.service,
            "ENVIRONMENT": release.environment,
            "ROLLBACK_ALARMS": pulumi.Output.from_input(watch.alarm_names if watch else []).apply(json.dumps),
            "WATCH_SECONDS": str(watch_seconds),
            # The release path has a canary judge (components/canary_judge.py): a release it has not
            # judged recently, or judged ROLLBACK, does not complete.
            "JUDGE_REQUIRED": "true" if judge_required else "false",
        },
        release.log_retention_days,
        statements=statements,
        timeout_seconds=HOOK_TIMEOUT_SECONDS + watch_seconds,
    )


@dataclass
class ReleaseRecorderArgs:
    release: ReleaseContext
    # The deployment group's service role: it must be allowed to invoke the hook.
    codedeploy_role_name: pulumi.Input[str]
    # The path has a canary judge whose verdict the hook requires before the release completes.
    judge_required: bool = True


class ReleaseRecorder(pulumi.ComponentResource):
    """An ECS service's AfterAllowTraffic hook: every successful release goes into the deployment
    log, as the Lambda canary's post-traffic hook does. It watches no alarms: CodeDeploy keeps
    watching them during blue's termination wait."""

    function: aws.lambda_.Function

    def __init__(self, name: str, args: ReleaseRecorderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:traffic_hooks:ReleaseRecorder", name, None, opts)
        self.function = _recorder(name, self, args.release, watch=None, judge_required=args.judge_required)
        _grant_invoke(name, self, args.codedeploy_role_name, [self.function])
        self.register_outputs({"functionName": self.function.name})


@dataclass
class TrafficHooksArgs:
    release: ReleaseContext
    target_function_name: pulumi.Input[str]
    target_function_arn: pulumi.Input[str]
    # The deployment group's service role: it must be allowed to invoke these hooks.
    codedeploy_role_name: pulumi.Input[str]
    # The rollback alarms the post-traffic hook keeps watching after the last shift.
    watch: PostShiftWatch
    # As hooks/smoke.py reads them: {name, payload, expect}, at least one (only an event reaches
    # the new version before traffic moves), and {url, expectStatus, timeoutSeconds, expectBody}.
    smoke_events: Sequence[dict[str, Any]] = ()
    smoke_endpoints: Sequence[dict[str, Any]] = ()
    # Per test event; at most MAX_CHECK_TIMEOUT_SECONDS so the hook always lives to report.
    check_timeout_seconds: float = 10.0
    # The path has a canary judge whose verdict the post-traffic hook requires before the release completes.
    judge_required: bool = True

    def __post_init__(self) -> None:
        if not self.smoke_events:
            raise ValueError(
                "smoke_events: at least one test event; endpoints reach the alias, which still serves the previous "
                "version before traffic moves, so only an event exercises the new one"
            )
        if not 0 < self.check_timeout_seconds <= MAX_CHECK_TIMEOUT_SECONDS:
            raise ValueError(
                f"check_timeout_seconds {self.check_timeout_seconds!r}: above 0 and at most {MAX_CHECK_TIMEOUT_SECONDS}"
            )


class TrafficHooks(pulumi.ComponentResource):
    """BeforeAllowTraffic smoke-tests the target version; AfterAllowTraffic keeps watching the
    rollback alarms after the last shift, then records the release.

    Both may read their group's deployments; the pre-traffic hook may invoke the target function
    only, the post-traffic hook may read its alarms and use the deployment log only."""

    pre_traffic: aws.lambda_.Function
    post_traffic: aws.lambda_.Function

    def __init__(self, name: str, args: TrafficHooksArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:traffic_hooks:TrafficHooks", name, None, opts)
        release = args.release
        target = pulumi.Output.from_input(args.target_function_arn)
        self.pre_traffic = _hook(
            f"{name}-pre-traffic",
            self,
            hook_handler("pre_traffic"),
            release.deployment_group_arn,
            _pre_traffic_variables(
                args.target_function_name, args.smoke_events, args.smoke_endpoints, args.check_timeout_seconds
            ),
            release.log_retention_days,
            statements=[
                *_read_deployments(release.deployment_group_arn, release.application_arn),
                {
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": target.apply(lambda arn: [arn, f"{arn}:*"]),
                },
            ],
        )
        self.post_traffic = _recorder(f"{name}-post-traffic", self, release, args.watch, args.judge_required)
        _grant_invoke(name, self, args.codedeploy_role_name, [self.pre_traffic, self.post_traffic])
        self.register_outputs(
            {"preTrafficHookName": self.pre_traffic.name, "postTrafficHookName": self.post_traffic.name}
        )


def security_group_to_test_listener(
    name: str,
    child: pulumi.ResourceOptions,
    vpc_id: pulumi.Input[str],
    vpc_cidr: pulumi.Input[str],
    test_listener_port: int,
    *,
    purpose: str,
    apis: str,
) -> aws.ec2.SecurityGroup:
    """A VPC function's security group: out to the test listener within the VPC (`purpose`), and to
    AWS's APIs (`apis`) on 443 through the NAT gateway, at addresses not known in advance."""
    group = aws.ec2.SecurityGroup(
        f"{name}-sg", vpc_id=vpc_id, description=f"{name}: test listener and AWS APIs only", opts=child
    )
    for rule, port, cidr, why in (
        ("to-test-listener", test_listener_port, vpc_cidr, purpose),
        ("to-aws-apis", 443, "0.0.0.0/0", apis),
    ):
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-{rule}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            description=why,
            opts=child,
        )
    return group


@dataclass
class TestTrafficHookArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    load_balancer_arn_suffix: pulumi.Input[str]
    load_balancer_dns_name: pulumi.Input[str]
    test_listener_port: int
    # As hooks/test_traffic.py reads them: {path, expectStatus, timeoutSeconds, expectBody}.
    smoke_paths: Sequence[dict[str, Any]]
    # CodeDeploy's group and role: the hook reports to the group, the role invokes it. None for an
    # ECS-native shift, where ECS invokes the hook (through the service's infrastructure role) and
    # reads its answer instead.
    deployment_group_arn: pulumi.Input[str] | None = None
    codedeploy_role_name: pulumi.Input[str] | None = None
    log_retention_days: int = 30


class TestTrafficHook(pulumi.ComponentResource):
    """Smoke tests against green through the test listener, before any production traffic moves:
    CodeDeploy's AfterAllowTestTraffic hook, or ECS's POST_TEST_TRAFFIC_SHIFT hook. Runs in the VPC,
    because the test listener admits the VPC only."""

    __test__ = False  # not a pytest test class, despite its name

    function: aws.lambda_.Function
    security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: TestTrafficHookArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:traffic_hooks:TestTrafficHook", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = security_group_to_test_listener(
            name,
            child,
            args.vpc_id,
            args.vpc_cidr,
            args.test_listener_port,
            purpose="green through the test listener",
            apis="CodeDeploy and EC2 APIs",
        )
        for_codedeploy = args.deployment_group_arn is not None
        self.function = _hook(
            name,
            self,
            hook_handler("test_traffic" if for_codedeploy else "ecs_lifecycle"),
            args.deployment_group_arn,
            green_check_variables(
                args.load_balancer_arn_suffix, args.load_balancer_dns_name, args.test_listener_port, args.smoke_paths
            ),
            args.log_retention_days,
            statements=[VPC_FUNCTION_STATEMENT],
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=args.subnet_ids, security_group_ids=[self.security_group.id]
            ),
        )
        if for_codedeploy:
            _grant_invoke(name, self, args.codedeploy_role_name, [self.function])
        self.register_outputs({"functionName": self.function.name})
