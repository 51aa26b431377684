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
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.arguments import LOG_RETENTION, PORT, Number, Whole, allow, problems
from rollback_guard.components.codedeploy import DeploymentGroupBase
from rollback_guard.components.deployment_log import DeploymentLog
from rollback_guard.components.iam import role_policy
from rollback_guard.components.lambda_function import (
    VPC_FUNCTION_STATEMENT,
    hook_handler,
    hooks_archive,
    logged_function,
    logged_function_name_problems,
    name_problems,
)
from rollback_guard.components.parts import Component
from rollback_guard.hooks.alarm_watch import POLL_SECONDS
from rollback_guard.hooks.post_traffic import MAX_WATCH_SECONDS
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS, EndpointCheck, InvokeCheck, redacted
from rollback_guard.limits import LAMBDA_ENVIRONMENT_BYTES, SECURITY_GROUP
from rollback_guard.policy import rules

# Room for one check of at most MAX_CHECK_TIMEOUT_SECONDS, the hook's AWS reads with their retries
# and the report's reserve (hooks/lifecycle.py), so the hook always lives to report. The
# post-traffic hook has its watch on top.
HOOK_TIMEOUT_SECONDS = 150
MAX_WATCH_MINUTES = MAX_WATCH_SECONDS // 60
# What the hooks' arguments may be (the Lambda canary's and the stack files' too).
CHECK_TIMEOUT_SECONDS = Number(
    0,
    MAX_CHECK_TIMEOUT_SECONDS,
    "seconds",
    why="the check timeout per smoke event, which the hook outlives to report within its own timeout",
    above=True,
)
WATCH_MINUTES = Whole(
    1, MAX_WATCH_MINUTES, "minutes", why="the post-traffic hook still reports within Lambda's 15-minute limit"
)


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


def smoke_check_problems(where: str, smoke_events: Any, smoke_endpoints: Any, check_timeout_seconds: Any) -> list[str]:
    """The smoke checks of a Lambda release as the hooks read them (hooks/smoke.py), each refusal
    naming its argument of `where`: at least one event, each event and endpoint one the hook can
    read (an endpoint shown without credentials), and all of them within the pre-traffic hook's
    environment."""
    if not smoke_events:
        return [
            f"{where}.smoke_events = {smoke_events!r}: at least one smoke event: only an event invokes the new "
            "version before traffic moves (an endpoint reaches the alias, which still serves the previous one)"
        ]
    known = CHECK_TIMEOUT_SECONDS.allows(check_timeout_seconds)
    timeout = check_timeout_seconds if known else MAX_CHECK_TIMEOUT_SECONDS
    found = []
    for key, checks, parse in (
        ("smoke_events", smoke_events, lambda raw: InvokeCheck.from_dict(raw, timeout)),
        ("smoke_endpoints", smoke_endpoints, EndpointCheck.from_dict),
    ):
        for i, raw in enumerate(checks):
            shown = redacted(raw) if key == "smoke_endpoints" and isinstance(raw, dict) else raw
            try:
                parse(shown)
            except (ValueError, TypeError, AttributeError) as error:
                found.append(f"{where}.{key}[{i}] = {shown!r}: {error}")
    if not found:
        size = pre_traffic_environment_bytes(smoke_events, smoke_endpoints, timeout)
        key = "smoke_endpoints" if smoke_endpoints else "smoke_events"
        found += checks_fit(f"{where}.{key}", "pre-traffic hook's", size)
    return found


def checks_fit(where: str, environment: str, size: int) -> list[str]:
    """A refusal naming `where` when smoke checks take more of a function's environment (`environment`:
    "pre-traffic hook's") than Lambda allows."""
    if size <= LAMBDA_ENVIRONMENT_BYTES:
        return []
    return [
        f"{where} = checks taking up to {size} bytes of the {environment} environment: checks that fit it; Lambda "
        f"allows {LAMBDA_ENVIRONMENT_BYTES} bytes of environment variables (use fewer or shorter checks)"
    ]


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
    deployment group and application it reads them from, and the deployment log it writes to.

    Attributes:
        service: Required. The name its releases are recorded under in the deployment log.
        environment: Required. The environment they are recorded under (the stack's name, usually).
        deployment_group_arn: Required. The deployment group whose deployments the hook serves and
            reports to, and no other.
        application_arn: Required. The group's CodeDeploy application, whose revisions (AppSpecs) it reads.
        table_name: Required. The deployment log's table.
        table_arn: Required. The same table, which the hook may use and no other.
        log_retention_days: Default: 30, what production keeps at least. One of CloudWatch Logs'
            retention periods, for the hooks' own log groups.
    """

    service: str
    environment: str
    deployment_group_arn: pulumi.Input[str]
    application_arn: pulumi.Input[str]
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))

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
    long: CodeDeploy stops watching a Lambda deployment's alarms at its last step.

    Attributes:
        alarm_names: Required. The alarms watched, by name (Outputs welcome): any in ALARM fails the
            hook, which rolls the release back.
        alarm_arns: Required. The same alarms by ARN: the hook may describe these and no others.
        minutes: Default: 10, what production keeps watching at least. From 1 to 12: the hook must
            report within Lambda's 15-minute limit; a LambdaCanary also holds it to at least the
            alarms' worst detection time.
    """

    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]]
    alarm_arns: pulumi.Input[Sequence[pulumi.Input[str]]]
    minutes: int = field(default=10, metadata=allow(WATCH_MINUTES))


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
    """An ECS service's AfterAllowTraffic hook, which records each successful release.

    Attributes:
        release: Required. Whose releases it records, and where (ReleaseContext).
        codedeploy_role_name: Required. The deployment group's service role, which is granted invoke on
            the hook (and on nothing else of this component).
        judge_required: Default: True, as every CodeDeploy release path has a canary judge: a release
            the judge has not judged recently, or judged ROLLBACK, does not complete.
    """

    release: ReleaseContext
    codedeploy_role_name: pulumi.Input[str]
    judge_required: bool = True


class ReleaseRecorder(Component):
    """An ECS service's AfterAllowTraffic hook: every successful release goes into the deployment
    log, as the Lambda canary's post-traffic hook does. It watches no alarms: CodeDeploy keeps
    watching them during blue's termination wait."""

    function: aws.lambda_.Function

    def __init__(self, name: str, args: ReleaseRecorderArgs, opts: pulumi.ResourceOptions | None = None):
        found = [
            *problems(args),
            *logged_function_name_problems("the release recorder's function", name),
            *_invoke_grant_name_problems(name),
        ]
        rules.refuse(f"release recorder {name}", found)
        super().__init__("rollback-guard:traffic_hooks:ReleaseRecorder", name, opts)
        self.function = _recorder(name, self, args.release, watch=None, judge_required=args.judge_required)
        _grant_invoke(name, self, args.codedeploy_role_name, [self.function])
        self.register_outputs({"functionName": self.function.name})


@dataclass
class TrafficHooksArgs:
    """A Lambda release's hooks: BeforeAllowTraffic smoke-tests the target version, AfterAllowTraffic
    keeps watching the alarms after the last shift and records the release.

    Attributes:
        release: Required. Whose releases the hooks serve, and where they are recorded (ReleaseContext).
        target_function_name: Required. The function released, whose new version the pre-traffic hook invokes.
        target_function_arn: Required. The same function: the pre-traffic hook may invoke it (any of its
            versions) and nothing else.
        codedeploy_role_name: Required. The deployment group's service role, granted invoke on the hooks.
        watch: Required. The alarms the post-traffic hook keeps watching after the last shift, and for
            how long (PostShiftWatch).
        smoke_events: Default: () (none), which is refused: at least one {name, payload, expect}, as
            hooks/smoke.py reads them. Only an event reaches the new version before traffic moves (it
            invokes that version).
        smoke_endpoints: Default: none. {url, expectStatus, timeoutSeconds, expectBody} checked after the
            events, through the alias; unauthenticated (a URL with credentials is refused).
        check_timeout_seconds: Default: 10. Per smoke event, above 0 and at most 45 s, so the hook always
            lives to report (its own timeout is 150 s).
        judge_required: Default: True, as every CodeDeploy release path has a canary judge whose verdict
            the post-traffic hook requires before the release completes.
    """

    release: ReleaseContext
    target_function_name: pulumi.Input[str]
    target_function_arn: pulumi.Input[str]
    codedeploy_role_name: pulumi.Input[str]
    watch: PostShiftWatch
    smoke_events: Sequence[dict[str, Any]] = ()
    smoke_endpoints: Sequence[dict[str, Any]] = ()
    check_timeout_seconds: float = field(default=10.0, metadata=allow(CHECK_TIMEOUT_SECONDS))
    judge_required: bool = True


def _invoke_grant_name_problems(name: str) -> list[str]:
    return name_problems(
        "the deployment group role's grant to invoke the hooks",
        "aws:iam/rolePolicy:RolePolicy",
        f"{name}-invoke",
        autonamed=True,
    )


def traffic_hooks_name_problems(name: str) -> list[str]:
    """The names TrafficHooks(name) gives AWS that AWS would refuse: the two hook functions (the
    longest names of a Lambda canary: `<prefix><canary>-hooks-post-traffic-<stack>`), their log groups,
    roles and policies, and the invoke grant."""
    return [
        *logged_function_name_problems("the pre-traffic hook's function", f"{name}-pre-traffic"),
        *logged_function_name_problems("the post-traffic hook's function", f"{name}-post-traffic"),
        *_invoke_grant_name_problems(name),
    ]


def traffic_hooks_problems(name: str, args: TrafficHooksArgs, where: str = "TrafficHooksArgs") -> list[str]:
    """Everything TrafficHooks(name, args) refuses, each naming its argument."""
    found = problems(args, where)
    if not found:
        found += smoke_check_problems(where, args.smoke_events, args.smoke_endpoints, args.check_timeout_seconds)
    return found + traffic_hooks_name_problems(name)


class TrafficHooks(Component):
    """BeforeAllowTraffic smoke-tests the target version; AfterAllowTraffic keeps watching the
    rollback alarms after the last shift, then records the release.

    Both may read their group's deployments; the pre-traffic hook may invoke the target function
    only, the post-traffic hook may read its alarms and use the deployment log only."""

    pre_traffic: aws.lambda_.Function
    post_traffic: aws.lambda_.Function

    def __init__(self, name: str, args: TrafficHooksArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"traffic hooks {name}", traffic_hooks_problems(name, args))
        super().__init__("rollback-guard:traffic_hooks:TrafficHooks", name, opts)
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
    """The hook that smoke-tests green through the test listener, from inside the VPC.

    Attributes:
        vpc_id: Required. The VPC the hook runs in (the test listener admits the VPC only).
        vpc_cidr: Required. The VPC's block: the hook may reach the test listener there.
        subnet_ids: Required. The private subnets the hook runs in (they reach AWS's APIs through NAT).
        load_balancer_arn_suffix: Required. The load balancer, as CloudWatch's dimension names it.
        load_balancer_dns_name: Required. Where the hook reaches the test listener.
        test_listener_port: Required. The test listener's port, 1 to 65535.
        smoke_paths: Required. {path, expectStatus, timeoutSeconds, expectBody}, as hooks/test_traffic.py
            reads them.
        deployment_group_arn: Default: None, for an ECS-native shift, where ECS invokes the hook (through
            the service's infrastructure role) and reads its answer; with CodeDeploy, its group, to
            which the hook reports.
        codedeploy_role_name: Default: None (ECS-native); with CodeDeploy, the group's role, granted
            invoke on the hook.
        log_retention_days: Default: 30, what production keeps at least. One of CloudWatch Logs'
            retention periods.
    """

    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    load_balancer_arn_suffix: pulumi.Input[str]
    load_balancer_dns_name: pulumi.Input[str]
    test_listener_port: int = field(metadata=allow(PORT))
    smoke_paths: Sequence[dict[str, Any]]
    deployment_group_arn: pulumi.Input[str] | None = None
    codedeploy_role_name: pulumi.Input[str] | None = None
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))


class TestTrafficHook(Component):
    """Smoke tests against green through the test listener, before any production traffic moves:
    CodeDeploy's AfterAllowTestTraffic hook, or ECS's POST_TEST_TRAFFIC_SHIFT hook. Runs in the VPC,
    because the test listener admits the VPC only."""

    __test__ = False  # not a pytest test class, despite its name

    function: aws.lambda_.Function
    security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: TestTrafficHookArgs, opts: pulumi.ResourceOptions | None = None):
        found = [
            *problems(args),
            *logged_function_name_problems("the test-traffic hook's function", name),
            *name_problems("the test-traffic hook's security group", SECURITY_GROUP, f"{name}-sg", autonamed=True),
            *(_invoke_grant_name_problems(name) if args.deployment_group_arn is not None else []),
        ]
        rules.refuse(f"test-traffic hook {name}", found)
        super().__init__("rollback-guard:traffic_hooks:TestTrafficHook", name, opts)
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
