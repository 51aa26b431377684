"""An ECS Fargate service with automatic rollback, as one node: load balancer with blue and green
target groups and production and test listeners, the service, its rollback alarms, its release
strategy, the hooks that smoke-test green and record releases, and the release itself. Released by
CodeDeploy, it also has a canary judge (components/canary_judge.py) that probes green and compares it
with blue while traffic moves, and stops a bad release; released by ECS itself (rolling, ecs-blue-green,
ecs-canary, ecs-linear) it has none, as there is no CodeDeploy deployment for a judge to stop: ECS's
circuit breaker, alarms and bake time decide.

Shaped like AWS CDK's aws-codedeploy: what it runs and where is required; everything else has a
safe default (CodeDeploy blue/green shifting 10% a minute, rollback on failure, stop and alarm,
blue kept 15 minutes, a smoke test of `/` through the test listener). With `production=True` the
floors of policy/rules.py hold, and the component is protected from `pulumi destroy`. Whoever is on
call sees each release on the service's dashboard (components/dashboard.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components import naming
from rollback_guard.components.alarms import (
    ALARM_NAME,
    LATENCY_BAND,
    MINIMUM_REQUESTS,
    RATE_PERCENT,
    AlarmEvaluation,
    LoadBalancerAlarms,
    LoadBalancerAlarmsArgs,
    alarm_name_problem,
    evaluation_problems,
)
from rollback_guard.components.arguments import LOG_RETENTION, PORT, Text, Whole, allow, problems, refusals
from rollback_guard.components.canary_judge import (
    JUDGE_ALARMS,
    RECORDED_NAME,
    CanaryJudge,
    CanaryJudgeArgs,
    EcsJudgeTarget,
    JudgeOptions,
    TargetGroup,
    ecs_judge_environment_bytes,
    heartbeat_alarm_name,
    heartbeat_not_extra,
    judge_environment_fits,
    judge_name_problems,
)
from rollback_guard.components.codedeploy import (
    MAX_ALARMS_PER_DEPLOYMENT_GROUP,
    MAX_WAIT_MINUTES,
    DeploymentConfigChoice,
    EcsDeploymentGroup,
    EcsDeploymentGroupArgs,
    RollbackPolicy,
    all_at_once,
    checked_alarm_names,
    deployment_config_problems,
    minimum_blue_kept_minutes,
    minutes_before_full_traffic,
    shift_minutes,
)
from rollback_guard.components.dashboard import (
    JudgeView,
    ReleaseDashboard,
    ReleaseDashboardArgs,
    TargetGroupTraffic,
    dashboard_name,
)
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.ecs_service import (
    DESIRED_COUNT,
    TASK_REVISION,
    CodeDeployBlueGreen,
    Container,
    EcsStrategy,
    FargateService,
    FargateServiceArgs,
    NativeRouting,
    NativeShift,
    Rolling,
    checked_container,
    task_family,
)
from rollback_guard.components.ecs_service import service_name_problems as fargate_names_too_long
from rollback_guard.components.iam import role_policy
from rollback_guard.components.load_balancer import (
    CERTIFICATE_ARN,
    DUPLICATE_RULE,
    HTTP_PORT,
    AccessLogBucket,
    BlueGreenLoadBalancer,
    BlueGreenLoadBalancerArgs,
    HealthCheck,
    certificate_problem,
    checked_certificate,
    inbound_rules_problem,
    listener_problems,
    stack_region,
)
from rollback_guard.components.network import (
    Cidr,
    Each,
    ExistingVpc,
    Network,
    NetworkArgs,
    NewVpc,
    network_problem,
    require_awsx,
    vpc_problems,
    zone_problems,
)
from rollback_guard.components.parts import Component, part_of, protected_in_production
from rollback_guard.components.release import DeploymentLogRef, EcsReleaseTarget, Release, ReleaseArgs
from rollback_guard.components.traffic_hooks import (
    ReleaseContext,
    ReleaseRecorder,
    ReleaseRecorderArgs,
    TestTrafficHook,
    TestTrafficHookArgs,
    environment_fits,
    test_traffic_environment_bytes,
)
from rollback_guard.hooks.smoke import PathCheck
from rollback_guard.limits import ALARM_NAME_LENGTH, LAMBDA_NAME_LENGTH, LOAD_BALANCER_NAME_LENGTH
from rollback_guard.policy import rules

# Beyond the traffic shift and the waits, time for CodeDeploy to start tasks and run hooks.
RELEASE_MARGIN_MINUTES = 30
# The rollback alarms built here (the optional latency anomaly alarm aside). Released by CodeDeploy,
# the deployment group also lists the canary judge's heartbeat alarm (canary_judge.JUDGE_ALARMS).
ALARMS_BUILT_HERE = 3


@dataclass(frozen=True)
class AlarmName:
    """An existing alarm's name, as CodeDeploy and ECS look alarms up (alarms.alarm_name_problem)."""

    allowed: str = f"{ALARM_NAME} (CodeDeploy looks alarms up by name)"

    def allows(self, value: Any) -> bool:
        return alarm_name_problem(value) is None

    def schema(self) -> dict:
        return {"type": "string", "minLength": 1, "maxLength": ALARM_NAME_LENGTH, "description": self.allowed}


# The service's name starts the names of its load balancer's target groups, which Pulumi completes with
# 8 random characters within ELB's 32 ("<name>-lb-green-1a2b3c4"), and of its access-log bucket (S3:
# lowercase). ELB refuses names starting with internal-, S3 those starting with xn-- or sthree-.
SERVICE_NAME = Text(
    r"[a-z][a-z0-9-]*",
    "a name of lowercase letters, digits or dashes, starting with a letter (its access-log bucket is named after it)",
)
RESERVED_NAME_PREFIXES = ("internal-", "xn--", "sthree-")
LONGEST_TARGET_GROUP_SUFFIX = "-lb-green"
PULUMI_RANDOM_SUFFIX = 8
# Its longest Lambda function: "<prefix><name>-test-traffic-<stack>".
LONGEST_FUNCTION = "-test-traffic"


@dataclass
class ServiceAlarms:
    """What decides that a release of the service is bad (components/alarms.py).

    Attributes:
        evaluation: Default: AlarmEvaluation(), 3 of 3 one-minute periods: a signal must last three
            minutes, so one bad minute does not roll back.
        error_rate_percent: Default: 1.0. The 5xx rate (of the requests) that rolls back: above 0 and
            below 100 (at 100 it can never fire); production at most 10.
        minimum_requests: Default: 50. Requests per period below which the rate counts as 0, so three
            requests cannot roll back a release; from 1 to 1,000,000.
        latency_anomaly_band: Default: None, no latency alarm. The width of the p95 latency anomaly
            band in standard deviations, from 0.5 to 10.
        extra_alarm_names: Default: () (none). Alarms that exist elsewhere and should also stop a
            release: their names (1 to 255 characters, not ARNs: CodeDeploy looks alarms up by name),
            each once, or Outputs of them (checked when known). A deployment group watches at most 10
            alarms, the service's own among them.
    """

    evaluation: AlarmEvaluation = field(default_factory=AlarmEvaluation)
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    minimum_requests: int = field(default=50, metadata=allow(MINIMUM_REQUESTS))
    latency_anomaly_band: float | None = field(default=None, metadata=allow(LATENCY_BAND))
    extra_alarm_names: Sequence[pulumi.Input[str]] = field(
        default=(), metadata=allow(Each(AlarmName(), "alarm names", why="CodeDeploy rejects a repeated alarm name"))
    )


@dataclass
class LoadBalancerOptions:
    """The service's load balancer (components/load_balancer.py).

    Attributes:
        listener_port: Default: None, meaning 443 with a certificate and 80 without. Where users
            reach the service, from 1 to 65535.
        test_listener_port: Default: 8080. Reaches green only, so the test-traffic hook and the
            canary judge see a release before users do; from 1 to 65535, not another listener's.
        certificate_arn: Default: None (HTTP). An ACM certificate's ARN in the stack's region (ACM
            certificates are regional), or an Output of one (checked when known): the production
            listener becomes HTTPS, and plain HTTP on http_redirect_port is redirected to it.
            Production requires one.
        http_redirect_port: Default: 80. With a certificate, where plain HTTP is answered with that
            redirect; from 1 to 65535, not another listener's.
        ingress_cidrs: Default: ("0.0.0.0/0",), everyone: a service behind a load balancer is
            usually public. Who may reach the production listener and its redirect: at least one
            CIDR block, each once.
        test_ingress_cidrs: Default: None, the VPC's own block only. Blocks allowed on the test
            listener besides the VPC's own, which is always allowed: the test-traffic hook and the
            canary judge call the test listener from inside the VPC, and a release they cannot reach
            times out and rolls back. The test listener serves the release candidate before any user
            sees it, so add only blocks you trust (a VPN, an office), each once. A block is one
            inbound rule per listener it opens, and the security group holds at most
            limits.SECURITY_GROUP_RULES (load_balancer.inbound_rules counts them).
        deletion_protection: Default: None, meaning on in production and off elsewhere: a production
            load balancer deleted by mistake takes the service down (production refuses False), and a
            staging stack must be destroyable as written.
        health_check: Default: HealthCheck(), `/` answering 200-399 every 15 s. What marks a task
            healthy, blue's and green's alike.
        access_logs: Default: None, meaning in production only. Every request kept, in a bucket of
            the service's own, 90 days.
    """

    listener_port: int | None = field(default=None, metadata=allow(PORT))
    test_listener_port: int = field(default=8080, metadata=allow(PORT))
    certificate_arn: pulumi.Input[str] | None = field(default=None, metadata=allow(CERTIFICATE_ARN))
    http_redirect_port: int = field(default=HTTP_PORT, metadata=allow(PORT))
    ingress_cidrs: Sequence[str] = field(
        default=("0.0.0.0/0",), metadata=allow(Each(Cidr(), "CIDR blocks", fewest=1, why=DUPLICATE_RULE))
    )
    test_ingress_cidrs: Sequence[str] | None = field(
        default=None, metadata=allow(Each(Cidr(), "CIDR blocks", why=DUPLICATE_RULE))
    )
    deletion_protection: bool | None = None
    health_check: HealthCheck = field(default_factory=HealthCheck)
    access_logs: bool | None = None


@dataclass
class EcsRelease:
    """Who releases the service and how (README: Choosing a release strategy).

    Attributes:
        strategy: Default: CodeDeployBlueGreen(). CodeDeployBlueGreen (CodeDeploy shifts traffic,
            with a canary judge), Rolling (ECS replaces tasks) or NativeShift (ECS's own blue/green,
            canary or linear).
        config: Default: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", 10% a minute, so an
            alarm can stop a bad release early. CodeDeploy only: one of the ECS predefined configs or
            a TimeBasedShift; production shifts gradually, and keeps part of the traffic on blue as
            long as the alarms may take to fire.
        termination_wait_minutes: Default: 15. CodeDeploy only: how long blue is kept after the last
            shift, while a late alarm still rolls back; from 0 to 2880, production at least 10, and
            everywhere at least what the alarms need to fire (9 minutes with the default evaluation).
        approval_wait_minutes: Default: 0, no approval. CodeDeploy only: how long a release waits for
            someone to continue it before it stops; from 0 to 2880.
        smoke_paths: Default: ({"path": "/"},). Checked on green through the test listener, each
            {path, expectStatus, timeoutSeconds, expectBody}: at least one except with Rolling, and
            all of them within the hook's 4 KB environment.
        retry_revision: Default: None. A task definition revision of this service's own family
            (<prefix><name>-<stack>:<n>) rolled back once, to release again deliberately.
        retry_setting: Default: "retryRevision". The setting a person changes to name that revision,
            as refusals say it.
        pinned_revision: Default: None. A revision of this service's own family to keep live instead
            of the newest (written by `ops rollback`).
    """

    strategy: EcsStrategy = field(default_factory=CodeDeployBlueGreen)
    config: DeploymentConfigChoice = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    termination_wait_minutes: int = field(
        default=15,
        metadata=allow(
            Whole(0, MAX_WAIT_MINUTES, "minutes", f"production at least {rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES}")
        ),
    )
    approval_wait_minutes: int = field(default=0, metadata=allow(Whole(0, MAX_WAIT_MINUTES, "minutes")))
    smoke_paths: Sequence[dict[str, Any]] = ({"path": "/"},)
    retry_revision: str | None = field(default=None, metadata=allow(TASK_REVISION))
    retry_setting: str = "retryRevision"
    pinned_revision: str | None = field(default=None, metadata=allow(TASK_REVISION))


@dataclass
class EcsServiceWithRollbackArgs:
    """What an EcsServiceWithRollback is built from: where it runs and what it runs are required;
    everything else has a safe default.

    Attributes:
        network: Required. Where it runs: a NewVpc to create (the `vpc` extra), an ExistingVpc, or a
            Network shared with other services.
        container: Required. What it runs (Container).
        desired_count: Default: 2, so one failing task is not an outage. From 1 to 1000; production
            at least 2.
        log_retention_days: Default: 30. How long its logs (the tasks', the hooks', the judge's) are
            kept: one of CloudWatch's retention periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180,
            365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 days); production at least 30.
        release: Default: EcsRelease(), CodeDeploy blue/green shifting 10% a minute. Who releases it
            and how.
        alarms: Default: ServiceAlarms(). What decides that a release is bad.
        load_balancer: Default: LoadBalancerOptions(). Its load balancer; production needs a
            certificate.
        deployment_log: Default: None, a table of its own. Where releases are recorded.
        environment: Default: None, the stack's name. The environment its releases are recorded
            under.
        judge: Default: JudgeOptions(). CodeDeploy only: how hard the canary judge probes green (the
            other strategies have no judge); production sends at least one probe.
        dashboard: Default: True: whoever is on call during a release needs to see blue and green,
            the alarms and the judge in one place. False leaves it out.
        production: Default: False. True holds the floors of policy/rules.py, and protects the
            component from `pulumi destroy`.
    """

    network: NewVpc | ExistingVpc | Network
    container: Container
    desired_count: int = field(default=2, metadata=allow(DESIRED_COUNT))
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))
    release: EcsRelease = field(default_factory=EcsRelease)
    alarms: ServiceAlarms = field(default_factory=ServiceAlarms)
    load_balancer: LoadBalancerOptions = field(default_factory=LoadBalancerOptions)
    deployment_log: DeploymentLog | None = None
    environment: str | None = field(default=None, metadata=allow(RECORDED_NAME))
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    dashboard: bool = True
    production: bool = False


class EcsServiceWithRollback(Component):
    """See the module docstring. Outputs: `service_url`, `test_url`, `alarm_names`, and
    `release_path`, what `ops` needs to inspect and roll back its releases."""

    load_balancer: BlueGreenLoadBalancer
    service: FargateService
    alarm_names: pulumi.Output[list[str]]
    deployment_group: EcsDeploymentGroup | None
    # CodeDeploy only; None (empty) for the strategies ECS releases itself.
    judge: CanaryJudge | None
    # The lifecycle hooks' function names by CodeDeploy event.
    hooks: dict[str, pulumi.Output[str]]
    release: Release | None
    service_url: pulumi.Output[str]
    test_url: pulumi.Output[str]
    # None with `dashboard=False`.
    dashboard: ReleaseDashboard | None
    dashboard_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: EcsServiceWithRollbackArgs, opts: pulumi.ResourceOptions | None = None):
        _check(name, args)
        opts = protected_in_production(opts, args.production)
        super().__init__("rollback-guard:service:EcsServiceWithRollback", name, opts)
        child = part_of(self)
        release, options = args.release, args.load_balancer
        network = (
            args.network
            if isinstance(args.network, Network)
            else Network(f"{name}-net", NetworkArgs(vpc=args.network), opts=child)
        )
        # Production keeps a record of every request; elsewhere, only if asked for.
        keep_access_logs = args.production if options.access_logs is None else options.access_logs
        access_logs = AccessLogBucket(f"{name}-lb-logs", opts=child) if keep_access_logs else None
        self.load_balancer = BlueGreenLoadBalancer(
            f"{name}-lb",
            BlueGreenLoadBalancerArgs(
                vpc_id=network.vpc_id,
                subnet_ids=network.public_subnet_ids,
                target_port=args.container.port,
                target_cidr=network.cidr_block,
                health_check=options.health_check,
                vpc_cidr=network.cidr_block,
                listener_port=options.listener_port,
                test_listener_port=options.test_listener_port,
                # Checked against the region once both are known, named as the service's argument.
                certificate_arn=checked_certificate(
                    f"service {name}",
                    "EcsServiceWithRollbackArgs.load_balancer.certificate_arn",
                    options.certificate_arn,
                    pulumi.InvokeOutputOptions(parent=self),
                )
                if options.certificate_arn is not None
                else None,
                http_redirect_port=options.http_redirect_port,
                ingress_cidrs=options.ingress_cidrs,
                test_ingress_cidrs=options.test_ingress_cidrs or (),
                deletion_protection=_deletion_protection(args),
                access_logs_bucket=access_logs.writable_name if access_logs else None,
                weighted_rules=isinstance(release.strategy, NativeShift),
            ),
            opts=child,
        )
        lb = self.load_balancer
        judged = isinstance(release.strategy, CodeDeployBlueGreen)
        alarms = LoadBalancerAlarms(
            f"{name}-rollback",
            LoadBalancerAlarmsArgs(
                load_balancer_arn_suffix=lb.load_balancer.arn_suffix,
                target_group_arn_suffixes=[lb.blue.arn_suffix, lb.green.arn_suffix],
                evaluation=args.alarms.evaluation,
                error_rate_percent=args.alarms.error_rate_percent,
                minimum_requests=args.alarms.minimum_requests,
                latency_anomaly_band=args.alarms.latency_anomaly_band,
                judge_probes=judged and args.judge.max_probes_per_release > 0,
            ),
            opts=child,
        )
        # Names known only once another resource or stack gives them are checked then, as known ones were.
        extra = checked_alarm_names(
            f"service {name}", "EcsServiceWithRollbackArgs.alarms.extra_alarm_names", args.alarms.extra_alarm_names
        )
        self.alarm_names = pulumi.Output.all(alarms.alarm_names, extra).apply(lambda names: [*names[0], *names[1]])

        def test_traffic_hook(group: EcsDeploymentGroup | None) -> TestTrafficHook:
            return TestTrafficHook(
                f"{name}-test-traffic",
                TestTrafficHookArgs(
                    vpc_id=network.vpc_id,
                    vpc_cidr=network.cidr_block,
                    subnet_ids=network.private_subnet_ids,
                    load_balancer_arn_suffix=lb.load_balancer.arn_suffix,
                    load_balancer_dns_name=lb.load_balancer.dns_name,
                    test_listener_port=options.test_listener_port,
                    smoke_paths=release.smoke_paths,
                    deployment_group_arn=group.deployment_group.arn if group else None,
                    codedeploy_role_name=group.role.name if group else None,
                    log_retention_days=args.log_retention_days,
                ),
                opts=child,
            )

        native_hook = test_traffic_hook(None) if isinstance(release.strategy, NativeShift) else None
        self.service = FargateService(
            name,
            FargateServiceArgs(
                container=checked_container(
                    f"service {name}", "EcsServiceWithRollbackArgs.container", args.container, args.production
                ),
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                load_balancer_security_group_id=lb.security_group.id,
                target_group_arn=lb.blue.arn,
                desired_count=args.desired_count,
                log_retention_days=args.log_retention_days,
                strategy=release.strategy,
                production=args.production,
                rollback_alarm_names=self.alarm_names,
                native_routing=NativeRouting(
                    alternate_target_group_arn=lb.green.arn,
                    production_listener_rule_arn=lb.production_rule.arn,
                    test_listener_rule_arn=lb.test_rule.arn,
                    smoke_test_function_arn=native_hook.function.arn,
                )
                if native_hook
                else None,
            ),
            # The service may only join a target group that a listener already routes to.
            opts=part_of(self, depends_on=[lb]),
        )
        self.deployment_group, self.judge, self.release, self.hooks = None, None, None, {}
        if isinstance(release.strategy, CodeDeployBlueGreen):
            self._codedeploy(name, args, network, test_traffic_hook)
        self.dashboard = self._dashboard(name, args, alarms) if args.dashboard else None
        self.dashboard_url = self.dashboard.url if self.dashboard is not None else None
        self.service_url, self.test_url = lb.service_url, lb.test_url
        self.register_outputs(
            {
                "serviceUrl": self.service_url,
                "testUrl": self.test_url,
                "alarmNames": self.alarm_names,
                "dashboardUrl": self.dashboard_url,
            }
        )

    def _dashboard(self, name: str, args: EcsServiceWithRollbackArgs, alarms: LoadBalancerAlarms) -> ReleaseDashboard:
        """Blue and green, the alarms that stop a release (the deployment group's or the ECS
        deployment's: the same list, and the judge's heartbeat alarm under CodeDeploy) and the judge."""
        lb, judge = self.load_balancer, self.judge
        return ReleaseDashboard(
            f"{name}-dashboard",
            ReleaseDashboardArgs(
                traffic=TargetGroupTraffic(
                    lb.load_balancer.arn_suffix,
                    lb.blue.arn_suffix,
                    lb.green.arn_suffix,
                    judge_probes=judge is not None and args.judge.max_probes_per_release > 0,
                ),
                alarm_arns=alarms.alarm_arns,
                extra_alarm_names=args.alarms.extra_alarm_names,
                judge=JudgeView(
                    judge.log_group_name,
                    self.deployment_group.deployment_group.deployment_group_name,
                    judge.heartbeat_alarm.arn,
                )
                if judge
                else None,
                error_rate_percent=args.alarms.error_rate_percent,
                title=f"{name}: {_released_by(args.release.strategy)} ({args.environment or pulumi.get_stack()})",
                dashboard_name=dashboard_name(name),
            ),
            opts=part_of(self),
        )

    def _codedeploy(self, name: str, args: EcsServiceWithRollbackArgs, network: Network, test_traffic_hook) -> None:
        """CodeDeploy releases the service: its deployment group, the hooks, the canary judge and the
        release."""
        child = part_of(self)
        release, lb, service = args.release, self.load_balancer, self.service
        judge_name = f"{name}-judge"
        # The group stops a release on the rollback alarms and on its judge's heartbeat alarm, named
        # here before the judge (built after the group) exists. `alarm_names` stays the service's
        # own: what the pipeline's post-deploy health check and ops read is the service's health.
        heartbeat = heartbeat_alarm_name(judge_name)
        group_alarm_names = self.alarm_names.apply(lambda names: [*names, heartbeat])
        group = EcsDeploymentGroup(
            f"{name}-deploy",
            EcsDeploymentGroupArgs(
                cluster_name=service.cluster.name,
                service_name=service.service.name,
                blue_target_group_name=lb.blue.name,
                green_target_group_name=lb.green.name,
                production_listener_arn=lb.production_listener.arn,
                test_listener_arn=lb.test_listener.arn,
                rollback=RollbackPolicy(alarm_names=group_alarm_names),
                deployment_config=release.config,
                termination_wait_minutes=release.termination_wait_minutes,
                approval_wait_minutes=release.approval_wait_minutes,
                production=args.production,
            ),
            opts=child,
        )
        # The limited managed policy passes only roles named ecsTaskExecutionRole or ECSTaskExecution*:
        # CodeDeploy starts the replacement task set with this service's own two roles.
        role_policy(
            f"{name}-deploy-pass-task-roles",
            group.role.name,
            [
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": [service.execution_role.arn, service.task_role.arn],
                    "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                }
            ],
            pulumi.ResourceOptions(parent=group),
        )
        hook = test_traffic_hook(group)
        log = args.deployment_log or DeploymentLog(
            f"{name}-deployment-log", DeploymentLogArgs(protected=args.production), opts=child
        )
        environment = args.environment or pulumi.get_stack()
        recorder = ReleaseRecorder(
            f"{name}-recorder",
            ReleaseRecorderArgs(
                release=ReleaseContext.of(name, environment, group, log, args.log_retention_days),
                codedeploy_role_name=group.role.name,
            ),
            opts=child,
        )
        self.judge = CanaryJudge(
            judge_name,
            CanaryJudgeArgs(
                service=name,
                environment=environment,
                deployment_group=group,
                deployment_log=log,
                target=EcsJudgeTarget(
                    vpc_id=network.vpc_id,
                    vpc_cidr=network.cidr_block,
                    subnet_ids=network.private_subnet_ids,
                    load_balancer_arn_suffix=lb.load_balancer.arn_suffix,
                    load_balancer_dns_name=lb.load_balancer.dns_name,
                    test_listener_port=args.load_balancer.test_listener_port,
                    smoke_paths=release.smoke_paths,
                    blue=TargetGroup(lb.blue.name, lb.blue.arn_suffix),
                    green=TargetGroup(lb.green.name, lb.green.arn_suffix),
                ),
                error_rate_percent=args.alarms.error_rate_percent,
                options=args.judge,
                log_retention_days=args.log_retention_days,
            ),
            opts=child,
        )
        self.deployment_group = group
        self.hooks = {"AfterAllowTestTraffic": hook.function.name, "AfterAllowTraffic": recorder.function.name}
        self.release = Release(
            f"{name}-release",
            ReleaseArgs(
                deployment_group=group,
                target=EcsReleaseTarget(
                    cluster=service.cluster.name,
                    service=service.service.name,
                    task_definition_arn=_task_definition_arn(release.pinned_revision)
                    if release.pinned_revision
                    else service.task_definition.arn,
                    container_name=service.container_name,
                    container_port=service.container_port,
                    hooks=self.hooks,
                ),
                alarm_names=self.alarm_names,
                retry_revision=release.retry_revision,
                retry_setting=release.retry_setting,
                timeout_minutes=shift_minutes(release.config)
                + release.approval_wait_minutes
                + release.termination_wait_minutes
                + RELEASE_MARGIN_MINUTES,
                deployment_log=DeploymentLogRef(log.table.name, name, environment),
                judge_alarm=self.judge.heartbeat_alarm.name,
            ),
            # A release starts once its judge listens for the deployment's START event.
            opts=part_of(self, depends_on=[hook, recorder, self.judge, service]),
        )

    def release_path(self, name: str, strategy_name: str) -> dict[str, pulumi.Input]:
        """What `ops` needs to inspect and roll back this service's releases."""
        path = {
            "service": name,
            "kind": "ecs",
            "strategy": strategy_name,
            "cluster": self.service.cluster.name,
            "ecsService": self.service.service.name,
            # What a corrective deployment names in its AppSpec: the container behind the load balancer.
            "container": self.service.container_name,
            "containerPort": self.service.container_port,
            "alarms": self.alarm_names,
        }
        if self.deployment_group:
            path |= {
                "application": self.deployment_group.application.name,
                "deploymentGroup": self.deployment_group.deployment_group.deployment_group_name,
                "judge": self.judge.function.name,
                "hooks": self.hooks,
            }
        return path


def _released_by(strategy: EcsStrategy) -> str:
    """How the service is released, as its dashboard's heading says it."""
    if isinstance(strategy, CodeDeployBlueGreen):
        return "ECS service released by CodeDeploy blue/green"
    if isinstance(strategy, NativeShift):
        return f"ECS service released by ECS {strategy.strategy.lower().replace('_', '/')}"
    return "ECS service released by ECS rolling updates"


def deployment_group_alarm_count(args: EcsServiceWithRollbackArgs) -> int:
    """The alarms that stop a release of the service: the rollback alarms, the extra ones and, released
    by CodeDeploy, the canary judge's heartbeat alarm."""
    alarms = args.alarms
    judged = isinstance(args.release.strategy, CodeDeployBlueGreen)
    return (
        ALARMS_BUILT_HERE
        + (alarms.latency_anomaly_band is not None)
        # An Output list is counted by the deployment group when known (codedeploy.alarm_names_problems).
        + (0 if isinstance(alarms.extra_alarm_names, pulumi.Output) else len(alarms.extra_alarm_names))
        + JUDGE_ALARMS * judged
    )


def _deletion_protection(args: EcsServiceWithRollbackArgs) -> bool:
    """Deletion protection as asked for, or by default on in production and off elsewhere."""
    asked = args.load_balancer.deletion_protection
    return args.production if asked is None else asked


def service_name_problems(name: str) -> list[str]:
    """The component's name starts the names AWS knows its parts by: within AWS's rules for each."""
    where = f"the service's name {name!r}"
    if not SERVICE_NAME.allows(name):
        return [f"{where}: {SERVICE_NAME.allowed}"]
    found = []
    if f"{name}-".startswith(RESERVED_NAME_PREFIXES):
        found.append(
            f"{where}: a name that does not start with internal (load balancers refuse it), xn-- or sthree (buckets)"
        )
    target_group = f"{name}{LONGEST_TARGET_GROUP_SUFFIX}"
    if len(target_group) + PULUMI_RANDOM_SUFFIX > LOAD_BALANCER_NAME_LENGTH:
        longest = LOAD_BALANCER_NAME_LENGTH - PULUMI_RANDOM_SUFFIX - len(LONGEST_TARGET_GROUP_SUFFIX)
        found.append(
            f"{where}: at most {longest} characters: its green target group is named {target_group}- and "
            f"{PULUMI_RANDOM_SUFFIX - 1} random characters, and ELB allows {LOAD_BALANCER_NAME_LENGTH}"
        )
    found += naming.too_long(
        "its test-traffic hook function", naming.physical_name(f"{name}{LONGEST_FUNCTION}"), LAMBDA_NAME_LENGTH
    )
    found += fargate_names_too_long(name)
    return found


def _check(name: str, args: EcsServiceWithRollbackArgs) -> None:
    """Every argument the component refuses, before anything is created, one line each naming it:
    first what each field declares and what the others compare and count (the network, the strategy
    and the config), then what spans fields and production's floors."""
    what, where = f"service {name}", "EcsServiceWithRollbackArgs"
    release = args.release
    found = problems(args, where)
    if problem := network_problem(f"{where}.network", args.network, (NewVpc, ExistingVpc, Network)):
        found.append(problem)
    elif not isinstance(args.network, Network):
        found += vpc_problems(f"{where}.network", args.network) or zone_problems(f"{where}.network", args.network)
    if not isinstance(args.container, Container):
        found.append(f"{where}.container = {args.container!r}: a Container, not {type(args.container).__name__}")
    if isinstance(release, EcsRelease):  # otherwise problems() named it
        if not isinstance(release.strategy, (CodeDeployBlueGreen, Rolling, NativeShift)):
            found.append(
                f"{where}.release.strategy = {release.strategy!r}: CodeDeployBlueGreen, Rolling or NativeShift, "
                f"not {type(release.strategy).__name__}"
            )
        found += deployment_config_problems(f"{where}.release.config", release.config, "ECS")
    if args.deployment_log is not None and not isinstance(args.deployment_log, DeploymentLog):
        found.append(
            f"{where}.deployment_log = {args.deployment_log!r}: a DeploymentLog, or None for a table of its own"
        )
    found += service_name_problems(name)
    if isinstance(release, EcsRelease) and isinstance(release.strategy, CodeDeployBlueGreen):
        # The group lists the judge's heartbeat alarm by name before the judge exists.
        found += judge_name_problems(f"{name}-judge", in_vpc=True)
    # A TimeBasedShift's field is named by its declaration and by the config's own check: once.
    rules.refuse(what, list(dict.fromkeys(found)))
    rules.refuse(what, _floors(where, name, args))
    if isinstance(args.network, NewVpc):
        require_awsx()


def _floors(where: str, name: str, args: EcsServiceWithRollbackArgs) -> list[str]:
    """What spans fields, and production's floors, once every field is of its kind."""
    release, options, strategy = args.release, args.load_balancer, args.release.strategy
    https = options.certificate_arn is not None
    found = args.container.problems(f"{where}.container", args.production)
    found += options.health_check.problems(f"{where}.load_balancer.health_check")
    found += listener_problems(
        f"{where}.load_balancer", options.listener_port, options.test_listener_port, options.http_redirect_port, https
    )
    if isinstance(options.certificate_arn, str) and (
        problem := certificate_problem(options.certificate_arn, stack_region())
    ):
        found.append(f"{where}.load_balancer.certificate_arn = {options.certificate_arn!r}: {problem}")
    production = args.production

    found += refusals(f"{where}.load_balancer.certificate_arn", options.certificate_arn, rules.https(https, production))
    found += refusals(f"{where}.desired_count", args.desired_count, rules.desired_count(args.desired_count, production))
    found += refusals(
        f"{where}.log_retention_days", args.log_retention_days, rules.logs(args.log_retention_days, production)
    )
    protected = _deletion_protection(args)
    found += refusals(
        f"{where}.load_balancer.deletion_protection",
        options.deletion_protection,
        rules.deletion_protection(protected, production),
    )
    found += evaluation_problems(f"{where}.alarms.evaluation", args.alarms.evaluation)
    rate = args.alarms.error_rate_percent
    found += refusals(f"{where}.alarms.error_rate_percent", rate, rules.rate_alarm(rate, "the 5xx rate", production))
    detection_minutes = args.alarms.evaluation.worst_detection_seconds / 60
    if isinstance(strategy, CodeDeployBlueGreen):
        found += refusals(
            f"{where}.release.config",
            release.config,
            rules.gradual_shift(str(release.config), all_at_once(release.config), production),
        )
        if shift_minutes(release.config) > MAX_WAIT_MINUTES:
            found.append(
                f"{where}.release.config = {release.config!r}: a shift CodeDeploy completes within {MAX_WAIT_MINUTES} "
                "minutes (two days)"
            )
        if not all_at_once(release.config):
            minutes = minutes_before_full_traffic(release.config)
            found += refusals(
                f"{where}.release.config",
                release.config,
                rules.partial_traffic_outlasts_detection(minutes, detection_minutes, production),
            )
    if problem := inbound_rules_problem(options.ingress_cidrs, options.test_ingress_cidrs or (), https):
        found.append(problem)
    if (count := deployment_group_alarm_count(args)) > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
        found.append(
            f"{where}.alarms.extra_alarm_names = {list(args.alarms.extra_alarm_names)!r}: with the alarms built here, "
            f"at most {MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms per deployment group (got {count})"
        )
    # After the last shift blue must outlive the alarms' worst detection, or a late alarm has
    # nothing to roll back to.
    blue_kept = None
    if isinstance(strategy, CodeDeployBlueGreen):
        blue_kept = ("release.termination_wait_minutes", "termination wait", release.termination_wait_minutes)
    elif isinstance(strategy, NativeShift):
        blue_kept = ("release.strategy.bake_time_minutes", "bake time", strategy.bake_time_minutes)
    if blue_kept:
        key, wait, minutes = blue_kept
        found += refusals(f"{where}.{key}", minutes, rules.rollback_window(minutes, wait, production))
        shortest = minimum_blue_kept_minutes(args.alarms.evaluation)
        if minutes < shortest:
            found.append(
                f"{where}.{key} = {minutes!r}: at least {shortest} min: the alarms need that long to fire on a "
                "version that went bad at the last shift, and blue must still be there"
            )
    if isinstance(strategy, NativeShift):
        shifted = "release.strategy"
        found += refusals(
            f"{where}.{shifted}.strategy",
            strategy.strategy,
            rules.ecs_shift(native_strategy=strategy.strategy, production=production),
        )
        found += refusals(
            f"{where}.{shifted}.canary_percent",
            strategy.canary_percent,
            rules.ecs_shift(canary_percent=strategy.canary_percent, production=production),
        )
        found += refusals(
            f"{where}.{shifted}.step_percent",
            strategy.step_percent,
            rules.ecs_shift(step_percent=strategy.step_percent, production=production),
        )
        if strategy.strategy != "BLUE_GREEN":
            minutes = strategy.minutes_before_full_traffic
            found += refusals(
                f"{where}.{shifted}",
                strategy,
                rules.partial_traffic_outlasts_detection(minutes, detection_minutes, production),
            )
    elif isinstance(strategy, Rolling):
        found += refusals(
            f"{where}.release.strategy.minimum_healthy_percent",
            strategy.minimum_healthy_percent,
            rules.ecs_shift(minimum_healthy_percent=strategy.minimum_healthy_percent, production=production),
        )
        found += _rolling_room(where, args.desired_count, strategy)
    if not isinstance(strategy, Rolling):
        found += rules.smoke_checks(f"{where}.release.smoke_paths", release.smoke_paths, PathCheck.from_dict)
        if not release.smoke_paths:
            found.append(
                f"{where}.release.smoke_paths = []: at least one path: the test-traffic hook fails without one"
            )
        found += environment_fits("test-traffic", test_traffic_environment_bytes(release.smoke_paths))
    if isinstance(strategy, CodeDeployBlueGreen):
        found += judge_environment_fits(ecs_judge_environment_bytes(release.smoke_paths))
        found += heartbeat_not_extra(f"{where}.alarms.extra_alarm_names", args.alarms.extra_alarm_names, name)
        probes = args.judge.max_probes_per_release
        found += refusals(f"{where}.judge.max_probes_per_release", probes, rules.judge_probes(probes, production))
    family = task_family(name)
    for argument in ("retry_revision", "pinned_revision"):
        revision = getattr(release, argument)
        if revision and not revision.startswith(f"{family}:"):
            found.append(
                f"{where}.release.{argument} = {revision!r}: a revision of this service's own task definition, "
                f"{family}:<n>"
            )
    return found


def _rolling_room(where: str, desired_count: int, strategy: Rolling) -> list[str]:
    """ECS rounds the healthy minimum up and the running maximum down, in tasks: a rolling update
    needs room for one task more than it keeps running."""
    low, high = strategy.minimum_healthy_percent, strategy.maximum_percent
    minimum, maximum = math.ceil(desired_count * low / 100), math.floor(desired_count * high / 100)
    if maximum > minimum:
        return []
    return [
        f"{where}.release.strategy.maximum_percent = {high!r}: room for one more task than minimum_healthy_percent "
        f"({low}) keeps running: with desired_count {desired_count} that is {minimum} healthy and at most {maximum} "
        "running, so ECS cannot replace a task"
    ]


def _task_definition_arn(revision: str) -> pulumi.Output[str]:
    """The ARN of a pinned task definition revision (family:number) in this stack's account."""
    partition = aws.get_partition_output().partition
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:{0}:ecs:{1}:{2}:task-definition/{3}", partition, region, account, revision)
