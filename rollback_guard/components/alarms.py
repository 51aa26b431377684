"""CloudWatch alarms that decide a release is bad.

Every alarm here is a rollback trigger, so each is built against false positives:
- M of N: `datapoints_to_alarm` breaching periods out of `evaluation_periods`.
- Rates, not counts, with a minimum-traffic guard in metric math, so three failed requests out of
  five at 3 a.m. cannot roll a release back.
- TreatMissingData is `notBreaching`: ALB and Lambda publish no datapoint for a minute without traffic,
  and no requests is no evidence against a release. A service that is down still answers with ELB
  5xx, which is data, not a gap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.arguments import Number, Whole, allow, problems
from rollback_guard.components.parts import Component
from rollback_guard.hooks.judge import JUDGE_NAMESPACE, PROBE_METRIC
from rollback_guard.limits import ALARM_NAME_LENGTH
from rollback_guard.policy import rules

ALB_NAMESPACE = "AWS/ApplicationELB"
LAMBDA_NAMESPACE = "AWS/Lambda"
LATENCY_STATISTIC = "p95"
# A one-minute datapoint becomes visible to alarms after a delay AWS does not document: observed
# 1 to 2.5 minutes. Alarms are evaluated once a minute.
INGESTION_DELAY_SECONDS = (60, 150)
EVALUATION_INTERVAL_SECONDS = 60
# CloudWatch's PutMetricAlarm: a period of 10, 20, 30 or a multiple of 60 seconds (one-minute metrics
# take multiples of 60), periods x evaluation periods at most a day, or 7 days for periods of an hour
# or more; at most 10,000 evaluation periods within that.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
ALARM_PERIOD_SECONDS = (60, 86_400)
ALARM_EVALUATION_SECONDS = 86_400
ALARM_EVALUATION_SECONDS_HOURLY = 604_800
MAX_EVALUATION_PERIODS = 1_440


@dataclass(frozen=True)
class RatePercent:
    """A rate alarm's threshold: a percentage above 0 and below 100 (a Rule, as arguments.Number).
    Production's ceiling is a floor of its own (rules.rate_alarm), said here for the schema."""

    @property
    def allowed(self) -> str:
        return (
            "a percentage above 0 and below 100 (at 100 the alarm can never fire); production at most "
            f"{rules.PROD_MAX_ERROR_RATE_PERCENT}"
        )

    def allows(self, value: Any) -> bool:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and math.isfinite(value) and 0 < value < 100

    def schema(self) -> dict:
        return {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100, "description": self.allowed}


RATE_PERCENT = RatePercent()
PERIOD_SECONDS = Whole(*ALARM_PERIOD_SECONDS, "seconds", "the metrics have one-minute resolution", step=60)
EVALUATION_PERIODS = Whole(1, MAX_EVALUATION_PERIODS)
DATAPOINTS_TO_ALARM = Whole(1, MAX_EVALUATION_PERIODS, why="at most evaluation_periods")
MINIMUM_REQUESTS = Whole(1, 1_000_000, why="requests per period below which the rate counts as 0")
MINIMUM_INVOCATIONS = Whole(
    1, 1_000_000, why="invocations of the new version per period below which the rate counts as 0"
)
LATENCY_BAND = Number(0.5, 10, "standard deviations")
ALARM_NAME = f"an alarm's name of 1 to {ALARM_NAME_LENGTH} characters without control characters, not its ARN"


def alarm_name_problem(name: Any) -> str | None:
    """What is wrong with `name` as the name of an alarm a deployment group or a hook watches (they
    look alarms up by name), or None."""
    if not isinstance(name, str) or not 1 <= len(name) <= ALARM_NAME_LENGTH or re.search(r"[\x00-\x1f]", name):
        return ALARM_NAME
    if rules.alarm_names_not_arns([name]):
        return f"{ALARM_NAME}: CodeDeploy looks alarms up by name, so an ARN names no alarm it would ever check"
    return None


@dataclass(frozen=True)
class AlarmEvaluation:
    """How long a signal must last before a rollback alarm fires: `datapoints_to_alarm` breaching
    periods of the last `evaluation_periods`, each `period_seconds` long (M of N).

    Attributes:
        period_seconds: Default: 60, the resolution of Lambda's and the load balancer's metrics: the
            finest period, the fastest detection. 60 to 86400 in multiples of 60.
        evaluation_periods: Default: 3, the N of M of N. 1 to 1440, and evaluation_periods x
            period_seconds at most a day (7 days for periods of an hour or more), as CloudWatch allows.
        datapoints_to_alarm: Default: 3, the M of M of N: three bad minutes in a row, so one bad minute
            (a cold start, a blip) does not roll back. 1 to evaluation_periods.
    """

    period_seconds: int = field(default=60, metadata=allow(PERIOD_SECONDS))
    evaluation_periods: int = field(default=3, metadata=allow(EVALUATION_PERIODS))
    datapoints_to_alarm: int = field(default=3, metadata=allow(DATAPOINTS_TO_ALARM))

    @property
    def worst_detection_seconds(self) -> int:
        """From a version's first bad request to its alarm firing, at worst, with traffic above
        the guard: the period it started in, `datapoints_to_alarm` full periods, the slowest
        ingestion observed and one evaluation interval."""
        return (
            (self.datapoints_to_alarm + 1) * self.period_seconds
            + INGESTION_DELAY_SECONDS[1]
            + EVALUATION_INTERVAL_SECONDS
        )


def evaluation_problems(where: str, evaluation: AlarmEvaluation) -> list[str]:
    """What CloudWatch refuses in an evaluation whose fields are each valid (arguments.problems), one
    line each naming the field of `where`: more datapoints than periods, a range longer than it allows."""
    found = []
    periods, period = evaluation.evaluation_periods, evaluation.period_seconds
    if evaluation.datapoints_to_alarm > periods:
        found.append(
            f"{where}.datapoints_to_alarm = {evaluation.datapoints_to_alarm}: at most evaluation_periods ({periods})"
        )
    ceiling = ALARM_EVALUATION_SECONDS if period < 3600 else ALARM_EVALUATION_SECONDS_HOURLY
    if period * periods > ceiling:
        found.append(
            f"{where}.evaluation_periods = {periods}: period_seconds x evaluation_periods at most {ceiling} s "
            f"(CloudWatch's limit for a {period} s period)"
        )
    return found


def alarm_args_problems(args: Any, where: str, rate: str, production: bool = False) -> list[str]:
    """Everything rollback alarms refuse in `args` (LambdaAlarmsArgs, LoadBalancerAlarmsArgs, or a
    component's Args with the same fields), each naming its argument: the declarations, then the
    evaluation's own limits and production's ceiling on the rate (`rate`: "the error rate")."""
    found = problems(args, where)
    if found:
        return found
    found += evaluation_problems(f"{where}.evaluation", args.evaluation)
    return found + [
        f"{where}.error_rate_percent = {args.error_rate_percent!r}: {problem}"
        for problem in rules.rate_alarm(args.error_rate_percent, rate, production)
    ]


@dataclass
class LoadBalancerAlarmsArgs:
    """The rollback alarms of a service behind a load balancer with blue and green target groups.

    Attributes:
        load_balancer_arn_suffix: Required. The load balancer, as CloudWatch's dimension names it.
        target_group_arn_suffixes: Required. The blue and green target groups: the alarms watch
            whichever one serves the new version.
        evaluation: Required. How long a signal must last (AlarmEvaluation).
        error_rate_percent: Default: 1.0, a tenth of production's ceiling: a release that fails one
            request in a hundred more is bad. Above 0 and below 100; production at most 10.
        minimum_requests: Default: 50 requests a period, below which the rate counts as 0, so a few
            failures at 3 a.m. cannot roll back. 1 to 1000000.
        latency_anomaly_band: Default: None, no latency alarm (a band needs two weeks of history to
            be trusted). The width of the expected p95 band, 0.5 to 10 standard deviations.
        judge_probes: Default: False. True when a canary judge probes green through the test listener:
            its probes (PROBE_METRIC) are taken out of the requests, so passing probes neither dilute
            a rate nor lift it over its guard.
    """

    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Sequence[pulumi.Input[str]]
    evaluation: AlarmEvaluation
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    minimum_requests: int = field(default=50, metadata=allow(MINIMUM_REQUESTS))
    latency_anomaly_band: float | None = field(default=None, metadata=allow(LATENCY_BAND))
    judge_probes: bool = False


class _RollbackAlarms(Component):
    """Shared construction: every alarm M of N, missing data not breaching, one component each."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_names: pulumi.Output[list[str]]
    alarm_arns: pulumi.Output[list[str]]
    _name: str
    _evaluation: AlarmEvaluation
    _namespace: str

    def _finish(self) -> None:
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in self.alarms])
        self.alarm_arns = pulumi.Output.all(*[alarm.arn for alarm in self.alarms])
        self.register_outputs({"alarmNames": self.alarm_names, "alarmArns": self.alarm_arns})

    def _alarm(
        self,
        suffix: str,
        description: str,
        queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgs],
        threshold: float | None = None,
        comparison: str = "GreaterThanThreshold",
        threshold_metric_id: str | None = None,
    ) -> aws.cloudwatch.MetricAlarm:
        evaluation = self._evaluation
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            alarm_description=f"Rolls back a release: {description}.",
            comparison_operator=comparison,
            threshold=threshold,
            threshold_metric_id=threshold_metric_id,
            evaluation_periods=evaluation.evaluation_periods,
            datapoints_to_alarm=evaluation.datapoints_to_alarm,
            treat_missing_data="notBreaching",
            metric_queries=queries,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _metric(
        self,
        query_id: str,
        metric_name: str,
        stat: str,
        dimensions: dict,
        returned: bool = False,
        namespace: str | None = None,
    ) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            return_data=returned,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=namespace or self._namespace,
                metric_name=metric_name,
                stat=stat,
                period=self._evaluation.period_seconds,
                dimensions=dimensions,
            ),
        )


class LoadBalancerAlarms(_RollbackAlarms):
    """Rollback alarms for a service behind an ALB with blue and green target groups.

    - `5xx-rate`: (ELB 5xx + target 5xx) / requests received, over the whole load balancer.
    - `target-5xx-rate`: the worst target group's 5xx rate. During a 10% canary the new version's
      errors are diluted tenfold in the load balancer's rate; per target group they are not.
    - `unhealthy-hosts`: any unhealthy target in either group.
    - `latency-anomaly` (optional): p95 response time above its anomaly-detection band.
    """

    def __init__(self, name: str, args: LoadBalancerAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"rollback alarms {name}", alarm_args_problems(args, "LoadBalancerAlarmsArgs", "the 5xx rate"))
        super().__init__("rollback-guard:alarms:LoadBalancerAlarms", name, opts)
        self._name, self._evaluation, self._namespace = name, args.evaluation, ALB_NAMESPACE
        lb = {"LoadBalancer": args.load_balancer_arn_suffix}
        groups = [{"TargetGroup": suffix, **lb} for suffix in args.target_group_arn_suffixes]
        guard = args.minimum_requests
        probed = args.judge_probes

        def probes(query_id: str, dimensions: dict) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
            if not probed:
                return []
            return [self._metric(query_id, PROBE_METRIC, "Sum", dimensions, namespace=JUDGE_NAMESPACE)]

        def less_probes(requests: str, query_id: str) -> str:
            return f"{requests} - FILL({query_id}, 0)" if probed else requests

        self.alarms = [
            self._alarm(
                "5xx-rate",
                f"ALB 5xx responses above {args.error_rate_percent}% of requests (with at least {guard} requests)",
                threshold=args.error_rate_percent,
                queries=[
                    self._metric("elb5xx", "HTTPCode_ELB_5XX_Count", "Sum", lb),
                    self._metric("target5xx", "HTTPCode_Target_5XX_Count", "Sum", lb),
                    self._metric("requests", "RequestCount", "Sum", lb),
                    *probes("probes", lb),
                    # RequestCount leaves out requests rejected before a target was chosen (a 503 with
                    # no healthy targets): those ELB 5xx are added to the requests they answered.
                    _expression("received", less_probes("FILL(requests, 0) + FILL(elb5xx, 0)", "probes"), None),
                    _expression(
                        "rate", _guarded_rate("FILL(elb5xx, 0) + FILL(target5xx, 0)", "received", guard), "5xx rate (%)"
                    ),
                ],
            ),
            self._alarm(
                "target-5xx-rate",
                f"A target group's 5xx responses above {args.error_rate_percent}% of its requests "
                f"(with at least {guard} requests)",
                threshold=args.error_rate_percent,
                queries=[
                    *[
                        query
                        for i, dims in enumerate(groups)
                        for query in (
                            self._metric(f"errors{i}", "HTTPCode_Target_5XX_Count", "Sum", dims),
                            self._metric(f"requests{i}", "RequestCount", "Sum", dims),
                            *probes(f"probes{i}", dims),
                            _expression(f"served{i}", less_probes(f"FILL(requests{i}, 0)", f"probes{i}"), None),
                            _expression(f"rate{i}", _guarded_rate(f"FILL(errors{i}, 0)", f"served{i}", guard), None),
                        )
                    ],
                    _expression("worst", _max_of(f"rate{i}" for i in range(len(groups))), "worst 5xx rate (%)"),
                ],
            ),
            self._alarm(
                "unhealthy-hosts",
                "Unhealthy targets in the blue or green target group",
                threshold=0,
                queries=[
                    *[
                        self._metric(f"unhealthy{i}", "UnHealthyHostCount", "Maximum", dims)
                        for i, dims in enumerate(groups)
                    ],
                    _expression(
                        "unhealthy", _max_of(f"FILL(unhealthy{i}, 0)" for i in range(len(groups))), "unhealthy targets"
                    ),
                ],
            ),
        ]
        if args.latency_anomaly_band is not None:
            self.alarms.append(
                self._alarm(
                    "latency-anomaly",
                    f"{LATENCY_STATISTIC} response time above its expected band ({args.latency_anomaly_band} std dev)",
                    comparison="GreaterThanUpperThreshold",
                    threshold_metric_id="band",
                    queries=[
                        self._metric("latency", "TargetResponseTime", LATENCY_STATISTIC, lb, returned=True),
                        _expression(
                            "band", f"ANOMALY_DETECTION_BAND(latency, {args.latency_anomaly_band})", "expected latency"
                        ),
                    ],
                )
            )

        self._finish()


@dataclass
class LambdaAlarmsArgs:
    """The rollback alarms of a function released through an alias.

    Attributes:
        function_name: Required. The function released.
        alias_name: Required. The alias CodeDeploy shifts, through which the rates are measured.
        version: Required. The version the release shifts to (the newest published one, or the pinned
            one): the error-rate alarm measures that version only.
        evaluation: Required. How long a signal must last (AlarmEvaluation).
        error_rate_percent: Default: 1.0, a tenth of production's ceiling. Above 0 and below 100;
            production at most 10.
        minimum_invocations: Default: 20 invocations of the new version a period, below which the rate
            counts as 0 (a 10% canary of a quiet function sees few). 1 to 1000000.
    """

    function_name: pulumi.Input[str]
    alias_name: pulumi.Input[str]
    version: pulumi.Input[str]
    evaluation: AlarmEvaluation
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    minimum_invocations: int = field(default=20, metadata=allow(MINIMUM_INVOCATIONS))


class LambdaAlarms(_RollbackAlarms):
    """Rollback alarms for a function released through an alias.

    - `error-rate`: Errors / Invocations of the *new* version through the alias (dimensions
      FunctionName, Resource = function:alias, ExecutedVersion). At 10% canary traffic the new
      version's errors would be diluted tenfold in the alias-wide rate; per executed version they
      are not. The alarm follows the release's target version.
    - `throttle-rate`: Throttles / (Invocations + Throttles) through the alias.
    """

    def __init__(self, name: str, args: LambdaAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"rollback alarms {name}", alarm_args_problems(args, "LambdaAlarmsArgs", "the error rate"))
        super().__init__("rollback-guard:alarms:LambdaAlarms", name, opts)
        self._name, self._evaluation, self._namespace = name, args.evaluation, LAMBDA_NAMESPACE
        alias = {
            "FunctionName": args.function_name,
            "Resource": pulumi.Output.concat(args.function_name, ":", args.alias_name),
        }
        new_version = {**alias, "ExecutedVersion": args.version}
        guard = args.minimum_invocations
        self.alarms = [
            self._alarm(
                "error-rate",
                f"the new version's errors above {args.error_rate_percent}% of its invocations "
                f"(with at least {guard} invocations)",
                threshold=args.error_rate_percent,
                queries=[
                    self._metric("errors", "Errors", "Sum", new_version),
                    self._metric("invocations", "Invocations", "Sum", new_version),
                    _expression("rate", _guarded_rate("FILL(errors, 0)", "invocations", guard), "error rate (%)"),
                ],
            ),
            self._alarm(
                "throttle-rate",
                f"throttles above {args.error_rate_percent}% of requests through the alias",
                threshold=args.error_rate_percent,
                queries=[
                    self._metric("throttles", "Throttles", "Sum", alias),
                    self._metric("invocations", "Invocations", "Sum", alias),
                    _expression("requests", "FILL(invocations, 0) + FILL(throttles, 0)", None),
                    _expression("rate", _guarded_rate("FILL(throttles, 0)", "requests", guard), "throttle rate (%)"),
                ],
            ),
        ]
        self._finish()


def _expression(query_id: str, expression: str, label: str | None) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """A metric-math query; the one with a label is the value the alarm compares."""
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id, expression=expression, label=label, return_data=label is not None
    )


def _max_of(series) -> str:
    # MAX over an array of series is a series (MAX of one series would collapse it to a scalar).
    return f"MAX([{', '.join(series)}])"


def _guarded_rate(errors: str, requests: str, minimum: int) -> str:
    """errors / requests in percent, or 0 while there are fewer than `minimum` requests."""
    return f"IF(FILL({requests}, 0) >= {minimum}, 100 * ({errors}) / {requests}, 0)"
