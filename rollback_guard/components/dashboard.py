"""A release dashboard: one CloudWatch dashboard per released service or function, for the person on
call while a release runs. From the top:

- traffic share and error rate per version: for a Lambda canary, Invocations and Errors per
  ExecutedVersion through its alias (the release's target version against every other one, and
  every version the alias ran, found by a SEARCH); for an ECS service, RequestCount and
  HTTPCode_Target_5XX_Count per target group, blue and green, the rates in metric math (the canary
  judge's probes taken out of green's requests, as the rollback alarms take them out);
- the rollback alarms' states: an alarm status widget listing, by ARN, every alarm that stops a
  release (a deployment group's, an ECS deployment's), the judge's heartbeat alarm included;
- where there is a canary judge (CodeDeploy releases): its heartbeat metric, and two CloudWatch Logs
  Insights tables over its log group, its verdicts and everything it said while judging.

Dashboards are global (one namespace per account, whatever the region), so the default name holds
the Pulumi project and stack: `<project>-<stack>-<release>` (dashboard_name). A deploy role may then
be granted the dashboard actions on `dashboard/<project>-<stack>-*` only (components/pipeline.py).
The body is rendered by `release_dashboard_body` from plain values, so it can be read without Pulumi;
its structure is AWS's (CloudWatch API Reference, Dashboard Body Structure and Syntax) and
rollback_guard.limits holds it to AWS's published limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import (
    ALB_NAMESPACE,
    LAMBDA_NAMESPACE,
    PERIOD_SECONDS,
    RATE_PERCENT,
    alarm_name_problem,
)
from rollback_guard.components.arguments import Text, allow, problems
from rollback_guard.components.canary_judge import HEARTBEAT_MINUTES
from rollback_guard.components.parts import Component
from rollback_guard.hooks.judge import HEARTBEAT_METRIC, JUDGE_NAMESPACE, PROBE_METRIC
from rollback_guard.limits import (
    DASHBOARD_ALARM_WIDGET_ALARMS,
    DASHBOARD_GRID_COLUMNS,
    DASHBOARD_NAME_LENGTH,
    DASHBOARD_NAME_PATTERN,
)
from rollback_guard.policy import rules

TYPE = "rollback-guard:dashboard:ReleaseDashboard"
# What the judge logs when it decides, and what becomes of the stop (hooks/judge.py): the verdicts
# table shows these lines only. tests/test_dashboard.py keeps each one a message the judge logs.
JUDGE_VERDICT_MESSAGES = (
    "canary verdict: ROLLBACK",
    "deployment stopped with rollback",
    "StopDeployment failed; retrying",
    "the deployment had ended already",
    "the deployment could not be stopped: the post-traffic hook still refuses to record it",
    "the deployment succeeded before the verdict stopped it: the bad version is live; run ops rollback",
)
# The judge runs with Lambda's JSON log format (lambda_function.logged_function): each event is
# {"level", "message", ...} and its "message" is the JSON line hooks/logs.py wrote, whose first key
# is the judge's own "message". These pull its fields out of that line.
_JUDGE_FIELDS = (
    r'parse message /^\{"message": "(?<event>(?:[^"\\]|\\.)*)"/',
    r'parse message /"deployment_id": "(?<deployment>[^"]*)"/',
)
_EXPLANATION = r'parse message /"explanation": "(?<explanation>(?:[^"\\]|\\.)*)"/'
# The console's host per partition (the commercial one, China, GovCloud).
_CONSOLE_HOSTS = {
    "aws": "{region}.console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
_RED = "#d62728"
DASHBOARD_NAME = Text(
    DASHBOARD_NAME_PATTERN,
    f"at most {DASHBOARD_NAME_LENGTH} letters, digits, - and _ (CloudWatch's PutDashboard)",
    max_length=DASHBOARD_NAME_LENGTH,
)
TIME_RANGE = Text(r"-P(T\d+[MH]|\d+[DWM])", "relative, such as -PT3H or -P1D")


def dashboard_name_prefix(project: str, stack: str) -> str:
    """The start of every default dashboard name of a stack: `<project>-<stack>-`, each character a
    dashboard name cannot hold (a `.`) written as `-`. What a deploy role is granted dashboards by."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{stack}-")


def dashboard_name(release: str) -> str:
    """The default name of the release `release`'s dashboard in this program's project and stack."""
    return dashboard_name_prefix(pulumi.get_project(), pulumi.get_stack()) + re.sub(r"[^A-Za-z0-9_-]", "-", release)


def console_url(partition: str, region: str, name: str) -> str:
    """Where the CloudWatch console shows the dashboard `name` (in `region`'s console)."""
    host = _CONSOLE_HOSTS.get(partition, _CONSOLE_HOSTS["aws"]).format(region=region)
    return f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


@dataclass(frozen=True)
class LambdaTraffic:
    """A function released through an alias: Lambda publishes Invocations and Errors per alias
    (FunctionName, Resource = function:alias) and per version behind it (and ExecutedVersion).

    Attributes:
        function_name: Required. The function released.
        alias: Required. The alias CodeDeploy shifts, whose traffic is drawn per version.
        new_version: Required. The version the release shifts to, the one the error-rate alarm
            watches, drawn against every other.
    """

    function_name: pulumi.Input[str]
    alias: pulumi.Input[str]
    new_version: pulumi.Input[str]


@dataclass(frozen=True)
class TargetGroupTraffic:
    """A service behind a load balancer with two target groups, blue and green (CloudWatch's
    TargetGroup and LoadBalancer dimensions are their ARN suffixes).

    Attributes:
        load_balancer_arn_suffix: Required. The load balancer.
        blue_arn_suffix: Required. The blue target group.
        green_arn_suffix: Required. The green target group.
        judge_probes: Default: False. True when a canary judge probes green: its probes (PROBE_METRIC)
            are taken out of each group's requests, as the alarms take them out.
    """

    load_balancer_arn_suffix: pulumi.Input[str]
    blue_arn_suffix: pulumi.Input[str]
    green_arn_suffix: pulumi.Input[str]
    judge_probes: bool = False


@dataclass(frozen=True)
class JudgeView:
    """A canary judge (components/canary_judge.py), as the dashboard shows it.

    Attributes:
        log_group_name: Required. The log group its function writes to, which the log widgets query.
        deployment_group_name: Required. The deployment group its heartbeat is reported for.
        heartbeat_alarm_arn: Required. Its heartbeat alarm, listed with the rollback alarms.
    """

    log_group_name: pulumi.Input[str]
    deployment_group_name: pulumi.Input[str]
    heartbeat_alarm_arn: pulumi.Input[str]


@dataclass
class ReleaseDashboardArgs:
    """What the dashboard shows.

    Attributes:
        traffic: Required. The function's alias (LambdaTraffic) or the service's target groups
            (TargetGroupTraffic), whose traffic share and error rate per version are drawn.
        alarm_arns: Required. The rollback alarms that stop a release, by ARN (the alarm widget takes
            ARNs); listed with extra_alarm_names and the judge's heartbeat alarm, 1 to 100 in all.
        extra_alarm_names: Default: () (none). Alarms that exist elsewhere in the stack's account and
            region and also stop a release, by name (as a deployment group lists them; Outputs
            welcome); their ARNs are made here.
        judge: Default: None, no judge. The canary judge's heartbeat, heartbeat alarm and log; only
            CodeDeploy releases have one.
        error_rate_percent: Default: 1.0, the alarms' default. The error rate that rolls a release
            back, drawn as a line on the error-rate graph so one sees how far from a rollback the new
            version is: above 0 and below 100.
        title: Default: None, the dashboard's name. The heading of the dashboard's first widget.
        dashboard_name: Default: None, dashboard_name(name), `<project>-<stack>-<name>`: dashboards are
            global, one namespace per account; project and stack keep two stacks' dashboards apart,
            and let a deploy role be granted its own stack's only. At most 255 letters, digits, - and _.
        period_seconds: Default: 60, one datapoint a minute, the resolution of Lambda's and the load
            balancer's metrics and the rollback alarms' period: a coarser graph hides the minute that
            rolled back. A multiple of 60, at most 86400.
        time_range: Default: "-PT3H", what the dashboard shows when it opens, the last three hours: a
            release with its shift, its watch or bake time and the minutes before it. Relative, such
            as -PT3H or -P1D.
    """

    traffic: LambdaTraffic | TargetGroupTraffic
    alarm_arns: pulumi.Input[Sequence[pulumi.Input[str]]]
    extra_alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    judge: JudgeView | None = None
    error_rate_percent: float = field(default=1.0, metadata=allow(RATE_PERCENT))
    title: str | None = None
    dashboard_name: str | None = field(default=None, metadata=allow(DASHBOARD_NAME))
    period_seconds: int = field(default=60, metadata=allow(PERIOD_SECONDS))
    time_range: str = field(default="-PT3H", metadata=allow(TIME_RANGE))


class ReleaseDashboard(Component):
    """See the module docstring. `url` is the dashboard in the CloudWatch console; `dashboard` the
    CloudWatch dashboard itself (named `dashboard_name`)."""

    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: str
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseDashboardArgs, opts: pulumi.ResourceOptions | None = None):
        self.dashboard_name = args.dashboard_name or dashboard_name(name)
        rules.refuse(f"release dashboard {name}", release_dashboard_problems(self.dashboard_name, args))
        super().__init__(TYPE, name, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id
        extra_arns = pulumi.Output.all(partition, region, account, args.extra_alarm_names).apply(
            lambda known: [f"arn:{known[0]}:cloudwatch:{known[1]}:{known[2]}:alarm:{alarm}" for alarm in known[3]]
        )
        title = args.title or self.dashboard_name
        body = pulumi.Output.all(
            region,
            _resolved(args.traffic),
            pulumi.Output.from_input(args.alarm_arns),
            extra_arns,
            _resolved(args.judge),
        ).apply(
            lambda values: json.dumps(
                release_dashboard_body(
                    title=title,
                    region=values[0],
                    traffic=values[1],
                    # In the order a deployment group lists them: its own, the others, the judge's.
                    alarm_arns=[*values[2], *values[3], *([values[4].heartbeat_alarm_arn] if values[4] else [])],
                    judge=values[4],
                    error_rate_percent=args.error_rate_percent,
                    period_seconds=args.period_seconds,
                    time_range=args.time_range,
                )
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            name, dashboard_name=self.dashboard_name, dashboard_body=body, opts=pulumi.ResourceOptions(parent=self)
        )
        self.url = pulumi.Output.all(partition, region, self.dashboard.dashboard_name).apply(
            lambda values: console_url(*values)
        )
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name, "url": self.url})


def dashboard_name_problems(what: str, name: str) -> list[str]:
    """A dashboard name CloudWatch would refuse, as a refusal says it."""
    if DASHBOARD_NAME.allows(name):
        return []
    return [f"{what} would be named {name!r}: {DASHBOARD_NAME.allowed}"]


def release_dashboard_problems(
    dashboard: str, args: ReleaseDashboardArgs, where: str = "ReleaseDashboardArgs"
) -> list[str]:
    """What ReleaseDashboard refuses in `args` (its name `dashboard` said once made), each naming its
    argument: the declarations, the alarm names known, and more alarms than a widget lists."""
    found = problems(args, where)
    if args.dashboard_name is None:
        found += dashboard_name_problems("the dashboard", dashboard)
    extra = args.extra_alarm_names
    if isinstance(extra, (list, tuple)):
        found += [
            f"{where}.extra_alarm_names[{i}] = {alarm!r}: {problem}"
            for i, alarm in enumerate(extra)
            if not isinstance(alarm, pulumi.Output) and (problem := alarm_name_problem(alarm))
        ]
        if isinstance(args.alarm_arns, (list, tuple)):
            count = len(args.alarm_arns) + len(extra) + (args.judge is not None)
            if not 1 <= count <= DASHBOARD_ALARM_WIDGET_ALARMS:
                found.append(
                    f"{where}.alarm_arns = {count} alarms with the extra ones and the judge's: an alarm widget lists "
                    f"1 to {DASHBOARD_ALARM_WIDGET_ALARMS}"
                )
    return found


def _resolved(view: Any) -> pulumi.Output[Any]:
    """A dataclass of Inputs as an Output of the same dataclass with their values (None stays None)."""
    if view is None:
        return pulumi.Output.from_input(None)
    names = [field.name for field in fields(view)]
    return pulumi.Output.all(*(getattr(view, field) for field in names)).apply(
        lambda values: replace(view, **dict(zip(names, values, strict=True)))
    )


# --- the body, from plain values


def release_dashboard_body(
    *,
    title: str,
    region: str,
    traffic: LambdaTraffic | TargetGroupTraffic,
    alarm_arns: Sequence[str],
    judge: JudgeView | None = None,
    error_rate_percent: float = 1.0,
    period_seconds: int = 60,
    time_range: str = "-PT3H",
) -> dict[str, Any]:
    """The dashboard's body (as PutDashboard takes it, once dumped as JSON) for resolved values."""
    if not 1 <= len(alarm_arns) <= DASHBOARD_ALARM_WIDGET_ALARMS:
        raise ValueError(f"{len(alarm_arns)} alarms: an alarm widget lists 1 to {DASHBOARD_ALARM_WIDGET_ALARMS}")
    graphs = _Graphs(region, period_seconds, error_rate_percent)
    if isinstance(traffic, LambdaTraffic):
        share, rate, counts = graphs.lambda_versions(traffic)
        what = (
            f"Traffic through the alias `{traffic.alias}` of `{traffic.function_name}`, per version: version "
            f"{traffic.new_version} (the release's) against every other one, and every version the alias ran."
        )
        extra: list[dict] = []
    else:
        share, rate, counts = graphs.target_groups(traffic)
        what = (
            "Traffic per target group, blue and green: a blue/green, canary or linear release runs the new version "
            "in the group that served nothing before it (CodeDeploy and ECS alternate them); a rolling update keeps "
            "to one group."
        )
        extra = [graphs.target_health(traffic)]
    alarms = _widget(
        "alarm",
        12,
        6,
        {
            "title": "Rollback alarms: any in ALARM stops the release and puts traffic back",
            "alarms": list(alarm_arns),
            "sortBy": "stateUpdatedTimestamp",
        },
    )
    markdown = [
        f"# {title}",
        what,
        f"An error rate above {error_rate_percent:g}% rolls the release back once the alarms' minimum traffic is "
        "reached. Managed by Pulumi (rollback-guard): a change made here is replaced at the next `pulumi up`.",
    ]
    rows = [[share, rate], [counts, alarms]]
    if extra:
        rows.append(extra)
    if judge is not None:
        markdown.append(
            "The canary judge compares the new version with the old one while traffic moves and stops a bad release; "
            f"releases stop too when it has been silent for {HEARTBEAT_MINUTES} minutes."
        )
        rows += [[graphs.heartbeat(judge), _verdicts(judge, region)], [_judge_log(judge, region)]]
    header = _widget("text", DASHBOARD_GRID_COLUMNS, 4, {"markdown": "\n\n".join(markdown)})
    return {"start": time_range, "periodOverride": "inherit", "widgets": _laid_out([[header], *rows])}


@dataclass(frozen=True)
class _Graphs:
    region: str
    period: int
    threshold: float

    def metric_widget(self, title: str, metrics: list, width: int = 12, height: int = 6, **properties) -> dict:
        return _widget(
            "metric",
            width,
            height,
            {"title": title, "region": self.region, "period": self.period, "view": "timeSeries", "metrics": metrics}
            | properties,
        )

    def threshold_line(self) -> dict:
        return {
            "horizontal": [{"label": "rolls back above this", "value": self.threshold, "color": _RED, "fill": "above"}]
        }

    def lambda_versions(self, traffic: LambdaTraffic) -> tuple[dict, dict, dict]:
        function, version = traffic.function_name, str(traffic.new_version)
        alias = [("FunctionName", function), ("Resource", f"{function}:{traffic.alias}")]
        new = [*alias, ("ExecutedVersion", version)]
        ours, others = f"version {version} (the release's)", "every other version"
        share = self.metric_widget(
            "Traffic share per version (%)",
            [
                _metric(LAMBDA_NAMESPACE, "Invocations", alias, id="all", stat="Sum", visible=False),
                _metric(LAMBDA_NAMESPACE, "Invocations", new, id="new", stat="Sum", visible=False),
                _expression("100 * FILL(new, 0) / all", "newshare", ours),
                _expression("100 * (all - FILL(new, 0)) / all", "oldshare", others),
            ],
            stacked=True,
            yAxis={"left": {"min": 0, "max": 100, "showUnits": False}},
        )
        rate = self.metric_widget(
            "Error rate per version (%): Errors / Invocations",
            [
                _metric(LAMBDA_NAMESPACE, "Errors", alias, id="errall", stat="Sum", visible=False),
                _metric(LAMBDA_NAMESPACE, "Invocations", alias, id="invall", stat="Sum", visible=False),
                _metric(LAMBDA_NAMESPACE, "Errors", new, id="errnew", stat="Sum", visible=False),
                _metric(LAMBDA_NAMESPACE, "Invocations", new, id="invnew", stat="Sum", visible=False),
                _expression("100 * FILL(errnew, 0) / invnew", "newrate", ours),
                _expression(
                    "100 * (FILL(errall, 0) - FILL(errnew, 0)) / (invall - FILL(invnew, 0))", "oldrate", others
                ),
            ],
            annotations=self.threshold_line(),
            yAxis={"left": {"min": 0, "showUnits": False}},
        )

        def search(metric: str) -> str:
            # Every version behind the alias, found by its metrics: which versions run is
            # CodeDeploy's to change, so no list of them is known here.
            schema = "{AWS/Lambda,ExecutedVersion,FunctionName,Resource}"
            terms = f'MetricName="{metric}" FunctionName="{function}" Resource="{function}:{traffic.alias}"'
            return f"SEARCH('{schema} {terms}', 'Sum', {self.period})"

        label = "version ${PROP('Dim.ExecutedVersion')}"
        counts = self.metric_widget(
            "Invocations and errors of every version the alias ran",
            [
                _expression(search("Invocations"), "invocations", f"{label} invocations"),
                _expression(search("Errors"), "errors", f"{label} errors"),
            ],
            yAxis={"left": {"min": 0}},
        )
        return share, rate, counts

    def target_groups(self, traffic: TargetGroupTraffic) -> tuple[dict, dict, dict]:
        groups = {"blue": traffic.blue_arn_suffix, "green": traffic.green_arn_suffix}
        balancer = ("LoadBalancer", traffic.load_balancer_arn_suffix)
        served: list[list] = []
        for color, suffix in groups.items():
            dimensions = [("TargetGroup", suffix), balancer]
            served.append(
                _metric(ALB_NAMESPACE, "RequestCount", dimensions, id=f"req{color}", stat="Sum", visible=False)
            )
            if traffic.judge_probes:
                served += [
                    _metric(JUDGE_NAMESPACE, PROBE_METRIC, dimensions, id=f"probes{color}", stat="Sum", visible=False),
                    _expression(f"FILL(req{color}, 0) - FILL(probes{color}, 0)", f"served{color}", None),
                ]
            else:
                served.append(_expression(f"FILL(req{color}, 0)", f"served{color}", None))
        share = self.metric_widget(
            "Traffic share per target group (%)" + (": the judge's probes left out" if traffic.judge_probes else ""),
            [
                *served,
                _expression("servedblue + servedgreen", "served", None),
                *(_expression(f"100 * served{color} / served", f"share{color}", color) for color in groups),
            ],
            stacked=True,
            yAxis={"left": {"min": 0, "max": 100, "showUnits": False}},
        )
        rate = self.metric_widget(
            "5xx rate per target group (%): HTTPCode_Target_5XX_Count / RequestCount",
            [
                *served,
                *(
                    _metric(
                        ALB_NAMESPACE,
                        "HTTPCode_Target_5XX_Count",
                        [("TargetGroup", suffix), balancer],
                        id=f"err{color}",
                        stat="Sum",
                        visible=False,
                    )
                    for color, suffix in groups.items()
                ),
                *(_expression(f"100 * FILL(err{color}, 0) / served{color}", f"rate{color}", color) for color in groups),
            ],
            annotations=self.threshold_line(),
            yAxis={"left": {"min": 0, "showUnits": False}},
        )
        counts = self.metric_widget(
            "Requests and 5xx responses per target group",
            [
                *(
                    _metric(
                        ALB_NAMESPACE, metric, [("TargetGroup", suffix), balancer], stat="Sum", label=f"{color} {label}"
                    )
                    for color, suffix in groups.items()
                    for metric, label in (("RequestCount", "requests"), ("HTTPCode_Target_5XX_Count", "5xx"))
                ),
                # Rejected before a target was chosen (no healthy target): the 5xx-rate alarm counts them.
                _metric(
                    ALB_NAMESPACE, "HTTPCode_ELB_5XX_Count", [balancer], stat="Sum", label="load balancer's own 5xx"
                ),
            ],
            yAxis={"left": {"min": 0}},
        )
        return share, rate, counts

    def target_health(self, traffic: TargetGroupTraffic) -> dict:
        groups = {"blue": traffic.blue_arn_suffix, "green": traffic.green_arn_suffix}
        balancer = ("LoadBalancer", traffic.load_balancer_arn_suffix)
        return self.metric_widget(
            "Healthy and unhealthy targets per target group",
            [
                _metric(
                    ALB_NAMESPACE, metric, [("TargetGroup", suffix), balancer], stat="Maximum", label=f"{color} {label}"
                )
                for color, suffix in groups.items()
                for metric, label in (("HealthyHostCount", "healthy"), ("UnHealthyHostCount", "unhealthy"))
            ],
            width=DASHBOARD_GRID_COLUMNS,
            height=5,
            yAxis={"left": {"min": 0}},
        )

    def heartbeat(self, judge: JudgeView) -> dict:
        return self.metric_widget(
            "Canary judge: heartbeats a minute",
            [
                _metric(
                    JUDGE_NAMESPACE,
                    HEARTBEAT_METRIC,
                    [("DeploymentGroup", judge.deployment_group_name)],
                    stat="Sum",
                    label="heartbeats",
                )
            ],
            width=8,
            annotations={
                "horizontal": [
                    {
                        "label": f"silent below this for {HEARTBEAT_MINUTES} minutes: releases stop",
                        "value": 1,
                        "color": _RED,
                        "fill": "below",
                    }
                ]
            },
            yAxis={"left": {"min": 0}},
        )


def _verdicts(judge: JudgeView, region: str) -> dict:
    verdicts = ", ".join(json.dumps(message) for message in JUDGE_VERDICT_MESSAGES)
    return _widget(
        "log",
        16,
        6,
        {
            "title": "Canary judge: verdicts and stops",
            "region": region,
            "view": "table",
            "query": _query(
                judge.log_group_name,
                *_JUDGE_FIELDS,
                _EXPLANATION,
                f"filter event in [{verdicts}]",
                "sort @timestamp desc",
                "display @timestamp, deployment, event, explanation",
                "limit 100",
            ),
        },
    )


def _judge_log(judge: JudgeView, region: str) -> dict:
    return _widget(
        "log",
        DASHBOARD_GRID_COLUMNS,
        8,
        {
            "title": "Canary judge: every look, probe and failure, newest first",
            "region": region,
            "view": "table",
            "query": _query(
                judge.log_group_name,
                *_JUDGE_FIELDS,
                "filter ispresent(event)",
                "sort @timestamp desc",
                "display @timestamp, level, deployment, event, message",
                "limit 200",
            ),
        },
    )


def _query(log_group: str, *lines: str) -> str:
    """A Logs Insights query over one log group, as a log widget takes it: SOURCE first, then each
    line after `\\n|`."""
    return f"SOURCE '{log_group}' | " + "\n| ".join(lines)


def _metric(namespace: str, metric: str, dimensions: Sequence[tuple[str, str]], **rendering: Any) -> list:
    """One metric of a metric widget: namespace, name, each dimension's name and value, and its
    rendering properties (id, stat, label, visible)."""
    return [namespace, metric, *(part for dimension in dimensions for part in dimension), rendering]


def _expression(expression: str, query_id: str, label: str | None) -> list:
    """A metric-math or SEARCH expression of a metric widget; one without a label is not drawn."""
    shown = {"label": label} if label else {"visible": False}
    return [{"expression": expression, "id": query_id, **shown}]


def _widget(kind: str, width: int, height: int, properties: dict) -> dict:
    return {"type": kind, "width": width, "height": height, "properties": properties}


def _laid_out(rows: list[list[dict]]) -> list[dict]:
    """The widgets, row by row, on the dashboard's 24-column grid: each row's widgets left to right,
    each row below the tallest widget of the one above."""
    placed, y = [], 0
    for row in rows:
        x = 0
        for widget in row:
            if x + widget["width"] > DASHBOARD_GRID_COLUMNS:
                raise ValueError(f"a row of widgets {x + widget['width']} columns wide: the grid has 24")
            placed.append({"type": widget["type"], "x": x, "y": y, **widget})
            x += widget["width"]
        y += max(widget["height"] for widget in row)
    return placed
