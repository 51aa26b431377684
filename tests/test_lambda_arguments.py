"""Policy for a Lambda canary's arguments, used directly as a library user would: every value AWS or a
production floor would refuse is refused when the component is made, before anything exists, all at
once, one line each naming the argument, the value and what is allowed; the values next to them are
accepted, and so are Outputs where a user would pass one."""

import dataclasses
import json
from pathlib import Path

import pulumi
import pytest

from rollback_guard.components import (
    alarms,
    canary_judge,
    codedeploy,
    dashboard,
    deployment_log,
    release,
    traffic_hooks,
)
from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.arguments import documented_fields
from rollback_guard.components.canary_judge import JudgeOptions
from rollback_guard.components.codedeploy import (
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    TimeBasedShift,
)
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.lambda_function import CanaryFunction, CanaryFunctionArgs
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.testing import run
from tests.library_use import GREETER, refused_before_anything_exists

ROOT = Path(__file__).resolve().parent.parent
SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}
WHAT = "Lambda canary greeter: "
# The other Args and option classes of the Lambda release path.
DOCUMENTED = [
    alarms.LambdaAlarmsArgs,
    alarms.LoadBalancerAlarmsArgs,
    canary_judge.CanaryJudgeArgs,
    canary_judge.LambdaJudgeTarget,
    canary_judge.EcsJudgeTarget,
    canary_judge.TargetGroup,
    codedeploy.AutoRollback,
    codedeploy.EcsDeploymentGroupArgs,
    dashboard.ReleaseDashboardArgs,
    dashboard.LambdaTraffic,
    dashboard.TargetGroupTraffic,
    dashboard.JudgeView,
    deployment_log.DeploymentLogArgs,
    release.ReleaseArgs,
    release.LambdaReleaseTarget,
    release.EcsReleaseTarget,
    release.DeploymentLogRef,
    traffic_hooks.TrafficHooksArgs,
    traffic_hooks.TestTrafficHookArgs,
    traffic_hooks.ReleaseRecorderArgs,
    traffic_hooks.ReleaseContext,
    traffic_hooks.PostShiftWatch,
]
# This project's stacks keep the names they had before names carried the project.
UNPREFIXED = {"rollback-guard:namePrefix": ""}


def canary(name="greeter", **args) -> LambdaCanary:
    args = {"code_path": GREETER, "handler": "app.handler", "smoke_events": [SMOKE_EVENT]} | args
    return LambdaCanary(name, LambdaCanaryArgs(**args))


def refused(**args) -> list[str]:
    """The lines a canary with `args` is refused with, each without the component's prefix."""
    found = refused_before_anything_exists(lambda: canary(**args)).splitlines()
    assert all(line.startswith(WHAT) for line in found), found
    return [line.removeprefix(WHAT) for line in found]


def built(stack="staging", config=None, **args):
    return run(lambda: canary(**args), stack=stack, config=config)


def refused_in(program, stack="staging", config=None) -> str:
    """What `program` is refused for in `stack` with `config`, before it registers anything."""

    def attempt() -> str:
        with pytest.raises(UnsafeConfiguration) as refusal:
            program()
        return str(refusal.value)

    refusal = run(attempt, stack=stack, config=config)
    assert refusal.monitor.registered == [], "nothing is created"
    return refusal.value


# --- a valid program is still accepted


def test_a_canary_with_every_default_is_accepted():
    function = built().inputs("greeter-function")
    assert (function["memorySize"], function["timeout"], function["runtime"]) == (256, 10, "python3.13")


# --- what Lambda refuses, and the values beside it


@pytest.mark.parametrize("memory", [127, 64, 10_241])
def test_a_lambda_canary_refuses_memory_lambda_does_not_offer_naming_the_argument(memory):
    assert refused(memory_mb=memory) == [
        f"LambdaCanaryArgs.memory_mb = {memory}: a whole number from 128 to 10240 MB (Lambda's range)"
    ]


@pytest.mark.parametrize("memory", [128, 10_240])
def test_the_smallest_and_largest_memory_lambda_offers_are_accepted(memory):
    assert built(memory_mb=memory).inputs("greeter-function")["memorySize"] == memory


def test_a_runtime_lambda_deprecated_is_refused_naming_the_runtimes_allowed():
    [line] = refused(runtime="python3.8")
    assert line.startswith("LambdaCanaryArgs.runtime = 'python3.8': one of python3.11, python3.12, python3.13")
    assert "nodejs22.x" in line


def test_a_timeout_the_pre_traffic_hook_cannot_wait_for_is_refused_saying_why():
    # Lambda takes 900 s, but a smoke event is waited for timeout + 10 s and at most 45 s.
    assert refused(timeout_seconds=900) == [
        "LambdaCanaryArgs.timeout_seconds = 900: a whole number from 1 to 35 seconds (the pre-traffic hook waits "
        "timeout_seconds + 10 s for a smoke event, cold start included, and at most 45 s)"
    ]
    assert refused(timeout_seconds=36)[0].startswith("LambdaCanaryArgs.timeout_seconds = 36: ")


def test_the_longest_timeout_is_accepted_with_a_check_timeout_that_covers_its_cold_start():
    function = built(timeout_seconds=35, check_timeout_seconds=45).inputs("greeter-function")
    assert function["timeout"] == 35


def test_a_check_timeout_shorter_than_the_timeout_and_its_cold_start_is_refused():
    assert refused(timeout_seconds=30) == [
        "LambdaCanaryArgs.check_timeout_seconds = 20.0: from 40 (timeout_seconds + 10: a smoke event is the new "
        "version's first invocation, cold start included) to 45"
    ]


def test_a_log_retention_cloudwatch_does_not_offer_is_refused_naming_its_periods():
    [line] = refused(log_retention_days=45)
    assert line.startswith("LambdaCanaryArgs.log_retention_days = 45: one of 1, 3, 5, 7, 14, 30, 60, 90, 120")
    assert line.endswith("(CloudWatch Logs' retention periods, in days; production at least 30)")


@pytest.mark.parametrize("reserved", [0, 10_001])
def test_a_reserved_concurrency_out_of_range_is_refused(reserved):
    [line] = refused(reserved_concurrency=reserved)
    assert line.startswith(f"LambdaCanaryArgs.reserved_concurrency = {reserved}: a whole number from 1 to 10000")


@pytest.mark.parametrize(
    ("handler", "allowed"),
    [
        ("app", "module.function, such as app.handler"),
        ("app.handler " * 20, "at most 128 characters"),
    ],
)
def test_a_handler_lambda_cannot_read_is_refused(handler, allowed):
    [line] = refused(handler=handler)
    assert line.startswith(f"LambdaCanaryArgs.handler = {handler!r}: ") and allowed in line


def test_every_problem_is_refused_at_once_one_line_each():
    found = refused(memory_mb=64, runtime="python3.8", timeout_seconds=900, log_retention_days=45)
    assert [line.split(" = ")[0] for line in found] == [
        "LambdaCanaryArgs.runtime",
        "LambdaCanaryArgs.memory_mb",
        "LambdaCanaryArgs.timeout_seconds",
        "LambdaCanaryArgs.log_retention_days",
    ]


# --- the alarms, the judge and the watch


def test_an_evaluation_cloudwatch_refuses_is_refused_naming_its_fields():
    assert refused(evaluation=AlarmEvaluation(period_seconds=90)) == [
        "LambdaCanaryArgs.evaluation.period_seconds = 90: a whole number from 60 to 86400 seconds in multiples of 60 "
        "(the metrics have one-minute resolution)"
    ]
    assert refused(evaluation=AlarmEvaluation(evaluation_periods=3, datapoints_to_alarm=4)) == [
        "LambdaCanaryArgs.evaluation.datapoints_to_alarm = 4: at most evaluation_periods (3)"
    ]


def test_an_evaluation_slower_than_the_post_traffic_hook_can_watch_is_refused_naming_the_period():
    [line] = refused(evaluation=AlarmEvaluation(period_seconds=300))
    assert line.startswith("LambdaCanaryArgs.evaluation.period_seconds = 300: with datapoints_to_alarm = 3 ")


@pytest.mark.parametrize(("rate", "allowed"), [(0, "above 0"), (100, "can never fire")])
def test_an_error_rate_that_cannot_fire_is_refused(rate, allowed):
    [line] = refused(error_rate_percent=rate)
    assert line.startswith(f"LambdaCanaryArgs.error_rate_percent = {rate}: ") and allowed in line


def test_production_refuses_an_error_rate_above_its_ceiling_naming_the_argument():
    [line] = refused(error_rate_percent=20, production=True)
    assert line == (
        "LambdaCanaryArgs.error_rate_percent = 20: production rolls back at the error rate of at most 10% (20%)"
    )


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (
            JudgeOptions(probes_per_second=11),
            "LambdaCanaryArgs.judge.probes_per_second = 11: a number above 0, at most",
        ),
        (JudgeOptions(max_probes_per_release=-1), "LambdaCanaryArgs.judge.max_probes_per_release = -1: a whole number"),
    ],
)
def test_judge_options_out_of_range_are_refused(options, line):
    assert refused(judge=options)[0].startswith(line)


def test_a_production_judge_without_probes_is_refused_naming_the_option():
    [line] = refused(judge=JudgeOptions(max_probes_per_release=0), production=True)
    assert line.startswith("LambdaCanaryArgs.judge.max_probes_per_release = 0: production's canary judge sends")


@pytest.mark.parametrize(("minutes", "allowed"), [(13, "from 1 to 12 minutes"), (7, "from 8 (the alarms need")])
def test_a_watch_the_hook_cannot_hold_or_shorter_than_the_alarms_need_is_refused(minutes, allowed):
    [line] = refused(watch_minutes=minutes)
    assert line.startswith(f"LambdaCanaryArgs.watch_minutes = {minutes}: ") and allowed in line


def test_the_shortest_and_longest_watch_are_accepted():
    for minutes in (8, 12):
        variables = built(watch_minutes=minutes).inputs("greeter-hooks-post-traffic-function")["environment"]
        assert variables["variables"]["WATCH_SECONDS"] == str(minutes * 60)


def test_a_custom_shift_codedeploy_would_not_complete_in_two_days_is_refused():
    [line] = refused(deployment_config=TimeBasedShift("linear", 1, 2880))
    assert line.startswith("LambdaCanaryArgs.deployment_config = TimeBasedShift(")
    assert "a shift CodeDeploy completes within 2880 minutes (two days); this one takes 288000" in line


def test_a_custom_shift_field_out_of_range_is_refused_naming_the_field():
    [line] = refused(deployment_config=TimeBasedShift("linear", 0, 1))
    assert (
        line
        == "LambdaCanaryArgs.deployment_config.percentage = 0: a whole number from 1 to 100 % (100 moves all traffic at once)"
    )


# --- the function's environment


@pytest.mark.parametrize(
    ("environment", "start"),
    [
        ({"AWS_REGION": "eu-west-1"}, "LambdaCanaryArgs.function_environment names ['AWS_REGION']: "),
        ({"1ST": "x"}, "LambdaCanaryArgs.function_environment names ['1ST']: "),
        ({"PORT": 8080}, "LambdaCanaryArgs.function_environment values {'PORT': 8080}: text"),
        ({"BIG": "x" * 4094}, "LambdaCanaryArgs.function_environment = 4097 bytes of names and values: "),
    ],
)
def test_an_environment_lambda_refuses_is_refused(environment, start):
    [line] = refused(function_environment=environment)
    assert line.startswith(start) and "at most 4096 bytes in all" in line


def test_the_largest_environment_lambda_takes_is_accepted_with_an_output_among_its_values():
    environment = {"BIG": "x" * 4090, "ID": pulumi.Output.secret("a")}  # 4096 bytes with the names
    function = built(function_environment=environment).inputs("greeter-function")
    # A secret among the values makes the whole environment secret, as Pulumi keeps it.
    assert function["environment"][pulumi.runtime.rpc._special_sig_key] == pulumi.runtime.rpc._special_secret_sig
    variables = function["environment"]["value"]["variables"]
    assert len(variables["BIG"]) == 4090 and variables["ID"] == "a"


def test_an_environment_output_too_large_once_known_is_refused_without_showing_its_values():
    environment = {"TOKEN": pulumi.Output.secret("s3cr3t" * 1000)}
    with pytest.raises(ValueError) as refused_once_known:
        built(function_environment=environment)
    message = str(refused_once_known.value)
    assert "LambdaCanaryArgs.function_environment = 6005 bytes of names and values" in message
    assert "s3cr3t" not in message


# --- names: within AWS's limits, before anything exists


def test_a_40_character_name_whose_hooks_would_be_named_67_characters_is_refused():
    name = "a" * 40
    found = refused_in(lambda: canary(name), config=UNPREFIXED)
    assert (
        f"the post-traffic hook's function would be named '{name}-hooks-post-traffic-staging' (67 characters); "
        "AWS allows 64" in found
    )


def test_the_longest_name_that_fits_is_accepted_and_one_more_character_is_refused():
    # The post-traffic hook's role is the longest name: <name>-hooks-post-traffic-role and Pulumi's
    # 8-character suffix, within IAM's 64.
    longest = "a" * 32
    run(lambda: canary(longest), stack="staging", config=UNPREFIXED)
    found = refused_in(lambda: canary(longest + "a"), config=UNPREFIXED)
    assert found == (
        f"Lambda canary {longest}a: the post-traffic hook's function's role would be named "
        f"'{longest}a-hooks-post-traffic-role-xxxxxxx' (65 characters); AWS allows 64: shorten the component's "
        "name"
    )


def test_a_name_too_long_says_to_shorten_only_what_it_holds():
    found = refused_in(lambda: canary("b" * 30), stack="s" * 20)
    assert "shorten the component's name or the stack's, or set a shorter rollback-guard:namePrefix (now 'test-')" in (
        found
    )


def test_names_carry_the_project_unless_the_stack_says_otherwise():
    prefixed = built().inputs("greeter-hooks-post-traffic-function")["name"]
    assert prefixed == "test-greeter-hooks-post-traffic-staging"
    unprefixed = built(config=UNPREFIXED)
    assert unprefixed.inputs("greeter-hooks-post-traffic-function")["name"] == "greeter-hooks-post-traffic-staging"
    assert unprefixed.inputs("greeter-logs")["name"] == "/aws/lambda/greeter-staging"
    assert unprefixed.inputs("greeter-judge-silent")["name"] == "greeter-judge-staging-silent"


def test_a_custom_shift_config_is_named_by_project_and_stack():
    shift = TimeBasedShift("canary", 10, 10)
    config = built(deployment_config=shift).inputs("greeter-deploy-shift")
    assert config["deploymentConfigName"] == "test-greeter-deploy-staging-canary-10pct-10min"


def test_a_stack_name_lambda_cannot_hold_in_a_function_name_is_refused():
    found = refused_in(canary, stack="dev.eu")
    assert "the function would be named 'test-greeter-dev.eu': AWS allows letters, digits, - and _" in found


# --- the code: there, and found from the project's folder


def test_a_relative_code_path_is_read_from_the_project_folder_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pulumi, "get_root_directory", lambda: str(ROOT))
    function = built(code_path="functions/greeter").inputs("greeter-function")
    assert {name: Path(asset.path) for name, asset in function["code"].assets.items()} == {
        "app.py": ROOT / "functions/greeter/app.py"
    }


def test_a_relative_code_path_under_mocks_elsewhere_is_refused_saying_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert refused(code_path="functions/greeter") == [
        f"LambdaCanaryArgs.code_path = 'functions/greeter': a folder holding the function's code, and "
        f"{tmp_path / 'functions/greeter'} is nothing (a relative path is read from the Pulumi project's folder; "
        "under mocks, from the working directory)"
    ]


def test_a_code_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "app.py").write_text("def handler(event, context): ...\n")
    [line] = refused(code_path=str(tmp_path / "app.py"))
    assert line.startswith(f"LambdaCanaryArgs.code_path = '{tmp_path / 'app.py'}': a folder") and " is a file " in line


@pytest.mark.parametrize(
    ("source", "handler", "allowed"),
    [
        (
            "def handler(event, context): ...\n",
            "main.handler",
            "runtime python3.13 looks for main.py or main/__init__.py there",
        ),
        ("def other(event, context): ...\n", "app.handler", "a function app.py defines (handler is not among"),
    ],
)
def test_a_handler_that_is_not_in_the_code_is_refused(tmp_path, source, handler, allowed):
    (tmp_path / "app.py").write_text(source)
    [line] = refused(code_path=str(tmp_path), handler=handler)
    assert line.startswith(f"LambdaCanaryArgs.handler = {handler!r}: ") and allowed in line


def test_a_nodejs_handler_in_a_module_file_is_accepted(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.mjs").write_text("export const handler = async () => ({ statusCode: 200 });\n")
    function = built(code_path=str(tmp_path), handler="src/app.handler", runtime="nodejs22.x").inputs(
        "greeter-function"
    )
    assert (function["handler"], function["runtime"]) == ("src/app.handler", "nodejs22.x")


def test_a_canary_function_built_directly_refuses_what_the_canary_refuses():
    args = CanaryFunctionArgs(code_path=GREETER, handler="app.handler", memory_mb=64, log_retention_days=45)
    found = refused_before_anything_exists(lambda: CanaryFunction("greeter", args)).splitlines()
    assert [line.split(":")[1].strip() for line in found] == [
        "CanaryFunctionArgs.memory_mb = 64",
        "CanaryFunctionArgs.log_retention_days = 45",
    ]


# --- alarms: names, Outputs among them


def test_alarm_names_made_in_the_same_program_are_accepted_as_outputs():
    def program():
        alarm = pulumi.Output.from_input("orders-errors")
        return LambdaDeploymentGroup(
            "fn-deploy", LambdaDeploymentGroupArgs(rollback=RollbackPolicy(alarm_names=[alarm, "orders-latency"]))
        )

    group = run(program).inputs("fn-deploy-group")
    assert group["alarmConfiguration"]["alarms"] == ["orders-errors", "orders-latency"]


def test_an_alarm_arn_known_only_once_created_is_refused_then_naming_the_argument():
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-errors"

    def program():
        policy = RollbackPolicy(alarm_names=pulumi.Output.from_input([arn]))
        return LambdaDeploymentGroup("fn-deploy", LambdaDeploymentGroupArgs(rollback=policy))

    with pytest.raises(ValueError) as refused_once_known:
        run(program)
    assert f"RollbackPolicy.alarm_names[0] = '{arn}': an alarm's name" in str(refused_once_known.value)


def test_an_alarm_arn_known_at_once_is_refused_before_anything_exists():
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-errors"
    found = refused_before_anything_exists(
        lambda: LambdaDeploymentGroup("fn-deploy", LambdaDeploymentGroupArgs(rollback=RollbackPolicy([arn, "x", "x"])))
    )
    assert f"LambdaDeploymentGroupArgs.rollback.alarm_names[0] = '{arn}': an alarm's name" in found
    assert "each alarm once (x repeated)" in found


def test_extra_alarms_of_a_canary_are_watched_by_the_group_and_the_post_traffic_hook():
    extra = pulumi.Output.from_input("orders-latency")
    stack = built(extra_alarm_names=[extra], config=UNPREFIXED)
    alarms = ["greeter-rollback-error-rate", "greeter-rollback-throttle-rate", "orders-latency"]
    assert stack.inputs("greeter-deploy-group")["alarmConfiguration"]["alarms"] == [
        *alarms,
        "greeter-judge-staging-silent",
    ]
    variables = stack.inputs("greeter-hooks-post-traffic-function")["environment"]["variables"]
    assert json.loads(variables["ROLLBACK_ALARMS"])[2] == "orders-latency"
    statements = json.loads(stack.inputs("greeter-hooks-post-traffic-policy")["policy"])["Statement"]
    [describe] = [s for s in statements if s["Action"] == "cloudwatch:DescribeAlarms"]
    assert describe["Resource"][2].endswith(":alarm:orders-latency")


def test_more_extra_alarms_than_the_group_takes_are_refused():
    assert refused(extra_alarm_names=[f"alarm-{i}" for i in range(8)]) == [
        "LambdaCanaryArgs.extra_alarm_names = 8 alarms: at most 7, as the deployment group takes 10 with the 2 "
        "built here and the judge's heartbeat alarm"
    ]
    built(extra_alarm_names=[f"alarm-{i}" for i in range(7)])


# --- every argument documented where help() shows it


@pytest.mark.parametrize(
    "args_class",
    [
        LambdaCanaryArgs,
        CanaryFunctionArgs,
        AlarmEvaluation,
        JudgeOptions,
        TimeBasedShift,
        RollbackPolicy,
        LambdaDeploymentGroupArgs,
        *DOCUMENTED,
    ],
    ids=lambda args_class: args_class.__name__,
)
def test_every_field_is_documented_with_its_default(args_class):
    documented = documented_fields(args_class)
    assert list(documented) == [declared.name for declared in dataclasses.fields(args_class)]
    for name, text in documented.items():
        declared = {f.name: f for f in dataclasses.fields(args_class)}[name]
        required = declared.default is dataclasses.MISSING and declared.default_factory is dataclasses.MISSING
        assert text.startswith("Required") if required else "Default:" in text, (name, text)


def test_a_code_path_may_be_a_pathlib_path_and_nothing_else():
    function = built(code_path=Path(GREETER)).inputs("greeter-function")
    assert list(function["code"].assets) == ["app.py"]
    assert refused(code_path=5) == ["LambdaCanaryArgs.code_path = 5: a folder's path (a str or a pathlib.Path)"]


def test_the_documented_shortest_watch_is_what_the_component_allows():
    from rollback_guard.components.alarms import AlarmEvaluation
    from rollback_guard.components.arguments import documented_fields
    from rollback_guard.components.traffic_hooks import minimum_watch_minutes

    shortest = minimum_watch_minutes(AlarmEvaluation())
    assert f"({shortest} minutes with the default evaluation)" in documented_fields(LambdaCanaryArgs)["watch_minutes"]


def test_an_extra_alarm_is_listed_once_and_is_not_the_judges_own():
    twice = refused_in(lambda: canary(extra_alarm_names=["orders-5xx", "orders-5xx"]))
    assert "LambdaCanaryArgs.extra_alarm_names = ['orders-5xx', 'orders-5xx']: each alarm once" in twice
    heartbeat = refused_in(lambda: canary(extra_alarm_names=["test-greeter-judge-staging-silent"]))
    assert "not the judge's own heartbeat alarm (test-greeter-judge-staging-silent)" in heartbeat


@pytest.mark.parametrize(
    "files",
    [
        {"app/__init__.py": "def handler(event, context):\n    return event\n"},
        {
            "app.py": "try:\n    from fast import handler\nexcept ImportError:\n    def handler(event, context):\n        return event\n"
        },
        {"app.py": "from impl import *\n", "impl.py": "def handler(event, context):\n    return event\n"},
        {"app.py": "if True:\n    handler = print\n"},
    ],
    ids=["a package", "defined under try", "a star import", "assigned under if"],
)
def test_a_handler_python_can_import_is_accepted(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    run(lambda: canary(code_path=str(tmp_path)), stack="staging")


def test_a_handler_defined_only_inside_a_function_is_refused(tmp_path):
    (tmp_path / "app.py").write_text("def make():\n    def handler(event, context):\n        return event\n")
    assert "handler is not among its names" in refused_in(lambda: canary(code_path=str(tmp_path)))
