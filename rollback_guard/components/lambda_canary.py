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
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import (
    MINIMUM_INVOCATIONS,
    RATE_PERCENT,
    AlarmEvaluation,
    LambdaAlarms,
    LambdaAlarmsArgs,
    evaluation_problems,
)
from rollback_guard.components.arguments import LOG_RETENTION, Text, Whole, allow, problems, refusals
from rollback_guard.components.canary_judge import (
    JUDGE_ALARMS,
    RECORDED_NAME,
    CanaryJudge,
    CanaryJudgeArgs,
    JudgeOptions,
    LambdaJudgeTarget,
    heartbeat_alarm_name,
    heartbeat_not_extra,
    judge_name_problems,
    lambda_judge_environment_bytes,
)
from rollback_guard.components.codedeploy import (
    LAMBDA_CONFIG,
    MAX_ALARMS_PER_DEPLOYMENT_GROUP,
    DeploymentConfigChoice,
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    TimeBasedShift,
    alarm_names_problems,
    all_at_once,
    checked_alarm_names,
    deployment_group_name_problems,
    minutes_before_full_traffic,
    shift_minutes,
    shift_problems,
)
from rollback_guard.components.dashboard import (
    JudgeView,
    LambdaTraffic,
    ReleaseDashboard,
    ReleaseDashboardArgs,
    dashboard_name,
    dashboard_name_problems,
)
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.lambda_function import (
    HANDLER,
    MEMORY_MB,
    RESERVED_CONCURRENCY,
    RUNTIME,
    CanaryFunction,
    CanaryFunctionArgs,
    checked_environment,
    code_problems,
    environment_problems,
    logged_function_name_problems,
    name_problems,
)
from rollback_guard.components.parts import Component, part_of, protected_in_production
from rollback_guard.components.release import (
    RETRY_SETTING,
    DeploymentLogRef,
    LambdaReleaseTarget,
    Release,
    ReleaseArgs,
)
from rollback_guard.components.service import RELEASE_MARGIN_MINUTES
from rollback_guard.components.traffic_hooks import (
    CHECK_TIMEOUT_SECONDS,
    MAX_WATCH_MINUTES,
    WATCH_MINUTES,
    PostShiftWatch,
    ReleaseContext,
    TrafficHooks,
    TrafficHooksArgs,
    checks_fit,
    minimum_watch_minutes,
    smoke_check_problems,
    traffic_hooks_name_problems,
)
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS
from rollback_guard.policy import rules

WHERE = "LambdaCanaryArgs"
# A smoke event is the new version's first invocation: the hooks allow this much for its cold start
# on top of the function's own timeout.
COLD_START_SECONDS = 10
# The function's timeout, within what the pre-traffic hook waits for a smoke event.
CANARY_TIMEOUT_SECONDS = Whole(
    1,
    MAX_CHECK_TIMEOUT_SECONDS - COLD_START_SECONDS,
    "seconds",
    why=f"the pre-traffic hook waits timeout_seconds + {COLD_START_SECONDS} s for a smoke event, cold start "
    f"included, and at most {MAX_CHECK_TIMEOUT_SECONDS} s",
)
PUBLISHED_VERSION = Text(r"[1-9][0-9]*", "a published version number such as 7 (never $LATEST)")
# The rollback alarms LambdaAlarms builds (error rate, throttle rate).
ALARMS_BUILT_HERE = 2


@dataclass
class LambdaCanaryArgs:
    """A Lambda function released as a canary: its code and its smoke events are required; every
    other field has a safe default, said with why below. Every value AWS or a production floor would
    refuse is refused when the component is made, before anything is created, all at once, one line
    each: `LambdaCanaryArgs.memory_mb = 64: a whole number from 128 to 10240 MB`.

    Attributes:
        code_path: Required. The folder holding the function's code (a str or a pathlib.Path), shipped
            as it is (Python bytecode left out). A relative path is read from the Pulumi project's folder (the folder of
            Pulumi.yaml, `pulumi.get_root_directory()`), not the working directory, so the program finds
            its code from wherever `pulumi` runs; under mocks (`rollback_guard.testing`), which know no
            project folder, from the working directory: a test run from elsewhere passes an absolute path.
            It must exist and hold the handler's module.
        handler: Required. module.function, such as app.handler, at most 128 characters: the function
            Lambda calls, which must be there for the runtime (Python: module.py binds it, as read by
            Python's parser; Node.js: folder/module.js, .mjs or .cjs).
        smoke_events: Required: at least one {name, payload, expect}, as hooks/smoke.py reads them. Only
            an event invokes the new version before traffic moves (an endpoint reaches the alias, which
            still serves the previous version); the canary judge probes with them too.
        runtime: Default: python3.13. One of python3.11 to python3.14, nodejs20.x, nodejs22.x and
            nodejs24.x: Lambda's Python and Node.js runtimes, whose handler can be checked before `up`.
        memory_mb: Default: 256, enough for a small handler. 128 to 10240 MB, Lambda's range.
        timeout_seconds: Default: 10. 1 to 35 seconds: the pre-traffic hook waits timeout_seconds +
            10 s (the cold start) for each smoke event and at most 45 s, so a longer timeout could not
            be smoke-tested.
        tracing: Default: True, X-Ray traces every invocation; False passes traces through only.
        reserved_concurrency: Default: None, sharing the account's unreserved concurrency. 1 to 10000
            reserves that many; Lambda keeps 100 of the account's quota unreserved (`ops preflight`
            checks a reservation against the account's own quota).
        log_retention_days: Default: 30, production's floor. One of CloudWatch Logs' retention
            periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...); production at least 30.
        function_environment: Default: none. The function's environment variables: names of letters,
            digits and _ (none of Lambda's reserved ones) to text values or Outputs of text (checked
            when known, never shown), at most 4096 bytes in all.
        evaluation: Default: AlarmEvaluation(), 3 bad minutes of 3. How long the rollback alarms
            need a bad signal to last.
        error_rate_percent: Default: 1.0. The new version's Errors / Invocations that rolls it back: above
            0 and below 100 (at 100 the alarm can never fire); production at most 10.
        minimum_invocations: Default: 20 a period, below which the rate counts as 0, so a handful of
            failures at a quiet hour cannot roll back. 1 to 1000000.
        extra_alarm_names: Default: none. Alarms made elsewhere (names or Outputs of names, not ARNs)
            that also stop a release and that the post-traffic hook keeps watching; with the 2 built here
            and the judge's heartbeat alarm, at most 10 (CodeDeploy's limit), each once.
        deployment_config: Default: CodeDeployDefault.LambdaLinear10PercentEvery1Minute, ten steps a
            minute apart. One of the Lambda configs, or a TimeBasedShift; production shifts gradually
            and keeps part of the traffic on the previous version for the alarms' worst detection time.
        smoke_endpoints: Default: none. {url, expectStatus, timeoutSeconds, expectBody} checked through
            the alias after the events; unauthenticated (a URL with credentials is refused).
        check_timeout_seconds: Default: 20 (the default timeout and the cold start). Per smoke event:
            from timeout_seconds + 10 to 45 seconds.
        watch_minutes: Default: 10, production's floor. How long the post-traffic hook keeps watching
            the alarms after the last shift (CodeDeploy stops at the last step): at least the alarms'
            worst detection time and a poll (8 minutes with the default evaluation), at most 12, so the
            hook reports within Lambda's 15 minutes.
        retry_revision: Default: None. A version CodeDeploy rolled back, to release again deliberately.
        retry_setting: Default: "retryRevision". The setting that names it, said in the refusal of a
            rolled-back version.
        pinned_version: Default: None, the newest version. The version to keep live instead (written by
            `ops rollback`): a published version number.
        deployment_log: Default: None, a table of its own. Where releases are recorded (a DeploymentLog
            shared by a stack's release paths).
        environment: Default: None, the stack's name. The environment releases are recorded under.
        judge: Default: JudgeOptions(), 2 probes a second, at most 5000 a release; production at least 1.
        release_metrics: Default: False. True when the function publishes its own per-version 10 s counts
            with rollback_guard.release_metrics (docs/release-metrics.md), which the judge then reads
            beside CloudWatch's one-minute metrics, restoring traffic in about a minute instead of
            three or four. Off, as only the function's code can publish them.
        dashboard: Default: True, as whoever is on call during a release needs traffic per version, the
            alarms and the judge in one place (components/dashboard.py); False leaves it out.
        production: Default: False. True holds the floors of policy/rules.py and protects the component
            from `pulumi destroy`.
    """

    code_path: str | Path
    handler: str = field(metadata=allow(HANDLER))
    smoke_events: Sequence[dict[str, Any]]
    runtime: str = field(default="python3.13", metadata=allow(RUNTIME))
    memory_mb: int = field(default=256, metadata=allow(MEMORY_MB))
    timeout_seconds: int = field(default=10, metadata=allow(CANARY_TIMEOUT_SECONDS))
    tracing: bool = True
    reserved_concurrency: int | None = field(default=None, metadata=allow(RESERVED_CONCURRENCY))
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))
    function_environment: pulumi.Input[Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    evaluation: AlarmEvaluation = field(default_factory=AlarmEvaluation)
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    minimum_invocations: int = field(default=20, metadata=allow(MINIMUM_INVOCATIONS))
    extra_alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    deployment_config: DeploymentConfigChoice = field(
        default="CodeDeployDefault.LambdaLinear10PercentEvery1Minute", metadata=allow(LAMBDA_CONFIG)
    )
    smoke_endpoints: Sequence[dict[str, Any]] = ()
    check_timeout_seconds: float = field(default=20.0, metadata=allow(CHECK_TIMEOUT_SECONDS))
    watch_minutes: int = field(default=10, metadata=allow(WATCH_MINUTES))
    retry_revision: str | None = field(default=None, metadata=allow(PUBLISHED_VERSION))
    retry_setting: str = field(default="retryRevision", metadata=allow(RETRY_SETTING))
    pinned_version: str | None = field(default=None, metadata=allow(PUBLISHED_VERSION))
    deployment_log: DeploymentLog | None = None
    environment: str | None = field(default=None, metadata=allow(RECORDED_NAME))
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    release_metrics: bool = False
    dashboard: bool = True
    production: bool = False


class LambdaCanary(Component):
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
        rules.refuse(f"Lambda canary {name}", lambda_canary_problems(name, args))
        opts = protected_in_production(opts, args.production)
        super().__init__("rollback-guard:lambda_canary:LambdaCanary", name, opts)
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
                environment=checked_environment(
                    f"Lambda canary {name}", f"{WHERE}.function_environment", args.function_environment
                ),
            ),
            opts=child,
        )
        extra_alarms = checked_alarm_names(
            f"Lambda canary {name}", f"{WHERE}.extra_alarm_names", args.extra_alarm_names
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
        group_alarm_names = pulumi.Output.all(alarm_names, extra_alarms).apply(
            lambda names: [*names[0], *names[1], heartbeat]
        )
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
                    pulumi.Output.all(
                        self.alarms.alarm_arns, _alarm_arns(extra_alarms, self), self.judge.heartbeat_alarm.arn
                    ).apply(lambda arns: [*arns[0], *arns[1], arns[2]]),
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
                    extra_alarm_names=args.extra_alarm_names,
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


def _alarm_arns(names: pulumi.Output[Sequence[str]], parent: pulumi.Resource) -> pulumi.Output[list[str]]:
    """The ARNs of alarms named elsewhere in the stack's account and region (the post-traffic hook
    may describe them)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    partition = aws.get_partition_output(opts=invoke).partition
    region = aws.get_region_output(opts=invoke).region
    account = aws.get_caller_identity_output(opts=invoke).account_id
    return pulumi.Output.all(partition, region, account, names).apply(
        lambda known: [f"arn:{known[0]}:cloudwatch:{known[1]}:{known[2]}:alarm:{name}" for name in known[3]]
    )


def lambda_canary_problems(name: str, args: LambdaCanaryArgs) -> list[str]:
    """Everything LambdaCanary(name, args) refuses, before anything exists, each line naming the
    argument, the value and what is allowed: the declarations of LambdaCanaryArgs (and of the
    option classes it holds), the code, the environment, the alarms known, the names it would give
    AWS; then, once the values are of the right kind, what spans fields and production's floors."""
    found = problems(args, WHERE)
    if not any(
        line.startswith(tuple(f"{WHERE}.{key} " for key in ("code_path", "handler", "runtime"))) for line in found
    ):
        found += code_problems(WHERE, args.code_path, args.handler, args.runtime)
    found += environment_problems(f"{WHERE}.function_environment", args.function_environment)
    found += smoke_check_problems(WHERE, args.smoke_events, args.smoke_endpoints, args.check_timeout_seconds)
    found += _extra_alarm_problems(args.extra_alarm_names)
    found += heartbeat_not_extra(f"{WHERE}.extra_alarm_names", args.extra_alarm_names, name)
    if args.deployment_log is not None and not isinstance(args.deployment_log, DeploymentLog):
        found.append(
            f"{WHERE}.deployment_log = {args.deployment_log!r}: a DeploymentLog, or None for a table of its own"
        )
    if not found:
        found += _spanning_fields(args)
    return found + canary_name_problems(name, args)


def _extra_alarm_problems(names: Any) -> list[str]:
    where = f"{WHERE}.extra_alarm_names"
    found = alarm_names_problems(where, names)
    room = MAX_ALARMS_PER_DEPLOYMENT_GROUP - ALARMS_BUILT_HERE - JUDGE_ALARMS
    if isinstance(names, (list, tuple)) and len(names) > room:
        found.append(
            f"{where} = {len(names)} alarms: at most {room}, as the deployment group takes "
            f"{MAX_ALARMS_PER_DEPLOYMENT_GROUP} with the {ALARMS_BUILT_HERE} built here and the judge's heartbeat alarm"
        )
    return found


def _spanning_fields(args: LambdaCanaryArgs) -> list[str]:
    """What spans fields (each valid on its own) and production's floors, each line naming the field
    to change."""
    found = evaluation_problems(f"{WHERE}.evaluation", args.evaluation)
    if found:
        return found
    production, config = args.production, args.deployment_config

    lowest_check = args.timeout_seconds + COLD_START_SECONDS
    if args.check_timeout_seconds < lowest_check:
        found.append(
            f"{WHERE}.check_timeout_seconds = {args.check_timeout_seconds!r}: from {lowest_check} (timeout_seconds + "
            f"{COLD_START_SECONDS}: a smoke event is the new version's first invocation, cold start included) to "
            f"{MAX_CHECK_TIMEOUT_SECONDS}"
        )
    if isinstance(config, TimeBasedShift):
        found += shift_problems(f"{WHERE}.deployment_config", config)
    detection_minutes = args.evaluation.worst_detection_seconds / 60
    found += refusals(
        f"{WHERE}.error_rate_percent",
        args.error_rate_percent,
        rules.rate_alarm(args.error_rate_percent, "the error rate", production),
    )
    found += refusals(
        f"{WHERE}.deployment_config", config, rules.gradual_shift(str(config), all_at_once(config), production)
    )
    if not all_at_once(config):
        found += refusals(
            f"{WHERE}.deployment_config",
            config,
            rules.partial_traffic_outlasts_detection(
                minutes_before_full_traffic(config), detection_minutes, production
            ),
        )
    shortest = minimum_watch_minutes(args.evaluation)
    if shortest > MAX_WATCH_MINUTES:
        found.append(
            f"{WHERE}.evaluation.period_seconds = {args.evaluation.period_seconds}: with datapoints_to_alarm = "
            f"{args.evaluation.datapoints_to_alarm} an alarm needs up to {shortest} min to fire, longer than the "
            f"post-traffic hook can keep watching ({MAX_WATCH_MINUTES} min, within Lambda's 15-minute limit), so a "
            "version that goes bad at its last shift would complete"
        )
    elif args.watch_minutes < shortest:
        found.append(
            f"{WHERE}.watch_minutes = {args.watch_minutes}: from {shortest} (the alarms need up to that long to fire "
            f"on a version that went bad at the last shift) to {MAX_WATCH_MINUTES} (Lambda's 15-minute limit)"
        )
    found += refusals(
        f"{WHERE}.watch_minutes",
        args.watch_minutes,
        rules.rollback_window(args.watch_minutes, "post-shift watch", production),
    )
    found += refusals(
        f"{WHERE}.log_retention_days", args.log_retention_days, rules.logs(args.log_retention_days, production)
    )
    found += refusals(
        f"{WHERE}.judge.max_probes_per_release",
        args.judge.max_probes_per_release,
        rules.judge_probes(args.judge.max_probes_per_release, production),
    )
    found += checks_fit(f"{WHERE}.smoke_events", "canary judge's", lambda_judge_environment_bytes(args.smoke_events))
    return found


def canary_name_problems(name: str, args: LambdaCanaryArgs) -> list[str]:
    """The names LambdaCanary(name) gives AWS that AWS would refuse, checked before any exists: the
    function, the hooks (the longest, `<prefix><name>-hooks-post-traffic-<stack>`), the judge and its
    heartbeat alarm, the deployment group and a custom shift's config, the alarms, the deployment log
    and the dashboard; and `name` as the releases are recorded under."""
    found = []
    if not RECORDED_NAME.allows(name):
        found.append(f"the name {name!r}: {RECORDED_NAME.allowed}, as its releases are recorded under it")
    found += logged_function_name_problems("the function", name)
    found += traffic_hooks_name_problems(f"{name}-hooks")
    found += judge_name_problems(f"{name}-judge")
    found += deployment_group_name_problems(f"{name}-deploy", args.deployment_config)
    for alarm in ("error-rate", "throttle-rate"):
        found += name_problems(
            f"the {alarm} alarm", "aws:cloudwatch/metricAlarm:MetricAlarm", f"{name}-rollback-{alarm}", autonamed=True
        )
    if args.deployment_log is None:
        found += name_problems(
            "the deployment log", "aws:dynamodb/table:Table", f"{name}-deployment-log-table", autonamed=True
        )
    if args.dashboard is True:
        found += dashboard_name_problems("the dashboard", dashboard_name(name))
    return found
