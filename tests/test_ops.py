"""The operations command line: decisions with a fake Automation API stack, AWS calls against AWS
on loopback, `plan` on the real stack files, exit codes and the --json shape."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest

from components.codedeploy import TimeBasedShift
from hooks.deployment_log import SUCCEEDED, ReleaseRecord, put_once
from ops import cli
from ops.budget import budgets, codedeploy_schedule, share_at
from ops.offline import ROOT, use_config
from ops.stack import OpsError
from release import appspec
from settings import load_settings
from tests.scenarios import (
    FUNCTION,
    HOOKS,
    ROLLED_BACK_BY_ALARM,
    TABLE,
    create_log_table,
    ecs_service_on,
    lambda_target,
)


class FakeStack:
    """Stands in for the Automation API stack: records what the commands ask of it."""

    def __init__(self, name: str, outputs: dict | None = None, up_result: str = "succeeded"):
        self.name, self._outputs, self._up_result = name, outputs or {}, up_result
        self.config: dict[str, str] = {}
        self.calls: list[str] = []

    def region(self) -> str:
        return "us-east-1"

    def outputs(self) -> dict:
        return self._outputs

    def set_config(self, key: str, value: str) -> None:
        self.config[key] = value

    def preview(self, on_output) -> str:
        self.calls.append("preview")
        return "preview"

    def up(self, on_output) -> str:
        self.calls.append("up")
        return self._up_result


def run(*argv: str, stack: FakeStack | None = None, clock=None) -> tuple[int, dict]:
    out = io.StringIO()
    code = cli.main(
        [*argv, "--json"],
        stack_factory=lambda name: stack,
        session_factory=lambda region: boto3.Session(region_name=region),
        out=out,
        clock=clock or Clock(),
        sleep=lambda seconds: None,
    )
    return code, json.loads(out.getvalue())


LAMBDA_PATH = {
    "service": "greeter",
    "kind": "lambda",
    "strategy": "lambda-canary",
    "application": "greeter",
    "deploymentGroup": "greeter-deploy",
    "function": FUNCTION,
    "alias": "live",
    "hooks": HOOKS,
    "alarms": ["greeter-rollback-error-rate"],
}
ECS_PATH = {
    "service": "web",
    "kind": "ecs",
    "strategy": "codedeploy-blue-green",
    "application": "web",
    "deploymentGroup": "web-deploy",
    "cluster": "web-cluster",
    "ecsService": "web-service",
    "alarms": [],
}
OUTPUTS = {"environment": "staging", "deploymentLogTableName": TABLE, "releasePaths": [ECS_PATH, LAMBDA_PATH]}


def record_success(version: str, previous: str, when: str) -> None:
    record = ReleaseRecord("greeter", "staging", f"d-{version}", previous, version, SUCCEEDED, when, "lambda-canary")
    put_once(boto3.client("dynamodb"), TABLE, record)


# --- plan: offline, on the real stack files


@pytest.mark.parametrize(("stack", "detect", "worst"), [("staging", 390, 70.0), ("prod", 450, 80.0)])
def test_plan_budgets_every_release_path_offline(tmp_path, stack, detect, worst):
    code, result = run("plan", stack, "--png", str(tmp_path / "timeline.png"))
    assert code == 0
    assert result["resources"]["total"] > 60
    assert result["resources"]["byType"]["aws:codedeploy/deploymentGroup:DeploymentGroup"] == 2
    assert [(b["path"], b["strategy"]) for b in result["budgets"]] == [
        ("web", "codedeploy-blue-green"),
        ("greeter", "lambda-canary"),
    ]
    for budget in result["budgets"]:
        assert budget["detect_seconds"] == detect, "a partial period, M periods, 150 s of delay, an evaluation"
        assert budget["worst_share_percent"] == worst, "10% a minute, shifted until the alarm fires"
        assert budget["recovery_seconds"] == detect + budget["rollback_seconds"]
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_of_an_unknown_stack_is_bad_input():
    code, result = run("plan", "qa")
    assert code == 2
    assert result["error"].startswith("no stack file Pulumi.qa.yaml; stacks: pipeline, prod, staging")


def test_plan_of_the_pipeline_stack_says_it_has_nothing_to_budget(tmp_path):
    code, result = run("plan", "pipeline", "--png", str(tmp_path / "p.png"))
    assert (code, result) == (2, {"error": "pipeline is the pipeline stack: it has no release paths to budget"})


@pytest.mark.parametrize(
    ("config", "at_seconds", "share"),
    [
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", 240, 10.0),
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", 300, 100.0),
        ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", 240, 20.0),
        ("CodeDeployDefault.ECSAllAtOnce", 0, 100.0),
        (TimeBasedShift("linear", 20, 2), 240, 60.0),
        (TimeBasedShift("canary", 25, 10), 599, 25.0),
    ],
)
def test_the_share_on_a_bad_version_follows_the_traffic_shift(config, at_seconds, share):
    assert share_at(codedeploy_schedule(config), at_seconds) == share


@pytest.mark.parametrize(("stack", "path", "watch_minutes"), [("staging", "web", 8), ("prod", "greeter", 10)])
def test_plan_says_how_long_each_path_keeps_watching_after_its_last_shift(stack, path, watch_minutes):
    use_config(stack, {})
    budget = next(b for b in budgets(load_settings()) if b.path == path)
    assert budget.watch_after_last_shift_seconds == watch_minutes * 60
    assert budget.watch_after_last_shift_seconds >= budget.detect_seconds, "a late regression still rolls back"


def test_plan_names_the_traffic_below_which_the_alarms_are_blind_at_each_step():
    use_config("prod", {})
    greeter = next(b for b in budgets(load_settings()) if b.path == "greeter")
    blind = {b.share_percent: b.requests_per_second for b in greeter.blind_below}
    # 50 invocations of the new version a minute: at 10% that takes 50 / (0.1 * 60) requests a second.
    assert (blind[10.0], blind[50.0], blind[100.0]) == (8.33, 1.67, 0.83)
    assert len(blind) == 10


def test_the_readme_shows_what_ops_plan_prints_for_prod_today(tmp_path):
    out = io.StringIO()
    assert cli.main(["plan", "prod", "--png", str(tmp_path / "plan.png")], out=out) == 0
    printed = "".join(line for line in out.getvalue().splitlines(keepends=True) if "timeline:" not in line)
    readme = (ROOT / "README.md").read_text()
    assert f"```\n{printed}```" in readme, "rerun `python -m ops plan prod` and paste it into the README"


def test_a_canary_keeps_the_worst_case_to_its_first_step():
    use_config("prod", {"function": {"deploymentConfig": "CodeDeployDefault.LambdaCanary10Percent15Minutes"}})
    greeter = next(b for b in budgets(load_settings()) if b.path == "greeter")
    assert greeter.worst_share_percent == 10.0


# --- deploy


def test_deploy_refuses_prod_without_confirmation():
    stack = FakeStack("prod")
    code, result = run("deploy", "prod", stack=stack)
    assert (code, result) == (3, {"error": "refusing to change prod without confirmation: pass --yes"})
    assert stack.calls == []


def test_deploy_previews_then_updates():
    stack = FakeStack("prod")
    code, result = run("deploy", "prod", "--yes", stack=stack)
    assert (code, result) == (0, {"stack": "prod", "result": "succeeded"})
    assert stack.calls == ["preview", "up"]


def test_a_failed_update_is_a_failed_deploy():
    code, result = run("deploy", "staging", stack=FakeStack("staging", up_result="failed"))
    assert (code, result["result"]) == (1, "failed")


def test_without_the_pulumi_cli_commands_that_need_it_say_so(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    out = io.StringIO()
    code = cli.main(["status", "staging", "--json"], out=out)
    assert code == 3
    assert json.loads(out.getvalue())["error"].startswith("the Pulumi CLI is not installed")


def test_a_release_that_fails_during_up_is_explained_not_a_traceback():
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from ops.stack import AutomationStack

    stack = AutomationStack.__new__(AutomationStack)  # no CLI here: only the error handling is exercised
    stack.name = "staging"

    def failing_up() -> str:
        stderr = "error: release of greeter-staging version 2 failed: deployment d-1 Stopped\n  alarm fired"
        raise CommandError(CommandResult("", stderr, 255))

    with pytest.raises(OpsError) as failed:
        stack._run("up", failing_up)
    assert failed.value.exit_code == 1
    assert str(failed.value) == (
        "pulumi up failed for staging:\nerror: release of greeter-staging version 2 failed: deployment d-1 Stopped\n"
        "alarm fired"
    )


def test_commands_work_in_the_stacks_region_not_the_shells(published_function, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")  # the function is in us-east-1
    code, result = run("status", "staging", stack=FakeStack("staging", {**OUTPUTS, "deploymentLogTableName": None}))
    assert code == 0
    greeter = next(s for s in result["services"] if s["service"] == "greeter")
    assert greeter["live"] == "1", "found in us-east-1, where the stack is"


def test_without_credentials_commands_that_touch_aws_say_so(monkeypatch):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from ops.stack import aws_session

    with pytest.raises(OpsError) as refused:
        aws_session("us-east-1")
    assert refused.value.exit_code == 3 and "no usable AWS credentials" in str(refused.value)


# --- status and rollback against AWS on loopback


def test_status_shows_live_versions_alarms_and_last_releases(published_function):
    create_log_table()
    record_success("1", "0", "2026-11-01T00:00:00+00:00")
    code, result = run("status", "staging", stack=FakeStack("staging", OUTPUTS))
    assert code == 0
    greeter = next(s for s in result["services"] if s["service"] == "greeter")
    assert greeter["live"] == "1"
    assert greeter["inFlight"] == []
    assert greeter["lastReleases"][0]["version"] == "1"


def test_status_shows_where_the_traffic_of_an_in_flight_release_is(published_function, codedeploy_groups):
    create_log_table()
    deployment = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", "2", HOOKS)),
    )["deploymentId"]
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM[:1])  # 10% on version 2
    boto3.client("codedeploy").get_deployment(deploymentId=deployment)
    code, result = run("status", "staging", stack=FakeStack("staging", OUTPUTS))
    assert code == 0
    greeter = next(s for s in result["services"] if s["service"] == "greeter")
    [in_flight] = greeter["inFlight"]
    assert (in_flight["deploymentId"], in_flight["status"]) == (deployment, "InProgress")
    assert in_flight["traffic"] == {"version 2": 10.0}


def test_status_lists_the_newest_records_first_whatever_their_status(published_function):
    create_log_table()
    record_success("1", "0", "2026-11-01T00:00:00+00:00")
    drill = ReleaseRecord(
        "greeter", "staging", "drill-1", "1", "9", "DRILL", "2026-11-03T00:00:00+00:00", "lambda-canary"
    )
    put_once(boto3.client("dynamodb"), TABLE, drill)
    code, result = run("status", "staging", stack=FakeStack("staging", OUTPUTS))
    assert code == 0
    greeter = next(s for s in result["services"] if s["service"] == "greeter")
    assert [(r["status"], r["version"]) for r in greeter["lastReleases"]] == [("DRILL", "9"), ("SUCCEEDED", "1")]


def test_rollback_puts_the_last_known_good_version_back_and_pins_it(published_function):
    create_log_table()
    record_success("1", "0", "2026-11-01T00:00:00+00:00")
    record_success("2", "1", "2026-11-02T00:00:00+00:00")
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")  # the suspect
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "greeter", stack=stack)
    assert code == 0
    [done] = result["rollbacks"]
    assert (done["action"], done["from"], done["to"]) == ("alias-flipped", "3", "2")
    alias = published_function.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "2"
    assert stack.config == {"rollback-guard:function.pinnedVersion": "2"}, "the next up keeps version 2"


def test_rollback_of_an_in_flight_deployment_stops_it_with_rollback(published_function, codedeploy_groups):
    deployment = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", "2", HOOKS)),
    )["deploymentId"]
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM[:1])
    boto3.client("codedeploy").get_deployment(deploymentId=deployment)  # now InProgress
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "greeter", stack=stack)
    assert code == 0
    assert result["rollbacks"] == [{"service": "greeter", "action": "stopped", "deploymentId": deployment, "pin": None}]
    assert codedeploy_groups.stopped_deployments == [{"deploymentId": deployment, "autoRollbackEnabled": True}]
    assert stack.config == {}


def test_rollback_without_a_known_good_version_is_refused(published_function):
    create_log_table()
    code, result = run("rollback", "staging", "greeter", stack=FakeStack("staging", OUTPUTS))
    assert (code, result) == (2, {"error": "no known-good version of greeter other than the live one (1)"})


def test_rollback_of_an_unknown_service_names_the_known_ones(published_function):
    code, result = run("rollback", "staging", "billing", stack=FakeStack("staging", OUTPUTS))
    assert (code, result) == (2, {"error": "no service 'billing' in this stack; services: web, greeter"})


def test_an_ecs_rollback_shifts_back_all_at_once_to_the_previous_release_and_pins_it(codedeploy_groups):
    arns = ecs_service_on(live=1)
    codedeploy = boto3.client("codedeploy")
    for arn in arns:  # two releases, both succeeded: 1.28 is live and suspect
        codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
        deployment = codedeploy.create_deployment(
            applicationName="web",
            deploymentGroupName="web-deploy",
            revision=appspec.revision(appspec.ecs_appspec(arn, "web", 80, {})),
        )["deploymentId"]
        codedeploy.get_deployment(deploymentId=deployment)
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "web", stack=stack)
    assert code == 0
    [done] = result["rollbacks"]
    assert (done["action"], done["from"], done["to"]) == ("shifted-back", "web-staging:2", "web-staging:1")
    shift_back = codedeploy.get_deployment(deploymentId=done["deploymentId"])["deploymentInfo"]
    assert shift_back["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert stack.config == {"rollback-guard:deployment.pinnedRevision": "web-staging:1"}


# --- redeploy: the full path


def test_redeploy_pins_the_version_and_releases_it_through_the_canary():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "2", "--service", "greeter", stack=stack)
    assert (code, result["result"]) == (0, "succeeded")
    assert stack.config == {
        "rollback-guard:function.pinnedVersion": "2",
        "rollback-guard:function.retryRevision": "2",
    }
    assert stack.calls == ["up"]


def test_redeploy_asks_which_service_when_there_are_several():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "2", stack=stack)
    assert (code, result) == (2, {"error": "this stack releases web, greeter: name one with --service"})
    assert stack.config == {}


def test_redeploy_refuses_a_version_that_is_not_one():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "latest", "--service", "greeter", stack=stack)
    assert (code, result) == (2, {"error": "--to 'latest': a lambda revision such as 7"})
    assert stack.config == {}, "nothing written before the version is known to be one"


def test_redeploy_of_prod_needs_confirmation():
    stack = FakeStack("prod", OUTPUTS)
    code, result = run("redeploy", "prod", "--to", "2", "--service", "greeter", stack=stack)
    assert (code, result) == (3, {"error": "refusing to change prod without confirmation: pass --yes"})
    assert stack.config == {} and stack.calls == []


# --- game day


def test_game_days_are_refused_in_prod():
    code, result = run("gameday", "prod", stack=FakeStack("prod", OUTPUTS))
    assert (code, result) == (
        3,
        {"error": "game days run in staging only: a drill deliberately releases a broken version"},
    )


class Clock:
    """Ten seconds pass per reading: the drill's start, then the end."""

    def __init__(self):
        self.now = datetime(2026, 11, 26, 4, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        self.now += 10
        return self.now


def drill(codedeploy_groups, *, sla_minutes: str | None = None, steps=None):
    create_log_table()
    codedeploy_groups.script_next_deployment(steps or ROLLED_BACK_BY_ALARM[-1:])
    args = ["gameday", "staging", "--service", "greeter"] + (["--sla-minutes", sla_minutes] if sla_minutes else [])
    return run(*args, stack=FakeStack("staging", OUTPUTS))


def test_a_game_day_releases_a_broken_version_and_times_the_automatic_rollback(published_function, codedeploy_groups):
    code, result = drill(codedeploy_groups)
    assert code == 0
    report = result["drill"]
    assert (report["broken_version"], report["live_version"]) == ("4", "1")
    assert report["rolled_back"] is True and report["passed"] is True
    assert report["caught_by"] == "alarm"
    assert report["time_to_recover_seconds"] == 10.0
    assert report["sla_seconds"] == 390 + 10 + 300, "the staging budget plus the drill margin"
    configuration = published_function.get_function_configuration(FunctionName=FUNCTION)
    assert "ROLLBACK_GUARD_DRILL_FAULT" not in (configuration.get("Environment") or {}).get("Variables", {})
    broken = published_function.get_function_configuration(FunctionName=FUNCTION, Qualifier="4")
    assert broken["Environment"]["Variables"]["ROLLBACK_GUARD_DRILL_FAULT"] == "1"
    logged = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert [item["status"]["S"] for item in logged] == ["DRILL"]


def test_a_drill_says_when_the_pre_traffic_hook_caught_the_broken_version(published_function, codedeploy_groups):
    hook_failed = [
        {
            "status": "Failed",
            "errorInformation": {"code": "HEALTH_CONSTRAINTS"},
            "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK9"},
            "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Failed"))],
        }
    ]
    code, result = drill(codedeploy_groups, steps=hook_failed)
    assert code == 0
    assert result["drill"]["caught_by"] == "hook BeforeAllowTraffic"
    assert result["drill"]["time_to_detect_seconds"] is None, "no alarm: users never saw the version"


def test_a_drill_that_misses_its_sla_fails(published_function, codedeploy_groups):
    code, result = drill(codedeploy_groups, sla_minutes="0.1")
    assert code == 1
    assert result["drill"]["passed"] is False and result["drill"]["rolled_back"] is True


def test_a_drill_whose_broken_version_goes_live_fails(published_function, codedeploy_groups):
    code, result = drill(codedeploy_groups, steps=[{"status": "Succeeded"}])
    assert code == 1
    assert result["drill"]["rolled_back"] is False
    assert "automatic rollback did not happen" in result["drill"]["outcome"]
