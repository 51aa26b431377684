"""A Lambda function released as a canary, as one node: the function behind its `live` alias, the
error-rate and throttle alarms on the version being released, the CodeDeploy deployment group
that shifts the alias, the hooks that smoke-test the new version before traffic and keep watching
the alarms after the last shift, the canary judge that probes the new version and compares it with
the old one while traffic moves (components/canary_judge.py), the deployment log, the release and
the dashboard that shows it (components/dashboard.py).

Shaped like AWS CDK's aws-codedeploy: the code and at least one smoke event are required (only an
event reaches the new version before traffic moves); everything else has a safe default (10% a
minute, rollback on failure, stop and alarm, a 1% error-rate alarm, a 10-minute watch). With
`production=True` the floors of policy/rules.py hold, and the component is protected from
`pulumi destroy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from rollback_guard.components.alarms import AlarmEvaluation, LambdaAlarms, LambdaAlarmsArgs
from rollback_guard.components.canary_judge import (
    CanaryJudge,
    CanaryJudgeArgs,
    JudgeOptions,
    LambdaJudgeTarget,
    heartbeat_alarm_name,
    judge_environment_fits,
    lambda_judge_environment_bytes,
)
from rollback_guard.components.codedeploy import (
    DeploymentConfigChoice,
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    all_at_once,
    deployment_config_problems,
    minutes_before_full_traffic,
    shift_minutes,
)
from rollback_guard.components.dashboard import (
    JudgeView,
    LambdaTraffic,
    ReleaseDashboard,
    ReleaseDashboardArgs,
    dashboard_name,
)
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.lambda_function import CanaryFunction, CanaryFunctionArgs, function_code_problems
from rollback_guard.components.parts import part_of, protected_in_production
from rollback_guard.components.release import DeploymentLogRef, LambdaReleaseTarget, Release, ReleaseArgs
from rollback_guard.components.service import RELEASE_MARGIN_MINUTES
from rollback_guard.components.traffic_hooks import (
    MAX_WATCH_MINUTES,
    PostShiftWatch,
    ReleaseContext,
    TrafficHooks,
    TrafficHooksArgs,
    environment_fits,
    minimum_watch_minutes,
    pre_traffic_environment_bytes,
)
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS, EndpointCheck, InvokeCheck, redacted
from rollback_guard.policy import rules


@dataclass
class LambdaCanaryArgs:
    # A folder holding the function's code, and its handler (module.function), whose file must be
    # there for the runtime: Python or Node.js (lambda_function.function_code_problems).
    code_path: str
    handler: str
    # Invocations of the new version before traffic moves, as hooks/smoke.py reads them:
    # {name, payload, expect}; at least one.
    smoke_events: Sequence[dict[str, Any]]
    runtime: str = "python3.13"
    memory_mb: int = 256
    timeout_seconds: int = 10
    tracing: bool = True
    reserved_concurrency: int | None = None
    log_retention_days: int = 30
    function_environment: Mapping[str, str] = field(default_factory=dict)
    # The rollback alarms: Errors / Invocations of the new version, below which traffic counts as 0.
    evaluation: AlarmEvaluation = field(default_factory=AlarmEvaluation)
    error_rate_percent: float = 1.0
    minimum_invocations: int = 20
    deployment_config: DeploymentConfigChoice = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    # Reached through the alias, after the events: {url, expectStatus, timeoutSeconds, expectBody}.
    # Unauthenticated: a URL with credentials is refused (hooks/smoke.py).
    smoke_endpoints: Sequence[dict[str, Any]] = ()
    # Per smoke event: the new version's first invocation, cold start included.
    check_timeout_seconds: float = 20.0
    # How long the post-traffic hook keeps watching the alarms after the last shift.
    watch_minutes: int = 10
    # A version rolled back once, to release again deliberately, and the setting that names it.
    retry_revision: str | None = None
    retry_setting: str = "retryRevision"
    # The version to keep live instead of the newest (written by `ops rollback`).
    pinned_version: str | None = None
    # Where releases are recorded; None: a table of its own.
    deployment_log: DeploymentLog | None = None
    # The environment its releases are recorded under; None: the stack's name.
    environment: str | None = None
    # How hard the canary judge probes the new version with the smoke events.
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    # The function publishes its own per-version 10 s counts with rollback_guard.release_metrics
    # (docs/release-metrics.md), which the judge then reads beside CloudWatch's one-minute metrics,
    # restoring traffic in about a minute instead of three or four. Off by default: only the
    # function's code can publish them, and the judge would find none.
    release_metrics: bool = False
    # A release dashboard (components/dashboard.py): on by default, as whoever is on call during a
    # release needs to see traffic per version, the alarms and the judge in one place; False leaves it out.
    dashboard: bool = True
    # The floors of policy/rules.py, and protection from `pulumi destroy`.
    production: bool = False


class LambdaCanary(pulumi.ComponentResource):
    """See the module docstring. `release_path()` is what `ops` needs to inspect, roll back and
    drill its releases."""

    function: CanaryFunction
    alarms: LambdaAlarms
    deployment_group: LambdaDeploymentGroup
    hooks: TrafficHooks
    judge: CanaryJudge
    release: Release
    # None with `dashboard=False`.
    dashboard: ReleaseDashboard | None
    dashboard_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: LambdaCanaryArgs, opts: pulumi.ResourceOptions | None = None):
        _check(name, args)
        opts = protected_in_production(opts, args.production)
        super().__init__("rollback-guard:lambda_canary:LambdaCanary", name, None, opts)
        child = part_of(self)
        self.function = CanaryFunction(
            name,
            CanaryFunctionArgs(
                code_path=args.code_path,
                handler=args.handler,
                runtime=args.runtime,
                memory_mb=args.memory_mb,
                timeout_seconds=args.timeout_seconds,
                tracing=args.tracing,
                reserved_concurrency=args.reserved_concurrency,
                log_retention_days=args.log_retention_days,
                environment=args.function_environment,
            ),
            opts=child,
        )
        function, alias = self.function.function, self.function.alias
        # The version the release shifts to, which the error-rate alarm must watch.
        target_version = args.pinned_version or function.version
        self.alarms = LambdaAlarms(
            f"{name}-rollback",
            LambdaAlarmsArgs(
                function_name=function.name,
                alias_name=alias.name,
                version=target_version,
                evaluation=args.evaluation,
                error_rate_percent=args.error_rate_percent,
                minimum_invocations=args.minimum_invocations,
            ),
            opts=child,
        )
        alarm_names = self.alarms.alarm_names
        # The group stops a release on the rollback alarms and on its judge's heartbeat alarm, named
        # here before the judge (built after the group) exists. `alarm_names` stays the function's own:
        # what the pipeline's post-deploy health check and ops read is the function's health.
        judge_name = f"{name}-judge"
        heartbeat = heartbeat_alarm_name(judge_name)
        group_alarm_names = alarm_names.apply(lambda names: [*names, heartbeat])
        self.deployment_group = LambdaDeploymentGroup(
            f"{name}-deploy",
            LambdaDeploymentGroupArgs(
                rollback=RollbackPolicy(alarm_names=group_alarm_names),
                deployment_config=args.deployment_config,
                production=args.production,
            ),
            opts=child,
        )
        group = self.deployment_group
        log = args.deployment_log or DeploymentLog(
            f"{name}-deployment-log", DeploymentLogArgs(protected=args.production), opts=child
        )
        environment = args.environment or pulumi.get_stack()
        self.judge = CanaryJudge(
            judge_name,
            CanaryJudgeArgs(
                service=name,
                environment=environment,
                deployment_group=group,
                deployment_log=log,
                target=LambdaJudgeTarget(
                    function_name=function.name,
                    function_arn=function.arn,
                    alias=alias.name,
                    smoke_events=args.smoke_events,
                    check_timeout_seconds=args.check_timeout_seconds,
                    release_metrics=args.release_metrics,
                ),
                error_rate_percent=args.error_rate_percent,
                options=args.judge,
                log_retention_days=args.log_retention_days,
            ),
            opts=child,
        )
        self.hooks = TrafficHooks(
            f"{name}-hooks",
            TrafficHooksArgs(
                release=ReleaseContext.of(name, environment, group, log, args.log_retention_days),
                target_function_name=function.name,
                target_function_arn=function.arn,
                codedeploy_role_name=group.role.name,
                # The judge's heartbeat too: a judge that dies during the watch fails it, as CodeDeploy no
                # longer reads the group's alarms after the last shift.
                watch=PostShiftWatch(
                    group_alarm_names,
                    pulumi.Output.all(self.alarms.alarm_arns, self.judge.heartbeat_alarm.arn).apply(
                        lambda arns: [*arns[0], arns[1]]
                    ),
                    args.watch_minutes,
                ),
                smoke_events=args.smoke_events,
                smoke_endpoints=args.smoke_endpoints,
                check_timeout_seconds=args.check_timeout_seconds,
            ),
            opts=child,
        )
        hooks = self.hooks
        self.release = Release(
            f"{name}-release",
            ReleaseArgs(
                deployment_group=group,
                target=LambdaReleaseTarget(
                    function_name=function.name,
                    alias=alias.name,
                    version=target_version,
                    hooks={"BeforeAllowTraffic": hooks.pre_traffic.name, "AfterAllowTraffic": hooks.post_traffic.name},
                ),
                alarm_names=alarm_names,
                retry_revision=args.retry_revision,
                retry_setting=args.retry_setting,
                deployment_log=DeploymentLogRef(log.table.name, name, environment),
                timeout_minutes=shift_minutes(args.deployment_config) + args.watch_minutes + RELEASE_MARGIN_MINUTES,
                judge_alarm=self.judge.heartbeat_alarm.name,
            ),
            # A release starts once its judge listens for the deployment's START event.
            opts=part_of(self, depends_on=[hooks, self.judge, self.function]),
        )
        self.dashboard = (
            ReleaseDashboard(
                f"{name}-dashboard",
                ReleaseDashboardArgs(
                    traffic=LambdaTraffic(function.name, alias.name, target_version),
                    alarm_arns=self.alarms.alarm_arns,
                    judge=JudgeView(
                        self.judge.log_group_name,
                        group.deployment_group.deployment_group_name,
                        self.judge.heartbeat_alarm.arn,
                    ),
                    error_rate_percent=args.error_rate_percent,
                    title=f"{name}: Lambda canary releases ({environment})",
                    dashboard_name=dashboard_name(name),
                ),
                opts=child,
            )
            if args.dashboard
            else None
        )
        self.dashboard_url = self.dashboard.url if self.dashboard is not None else None
        self.register_outputs(
            {
                "functionName": function.name,
                "aliasArn": alias.arn,
                "alarmNames": alarm_names,
                "liveVersion": self.release.live_revision,
                "dashboardUrl": self.dashboard_url,
            }
        )

    def release_path(self, name: str) -> dict[str, pulumi.Input]:
        """What `ops` needs to inspect, roll back and drill this function's releases."""
        group = self.deployment_group
        return {
            "service": name,
            "kind": "lambda",
            "strategy": "lambda-canary",
            "application": group.application.name,
            "deploymentGroup": group.deployment_group.deployment_group_name,
            "function": self.function.function.name,
            "alias": self.function.alias.name,
            "hooks": {
                "BeforeAllowTraffic": self.hooks.pre_traffic.name,
                "AfterAllowTraffic": self.hooks.post_traffic.name,
            },
            "alarms": self.alarms.alarm_names,
            "judge": self.judge.function.name,
        }


def _check(name: str, args: LambdaCanaryArgs) -> None:
    """The component's own floors, before anything is created: first what the others compare and
    count (the types of the numbers, the config), then the floors."""
    found = rules.argument_types(args)
    found += deployment_config_problems("deployment_config", args.deployment_config, "Lambda")
    rules.refuse(f"Lambda canary {name}", found)
    problems = function_code_problems(args.code_path, args.handler, args.runtime)
    found = [f"{argument} {value!r}: {allowed}" for argument, value, allowed in problems]
    found += rules.rate_alarm(args.error_rate_percent, "the error rate", args.production)
    found += rules.gradual_shift(str(args.deployment_config), all_at_once(args.deployment_config), args.production)
    if not all_at_once(args.deployment_config):
        found += rules.partial_traffic_outlasts_detection(
            minutes_before_full_traffic(args.deployment_config),
            args.evaluation.worst_detection_seconds / 60,
            args.production,
        )
    found += rules.rollback_window(args.watch_minutes, "post-shift watch", args.production)
    found += rules.logs(args.log_retention_days, args.production)
    shortest = minimum_watch_minutes(args.evaluation)
    if not shortest <= args.watch_minutes <= MAX_WATCH_MINUTES:
        found.append(
            f"watch minutes {args.watch_minutes}: from {shortest} (the alarms need up to that long to fire on a "
            f"version that went bad at the last shift) to {MAX_WATCH_MINUTES} (Lambda's 15-minute limit)"
        )
    if not args.smoke_events:
        found.append(
            "at least one smoke event: only an event invokes the new version before traffic moves "
            "(an endpoint reaches the alias, which still serves the previous one)"
        )
    if not 0 < args.check_timeout_seconds <= MAX_CHECK_TIMEOUT_SECONDS:
        found.append(f"check timeout {args.check_timeout_seconds!r}s: above 0 and at most {MAX_CHECK_TIMEOUT_SECONDS}")
    else:
        timeout = args.check_timeout_seconds
        found += rules.smoke_checks(args.smoke_events, lambda raw: InvokeCheck.from_dict(raw, timeout))
    # Redacted, as a refusal shows each check: a URL with credentials is refused all the same.
    found += rules.smoke_checks([redacted(raw) for raw in args.smoke_endpoints], EndpointCheck.from_dict)
    size = pre_traffic_environment_bytes(args.smoke_events, args.smoke_endpoints, args.check_timeout_seconds)
    found += environment_fits("pre-traffic", size)
    found += judge_environment_fits(lambda_judge_environment_bytes(args.smoke_events))
    found += rules.judge_probes(args.judge.max_probes_per_release, args.production)
    rules.refuse(f"Lambda canary {name}", found)
