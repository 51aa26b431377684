"""Each configuration rule, with the message a person sees when breaking it."""

import re

import pulumi
import pytest

from ops.offline import build_stack, stack_config, use_config
from rollback_guard.components.arguments import rule_of
from rollback_guard.components.codedeploy import TimeBasedShift
from rollback_guard.components.lambda_canary import LambdaCanaryArgs
from rollback_guard.testing import FakeAws
from settings import SettingsError, load_settings, stack_environment
from tests.scenarios import greeter, released_by, web


def problems(stack: str, **overrides) -> list[str]:
    use_config(stack, overrides)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return raised.value.problems


def settings_of(stack: str, **overrides):
    use_config(stack, overrides)
    return load_settings()


def only_problem(stack: str, **overrides) -> str:
    found = problems(stack, **overrides)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_both_stack_files_are_valid(stack):
    use_config(stack, {})
    settings = load_settings()
    assert settings.environment == stack
    assert [service.name for service in settings.services] == ["web"]
    assert [function.name for function in settings.functions] == ["greeter"]
    assert settings.pipeline_service == "web"


def test_both_stack_files_set_the_same_keys():
    staging, prod = stack_config("staging"), stack_config("prod")
    assert staging.keys() == prod.keys()
    for key, value in staging.items():
        if isinstance(value, dict):
            assert value.keys() == prod[key].keys(), key


def test_a_configuration_error_is_printed_without_a_traceback():
    use_config("staging", {"environment": "qa"})
    with pytest.raises(pulumi.RunError):
        load_settings()


def test_the_environment_must_be_staging_prod_or_the_pipeline():
    assert only_problem("staging", environment="qa") == (
        "rollback-guard:environment = 'qa': one of staging, prod, pipeline; a stack named prod is prod"
    )


def test_an_unknown_deployment_config_name_is_rejected():
    message = only_problem(
        "staging", **web(deployment={"config": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"})
    )
    assert message.startswith(
        "rollback-guard:services.web.deployment.config = 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute': one of "
    )
    assert "CodeDeployDefault.ECSLinear10PercentEvery1Minutes" in message
    assert "{type: linear|canary, percentage, intervalMinutes}" in message


def test_a_custom_shift_percentage_is_what_the_component_allows():
    message = only_problem(
        "staging", **web(deployment={"config": {"type": "linear", "percentage": 150, "intervalMinutes": 1}})
    )
    allowed = rule_of(TimeBasedShift, "percentage").allowed
    assert message == f"rollback-guard:services.web.deployment.config.percentage = 150: {allowed}"


def test_a_custom_shift_needs_a_known_type_and_all_its_keys():
    found = problems("staging", **web(deployment={"config": {"type": "exponential", "percentage": 10}}))
    assert found == [
        f"rollback-guard:services.web.deployment.config.type = 'exponential': {rule_of(TimeBasedShift, 'kind').allowed}",
        "rollback-guard:services.web.deployment.config.intervalMinutes = None: required: "
        + rule_of(TimeBasedShift, "interval_minutes").allowed,
    ]


PERIOD_RULE = "a whole number from 60 to 86400 seconds in multiples of 60 (the metrics have one-minute resolution)"


def test_alarm_periods_must_be_whole_minutes_for_load_balancer_metrics():
    message = only_problem("staging", **web(alarms={"periodSeconds": 90}))
    assert message == f"rollback-guard:services.web.alarms.periodSeconds = 90: {PERIOD_RULE}"


def test_alarm_periods_below_a_minute_are_rejected():
    message = only_problem("staging", **web(alarms={"periodSeconds": 10}))
    assert message == f"rollback-guard:services.web.alarms.periodSeconds = 10: {PERIOD_RULE}"


def test_the_alarm_evaluation_window_must_fit_cloudwatchs_one_day_limit():
    found = problems("staging", **web(alarms={"periodSeconds": 600, "evaluationPeriods": 200, "datapointsToAlarm": 2}))
    assert (
        "rollback-guard:services.web.alarms.evaluationPeriods = 200: periodSeconds x evaluationPeriods at most 86400 s "
        "(CloudWatch's limit for a 600 s period)"
    ) in found


def test_datapoints_to_alarm_cannot_exceed_evaluation_periods():
    message = only_problem("staging", **web(alarms={"datapointsToAlarm": 4}))
    assert message == "rollback-guard:services.web.alarms.datapointsToAlarm = 4: at most evaluationPeriods (3)"


RATE_RULE = "a percentage above 0 and below 100 (at 100 the alarm can never fire); production at most 10"


@pytest.mark.parametrize("rate", [150, 100, 0, -1])
def test_error_rate_is_a_percentage_the_alarm_can_reach(rate):
    message = only_problem("staging", **web(alarms={"errorRatePercent": rate}))
    assert message == f"rollback-guard:services.web.alarms.errorRatePercent = {rate}: {RATE_RULE}"


def test_prod_rolls_back_before_a_tenth_of_requests_fail():
    message = only_problem("prod", **greeter({"alarms": {"errorRatePercent": 20}}))
    assert message == (
        "rollback-guard:functions.greeter.alarms.errorRatePercent = 20: prod rolls back at an error rate of at most 10%"
    )


def test_a_deployment_group_takes_at_most_10_alarms_the_judges_heartbeat_alarm_counted():
    """Released by CodeDeploy: 3 rollback alarms, the latency anomaly alarm (prod) and the judge's
    heartbeat alarm, so a sixth extra alarm is the 11th."""
    names = [f"alarm-{i}" for i in range(6)]
    message = only_problem("prod", **web(alarms={"extraAlarmNames": names}))
    assert message == (
        f"rollback-guard:services.web.alarms.extraAlarmNames = {names!r}: with the 5 alarms built here (the canary "
        "judge's heartbeat alarm among them), at most 10 alarms per deployment group (got 11)"
    )


def test_a_strategy_without_a_judge_has_no_heartbeat_alarm_to_count():
    names = [f"alarm-{i}" for i in range(7)]
    message = only_problem("staging", **web(alarms={"extraAlarmNames": names, "latencyAnomalyBand": 3}))
    assert "(got 12)" in message and "heartbeat" in message
    native = released_by("ecs-blue-green")
    native["services"]["web"]["alarms"] = {"extraAlarmNames": names, "latencyAnomalyBand": 3}
    message = only_problem("staging", **native)
    assert message == (
        f"rollback-guard:services.web.alarms.extraAlarmNames = {names!r}: with the 4 alarms built here, "
        "at most 10 alarms per deployment group (got 11)"
    )


PROD_BLUE_KEPT = "prod keeps blue at least 10 minutes so an alarm within 10 minutes of the release rolls back"


def test_prod_keeps_blue_at_least_10_minutes():
    message = only_problem("prod", **web(deployment={"terminationWaitMinutes": 5}))
    assert message == f"rollback-guard:services.web.deployment.terminationWaitMinutes = 5: {PROD_BLUE_KEPT}"


def test_the_termination_wait_outlasts_the_alarms_worst_detection_everywhere():
    message = only_problem("staging", **web(deployment={"terminationWaitMinutes": 7}))
    assert message == (
        "rollback-guard:services.web.deployment.terminationWaitMinutes = 7: at least 8: the alarms need up "
        "to 6.5 min to fire on a version that went bad at the last shift, and up to 1 more to be read"
    )


def test_invalid_alarms_are_named_once_without_follow_on_complaints():
    assert problems("staging", **web(alarms={"periodSeconds": 90})) == [
        f"rollback-guard:services.web.alarms.periodSeconds = 90: {PERIOD_RULE}"
    ]


def test_the_termination_wait_cannot_exceed_codedeploys_two_days():
    message = only_problem("staging", **web(deployment={"terminationWaitMinutes": 3000}))
    assert (
        message
        == "rollback-guard:services.web.deployment.terminationWaitMinutes = 3000: a whole number from 0 to 2880 minutes (production at least 10)"
    )


def test_prod_shifts_traffic_gradually():
    message = only_problem("prod", **web(deployment={"config": "CodeDeployDefault.ECSAllAtOnce"}))
    assert message == (
        "rollback-guard:services.web.deployment.config = 'CodeDeployDefault.ECSAllAtOnce': production shifts traffic "
        "gradually, not all at once (CodeDeployDefault.ECSAllAtOnce)"
    )


def test_staging_may_release_all_at_once():
    use_config("staging", web(deployment={"config": "CodeDeployDefault.ECSAllAtOnce"}))
    [service] = load_settings().services
    assert service.deployment.config == "CodeDeployDefault.ECSAllAtOnce"


def test_prod_load_balancers_keep_deletion_protection():
    message = only_problem("prod", **web(loadBalancer={"deletionProtection": False}))
    assert (
        message
        == "rollback-guard:services.web.loadBalancer.deletionProtection = False: prod load balancers keep deletion protection on"
    )


def test_prod_runs_at_least_two_tasks():
    message = only_problem("prod", **web({"desiredCount": 1}))
    assert message == (
        "rollback-guard:services.web.desiredCount = 1: prod runs at least 2 tasks so one failing task is not an outage"
    )


def test_prod_keeps_logs_at_least_30_days():
    message = only_problem("prod", **web({"logRetentionDays": 14}))
    assert message == "rollback-guard:services.web.logRetentionDays = 14: prod keeps logs at least 30 days"


def test_log_retention_must_be_a_period_cloudwatch_offers():
    assert only_problem("staging", **web({"logRetentionDays": 10})).startswith(
        "rollback-guard:services.web.logRetentionDays = 10: one of 1, 3, 5, 7, 14, 30, 60, 90, 120,"
    )


def test_fargate_memory_must_fit_the_cpu_size():
    message = only_problem("staging", **web({"cpu": 1024, "memory": 1000}))
    assert (
        message
        == "rollback-guard:services.web.memory = 1000: with cpu 1024, Fargate allows 2048 to 8192 MiB in steps of 1024"
    )


def test_fargate_cpu_must_be_a_fargate_size():
    message = only_problem("staging", **web({"cpu": 300}))
    assert message == (
        "rollback-guard:services.web.cpu = 300: one of 256, 512, 1024, 2048, 4096, 8192, 16384 (Fargate's CPU units)"
    )


def test_production_pins_the_image_tag_as_the_component_does():
    message = only_problem("prod", **web({"tag": "latest"}))
    assert message == (
        "rollback-guard:services.web.tag = 'latest': "
        "a pinned tag in production: with 'latest' a rollback cannot name the version to go back to"
    )


def test_the_service_name_fits_load_balancer_name_limits():
    config = stack_config("staging")
    service = config["rollback-guard:services"]["web"]
    message = only_problem("staging", services={"web": None, "Web_Frontend_Service": service})
    assert message == (
        "rollback-guard:services = 'Web_Frontend_Service': "
        "names of 1 to 15 lowercase letters, digits or dashes, starting with a letter"
    )


def test_listener_ports_differ():
    message = only_problem("staging", **web(loadBalancer={"testListenerPort": 80}))
    assert message == (
        "rollback-guard:services.web.loadBalancer.testListenerPort = 80: a port other than the production listener's "
        "(80): the listeners need ports of their own"
    )


def test_ingress_cidrs_are_cidr_blocks():
    message = only_problem("staging", **web(loadBalancer={"ingressCidrs": ["everyone"]}))
    assert message == (
        "rollback-guard:services.web.loadBalancer.ingressCidrs[0] = 'everyone': an IPv4 CIDR block with its prefix "
        "length and no host bits, such as 10.0.0.0/16 or 203.0.113.7/32"
    )


def test_health_check_timeout_is_shorter_than_its_interval():
    message = only_problem(
        "staging", **web(loadBalancer={"healthCheck": {"path": "/", "intervalSeconds": 10, "timeoutSeconds": 10}})
    )
    assert (
        message
        == "rollback-guard:services.web.loadBalancer.healthCheck.timeoutSeconds = 10: less than intervalSeconds (10)"
    )


def test_an_existing_vpc_needs_its_subnets():
    found = problems(
        "staging",
        network={"cidrBlock": None, "availabilityZones": None, "natGateways": None, "vpcId": "vpc-0123456789abcdef0"},
    )
    assert found == [
        "rollback-guard:network.publicSubnetIds = None: required with vpcId, publicSubnetIds, privateSubnetIds",
        "rollback-guard:network.privateSubnetIds = None: required with vpcId, publicSubnetIds, privateSubnetIds",
    ]


def test_a_misspelt_key_is_an_error_not_a_silent_default():
    message = only_problem("prod", **web(deployment={"terminationWaitMinute": 30}))
    assert message.startswith(
        "rollback-guard:services.web.deployment.terminationWaitMinute = 30: unknown key "
        "(did you mean terminationWaitMinutes?); known keys: strategy, config, terminationWaitMinutes, "
    )


def test_wrong_types_are_named():
    message = only_problem("staging", **web({"desiredCount": "two"}))
    assert (
        message
        == "rollback-guard:services.web.desiredCount = 'two': a whole number from 1 to 1000 tasks (production at least 2)"
    )


def test_every_problem_is_reported_at_once():
    found = problems(
        "prod",
        environment="prod",
        **web(
            {"desiredCount": 1, "tag": "latest"},
            alarms={"periodSeconds": 45},
            deployment={"terminationWaitMinutes": 5},
        ),
    )
    assert len(found) == 4
    assert [p.split(" = ")[0] for p in found] == [
        "rollback-guard:services.web.tag",
        "rollback-guard:services.web.desiredCount",
        "rollback-guard:services.web.alarms.periodSeconds",
        "rollback-guard:services.web.deployment.terminationWaitMinutes",
    ]


def test_nothing_is_registered_before_settings_are_valid(monkeypatch):
    registered = []
    monkeypatch.setattr(pulumi.CustomResource, "__init__", lambda *a, **k: registered.append(a))
    with pytest.raises(SettingsError):
        build_stack("staging", **web(alarms={"datapointsToAlarm": 9}))
    assert registered == []


# --- the Lambda canary


def test_an_ecs_config_is_not_a_lambda_config():
    message = only_problem("staging", **greeter({"deploymentConfig": "CodeDeployDefault.ECSAllAtOnce"}))
    assert message.startswith(
        "rollback-guard:functions.greeter.deploymentConfig = 'CodeDeployDefault.ECSAllAtOnce': one of "
    )
    assert "CodeDeployDefault.LambdaLinear10PercentEvery1Minute," in message


def test_prod_functions_shift_gradually_too():
    message = only_problem("prod", **greeter({"deploymentConfig": "CodeDeployDefault.LambdaAllAtOnce"}))
    assert message == (
        "rollback-guard:functions.greeter.deploymentConfig = 'CodeDeployDefault.LambdaAllAtOnce': production shifts "
        "traffic gradually, not all at once (CodeDeployDefault.LambdaAllAtOnce)"
    )


def test_the_code_path_is_a_folder_of_this_project():
    assert only_problem("staging", **greeter({"codePath": "../elsewhere"})) == (
        "rollback-guard:functions.greeter.codePath = '../elsewhere': a folder inside this project"
    )


def test_the_handler_names_a_module_that_exists():
    assert only_problem("staging", **greeter({"handler": "main.handler"})) == (
        "rollback-guard:functions.greeter.handler = 'main.handler': a function in a file of functions/greeter; "
        "runtime python3.13 looks for main.py or main/__init__.py there, and there is none"
    )


def test_the_runtime_is_one_we_package_for():
    message = only_problem("staging", **greeter({"runtime": "python2.7"}))
    assert message == (
        "rollback-guard:functions.greeter.runtime = 'python2.7': " + rule_of(LambdaCanaryArgs, "runtime").allowed
    )


ONLY_EVENTS_REACH_THE_NEW_VERSION = (
    "a list of at least one {name, payload, expect}: only an event invokes the new version before traffic moves (an endpoint "
    "reaches the alias, which still serves the previous version)"
)


def test_a_release_needs_at_least_one_smoke_event():
    assert only_problem("staging", **greeter({"smokeEvents": [], "smokeEndpoints": []})) == (
        f"rollback-guard:functions.greeter.smokeEvents = []: {ONLY_EVENTS_REACH_THE_NEW_VERSION}"
    )


def test_endpoints_alone_never_test_the_new_version():
    endpoints = [{"url": "https://api.example.com/greet"}]
    assert only_problem("staging", **greeter({"smokeEvents": None, "smokeEndpoints": endpoints})) == (
        f"rollback-guard:functions.greeter.smokeEvents = None: required: {ONLY_EVENTS_REACH_THE_NEW_VERSION}"
    )


def test_smoke_endpoints_are_http_urls_with_timeouts_the_hook_outlives():
    found = problems(
        "staging",
        **greeter(
            {
                "smokeEndpoints": [
                    {"url": "ftp://files"},
                    {"url": "https://api.example.com/", "timeoutSeconds": 50},
                    {"url": "https://api.example.com/", "timeoutSeconds": float("nan")},
                ]
            }
        ),
    )
    assert found == [
        "rollback-guard:functions.greeter.smokeEndpoints[0].url = 'ftp://files': an http:// or https:// URL",
        "rollback-guard:functions.greeter.smokeEndpoints[1].timeoutSeconds = 50: seconds above 0, at most 45",
        "rollback-guard:functions.greeter.smokeEndpoints[2].timeoutSeconds = nan: seconds above 0, at most 45",
    ]


def test_smoke_events_have_a_name():
    message = only_problem("staging", **greeter({"smokeEvents": [{"payload": {}}]}))
    assert message == "rollback-guard:functions.greeter.smokeEvents[0].name = None: required: the event's name, in logs"


def test_a_smoke_event_always_expects_something():
    message = only_problem("staging", **greeter({"smokeEvents": [{"name": "greets", "expect": {}}]}))
    assert message == (
        "rollback-guard:functions.greeter.smokeEvents[0].expect = {}: keys the result must hold, such as {statusCode: 200}"
    )


@pytest.mark.parametrize(
    ("section", "key", "check", "unknown", "nearest"),
    [
        ("functions.greeter", "smokeEvents", {"name": "greets", "expected": {"statusCode": 200}}, "expected", "expect"),
        (
            "functions.greeter",
            "smokeEndpoints",
            {"url": "https://api.example.com/", "expectedBody": "ok"},
            "expectedBody",
            "expectBody",
        ),
        ("services.web.deployment", "smokePaths", {"path": "/", "expect_status": 200}, "expect_status", "expectStatus"),
    ],
)
def test_a_misspelt_key_inside_a_check_is_named_never_ignored(section, key, check, unknown, nearest):
    top, *path = section.split(".")
    overlay = {key: [check]}
    for name in reversed(path):
        overlay = {name: overlay}
    message = only_problem("staging", **{top: overlay})
    assert message.startswith(
        f"rollback-guard:{section}.{key}[0].{unknown} = {check[unknown]!r}: unknown key (did you mean {nearest}?); "
    )


def test_the_lambda_path_keeps_watching_after_its_last_shift_by_default():
    for stack in ("staging", "prod"):
        [function] = settings_of(stack).functions
        assert function.watch_minutes == 10


def test_prod_keeps_watching_as_long_as_ecs_keeps_blue():
    message = only_problem("prod", **greeter({"watchMinutes": 9}))
    assert message == (
        "rollback-guard:functions.greeter.watchMinutes = 9: a whole number from 10 to 12: the alarms need up to 8 min to fire "
        "after the last shift; prod keeps watching at least 10, and the hook must report within Lambda's "
        "15-minute limit"
    )


def test_a_watch_shorter_than_the_alarms_need_is_refused():
    message = only_problem("staging", **greeter({"watchMinutes": 5}))
    assert message.startswith("rollback-guard:functions.greeter.watchMinutes = 5: a whole number from 7 to 12: ")


def test_a_watch_longer_than_lambda_allows_is_refused():
    assert only_problem("staging", **greeter({"watchMinutes": 13})).startswith(
        "rollback-guard:functions.greeter.watchMinutes = 13: a whole number from 7 to 12"
    )


def test_alarms_too_slow_for_any_watch_after_a_lambda_shift_are_refused():
    message = only_problem(
        "staging",
        **greeter({"alarms": {"periodSeconds": 300}, "watchMinutes": None}),
    )
    assert message == (
        "rollback-guard:functions.greeter.alarms.periodSeconds = 300: with datapointsToAlarm = 2 an alarm needs up to "
        "19 min to fire, longer than the post-traffic hook can keep watching (12 min, within Lambda's 15-minute limit), so a "
        "version that goes bad at its last shift would complete"
    )


def test_a_smoke_event_waits_for_the_cold_start_of_the_new_version():
    message = only_problem("staging", **greeter({"checkTimeoutSeconds": 15}))
    assert message == (
        "rollback-guard:functions.greeter.checkTimeoutSeconds = 15: from 20 (timeoutSeconds + 10: a smoke event is the "
        "new version's first invocation, cold start included) to 45"
    )


def test_a_function_timeout_leaves_room_for_the_cold_start_within_a_check():
    # Raising checkTimeoutSeconds cannot help beyond 45 s: the function's own timeout is what to change.
    found = problems("staging", **greeter({"timeoutSeconds": 40, "checkTimeoutSeconds": 45}))
    assert found == [
        "rollback-guard:functions.greeter.timeoutSeconds = 40: a whole number from 1 to 35 seconds (the pre-traffic "
        "hook waits timeout_seconds + 10 s for a smoke event, cold start included, and at most 45 s)"
    ]


def test_check_timeouts_leave_the_hook_time_to_report():
    message = only_problem("staging", **greeter({"checkTimeoutSeconds": 60}))
    assert message.startswith(
        "rollback-guard:functions.greeter.checkTimeoutSeconds = 60: a number above 0, at most 45 seconds"
    )


def test_a_function_and_a_service_have_different_names():
    function = stack_config("staging")["rollback-guard:functions"]["greeter"]
    message = only_problem("staging", functions={"greeter": None, "web": function})
    assert message == "rollback-guard:functions = 'web': a name no service has: releases are recorded under it"


def test_reserved_concurrency_is_off_or_positive():
    message = only_problem("prod", **greeter({"reservedConcurrency": 0}))
    assert message.startswith(
        "rollback-guard:functions.greeter.reservedConcurrency = 0: a whole number from 1 to 10000 (or None to share "
        "the account's unreserved concurrency"
    )


# --- releases


def test_the_test_traffic_hook_needs_at_least_one_path():
    message = only_problem("staging", **web(deployment={"smokePaths": []}))
    assert message == (
        "rollback-guard:services.web.deployment.smokePaths = []: at least one path: the test-traffic hook fails without one"
    )


def test_smoke_paths_start_with_a_slash():
    message = only_problem("staging", **web(deployment={"smokePaths": [{"path": "health"}]}))
    assert message == (
        "rollback-guard:services.web.deployment.smokePaths[0].path = 'health': a path starting with /, without spaces"
    )


def test_a_retry_names_a_task_definition_revision():
    message = only_problem("staging", **web(deployment={"retryRevision": "1.28"}))
    assert message == (
        "rollback-guard:services.web.deployment.retryRevision = '1.28': a task definition revision such as web-prod:7 "
        "(ECS numbers them up to 1000000)"
    )


def test_a_lambda_retry_names_a_published_version():
    message = only_problem("staging", **greeter({"retryRevision": "$LATEST"}))
    assert message == "rollback-guard:functions.greeter.retryRevision = '$LATEST': a published version number such as 7"


@pytest.mark.parametrize("key", ["pinnedVersion", "retryRevision"])
@pytest.mark.parametrize("written", [7, "7"])
def test_a_version_written_by_pulumi_config_set_path_survives_the_round_trip(key, written):
    # `pulumi config set --path rollback-guard:functions.greeter.pinnedVersion 7` stores the integer 7.
    [function] = settings_of("staging", **greeter({key: written})).functions
    assert getattr(function, {"pinnedVersion": "pinned_version", "retryRevision": "retry_revision"}[key]) == "7"


@pytest.mark.parametrize("written", [0, -3, True, 7.5, "07", ""])
def test_a_pinned_version_is_a_whole_published_version_number(written):
    message = only_problem("staging", **greeter({"pinnedVersion": written}))
    assert (
        message == f"rollback-guard:functions.greeter.pinnedVersion = {written!r}: a published version number such as 7"
    )


# --- the pipeline stack


def test_the_pipeline_stack_file_is_valid():
    use_config("pipeline", {})
    settings = load_settings().pipeline
    assert (settings.repository, settings.staging_stack, settings.production_stack) == (
        "example-org/rollback-guard",
        "staging",
        "prod",
    )
    assert len(settings.smoke_endpoints) == 20
    assert settings.health_check_minutes == 5


def test_the_repository_is_owner_slash_name():
    message = only_problem("pipeline", pipeline={"repository": "rollback-guard"})
    assert message == "rollback-guard:pipeline.repository = 'rollback-guard': a GitHub repository as owner/name"


def test_the_smoke_test_checks_between_1_and_40_endpoints():
    many = [{"path": f"/{i}"} for i in range(41)]
    assert only_problem("pipeline", pipeline={"smokeEndpoints": many}) == (
        "rollback-guard:pipeline.smokeEndpoints = '41 entries': 1 to 40 {path, expectStatus, timeoutSeconds, expectBody}"
    )


def test_notification_addresses_are_email_addresses():
    message = only_problem("pipeline", pipeline={"notificationEmails": ["platform-team"]})
    assert message == (
        "rollback-guard:pipeline.notificationEmails[0] = 'platform-team': an e-mail address such as "
        "platform-team@example.com"
    )


def test_the_health_check_watches_between_1_and_60_minutes():
    message = only_problem("pipeline", pipeline={"healthCheckMinutes": 0})
    assert message == "rollback-guard:pipeline.healthCheckMinutes = 0: a whole number from 1 to 60"


# --- release strategies


def strategy_problems(stack: str, strategy: str, **keys) -> list[str]:
    return problems(stack, **released_by(strategy, **keys))


def test_the_strategy_is_one_we_know():
    message = only_problem("staging", **web(deployment={"strategy": "big-bang"}))
    assert message == (
        "rollback-guard:services.web.deployment.strategy = 'big-bang': "
        "one of codedeploy-blue-green, rolling, ecs-blue-green, ecs-canary, ecs-linear"
    )


def test_codedeploy_settings_are_refused_for_another_strategy():
    found = problems("staging", **web(deployment={"strategy": "rolling"}))
    assert found[:3] == [
        f"rollback-guard:services.web.deployment.{key} = {value!r}: only with strategy codedeploy-blue-green (strategy is rolling)"
        for key, value in (
            ("config", "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            ("terminationWaitMinutes", 8),
            ("approvalWaitMinutes", 0),
        )
    ]
    assert found[3].startswith(
        "rollback-guard:services.web.deployment.smokePaths = [{'expectStatus': 200, 'path': '/'}]: only with"
    )
    # Said at once, though the judge is refused by a check that reads the deployment's keys.
    assert found[4].startswith("rollback-guard:services.web.judge = ")
    assert "only with strategy codedeploy-blue-green (strategy is rolling)" in found[4]
    assert len(found) == 5


def test_a_canary_setting_is_refused_for_a_linear_shift():
    assert strategy_problems("staging", "ecs-linear", canaryPercent=10) == [
        "rollback-guard:services.web.deployment.canaryPercent = 10: only with strategy ecs-canary (strategy is ecs-linear)"
    ]


def test_a_linear_step_is_at_least_3_percent():
    assert strategy_problems("staging", "ecs-linear", stepPercent=2) == [
        "rollback-guard:services.web.deployment.stepPercent = 2: a percentage from 3 to 100 in steps of 0.1 (production below 100)"
    ]


def test_a_canary_is_between_a_tenth_of_a_percent_and_all_traffic():
    assert strategy_problems("staging", "ecs-canary", canaryPercent=0) == [
        "rollback-guard:services.web.deployment.canaryPercent = 0: a percentage from 0.1 to 100 in steps of 0.1 (production below 100)"
    ]


def test_bake_times_stay_within_a_day():
    assert strategy_problems("staging", "ecs-blue-green", bakeTimeMinutes=2000) == [
        "rollback-guard:services.web.deployment.bakeTimeMinutes = 2000: a whole number from 0 to 1440 minutes (production at least 10)"
    ]


def test_prod_bakes_at_least_10_minutes():
    assert strategy_problems("prod", "ecs-canary", bakeTimeMinutes=5) == [
        f"rollback-guard:services.web.deployment.bakeTimeMinutes = 5: {PROD_BLUE_KEPT}"
    ]


def test_rolling_needs_room_to_replace_a_task():
    assert strategy_problems("staging", "rolling", minimumHealthyPercent=100, maximumPercent=100) == [
        "rollback-guard:services.web.deployment.maximumPercent = 100: room for one more task than minimumHealthyPercent (100) "
        "keeps running: with desiredCount 1 that is 1 healthy and at most 1 running, so ECS cannot replace a task"
    ]


def test_rolling_counts_tasks_not_percentages():
    # 150% of one task rounds down to one: percentages that look roomy can leave no room at all.
    assert strategy_problems("staging", "rolling", minimumHealthyPercent=50, maximumPercent=150) == [
        "rollback-guard:services.web.deployment.maximumPercent = 150: room for one more task than minimumHealthyPercent (50) "
        "keeps running: with desiredCount 1 that is 1 healthy and at most 1 running, so ECS cannot replace a task"
    ]


def test_a_bake_time_means_nothing_to_a_rolling_deployment():
    assert strategy_problems("staging", "rolling", bakeTimeMinutes=15) == [
        "rollback-guard:services.web.deployment.bakeTimeMinutes = 15: only with strategy ecs-blue-green or ecs-canary or "
        "ecs-linear (strategy is rolling)"
    ]


def test_a_smoke_check_names_the_field_it_cannot_use():
    found = problems(
        "staging",
        **web(
            deployment={"smokePaths": [{"path": "/", "expectStatus": "ok"}, {"path": "/health", "timeoutSeconds": 0}]}
        ),
    )
    assert found == [
        "rollback-guard:services.web.deployment.smokePaths[0].expectStatus = 'ok': a whole number from 100 to 599",
        "rollback-guard:services.web.deployment.smokePaths[1].timeoutSeconds = 0: seconds above 0, at most 45",
    ]


def test_rolling_takes_no_smoke_paths():
    assert strategy_problems("staging", "rolling", smokePaths=[]) == [
        "rollback-guard:services.web.deployment.smokePaths = []: only with strategy codedeploy-blue-green or ecs-blue-green or "
        "ecs-canary or ecs-linear (strategy is rolling)"
    ]


@pytest.mark.parametrize(
    ("stack", "environment"),
    [
        ("prod", "prod"),
        ("production", "prod"),
        ("prod-eu", "prod"),
        ("staging", "staging"),
        ("staging-2", "staging"),
        ("pipeline", "pipeline"),
        ("product-demo", None),
        ("dev", None),
    ],
)
def test_a_stacks_name_commits_it_to_an_environment(stack, environment):
    assert stack_environment(stack) == environment


def test_a_stack_of_no_set_environment_may_choose_one():
    use_config("staging", {})
    pulumi.runtime.set_mocks(FakeAws(), project="rollback-guard", stack="dev")
    assert load_settings().environment == "staging"


def test_a_function_name_leaves_room_for_a_long_stack_name_in_its_hooks_names():
    function = stack_config("prod")["rollback-guard:functions"]["greeter"]
    use_config("prod", {"functions": {"greeter": None, "g" * 25: function}})
    pulumi.runtime.set_mocks(FakeAws(), project="rollback-guard", stack="prod-europe-central-1")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert raised.value.problems == [
        f"rollback-guard:functions = '{'g' * 25}': a name of at most 23 characters in stack prod-europe-central-1 "
        "(or a shorter stack name): its longest function is named <name>-hooks-post-traffic-prod-europe-central-1, "
        "and Lambda names hold 64"
    ]


def test_a_service_name_leaves_room_for_a_long_stack_name_in_its_test_traffic_hook_name():
    service = stack_config("prod")["rollback-guard:services"]["web"]
    use_config("prod", {"services": {"web": None, "w" * 15: service}, "pipelineService": "w" * 15})
    stack = "prod-" + "x" * 31
    pulumi.runtime.set_mocks(FakeAws(), project="rollback-guard", stack=stack)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert raised.value.problems == [
        f"rollback-guard:services = '{'w' * 15}': a name of at most 14 characters in stack {stack} (or a shorter "
        f"stack name): its longest function is named <name>-test-traffic-{stack}, and Lambda names hold 64"
    ]


TRAFFIC_RULE = "above 0 and at most 1,000,000: the overall traffic the detection model plans with"


def test_every_service_and_function_states_the_traffic_it_expects():
    found = problems("staging", **web({"expectedRequestsPerSecond": None}), **greeter({"expectedRequestsPerSecond": 0}))
    assert found == [
        "rollback-guard:services.web.expectedRequestsPerSecond = None: required: requests a second at the load "
        f"balancer, {TRAFFIC_RULE}",
        f"rollback-guard:functions.greeter.expectedRequestsPerSecond = 0: invocations a second of the alias, {TRAFFIC_RULE}",
    ]


def test_the_stack_files_state_their_expected_traffic():
    prod, staging = settings_of("prod"), settings_of("staging")
    assert [s.expected_requests_per_second for s in (*prod.services, *prod.functions)] == [10, 10]
    assert [s.expected_requests_per_second for s in (*staging.services, *staging.functions)] == [1, 1]


def test_a_judge_left_out_probes_twice_a_second_up_to_5000_probes_a_release():
    settings = settings_of("prod", **web({"judge": None}), **greeter({"judge": None}))
    for entry in (*settings.services, *settings.functions):
        assert (entry.judge.probes_per_second, entry.judge.max_probes_per_release) == (2, 5000)


def test_the_judge_probes_at_most_10_times_a_second():
    assert only_problem("staging", **greeter({"judge": {"probesPerSecond": 11}})) == (
        "rollback-guard:functions.greeter.judge.probesPerSecond = 11: a number above 0, at most 10 probes a second to "
        "the new version"
    )


def test_staging_may_turn_the_probes_off_but_prod_may_not():
    assert (
        settings_of("staging", **web({"judge": {"maxProbesPerRelease": 0}})).services[0].judge.max_probes_per_release
        == 0
    )
    assert only_problem("prod", **web({"judge": {"maxProbesPerRelease": 0}})) == (
        "rollback-guard:services.web.judge.maxProbesPerRelease = 0: at least 1 in prod: the judge needs probes to see "
        "a bad version before the alarms do"
    )


def test_a_judge_is_refused_for_a_strategy_ecs_releases_itself():
    overlay = released_by("rolling", minimumHealthyPercent=50, maximumPercent=200)
    overlay["services"]["web"]["judge"] = {"probesPerSecond": 1}
    assert only_problem("staging", **overlay) == (
        "rollback-guard:services.web.judge = {'probesPerSecond': 1, 'maxProbesPerRelease': 5000}: only with strategy codedeploy-blue-green "
        "(strategy is rolling): the judge stops CodeDeploy deployments, and ECS releases this strategy itself"
    )


def test_prod_refuses_a_release_path_the_detection_model_says_lets_bad_releases_through():
    line = only_problem("prod", **web({"expectedRequestsPerSecond": 0.003}))
    assert line.startswith("rollback-guard:services.web.expectedRequestsPerSecond = 0.003: this ECS linear")
    assert re.search(r"misses (\d+(\.\d)?%|>99%) of bad releases at 0\.003 req/s", line), line
    assert "at most 1% through" in line


def test_prod_names_each_path_the_model_refuses():
    found = problems(
        "prod", **web({"expectedRequestsPerSecond": 0.001}), **greeter({"expectedRequestsPerSecond": 0.001})
    )
    assert [line.split(" = ")[0] for line in found] == [
        "rollback-guard:services.web.expectedRequestsPerSecond",
        "rollback-guard:functions.greeter.expectedRequestsPerSecond",
    ]


def test_staging_is_warned_of_such_a_path_and_still_deploys(caplog):
    settings = settings_of("staging", **greeter({"expectedRequestsPerSecond": 0.001}))
    assert settings.functions[0].expected_requests_per_second == 0.001
    warned = caplog.text  # pulumi.log.warn, as the mock engine hands it on
    assert "functions.greeter.expectedRequestsPerSecond = 0.001: this Lambda linear" in warned
    assert "of bad releases at 0.001 req/s" in warned


def test_the_declared_traffic_of_both_stacks_lets_no_bad_release_through():
    for stack in ("staging", "prod"):
        assert settings_of(stack).undetected() == []


def test_a_pinned_revision_is_of_the_task_family_the_component_names_with_the_stacks_prefix():
    prefixed = {"namePrefix": "shop-"}
    settings = settings_of("staging", **prefixed, **web(deployment={"pinnedRevision": "shop-web-staging:3"}))
    assert settings.service_entries["web"].deployment.pinned_revision == "shop-web-staging:3"
    message = only_problem("staging", **prefixed, **web(deployment={"pinnedRevision": "web-staging:3"}))
    assert message.endswith("a revision of this service's own task definition, shop-web-staging:<n>")
