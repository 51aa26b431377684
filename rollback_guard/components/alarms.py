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

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rollback_guard.hooks.judge import JUDGE_NAMESPACE, PROBE_METRIC

ALB_NAMESPACE = "AWS/ApplicationELB"
LAMBDA_NAMESPACE = "AWS/Lambda"
LATENCY_STATISTIC = "p95"
# A one-minute datapoint becomes visible to alarms after a delay AWS does not document: observed
# 1 to 2.5 minutes. Alarms are evaluated once a minute.
INGESTION_DELAY_SECONDS = (60, 150)
EVALUATION_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class AlarmEvaluation:
    """How long a signal must last before it counts: `datapoints_to_alarm` of `evaluation_periods`
    periods of `period_seconds`."""

    period_seconds: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 3

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


@dataclass
class LoadBalancerAlarmsArgs:
    load_balancer_arn_suffix: pulumi.Input[str]
    # The blue and green target groups: the alarms watch whichever one serves the new version.
    target_group_arn_suffixes: Sequence[pulumi.Input[str]]
    evaluation: AlarmEvaluation
    error_rate_percent: float = 1.0
    minimum_requests: int = 50
    # Width of the expected latency band in standard deviations; None leaves the alarm out.
    latency_anomaly_band: float | None = None
    # A canary judge probes green through the test listener (components/canary_judge.py): its
    # probes, which it counts in PROBE_METRIC, are taken out of the requests again, so that
    # passing probes neither dilute a rate nor lift it over its guard.
    judge_probes: bool = False


class _RollbackAlarms(pulumi.ComponentResource):
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
        super().__init__("rollback-guard:alarms:LoadBalancerAlarms", name, None, opts)
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
    function_name: pulumi.Input[str]
    alias_name: str
    # The version the release shifts to (the newest published one, or the pinned one).
    version: pulumi.Input[str]
    evaluation: AlarmEvaluation
    error_rate_percent: float = 1.0
    minimum_invocations: int = 20


class LambdaAlarms(_RollbackAlarms):
    """Rollback alarms for a function released through an alias.

    - `error-rate`: Errors / Invocations of the *new* version through the alias (dimensions
      FunctionName, Resource = function:alias, ExecutedVersion). At 10% canary traffic the new
      version's errors would be diluted tenfold in the alias-wide rate; per executed version they
      are not. The alarm follows the release's target version.
    - `throttle-rate`: Throttles / (Invocations + Throttles) through the alias.
    """

    def __init__(self, name: str, args: LambdaAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:alarms:LambdaAlarms", name, None, opts)
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
