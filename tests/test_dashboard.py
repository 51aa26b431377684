"""Policy for the release dashboards: whoever is on call sees each release as it happens (traffic and
errors per version, the rollback alarms' states, the canary judge's heartbeat, evidence and verdicts),
on dashboards CloudWatch takes and only the stack's own deploy role may write. Checked on both real
stacks, on every ECS release strategy and on the components built directly, under mocks."""

from __future__ import annotations

import ast
import functools
import json
import logging
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from ops.offline import ROOT, build_stack, settled_stack
from rollback_guard.components.dashboard import (
    JUDGE_VERDICT_MESSAGES,
    LambdaTraffic,
    ReleaseDashboard,
    ReleaseDashboardArgs,
    console_url,
    dashboard_name_prefix,
    release_dashboard_body,
)
from rollback_guard.hooks import judge as judge_module
from rollback_guard.hooks import logs
from rollback_guard.hooks.judge import HEARTBEAT_METRIC, JUDGE_NAMESPACE
from rollback_guard.limits import limit_violations
from rollback_guard.testing import resolved, run
from tests.scenarios import released_by
from tests.test_components import canary, service
from tests.test_strategies import STRATEGIES

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ACCOUNT, REGION = "123456789012", "us-east-1"


@functools.cache
def strategy_stack(environment: str, strategy: str):
    return settled_stack(environment, **released_by(strategy, **STRATEGIES[strategy]))


# Every stack the project deploys with a dashboard: both stack files, and the web service released by
# each of ECS's own strategies (production moves part of the traffic first: no ECS blue/green there).
RENDERS = [
    ("staging", None),
    ("prod", None),
    *(
        (env, strategy)
        for strategy in STRATEGIES
        for env in ("staging", "prod")
        if (env, strategy) != ("prod", "ecs-blue-green")
    ),
]


def rendered(environment: str, strategy: str | None):
    return settled_stack(environment) if strategy is None else strategy_stack(environment, strategy)


def body_of(built, release: str) -> dict:
    return json.loads(built.registration(f"{release}-dashboard", DASHBOARD).inputs["dashboardBody"])


def widgets(body: dict, kind: str) -> list[dict]:
    return [widget for widget in body["widgets"] if widget["type"] == kind]


def titled(body: dict, start: str) -> dict:
    [widget] = [w for w in body["widgets"] if str(w["properties"].get("title", "")).startswith(start)]
    return widget["properties"]


def alarm_names_of(built) -> dict[str, str]:
    """Each alarm the stack creates, ARN to name."""
    return {alarm.outputs["arn"]: alarm.outputs["name"] for alarm in built.of_type(ALARM)}


def listed_alarms(built, release: str) -> list[str]:
    """The alarm widget's alarms, by name: those the stack creates by their ARN, others (alarms that
    exist elsewhere) by the name their ARN ends with."""
    [widget] = widgets(body_of(built, release), "alarm")
    names = alarm_names_of(built)
    return [names.get(arn) or arn.split(":alarm:", 1)[1] for arn in widget["properties"]["alarms"]]


# --- the structure CloudWatch takes (CloudWatch API Reference, "Dashboard Body Structure and Syntax"),
# written out here from the reference, apart from rollback_guard.limits

TOP_LEVEL = {"widgets", "variables", "start", "end", "periodOverride"}
WIDGET_KEYS = {"type", "x", "y", "width", "height", "properties"}
REQUIRED = {"metric": {"region"}, "log": {"region", "query"}, "alarm": {"alarms"}, "text": {"markdown"}}
ALARM_ARN = re.compile(r"arn:aws:cloudwatch:[a-z0-9-]+:\d{12}:alarm:[^\x00-\x1f]+")
STATISTICS = re.compile(r"SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?")


def structure_problems(body: dict) -> list[str]:
    found = [f"top-level key {key}" for key in set(body) - TOP_LEVEL]
    if not isinstance(body.get("widgets"), list) or len(body["widgets"]) > 500:
        return [*found, "a widgets array of 0 to 500 widgets"]
    cells: set[tuple[int, int]] = set()
    for index, widget in enumerate(body["widgets"]):
        where = f"widget {index}"
        found += [f"{where}: key {key}" for key in set(widget) - WIDGET_KEYS]
        kind, properties = widget.get("type"), widget.get("properties")
        if kind not in {"metric", "text", "log", "alarm", "explorer"} or not isinstance(properties, dict):
            found.append(f"{where}: type {kind!r} with properties")
            continue
        x, y, width, height = (widget.get(key) for key in ("x", "y", "width", "height"))
        if not all(isinstance(value, int) for value in (x, y, width, height)):
            found.append(f"{where}: integer x, y, width and height")
            continue
        if not (0 <= x <= 23 and y >= 0 and 1 <= width <= 24 and 1 <= height <= 1000 and x + width <= 24):
            found.append(f"{where}: on the 24-column grid ({x}, {y}, {width}x{height})")
        covered = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        if covered & cells:
            found.append(f"{where}: overlaps another widget")
        cells |= covered
        found += [f"{where}: {kind} widget without {key}" for key in REQUIRED.get(kind, ()) if not properties.get(key)]
        if kind == "metric":
            found += [f"{where}: {problem}" for problem in metric_problems(properties)]
        elif kind == "alarm":
            alarms = properties["alarms"]
            if not 1 <= len(alarms) <= 100 or not all(ALARM_ARN.fullmatch(arn) for arn in alarms):
                found.append(f"{where}: 1 to 100 alarm ARNs")
        elif kind == "log" and not properties["query"].startswith("SOURCE '"):
            found.append(f"{where}: a query starting with SOURCE '<log group>'")
    return found


def metric_problems(properties: dict) -> list[str]:
    """A metric widget's metrics array: each entry a metric [namespace, name, (dimension, value)...,
    {rendering}] or an expression [{expression, id, label}], ids starting with a lowercase letter,
    each id an expression names defined in the widget; periods multiples of 60."""
    found, ids, expressions = [], set(), []
    metrics = properties.get("metrics") or []
    if not 1 <= len(metrics) <= 500:
        found.append(f"{len(metrics)} metrics: 1 to 500")
    if properties.get("period", 60) % 60 or properties.get("view", "timeSeries") not in {
        "timeSeries",
        "singleValue",
        "gauge",
        "bar",
        "pie",
        "table",
    }:
        found.append("a period that is a multiple of 60 and a known view")
    for entry in metrics:
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        names = entry[:-1] if options else entry
        if "expression" in options:
            if names:
                found.append(f"an expression alone in its entry: {entry}")
            expressions.append(options["expression"])
        elif len(names) < 2 or len(names) % 2 or not all(isinstance(part, str) and part for part in names):
            found.append(f"namespace, metric name and dimension pairs: {entry}")
        if "stat" in options and not STATISTICS.fullmatch(options["stat"]):
            found.append(f"statistic {options['stat']}")
        if "id" in options:
            if not re.fullmatch(r"[a-z][A-Za-z0-9_]*", options["id"]) or options["id"] in ids:
                found.append(f"id {options['id']}: unique, starting with a lowercase letter")
            ids.add(options["id"])
    for expression in expressions:
        unquoted = re.sub(r"'[^']*'", "", expression)
        named = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", unquoted))
        found += [f"{expression}: names {name}, which the widget does not define" for name in named - ids]
    return found


@pytest.mark.parametrize(("environment", "strategy"), RENDERS)
def test_every_dashboard_of_every_stack_and_strategy_is_one_cloudwatch_takes(environment, strategy):
    built = rendered(environment, strategy)
    dashboards = built.of_type(DASHBOARD)
    assert {d.name for d in dashboards} == {"web-dashboard", "greeter-dashboard"}
    for dashboard in dashboards:
        assert structure_problems(json.loads(dashboard.inputs["dashboardBody"])) == [], dashboard.name
    assert limit_violations(dashboards) == []


def test_the_checker_of_this_file_and_the_librarys_limits_refuse_what_cloudwatch_refuses():
    body = release_dashboard_body(
        title="t",
        region=REGION,
        traffic=LambdaTraffic("f", "live", "2"),
        alarm_arns=[f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a"],
    )
    assert structure_problems(body) == []
    body["widgets"][1]["x"] = 20  # 12 columns wide: past the grid's 24
    del body["widgets"][2]["properties"]["region"]
    body["widgets"][4]["properties"]["alarms"] = []
    assert len(structure_problems(body)) >= 3

    @dataclass
    class Registered:
        type: str
        name: str
        inputs: dict

    found = limit_violations(
        [Registered(DASHBOARD, "d", {"dashboardName": "prod.web", "dashboardBody": json.dumps(body)})]
    )
    assert [(v.limit, v.value) for v in found] == [
        ("name", "'prod.web'"),
        ("dashboardBody", "widget 1: x 20 + width 12"),
        ("dashboardBody", "widget 2: metric widget without region"),
        ("dashboardBody", "widget 4: 0 alarms"),
    ]
    many = {"widgets": [{"type": "text", "properties": {"markdown": "x"}}] * 501}
    assert [
        v.value
        for v in limit_violations(
            [Registered(DASHBOARD, "d", {"dashboardName": "a" * 256, "dashboardBody": json.dumps(many)})]
        )
    ] == [
        f"'{'a' * 256}' (256 characters)",
        "501 widgets",
    ]


# --- what it shows


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_the_functions_dashboard_shows_the_rollback_alarms_states(environment):
    """Every alarm that stops a release of the function, and nothing else: its deployment group's list."""
    built = settled_stack(environment)
    group = built.inputs("greeter-deploy-group")["alarmConfiguration"]["alarms"]
    assert listed_alarms(built, "greeter") == group
    assert f"greeter-judge-{environment}-silent" in group, "the judge's heartbeat alarm among them"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_the_services_dashboard_shows_the_rollback_alarms_states(environment):
    built = settled_stack(environment)
    group = built.inputs("web-deploy-group")["alarmConfiguration"]["alarms"]
    assert listed_alarms(built, "web") == group


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_a_service_ecs_releases_shows_the_alarms_ecs_rolls_back_on_and_no_judge(strategy):
    built = strategy_stack("staging", strategy)
    assert listed_alarms(built, "web") == built.inputs("web-service")["alarms"]["alarmNames"]
    body = body_of(built, "web")
    assert widgets(body, "log") == [], "no judge: ECS decides"
    assert not [w for w in widgets(body, "metric") if "Judge" in json.dumps(w)]


def test_alarms_that_exist_elsewhere_are_listed_by_their_arn_in_the_stacks_account_and_region():
    from rollback_guard.components.service import ServiceAlarms

    built = run(lambda: service(alarms=ServiceAlarms(extra_alarm_names=("orders-db-cpu",))), stack="staging")
    [widget] = widgets(body_of(built, "checkout"), "alarm")
    assert f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:orders-db-cpu" in widget["properties"]["alarms"]
    group = built.inputs("checkout-deploy-group")["alarmConfiguration"]["alarms"]
    assert listed_alarms(built, "checkout") == group


def test_the_functions_traffic_and_error_rate_are_per_version_of_the_live_alias(prod):
    body = body_of(prod, "greeter")
    share, rate = titled(body, "Traffic share per version"), titled(body, "Error rate per version")
    alias = ["FunctionName", "greeter-prod", "Resource", "greeter-prod:live"]
    # The version the release moves to is the one the error-rate alarm watches.
    alarm = prod.inputs("greeter-rollback-error-rate")["metricQueries"]
    version = next(q["metric"]["dimensions"]["ExecutedVersion"] for q in alarm if q.get("metric"))
    metrics = {tuple(entry[:-1]): entry[-1] for entry in rate["metrics"] if "expression" not in entry[-1]}
    assert metrics[("AWS/Lambda", "Invocations", *alias, "ExecutedVersion", version)]["id"] == "invnew"
    assert metrics[("AWS/Lambda", "Errors", *alias, "ExecutedVersion", version)]["id"] == "errnew"
    assert metrics[("AWS/Lambda", "Invocations", *alias)]["id"] == "invall"
    drawn = {entry[0]["label"]: entry[0]["expression"] for entry in rate["metrics"] if "label" in entry[0]}
    assert drawn == {
        f"version {version} (the release's)": "100 * FILL(errnew, 0) / invnew",
        "every other version": "100 * (FILL(errall, 0) - FILL(errnew, 0)) / (invall - FILL(invnew, 0))",
    }
    assert rate["annotations"]["horizontal"][0]["value"] == 1.0, "the rate that rolls back"
    assert [entry[0]["label"] for entry in share["metrics"] if "label" in entry[-1]] == list(drawn)
    # And every version the alias ran, whatever CodeDeploy makes of it.
    searches = [entry[0]["expression"] for entry in titled(body, "Invocations and errors")["metrics"]]
    assert searches == [
        f'SEARCH(\'{{AWS/Lambda,ExecutedVersion,FunctionName,Resource}} MetricName="{metric}" '
        'FunctionName="greeter-prod" Resource="greeter-prod:live"\', \'Sum\', 60)'
        for metric in ("Invocations", "Errors")
    ]


@pytest.mark.parametrize(("environment", "strategy"), [("prod", None), ("staging", "ecs-canary")])
def test_the_services_traffic_and_5xx_rate_are_per_target_group_blue_and_green(environment, strategy):
    built = rendered(environment, strategy)
    body = body_of(built, "web")
    balancer = built.registration("web-lb-alb").outputs["arnSuffix"]
    groups = {color: built.registration(f"web-lb-{color}").outputs["arnSuffix"] for color in ("blue", "green")}
    rate = titled(body, "5xx rate per target group")
    metrics = {(entry[1], entry[3]): entry[-1]["id"] for entry in rate["metrics"] if "expression" not in entry[-1]}
    for color, suffix in groups.items():
        assert metrics[("RequestCount", suffix)] == f"req{color}"
        assert metrics[("HTTPCode_Target_5XX_Count", suffix)] == f"err{color}"
    drawn = {entry[0]["label"]: entry[0]["expression"] for entry in rate["metrics"] if "label" in entry[0]}
    assert drawn == {color: f"100 * FILL(err{color}, 0) / served{color}" for color in groups}
    assert all(balancer in entry for entry in rate["metrics"] if "expression" not in entry[-1])
    # The judge's probes are taken out of the requests as the rollback alarms take them out.
    judged = strategy is None
    alarm = json.dumps(built.inputs("web-rollback-target-5xx-rate")["metricQueries"])
    assert ("ProbeRequests" in alarm) == judged == ("ProbeRequests" in json.dumps(rate))
    share = titled(body, "Traffic share per target group")
    assert [entry[0]["label"] for entry in share["metrics"] if "label" in entry[-1]] == ["blue", "green"]


@pytest.mark.parametrize("release", ["web", "greeter"])
def test_the_heartbeat_graph_is_the_metric_the_judges_heartbeat_alarm_watches(prod, release):
    alarm = prod.inputs(f"{release}-judge-silent")
    [entry] = titled(body_of(prod, release), "Canary judge: heartbeats")["metrics"]
    assert (entry[0], entry[1]) == (alarm["namespace"], alarm["metricName"]) == (JUDGE_NAMESPACE, HEARTBEAT_METRIC)
    assert dict(zip(entry[2:-1:2], entry[3:-1:2], strict=True)) == alarm["dimensions"]
    assert entry[-1]["stat"] == alarm["statistic"]


@pytest.mark.parametrize("release", ["web", "greeter"])
def test_the_judges_evidence_and_verdicts_come_from_its_own_log_group(prod, release):
    log_group = prod.inputs(f"{release}-judge-function")["loggingConfig"]["logGroup"]
    tables = widgets(body_of(prod, release), "log")
    assert len(tables) == 2
    for table in tables:
        assert table["properties"]["query"].startswith(f"SOURCE '{log_group}' | ")
        assert table["properties"]["region"] == REGION


def logged_messages(module) -> set[str]:
    """The messages a hooks module logs: the literal second argument of each log(level, message) call."""
    tree = ast.parse(Path(module.__file__).read_text())
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "log"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }


def test_the_verdicts_table_lists_lines_the_judge_really_logs():
    assert set(JUDGE_VERDICT_MESSAGES) <= logged_messages(judge_module)
    query = titled(body_of(settled_stack("prod"), "greeter"), "Canary judge: verdicts")["query"]
    assert f"filter event in [{', '.join(json.dumps(m) for m in JUDGE_VERDICT_MESSAGES)}]" in query


def test_the_judge_tables_read_the_judges_own_log_lines(caplog):
    """The queries' parse patterns, run (as Python regular expressions) on a line hooks/logs.py writes:
    the `message` field of Lambda's JSON log format is that line."""
    query = titled(body_of(settled_stack("prod"), "greeter"), "Canary judge: verdicts")["query"]
    lines = re.sub(r"^SOURCE '[^']*' \| ", "", query).split("\n| ")
    patterns = [
        re.sub(r"\(\?<", "(?P<", line.removeprefix("parse message /").rsplit("/", 1)[0])
        for line in lines
        if line.startswith("parse message /")
    ]
    assert len(patterns) == 3
    explanation = 'ROLLBACK: errors: "Errors" 12% against 0.1% over 3 minutes'
    with caplog.at_level(logging.INFO, logger=logs.logger.name):
        logs.log(
            logging.ERROR, "canary verdict: ROLLBACK", deployment_id="d-ABC123", group="g", explanation=explanation
        )
    line = caplog.records[-1].getMessage()
    found = {}
    for pattern in patterns:
        found |= re.search(pattern, line).groupdict()
    assert found == {
        "event": "canary verdict: ROLLBACK",
        "deployment": "d-ABC123",
        "explanation": json.dumps(explanation)[1:-1],
    }


# --- where it is, and who may write it


def test_each_service_and_function_exports_its_dashboards_console_url():
    def check(exports):
        for kind, release in (("services", "web"), ("functions", "greeter")):
            assert exports[kind][release]["dashboardUrl"] == (
                f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
                f"#dashboards/dashboard/rollback-guard-staging-{release}"
            )

    build_stack("staging", then=lambda built: resolved(built.exports).apply(check))


def test_the_console_url_follows_the_partition():
    assert console_url("aws-cn", "cn-north-1", "d") == (
        "https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#dashboards/dashboard/d"
    )


DEPLOY_ROLES = {"staging": "release-deploy-staging-policy", "prod": "release-deploy-production-policy"}


def dashboard_grants(pipeline_stack, policy: str) -> list[dict]:
    statements = json.loads(pipeline_stack.inputs(policy)["policy"])["Statement"]
    return [s for s in statements if any("Dashboard" in action for action in granted(s))]


def granted(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_each_deploy_role_may_write_its_own_stacks_dashboards_and_no_others(pipeline_stack, environment):
    [grant] = dashboard_grants(pipeline_stack, DEPLOY_ROLES[environment])
    assert grant["Action"] == ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"]
    # Dashboards are global: no region in the ARN (Service Authorization Reference, CloudWatch).
    assert grant["Resource"] == f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/rollback-guard-{environment}-*"
    other = "prod" if environment == "staging" else "staging"
    names = [d.inputs["dashboardName"] for d in settled_stack(environment).of_type(DASHBOARD)]
    others = [d.inputs["dashboardName"] for d in settled_stack(other).of_type(DASHBOARD)]
    pattern = grant["Resource"].rsplit("/", 1)[1]
    assert names and all(fnmatchcase(name, pattern) for name in names)
    assert not any(fnmatchcase(name, pattern) for name in others)
    for policy in ("release-deploy-services", "release-deploy-network"):
        assert dashboard_grants(pipeline_stack, policy) == [], "no role gets the account's dashboards"


def test_the_deployer_boundary_allows_the_dashboard_actions(pipeline_stack):
    [boundary] = json.loads(pipeline_stack.inputs("release-boundaries-deployer")["policy"])["Statement"]
    for action in ("cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"):
        assert any(fnmatchcase(action, allowed) for allowed in boundary["Action"]), action


def test_a_default_name_holds_project_and_stack_in_dashboard_characters():
    assert dashboard_name_prefix("rollback-guard", "prod.eu") == "rollback-guard-prod-eu-"
    built = run(canary, stack="staging")
    assert built.registration("greeter-dashboard", DASHBOARD).inputs["dashboardName"] == "test-staging-greeter"


# --- leaving it out, and what the component refuses


def test_a_dashboard_can_be_left_out():
    for program in (lambda: canary(dashboard=False), lambda: service(dashboard=False)):
        built = run(program)
        assert built.of_type(DASHBOARD) == []
        assert built.value.dashboard is None and built.value.dashboard_url is None


def test_a_dashboard_name_cloudwatch_would_refuse_is_refused_before_anything_is_created():
    args = ReleaseDashboardArgs(LambdaTraffic("f", "live", "1"), ["arn:a"], dashboard_name="prod.web")

    def attempt():
        with pytest.raises(
            ValueError, match=r"ReleaseDashboardArgs.dashboard_name = 'prod.web': at most 255 letters, digits, - and _"
        ):
            ReleaseDashboard("web-dashboard", args)

    assert run(attempt).monitor.registered == []


def test_the_example_in_docs_dashboard_runs_as_written():
    page = (ROOT / "docs" / "dashboard.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/dashboard.md", "exec"), {})


def test_a_dashboard_refuses_what_cloudwatch_would_every_problem_naming_its_argument():
    args = ReleaseDashboardArgs(
        LambdaTraffic("f", "live", "1"),
        ["arn:a"],
        extra_alarm_names=["arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"],
        period_seconds=90,
        time_range="3h",
        error_rate_percent=0,
    )

    def attempt():
        with pytest.raises(ValueError) as refused:
            ReleaseDashboard("web-dashboard", args)
        return str(refused.value)

    built = run(attempt)
    assert built.monitor.registered == []
    assert [line.split(" = ")[0] for line in built.value.splitlines()] == [
        "release dashboard web-dashboard: ReleaseDashboardArgs.error_rate_percent",
        "release dashboard web-dashboard: ReleaseDashboardArgs.period_seconds",
        "release dashboard web-dashboard: ReleaseDashboardArgs.time_range",
        "release dashboard web-dashboard: ReleaseDashboardArgs.extra_alarm_names[0]",
    ]
