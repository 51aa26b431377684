"""The operations command line: decisions with a fake Automation API stack, AWS calls against AWS
on loopback, `plan` on the real stack files, exit codes and the --json shape."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from datetime import UTC, datetime

import boto3
import pytest

import ops.budget
from ops import cli
from ops.budget import codedeploy_schedule, share_at
from ops.offline import ROOT, use_config
from ops.stack import OpsError
from rollback_guard.components.codedeploy import TimeBasedShift
from rollback_guard.hooks.deployment_log import SUCCEEDED, ReleaseRecord, put_once
from rollback_guard.hooks.revisions import describe
from rollback_guard.release import appspec
from rollback_guard.release.engine import LambdaTarget, ReleaseFailed, Releaser, ReleaseRequest
from rollback_guard.release.history import LogRef
from settings import load_settings
from tests.hook_runs import fire_alarm
from tests.local_aws import Fault
from tests.scenarios import (
    FUNCTION,
    HOOKS,
    ROLLED_BACK_BY_ALARM,
    TABLE,
    create_log_table,
    ecs_service_on,
    greeter,
    lambda_target,
)


class FakeStack:
    """Stands in for the Automation API stack: records what the commands ask of it."""

    def __init__(
        self, name: str, outputs: dict | None = None, up_result: str = "succeeded", backend: str = "s3://state"
    ):
        self.name, self._outputs, self._up_result, self._backend = name, outputs or {}, up_result, backend
        self.config: dict[str, str] = {}
        self.calls: list[str] = []

    def region(self) -> str:
        return "us-east-1"

    def outputs(self) -> dict:
        return self._outputs

    def set_config(self, key: str, value: str) -> None:
        self.config[key] = value

    def get_config(self, key: str) -> str | None:
        return self.config.get(key)

    def remove_config(self, key: str) -> None:
        self.config.pop(key, None)

    def backend_url(self) -> str:
        return self._backend

    def preview(self, on_output) -> str:
        self.calls.append("preview")
        return "preview"

    def up(self, on_output) -> str:
        self.calls.append("up")
        return self._up_result


class FakeTime:
    """Sleeping takes no time but moves the monotonic clock on, so deadlines still come."""

    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def run(*argv: str, stack: FakeStack | None = None, clock=None, session_factory=None, errors=None) -> tuple[int, dict]:
    out, err, fake_time = io.StringIO(), io.StringIO(), FakeTime()
    code = cli.main(
        [*argv, "--json"],
        stack_factory=lambda name: stack,
        session_factory=session_factory or (lambda region: boto3.Session(region_name=region)),
        out=out,
        err=err,
        clock=clock or Clock(),
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )
    if errors is not None:
        errors.append(err.getvalue())
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
    "settings": {
        "pin": "rollback-guard:functions.greeter.pinnedVersion",
        "retry": "rollback-guard:functions.greeter.retryRevision",
    },
}
ECS_PATH = {
    "service": "web",
    "kind": "ecs",
    "strategy": "codedeploy-blue-green",
    "application": "web",
    "deploymentGroup": "web-deploy",
    "cluster": "web-cluster",
    "ecsService": "web-service",
    "container": "web",
    "containerPort": 80,
    "alarms": [],
    "settings": {
        "pin": "rollback-guard:services.web.deployment.pinnedRevision",
        "retry": "rollback-guard:services.web.deployment.retryRevision",
    },
}
OUTPUTS = {"environment": "staging", "deploymentLogTableName": TABLE, "releasePaths": [ECS_PATH, LAMBDA_PATH]}


def record_success(version: str, previous: str, when: str) -> None:
    record = ReleaseRecord("greeter", "staging", f"d-{version}", previous, version, SUCCEEDED, when, "lambda-canary")
    put_once(boto3.client("dynamodb"), TABLE, record)


# --- plan: offline, on the real stack files


@pytest.fixture(autouse=True, scope="module")
def budgets_once_per_settings():
    """The detection model's budgets (seconds of Monte Carlo per stack) computed once per module for
    each distinct settings and run counts: `budgets` is a pure function of them (a fixed seed), so
    every test and command here still reads exactly what it would compute. The commands import it
    from ops.budget when they run."""
    computed = ops.budget.budgets
    cache: dict[tuple, list] = {}

    def budgets(settings, runs=ops.budget.PLAN_RUNS, healthy_runs=ops.budget.PLAN_HEALTHY_RUNS):
        key = (type(settings).__qualname__, settings.model_dump_json(), runs, healthy_runs)
        if key not in cache:
            cache[key] = computed(settings, runs=runs, healthy_runs=healthy_runs)
        return list(cache[key])

    patch = pytest.MonkeyPatch()
    patch.setattr(ops.budget, "budgets", budgets)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def plan_prod_printed(tmp_path_factory) -> str:
    """What `ops plan prod` prints, once for the tests that read it."""
    out = io.StringIO()
    assert cli.main(["plan", "prod", "--png", str(tmp_path_factory.mktemp("plan") / "plan.png")], out=out) == 0
    return out.getvalue()


@pytest.mark.parametrize(("stack", "traffic"), [("staging", 1.0), ("prod", 10.0)])
def test_plan_gives_every_release_path_the_detection_models_figures_offline(tmp_path, stack, traffic):
    code, result = run("plan", stack, "--png", str(tmp_path / "timeline.png"))
    assert code == 0
    assert result["resources"]["total"] > 60
    assert result["resources"]["byType"]["aws:codedeploy/deploymentGroup:DeploymentGroup"] == 2
    assert [(b["path"], b["strategy"]) for b in result["budgets"]] == [
        ("web", "codedeploy-blue-green"),
        ("greeter", "lambda-canary"),
    ]
    for budget in result["budgets"]:
        assert budget["requests_per_second"] == traffic, "at the traffic the stack file declares"
        scenarios = {scenario["scenario"]: scenario for scenario in budget["scenarios"]}
        assert list(scenarios) == [
            "fails-every-request-probed",
            "fails-every-request",
            "fails-20-percent",
            "regression-5-percent",
            "healthy",
            "healthy-at-threshold",
        ]
        for scenario in scenarios.values():
            assert set(scenario["detectors"]) == {"static", "judge+probes", "all"}
        bad = scenarios["fails-every-request"]["detectors"]["all"]
        assert bad["miss_rate"] == 0 and bad["restore_median_s"] <= bad["restore_p95_s"]
        assert bad["exposure_p95_percent"] <= 100 and bad["errors_served_p95"] > 0
        assert scenarios["healthy"]["detectors"]["all"]["false_rollback_rate"] is not None
        assert budget["recovery_seconds"] == math.ceil(bad["restore_p95_s"])
        assert budget["assessment"]["missRateRealTraffic"] == bad["miss_rate"]
    assert any("ingestion delay: uniform 60-150 s" in line for line in result["model"]["assumptions"])
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_in_prod_the_judge_restores_traffic_sooner_than_the_alarms_alone_could():
    use_config("prod", {})
    for budget in ops.budget.budgets(load_settings()):
        for scenario in ("fails-every-request-probed", "fails-every-request", "fails-20-percent"):
            runs, alarms = budget.outcomes[scenario]["all"], budget.outcomes[scenario]["static"]
            assert runs.restore_p95_s < alarms.restore_p95_s, (budget.path, scenario)
            assert runs.exposure_p95_percent < alarms.exposure_p95_percent, (budget.path, scenario)
        probed = budget.outcomes["fails-every-request-probed"]["all"]
        assert probed.restore_p95_s <= 2 * 60 and probed.exposure_p95_percent == 10, "probes act on the first step"


def test_plan_prints_each_paths_figures_with_their_units(plan_prod_printed):
    printed = plan_prod_printed
    assert "greeter (lambda-canary, CodeDeployDefault.LambdaLinear10PercentEvery1Minute) at 10 req/s" in printed
    assert "time to restore median/p95, exposure p95, errors served p95, never rolled back" in printed
    line = next(line for line in printed.splitlines() if "fails every request, only real traffic shows it" in line)
    assert re.search(r"\d+\.\d/\d+\.\d min, \d+%, \d+ errors, \d+% missed; alarms alone: ", line), line
    assert "healthy releases rolled back: 0.1%: " in printed
    assert "errors at the threshold, 1%: " in printed
    assert (
        "this Lambda linear (CodeDeployDefault.LambdaLinear10PercentEvery1Minute) misses 0% of bad releases" in printed
    )
    assert "CodeDeploy alarm polling: every 60 s at a random phase while the deployment runs" in printed


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
    budget = next(b for b in ops.budget.budgets(load_settings()) if b.path == path)
    assert budget.watch_after_last_shift_seconds == watch_minutes * 60
    late = budget.outcomes["fails-every-request"]["all"]
    assert late.miss_rate == 0, "nothing the model sees outlasts the watch"


def test_plan_names_the_traffic_below_which_the_alarms_are_blind_at_each_step():
    use_config("prod", {})
    greeter = next(b for b in ops.budget.budgets(load_settings()) if b.path == "greeter")
    blind = {b.share_percent: b.requests_per_second for b in greeter.blind_below}
    # 50 invocations of the new version a minute: at 10% that takes 50 / (0.1 * 60) requests a second.
    assert (blind[10.0], blind[50.0], blind[100.0]) == (8.33, 1.67, 0.83)
    assert len(blind) == 10


def test_the_detection_page_shows_what_ops_plan_prints_for_prod_today(plan_prod_printed):
    printed = "".join(line for line in plan_prod_printed.splitlines(keepends=True) if "timeline:" not in line)
    page = (ROOT / "docs" / "detection.md").read_text()
    assert f"```\n{printed}```" in page, "run `make figures`: docs/detection.md shows `python -m ops plan prod`"


def test_a_canary_keeps_a_bad_version_to_its_first_step_when_the_judge_or_its_probes_catch_it():
    use_config("prod", greeter({"deploymentConfig": "CodeDeployDefault.LambdaCanary10Percent15Minutes"}))
    budget = next(b for b in ops.budget.budgets(load_settings()) if b.path == "greeter")
    for scenario in ("fails-every-request-probed", "fails-every-request", "fails-20-percent"):
        assert budget.outcomes[scenario]["all"].exposure_p95_percent == 10.0, scenario


# --- deploy and the command line's contract


def test_deploy_shows_the_preview_before_asking_to_change_prod():
    stack = FakeStack("prod")
    code, result = run("deploy", "prod", stack=stack)
    assert (code, result) == (3, {"error": "refusing to change prod without confirmation: pass --yes"})
    assert stack.calls == ["preview"], "the preview was shown; nothing changed"


def test_deploy_previews_then_updates():
    stack = FakeStack("prod")
    code, result = run("deploy", "prod", "--yes", stack=stack)
    assert (code, result) == (0, {"stack": "prod", "result": "succeeded"})
    assert stack.calls == ["preview", "up"]


def test_a_failed_update_is_a_failed_deploy():
    code, result = run("deploy", "staging", stack=FakeStack("staging", up_result="failed"))
    assert (code, result["result"]) == (1, "failed")


def test_deploy_without_credentials_stops_before_anything_runs():
    def no_credentials(region):
        raise OpsError("no usable AWS credentials (Unable to locate credentials)", 3)

    stack = FakeStack("staging")
    code, result = run("deploy", "staging", stack=stack, session_factory=no_credentials)
    assert (code, stack.calls) == (3, [])
    assert result["error"].startswith("no usable AWS credentials")


def test_deploy_on_the_local_file_backend_needs_its_passphrase(monkeypatch):
    for variable in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(variable, raising=False)
    stack = FakeStack("staging", backend="file://~")
    code, result = run("deploy", "staging", stack=stack)
    assert (code, stack.calls) == (3, [])
    assert "PULUMI_CONFIG_PASSPHRASE" in result["error"]

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")  # an empty passphrase is one
    assert run("deploy", "staging", stack=stack)[0] == 0


def test_deploy_runs_preflight_first_and_changes_nothing_when_the_stack_cannot_roll_back(local_aws):
    local_aws.reset()  # the function, and its alias `live`, are gone
    greeter = {
        "service": "greeter",
        "kind": "lambda",
        "strategy": "lambda-canary",
        "function": FUNCTION,
        "alias": "live",
    }
    stack = FakeStack("staging", {"environment": "staging", "releasePaths": [greeter]})
    code, result = run("deploy", "staging", stack=stack)
    assert (code, stack.calls) == (1, []), "stopped before the preview"
    assert result["error"] == (
        "not deploying: the stack is not ready to roll back (preflight, above): fix what it says, or pass "
        "--skip-preflight"
    )
    assert [finding["line"] for finding in result["findings"]] == [
        f"not-ready live-revision: function {FUNCTION}:live: does not exist: there is no live revision for traffic "
        "to return to; run `pulumi up --refresh`, which creates it"
    ]


def test_deploy_skips_preflight_when_told_to(local_aws):
    local_aws.calls.clear()
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("deploy", "staging", "--skip-preflight", stack=stack)
    assert (code, result, stack.calls) == (0, {"stack": "staging", "result": "succeeded"}, ["preview", "up"])
    assert local_aws.calls == [], "nothing read from AWS"


def test_a_first_deploy_goes_ahead_with_preflights_note(capsys):
    stack = FakeStack("staging")  # nothing deployed yet: no outputs
    code, result = run("deploy", "staging", stack=stack)
    assert (code, result, stack.calls) == (0, {"stack": "staging", "result": "succeeded"}, ["preview", "up"])
    assert "preflight: note first-deploy: stack: nothing is deployed yet" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["plan"], ["deploy"], ["status"], ["rollback"], ["redeploy", "--to", "2"], ["gameday"]]
)
def test_an_unknown_stack_is_bad_input_for_every_command(command):
    errors: list[str] = []
    code, result = run(command[0], "qa", *command[1:], errors=errors)
    assert (code, result) == (2, {"error": "no stack file Pulumi.qa.yaml; stacks: pipeline, prod, staging"})
    assert errors == ["error: no stack file Pulumi.qa.yaml; stacks: pipeline, prod, staging\n"], "said on stderr"


def test_a_stack_the_backend_does_not_know_is_bad_input_without_pulumis_dump(monkeypatch):
    from pulumi import automation
    from pulumi.automation._cmd import CommandResult

    from ops.stack import AutomationStack

    def no_such_stack(**kwargs):
        raise automation.errors.CommandError(CommandResult("", "error: no stack named 'staging' found", 255))

    monkeypatch.setattr("shutil.which", lambda name: "/usr/local/bin/pulumi")
    monkeypatch.setattr(automation, "select_stack", no_such_stack)
    with pytest.raises(OpsError) as refused:
        AutomationStack("staging")
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        "no stack staging in the current Pulumi backend (`pulumi stack ls`); create it with `pulumi stack init staging`"
    )


def test_a_malformed_version_is_refused_before_anything_needs_the_cli():
    def no_cli(name):
        raise AssertionError("the stack was opened for a --to that cannot be right")

    out = io.StringIO()
    code = cli.main(
        ["redeploy", "staging", "--to", "latest", "--json"], stack_factory=no_cli, out=out, err=io.StringIO()
    )
    assert code == 2
    assert json.loads(out.getvalue())["error"] == (
        "--to 'latest': a Lambda version such as 7 or a task definition revision such as web-prod:7"
    )


def test_without_json_the_output_is_readable_text(published_function):
    create_log_table()
    out = io.StringIO()
    code = cli.main(
        ["status", "staging", "--service", "greeter"],
        stack_factory=lambda name: FakeStack("staging", OUTPUTS),
        session_factory=lambda region: boto3.Session(region_name=region),
        out=out,
        err=io.StringIO(),
    )
    assert code == 0
    assert out.getvalue().splitlines() == ["staging:", "  greeter (lambda-canary): live 1; alarms: none"]


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


def succeeded(local_aws, application: str, spec: dict, target: str, source: str, **extra) -> str:
    """A release that went through: created as the release resource creates it, ended Succeeded."""
    local_aws.script_next_deployment([{"status": "Succeeded"}])
    codedeploy = boto3.client("codedeploy")
    deployment = codedeploy.create_deployment(
        applicationName=application,
        deploymentGroupName=f"{application}-deploy",
        revision=appspec.revision(spec),
        description=describe("release", target, source, "a release"),
        **extra,
    )["deploymentId"]
    codedeploy.get_deployment(deploymentId=deployment)
    return deployment


def lambda_releases(local_aws, *steps: tuple[str, str]) -> None:
    for source, target in steps:
        succeeded(local_aws, "greeter", appspec.lambda_appspec(FUNCTION, "live", source, target, HOOKS), target, source)


def rollback_records() -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [{k: v["S"] for k, v in item.items()} for item in items if item["status"]["S"] == "ROLLED_BACK"]


def live_version(client) -> str:
    return client.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]


def test_rollback_goes_back_to_the_version_before_the_release_and_records_who_when_and_why(
    published_function, codedeploy_groups
):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"), ("2", "3"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")  # the suspect
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "--service", "greeter", "--reason", "checkout errors", stack=stack)
    assert code == 0
    [done] = result["rollbacks"]
    assert (done["action"], done["from"], done["to"]) == ("alias-flipped", "3", "2")
    assert live_version(published_function) == "2"
    assert stack.config == {"rollback-guard:functions.greeter.pinnedVersion": "2"}, "the next up keeps version 2"
    [record] = rollback_records()
    assert (record["previousVersion"], record["version"], record["reason"]) == ("3", "2", "checkout errors")
    assert record["by"] == boto3.client("sts").get_caller_identity()["Arn"]
    assert datetime.fromisoformat(record["deploymentCreatedAt"]) <= datetime.now(UTC)


def test_a_second_rollback_goes_further_back_never_to_the_bad_version(published_function, codedeploy_groups):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"), ("2", "3"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")
    stack = FakeStack("staging", OUTPUTS)

    assert run("rollback", "staging", "--service", "greeter", stack=stack)[0] == 0
    assert live_version(published_function) == "2"
    code, result = run("rollback", "staging", "--service", "greeter", stack=stack)
    assert code == 0
    assert (result["rollbacks"][0]["from"], result["rollbacks"][0]["to"]) == ("2", "1"), "3 was rolled back"
    assert live_version(published_function) == "1"

    code, result = run("rollback", "staging", "--service", "greeter", stack=stack)
    assert code == 2
    assert result["rollbacks"][0]["error"].startswith("no known-good version of greeter to go back to from 1")
    assert live_version(published_function) == "1"


def test_rollback_says_why_by_default_with_the_alarms_in_alarm(published_function, codedeploy_groups):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    fire_alarm()
    code, result = run("rollback", "staging", "--service", "greeter", stack=FakeStack("staging", OUTPUTS))
    assert code == 0
    assert result["rollbacks"][0]["reason"] == "alarms in ALARM: greeter-rollback-error-rate"


def test_a_rolled_back_version_is_refused_by_the_next_up_even_without_the_pin(published_function, codedeploy_groups):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    run("rollback", "staging", "--service", "greeter", stack=FakeStack("staging", OUTPUTS))

    # The pipeline's next up, from git, where nobody committed the pin: it wants version 2 again.
    request = ReleaseRequest(
        "greeter",
        "greeter-deploy",
        LambdaTarget(FUNCTION, "live", "2", HOOKS),
        log=LogRef(TABLE, "greeter", "staging"),
    )
    fake_time = FakeTime()
    releaser = Releaser("us-east-1", on_progress=lambda line: None, sleep=fake_time.sleep, clock=fake_time.monotonic)
    with pytest.raises(ReleaseFailed) as refused:
        releaser.release(request)
    assert refused.value.summary.startswith(f"refusing to release {FUNCTION} version 2 again: it was rolled back (")
    assert "rolled back by arn:aws:sts::123456789012:user/moto" in refused.value.summary


def test_rollback_of_an_in_flight_deployment_stops_it_and_records_it(published_function, codedeploy_groups):
    create_log_table()
    deployment = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", "2", HOOKS)),
        description=describe("release", "2", "1", "a release"),
    )["deploymentId"]
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM[:1])
    boto3.client("codedeploy").get_deployment(deploymentId=deployment)  # now InProgress
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "--service", "greeter", stack=stack)
    assert code == 0
    [done] = result["rollbacks"]
    assert (done["action"], done["deploymentId"], done["pin"]) == ("stopped", deployment, None)
    assert (done["from"], done["to"]) == ("2", "1")
    assert codedeploy_groups.stopped_deployments == [{"deploymentId": deployment, "autoRollbackEnabled": True}]
    assert stack.config == {}
    assert [(r["previousVersion"], r["version"]) for r in rollback_records()] == [("2", "1")]


def test_rollback_never_stops_codedeploys_own_rollback(published_function, codedeploy_groups):
    deployment = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "2", "1", HOOKS)),
    )["deploymentId"]
    codedeploy_groups.script_next_deployment([{"status": "InProgress", "creator": "codeDeployRollback"}])
    boto3.client("codedeploy").get_deployment(deploymentId=deployment)

    code, result = run("rollback", "staging", "--service", "greeter", stack=FakeStack("staging", OUTPUTS))
    assert code == 0
    assert result["rollbacks"][0]["action"] == "already-rolling-back"
    assert codedeploy_groups.stopped_deployments == []


def test_rollback_of_a_shift_stuck_half_way_takes_the_weight_off_the_new_version(published_function, codedeploy_groups):
    create_log_table()
    # CodeDeploy's rollback failed: the alias is still on 1 with a tenth of the traffic on 3.
    published_function.update_alias(
        FunctionName=FUNCTION, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}}
    )
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("rollback", "staging", "--service", "greeter", stack=stack)
    assert code == 0
    [done] = result["rollbacks"]
    assert (done["action"], done["from"], done["to"]) == ("weights-cleared", "3", "1")
    alias = published_function.get_alias(FunctionName=FUNCTION, Name="live")
    assert (alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) in (
        ("1", None),
        ("1", {}),
    )
    assert stack.config == {"rollback-guard:functions.greeter.pinnedVersion": "1"}


def test_a_rollback_whose_record_cannot_be_written_still_pins_and_warns(published_function, codedeploy_groups):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    codedeploy_groups.inject("PutItem", Fault(error="AccessDeniedException"))
    stack, errors = FakeStack("staging", OUTPUTS), []
    code, result = run("rollback", "staging", "--service", "greeter", stack=stack, errors=errors)
    assert code == 0
    assert live_version(published_function) == "1"
    assert stack.config == {"rollback-guard:functions.greeter.pinnedVersion": "1"}
    assert result["rollbacks"][0]["warning"].startswith("rolled back, but not recorded in the deployment log")
    assert errors[0].startswith("warning: greeter: rolled back, but not recorded")


def test_a_shift_back_waiting_for_approval_is_continued(codedeploy_groups):
    create_log_table()
    ecs_releases(codedeploy_groups, ecs_service_on(live=1))
    codedeploy_groups.script_next_deployment(
        [{"status": "Ready"}, {"status": "InProgress", "instanceTerminationWaitTimeStarted": True}]
    )
    code, result = run("rollback", "staging", "--service", "web", stack=FakeStack("staging", OUTPUTS))
    assert (code, result["rollbacks"][0]["action"]) == (0, "shifted-back")
    assert "ContinueDeployment" in codedeploy_groups.calls


def test_a_shift_back_that_never_moves_traffic_is_a_failure_not_a_traceback(codedeploy_groups):
    create_log_table()
    ecs_releases(codedeploy_groups, ecs_service_on(live=1))
    codedeploy_groups.script_next_deployment([{"status": "InProgress"}])  # forever
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("rollback", "staging", "--service", "web", stack=stack)
    assert code == 1
    assert result["rollbacks"][0]["error"].startswith("the shift back to web-staging:1 has not moved traffic:")
    assert stack.config == {}


def test_rollback_in_prod_needs_confirmation(published_function):
    stack = FakeStack("prod", OUTPUTS)
    code, result = run("rollback", "prod", "--service", "greeter", stack=stack)
    assert (code, result) == (3, {"error": "refusing to change prod without confirmation: pass --yes"})
    assert live_version(published_function) == "1" and stack.config == {}


def test_rollback_of_an_unknown_service_names_the_known_ones(published_function):
    code, result = run("rollback", "staging", "--service", "billing", stack=FakeStack("staging", OUTPUTS))
    assert (code, result) == (2, {"error": "no service 'billing' in this stack; services: web, greeter"})


def test_a_rollback_of_several_services_reports_each(published_function, codedeploy_groups):
    create_log_table()
    lambda_releases(codedeploy_groups, ("1", "2"))
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    code, result = run("rollback", "staging", stack=FakeStack("staging", OUTPUTS))
    web, greeter = result["rollbacks"]
    assert (web["service"], web["exitCode"]) == ("web", 2), "web has nothing to go back to"
    assert (greeter["action"], greeter["to"]) == ("alias-flipped", "1"), "greeter still rolled back"
    assert code == 2


def ecs_releases(local_aws, arns: list[str]) -> None:
    """The service created on the first task definition, then each next one released."""
    for previous, arn in itertools.pairwise(arns):
        source, target = appspec.task_definition_revision(previous), appspec.task_definition_revision(arn)
        succeeded(local_aws, "web", appspec.ecs_appspec(arn, "web", 80, {}), target, source)


def test_an_ecs_rollback_is_a_corrective_deployment_the_alarms_cannot_stop(codedeploy_groups):
    create_log_table()
    arns = ecs_service_on(live=1)
    ecs_releases(codedeploy_groups, arns)  # 1.27, then 1.28: live and suspect
    codedeploy_groups.script_next_deployment([{"status": "InProgress", "instanceTerminationWaitTimeStarted": True}])
    stack = FakeStack("staging", OUTPUTS)

    code, result = run("rollback", "staging", "--service", "web", stack=stack)
    assert code == 0, result
    [done] = result["rollbacks"]
    assert (done["action"], done["from"], done["to"]) == ("shifted-back", "web-staging:2", "web-staging:1")
    corrective = codedeploy_groups.created_deployments[-1]
    assert corrective["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert corrective["overrideAlarmConfiguration"] == {"enabled": False, "alarms": []}
    assert corrective["autoRollbackConfiguration"] == {"enabled": False, "events": []}
    assert corrective["description"].startswith("rollback-guard rollback web-staging:1 (from web-staging:2)")
    assert stack.config == {"rollback-guard:services.web.deployment.pinnedRevision": "web-staging:1"}


def test_a_second_ecs_rollback_never_shifts_back_to_the_bad_revision(codedeploy_groups):
    create_log_table()
    arns = ecs_service_on(live=1)
    ecs_releases(codedeploy_groups, arns)
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    stack = FakeStack("staging", OUTPUTS)
    assert run("rollback", "staging", "--service", "web", stack=stack)[0] == 0
    boto3.client("ecs").update_service(cluster="web-cluster", service="web-service", taskDefinition=arns[0])

    code, result = run("rollback", "staging", "--service", "web", stack=stack)
    assert code == 2
    assert result["rollbacks"][0]["error"].startswith("no known-good version of web to go back to from web-staging:1")


def test_a_rollback_while_the_shift_back_keeps_blue_leaves_the_shift_back_alone(codedeploy_groups):
    create_log_table()
    ecs_releases(codedeploy_groups, ecs_service_on(live=1))
    # The shift back has moved traffic and keeps the bad revision (now blue) for the termination wait.
    codedeploy_groups.script_next_deployment([{"status": "InProgress", "instanceTerminationWaitTimeStarted": True}])
    stack = FakeStack("staging", OUTPUTS)
    assert run("rollback", "staging", "--service", "web", stack=stack)[0] == 0
    shift_back = codedeploy_groups.created_deployments[-1]

    code, result = run("rollback", "staging", "--service", "web", stack=stack)
    assert (code, result["rollbacks"][0]["action"]) == (0, "already-rolling-back")
    assert codedeploy_groups.stopped_deployments == [], "stopping it would roll traffic back onto the bad revision"
    assert shift_back["description"].startswith("rollback-guard rollback")


def test_a_shift_back_that_fails_says_so_and_pins_nothing(codedeploy_groups):
    create_log_table()
    ecs_releases(codedeploy_groups, ecs_service_on(live=1))
    codedeploy_groups.script_next_deployment(
        [{"status": "Failed", "errorInformation": {"code": "ECS_UPDATE_ERROR", "message": "tasks failed to start"}}]
    )
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("rollback", "staging", "--service", "web", stack=stack)
    assert code == 1
    assert "the shift back to web-staging:1 failed" in result["rollbacks"][0]["error"]
    assert "tasks failed to start; traffic is still on web-staging:2" in result["rollbacks"][0]["error"]
    assert stack.config == {} and rollback_records() == []


def test_the_shift_back_names_the_release_paths_container_not_the_task_definitions_first(codedeploy_groups):
    create_log_table()
    ecs = boto3.client("ecs")
    ecs_service_on(live=1)
    sidecar_first = ecs.register_task_definition(
        family="web-staging",
        containerDefinitions=[
            {"name": "log-router", "image": "fluent-bit", "memory": 128},
            {"name": "web", "image": "nginx:1.29", "memory": 512, "portMappings": [{"containerPort": 80}]},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs_releases(codedeploy_groups, [sidecar_first.replace(":3", ":2"), sidecar_first])
    ecs.update_service(cluster="web-cluster", service="web-service", taskDefinition=sidecar_first)
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert run("rollback", "staging", "--service", "web", stack=FakeStack("staging", OUTPUTS))[0] == 0
    spec = json.loads(codedeploy_groups.created_deployments[-1]["revision"]["appSpecContent"]["content"])
    properties = spec["Resources"][0]["TargetService"]["Properties"]
    assert properties["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 80}


def test_rollback_reads_the_whole_history_not_only_the_first_page(codedeploy_groups):
    create_log_table()
    arns = ecs_service_on(live=1)
    ecs_releases(codedeploy_groups, arns)
    codedeploy = boto3.client("codedeploy")
    for _ in range(30):  # then 30 attempts that failed before any traffic (infrastructure, say)
        codedeploy_groups.script_next_deployment([{"status": "Failed", "errorInformation": {"code": "INTERNAL_ERROR"}}])
        deployment = codedeploy.create_deployment(
            applicationName="web",
            deploymentGroupName="web-deploy",
            revision=appspec.revision(appspec.ecs_appspec(arns[0].replace(":1", ":3"), "web", 80, {})),
        )["deploymentId"]
        codedeploy.get_deployment(deploymentId=deployment)
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    code, result = run("rollback", "staging", "--service", "web", stack=FakeStack("staging", OUTPUTS))
    assert (code, result["rollbacks"][0]["to"]) == (0, "web-staging:1")


# --- redeploy: the full path


def test_redeploy_pins_the_version_and_releases_it_through_the_canary():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "2", "--service", "greeter", stack=stack)
    assert (code, result["result"]) == (0, "succeeded")
    assert stack.config == {
        "rollback-guard:functions.greeter.pinnedVersion": "2",
        "rollback-guard:functions.greeter.retryRevision": "2",
    }
    assert stack.calls == ["up"]


def test_redeploy_asks_which_service_when_there_are_several():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "2", stack=stack)
    assert (code, result) == (2, {"error": "this stack releases web, greeter: name one with --service"})
    assert stack.config == {}


def test_redeploy_refuses_a_revision_of_the_wrong_kind():
    stack = FakeStack("staging", OUTPUTS)
    code, result = run("redeploy", "staging", "--to", "web-staging:2", "--service", "greeter", stack=stack)
    assert (code, result) == (2, {"error": "--to 'web-staging:2': greeter takes a lambda revision such as 7"})
    assert stack.config == {}, "nothing written before the version is known to be one"


def test_a_failed_preview_of_a_prod_redeploy_leaves_the_stack_as_it_was():
    class FailingPreview(FakeStack):
        def preview(self, on_output) -> str:
            raise OpsError("pulumi preview failed for prod:\nerror: something", 1)

    stack = FailingPreview("prod", OUTPUTS)
    code, _ = run("redeploy", "prod", "--to", "2", "--service", "greeter", stack=stack)
    assert code == 1
    assert stack.config == {}


def test_redeploy_of_prod_shows_the_preview_then_needs_confirmation_and_leaves_the_stack_as_it_was():
    stack = FakeStack("prod", OUTPUTS)
    stack.config["rollback-guard:functions.greeter.pinnedVersion"] = "1"
    code, result = run("redeploy", "prod", "--to", "2", "--service", "greeter", stack=stack)
    assert (code, result) == (3, {"error": "refusing to change prod without confirmation: pass --yes"})
    assert stack.calls == ["preview"]
    assert stack.config == {"rollback-guard:functions.greeter.pinnedVersion": "1"}, "declined: as it was"


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
    use_config("staging", {})
    greeter_budget = next(b for b in ops.budget.budgets(load_settings()) if b.path == "greeter")
    assert report["sla_seconds"] == greeter_budget.recovery_seconds + cli.DRILL_MARGIN_SECONDS, (
        "the model's p95 time to restore in staging plus the drill margin"
    )
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


def test_a_drill_that_never_ran_does_not_pass_and_is_not_recorded(published_function, codedeploy_groups):
    create_log_table()
    someone_elses = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", "2", HOOKS)),
    )["deploymentId"]
    code, result = run("gameday", "staging", "--service", "greeter", stack=FakeStack("staging", OUTPUTS))
    assert code == 1
    report = result["drill"]
    assert (report["ran"], report["passed"], report["rolled_back"]) == (False, False, False)
    assert report["outcome"].startswith("the drill did not run: cannot release greeter-staging version 4:")
    assert someone_elses in report["outcome"]
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Items"] == [], "no drill record"


def test_a_drill_waits_for_each_function_update_before_the_next_step(published_function, codedeploy_groups):
    codedeploy_groups.calls.clear()
    drill(codedeploy_groups)
    steps = [
        call
        for call in codedeploy_groups.calls
        if call in ("UpdateFunctionConfiguration", "PublishVersion", "GetFunction")
    ]
    # Lambda refuses to publish while an update is in progress: each update is waited for (GetFunction).
    assert steps == [
        "GetFunction",
        "UpdateFunctionConfiguration",
        "GetFunction",
        "PublishVersion",
        "GetFunction",
        "UpdateFunctionConfiguration",
        "GetFunction",
    ]


def test_a_drill_whose_restore_fails_says_the_fault_may_still_be_set(published_function, codedeploy_groups):
    codedeploy_groups.inject("UpdateFunctionConfiguration", Fault(error="AccessDeniedException", status=403), after=1)
    code, result = drill(codedeploy_groups)
    assert code == 1
    assert result["error"].startswith(
        "the drill's fault ROLLBACK_GUARD_DRILL_FAULT may still be set on greeter-staging's $LATEST "
        "(the restore failed:"
    )


def test_a_drill_whose_rollback_failed_does_not_pass(published_function, codedeploy_groups):
    codedeploy_groups.rollback_outcomes["d-ROLLBACK1"] = "Failed"
    code, result = drill(codedeploy_groups)
    assert code == 1
    assert (result["drill"]["ran"], result["drill"]["rolled_back"]) == (True, False)


def test_a_drill_that_misses_its_sla_fails(published_function, codedeploy_groups):
    code, result = drill(codedeploy_groups, sla_minutes="0.1")
    assert code == 1
    assert result["drill"]["passed"] is False and result["drill"]["rolled_back"] is True


def test_a_drill_whose_broken_version_goes_live_fails(published_function, codedeploy_groups):
    code, result = drill(codedeploy_groups, steps=[{"status": "Succeeded"}])
    assert code == 1
    assert result["drill"]["rolled_back"] is False
    assert "automatic rollback did not happen" in result["drill"]["outcome"]
