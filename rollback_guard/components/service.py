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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import AlarmEvaluation, LoadBalancerAlarms, LoadBalancerAlarmsArgs
from rollback_guard.components.canary_judge import (
    JUDGE_ALARMS,
    CanaryJudge,
    CanaryJudgeArgs,
    EcsJudgeTarget,
    JudgeOptions,
    TargetGroup,
    ecs_judge_environment_bytes,
    heartbeat_alarm_name,
    judge_environment_fits,
)
from rollback_guard.components.codedeploy import (
    MAX_ALARMS_PER_DEPLOYMENT_GROUP,
    DeploymentConfigChoice,
    EcsDeploymentGroup,
    EcsDeploymentGroupArgs,
    RollbackPolicy,
    all_at_once,
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
    CodeDeployBlueGreen,
    Container,
    EcsStrategy,
    FargateService,
    FargateServiceArgs,
    NativeRouting,
    NativeShift,
    Rolling,
)
from rollback_guard.components.iam import role_policy
from rollback_guard.components.load_balancer import (
    AccessLogBucket,
    BlueGreenLoadBalancer,
    BlueGreenLoadBalancerArgs,
    HealthCheck,
    inbound_rules_problem,
)
from rollback_guard.components.network import ExistingVpc, Network, NetworkArgs, NewVpc, network_problem, require_awsx
from rollback_guard.components.parts import part_of, protected_in_production
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
from rollback_guard.policy import rules

# Beyond the traffic shift and the waits, time for CodeDeploy to start tasks and run hooks.
RELEASE_MARGIN_MINUTES = 30
# The rollback alarms built here (the optional latency anomaly alarm aside). Released by CodeDeploy,
# the deployment group also lists the canary judge's heartbeat alarm (canary_judge.JUDGE_ALARMS).
ALARMS_BUILT_HERE = 3


@dataclass
class ServiceAlarms:
    """What decides that a release of the service is bad (components/alarms.py)."""

    evaluation: AlarmEvaluation = field(default_factory=AlarmEvaluation)
    error_rate_percent: float = 1.0
    # Requests per period below which the rate counts as 0.
    minimum_requests: int = 50
    # Width of the p95 latency anomaly band in standard deviations; None leaves that alarm out.
    latency_anomaly_band: float | None = None
    # Alarms that exist elsewhere and should also stop a release.
    extra_alarm_names: Sequence[str] = ()


@dataclass
class LoadBalancerOptions:
    """The service's load balancer (components/load_balancer.py). Each field, its default and why:

    - listener_port (80): where users reach the service; 443 with a certificate, usually.
    - test_listener_port (8080): reaches green only, so the test-traffic hook and the canary judge
      see a release before users do.
    - certificate_arn (None): an ACM certificate in the stack's region makes the production listener
      HTTPS, and plain HTTP on http_redirect_port is redirected to it; production requires one.
    - http_redirect_port (80): with a certificate, where plain HTTP is answered with that redirect.
    - ingress_cidrs (everyone, 0.0.0.0/0): who may reach the production listener and its redirect; a
      service behind a load balancer is usually public.
    - test_ingress_cidrs (None: the VPC's own block only): blocks allowed on the test listener besides
      the VPC's own, which is always allowed: the test-traffic hook and the canary judge call the test
      listener from inside the VPC, and a release they cannot reach times out and rolls back. The
      test listener serves the release candidate before any user sees it, so nothing else reaches it
      by default: add only blocks you trust (a VPN, an office). A block is one inbound rule per
      listener it opens, and the security group holds at most limits.SECURITY_GROUP_RULES
      (load_balancer.inbound_rules counts them).
    - deletion_protection (True): a load balancer deleted by mistake takes the service down;
      production keeps it on.
    - health_check (HealthCheck(): `/` answering 200-399 every 15 s): what marks a task healthy,
      blue's and green's alike.
    - access_logs (None: in production only): every request kept, in a bucket of the service's own.
    """

    listener_port: int = 80
    test_listener_port: int = 8080
    certificate_arn: str | None = None
    http_redirect_port: int = 80
    ingress_cidrs: Sequence[str] = ("0.0.0.0/0",)
    test_ingress_cidrs: Sequence[str] | None = None
    deletion_protection: bool = True
    health_check: HealthCheck = field(default_factory=HealthCheck)
    access_logs: bool | None = None


@dataclass
class EcsRelease:
    """Who releases the service and how (README: Choosing a release strategy)."""

    strategy: EcsStrategy = field(default_factory=CodeDeployBlueGreen)
    # CodeDeploy only: the traffic shift, blue's termination wait, the approval wait.
    config: DeploymentConfigChoice = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    termination_wait_minutes: int = 15
    approval_wait_minutes: int = 0
    # Checked on green through the test listener: {path, expectStatus, timeoutSeconds, expectBody}.
    smoke_paths: Sequence[dict[str, Any]] = ({"path": "/"},)
    # A task definition revision (family:number) rolled back once, to release again deliberately...
    retry_revision: str | None = None
    # ...and the setting a person changes to name it, as refusals say.
    retry_setting: str = "retryRevision"
    # The revision to keep live instead of the newest (written by `ops rollback`).
    pinned_revision: str | None = None


@dataclass
class EcsServiceWithRollbackArgs:
    # Where it runs: a VPC to create, an existing one, or a Network shared with other services.
    network: NewVpc | ExistingVpc | Network
    # What it runs.
    container: Container
    desired_count: int = 2
    log_retention_days: int = 30
    release: EcsRelease = field(default_factory=EcsRelease)
    alarms: ServiceAlarms = field(default_factory=ServiceAlarms)
    load_balancer: LoadBalancerOptions = field(default_factory=LoadBalancerOptions)
    # Where releases are recorded; None: a table of its own.
    deployment_log: DeploymentLog | None = None
    # The environment its releases are recorded under; None: the stack's name.
    environment: str | None = None
    # CodeDeploy only: how hard the canary judge probes green (the other strategies have no judge).
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    # A release dashboard (components/dashboard.py): on by default, as whoever is on call during a
    # release needs to see blue and green, the alarms and the judge in one place; False leaves it out.
    dashboard: bool = True
    # The floors of policy/rules.py, and protection from `pulumi destroy`.
    production: bool = False


class EcsServiceWithRollback(pulumi.ComponentResource):
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
        super().__init__("rollback-guard:service:EcsServiceWithRollback", name, None, opts)
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
                certificate_arn=options.certificate_arn,
                http_redirect_port=options.http_redirect_port,
                ingress_cidrs=options.ingress_cidrs,
                test_ingress_cidrs=options.test_ingress_cidrs or (),
                deletion_protection=options.deletion_protection,
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
        extra = list(args.alarms.extra_alarm_names)
        self.alarm_names = alarms.alarm_names.apply(lambda names: [*names, *extra])

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
                container=args.container,
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                load_balancer_security_group_id=lb.security_group.id,
                target_group_arn=lb.blue.arn,
                desired_count=args.desired_count,
                log_retention_days=args.log_retention_days,
                strategy=release.strategy,
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
                extra_alarm_names=tuple(args.alarms.extra_alarm_names),
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
        + len(alarms.extra_alarm_names)
        + JUDGE_ALARMS * judged
    )


def _check(name: str, args: EcsServiceWithRollbackArgs) -> None:
    """The component's own floors, before anything is created: first what the others compare and
    count (the types of the numbers, the network, the strategy and the config), then the floors."""
    release = args.release
    found = rules.argument_types(args)
    if problem := network_problem("network", args.network, (NewVpc, ExistingVpc, Network)):
        found.append(problem)
    if not isinstance(release.strategy, (CodeDeployBlueGreen, Rolling, NativeShift)):
        found.append(
            f"release.strategy {release.strategy!r}: CodeDeployBlueGreen, Rolling or NativeShift, "
            f"not {type(release.strategy).__name__}"
        )
    found += deployment_config_problems("release.config", release.config, "ECS")
    rules.refuse(f"service {name}", found)
    strategy = release.strategy
    found = rules.service(
        desired_count=args.desired_count,
        log_retention_days=args.log_retention_days,
        deletion_protection=args.load_balancer.deletion_protection,
        https=args.load_balancer.certificate_arn is not None,
        production=args.production,
    )
    found += rules.rate_alarm(args.alarms.error_rate_percent, "the 5xx rate", args.production)
    detection_minutes = args.alarms.evaluation.worst_detection_seconds / 60
    if isinstance(strategy, CodeDeployBlueGreen):
        found += rules.gradual_shift(str(release.config), all_at_once(release.config), args.production)
        if not all_at_once(release.config):
            minutes = minutes_before_full_traffic(release.config)
            found += rules.partial_traffic_outlasts_detection(minutes, detection_minutes, args.production)
    if isinstance(args.network, NewVpc):
        found += [f"network.{argument} {value!r}: {allowed}" for argument, value, allowed in args.network.problems()]
    options = args.load_balancer
    ports = [options.listener_port, options.test_listener_port]
    if options.certificate_arn:
        ports.append(options.http_redirect_port)
    if len(set(ports)) < len(ports):
        found.append(f"the listeners need ports of their own (production, test, HTTP redirect: {ports})")
    https = options.certificate_arn is not None
    if problem := inbound_rules_problem(options.ingress_cidrs, options.test_ingress_cidrs or (), https):
        found.append(problem)
    found += rules.alarm_names_not_arns(args.alarms.extra_alarm_names)
    if deployment_group_alarm_count(args) > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
        found.append(f"a deployment group watches at most {MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms")
    # After the last shift blue must outlive the alarms' worst detection, or a late alarm has
    # nothing to roll back to.
    blue_kept = None
    if isinstance(strategy, CodeDeployBlueGreen):
        blue_kept = ("termination wait", release.termination_wait_minutes)
    elif isinstance(strategy, NativeShift):
        blue_kept = ("bake time", strategy.bake_time_minutes)
    if blue_kept:
        found += rules.rollback_window(blue_kept[1], blue_kept[0], args.production)
        shortest = minimum_blue_kept_minutes(args.alarms.evaluation)
        if blue_kept[1] < shortest:
            found.append(
                f"the {blue_kept[0]} ({blue_kept[1]} min) keeps blue at least {shortest} min: the alarms need that "
                "long to fire on a version that went bad at the last shift"
            )
    if isinstance(strategy, NativeShift):
        found += rules.ecs_shift(
            native_strategy=strategy.strategy,
            canary_percent=strategy.canary_percent,
            step_percent=strategy.step_percent,
            production=args.production,
        )
        if strategy.strategy != "BLUE_GREEN":
            minutes = strategy.minutes_before_full_traffic
            found += rules.partial_traffic_outlasts_detection(minutes, detection_minutes, args.production)
    elif isinstance(strategy, Rolling):
        found += rules.ecs_shift(minimum_healthy_percent=strategy.minimum_healthy_percent, production=args.production)
    if not isinstance(strategy, Rolling):
        found += rules.smoke_checks(release.smoke_paths, PathCheck.from_dict)
        if not release.smoke_paths:
            found.append("the test-traffic hook needs at least one smoke path")
        found += environment_fits("test-traffic", test_traffic_environment_bytes(release.smoke_paths))
    if isinstance(strategy, CodeDeployBlueGreen):
        found += judge_environment_fits(ecs_judge_environment_bytes(release.smoke_paths))
        found += rules.judge_probes(args.judge.max_probes_per_release, args.production)
    rules.refuse(f"service {name}", found)
    if isinstance(args.network, NewVpc):
        require_awsx()


def _task_definition_arn(revision: str) -> pulumi.Output[str]:
    """The ARN of a pinned task definition revision (family:number) in this stack's account."""
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:aws:ecs:{0}:{1}:task-definition/{2}", region, account, revision)
