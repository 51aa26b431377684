"""What each lifecycle hook lets through, against moto's server and real local HTTP targets.

Every case asserts exactly one status report, and the right one. Faults (AWS errors, environment,
time) are in tests/test_hook_faults.py.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest

from rollback_guard.hooks import post_traffic, pre_traffic, test_traffic, timing
from rollback_guard.hooks.deployment_log import last_good_version
from rollback_guard.hooks.lifecycle import HookError, StatusNotReported
from rollback_guard.hooks.revisions import describe
from rollback_guard.hooks.smoke import EndpointCheck, PathCheck
from rollback_guard.hooks.timing import Deadline
from rollback_guard.release.engine import LambdaTarget, ReleaseFailed, Releaser, ReleaseRequest
from tests.conftest import TEST_HOST
from tests.hook_runs import (
    ROLLBACK_ALARMS,
    FakeClock,
    LambdaContext,
    ecs_appspec,
    enable_logs,
    fire_alarm,
    hook_logs,
    judge_looked,
    keep_judging,
    lambda_appspec,
    rejections,
    start_release,
)
from tests.local_aws import Fault, LocalAws
from tests.scenarios import FUNCTION, TABLE, lambda_target, publish_versions


def reported(aws: LocalAws, event: dict) -> list[str]:
    assert all(r["deploymentId"] == event["DeploymentId"] for r in aws.status_reports)
    assert all(r["lifecycleEventHookExecutionId"] == event["LifecycleEventHookExecutionId"] for r in aws.status_reports)
    return [r["status"] for r in aws.status_reports]


def records() -> list[dict]:
    """The release records (not the canary judge's items)."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [{k: v["S"] for k, v in item.items()} for item in items if not item["sk"]["S"].startswith("JUDGE#")]


@pytest.fixture(autouse=True)
def logs(caplog):
    enable_logs(caplog)
    return caplog


# --- pre-traffic: smoke-test the target version before users reach it


def test_a_release_whose_checks_all_pass_is_allowed_traffic(hook_env, targets, monkeypatch, logs):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/health")}, {"url": targets.url("/ok")}]))
    event = start_release()
    assert pre_traffic.handler(event, LambdaContext(150)) == {"status": "Succeeded"}
    assert reported(hook_env, event) == ["Succeeded"]
    [passed] = [line for line in hook_logs(logs) if line["message"] == "smoke checks passed"]
    assert (passed["version"], passed["checks"]) == ("2", 3)


def test_the_target_version_is_what_gets_invoked(hook_env, logs):
    hook_env.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 500}
    hook_env.functions[(FUNCTION, "1")] = lambda event: {"statusCode": 200}
    event = start_release(lambda_appspec(current="1", target="2"))
    pre_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]
    assert "greeter-staging:2 with hello: expected {'statusCode': 200}, got {'statusCode': 500}" in rejections(logs)[0]


def test_a_smoke_event_without_an_expectation_still_expects_status_200(hook_env, monkeypatch, logs):
    monkeypatch.setenv("SMOKE_EVENTS", json.dumps([{"name": "bare"}]))
    hook_env.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 500}
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert "expected {'statusCode': 200}, got {'statusCode': 500}" in rejections(logs)[0]


def test_endpoints_alone_never_let_a_version_through_untested(hook_env, targets, monkeypatch, logs):
    # The alias still serves version 1 at BeforeAllowTraffic: endpoints would test the old code.
    def broken(event):
        raise RuntimeError("every call fails")

    hook_env.functions[(FUNCTION, "2")] = broken
    monkeypatch.setenv("SMOKE_EVENTS", "[]")
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/ok")}]))
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs) == ["environment variable SMOKE_EVENTS = '[]': a JSON list of at least 1 item(s)"]


def test_a_redirect_to_another_origin_is_an_answer_not_a_pass(hook_env, targets, monkeypatch, logs):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/redirect")}]))
    targets.hosts_seen.clear()
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    location = f"http://localhost:{targets.port}/ok"
    assert f"status 302 (a redirect to {location}, not followed), expected 200" in rejections(logs)[0]
    assert targets.hosts_seen == [f"127.0.0.1:{targets.port}"], "the other origin was never asked"


def test_an_expected_redirect_passes_without_being_followed(hook_env, targets, monkeypatch):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/redirect"), "expectStatus": 302}]))
    targets.hosts_seen.clear()
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Succeeded"}
    assert len(targets.hosts_seen) == 1, "the redirect's target was never called"


@pytest.mark.parametrize(
    ("path", "cause"),
    [
        ("/status/500", "status 500, expected 200"),
        ("/reset", "RemoteDisconnected|ConnectionResetError"),
        ("/garbage", "BadStatusLine"),
    ],
)
def test_an_endpoint_that_fails_fails_the_release(hook_env, targets, monkeypatch, logs, path, cause):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/ok")}, {"url": targets.url(path)}]))
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    [reason] = rejections(logs)
    assert reason.startswith("1 of 3 smoke checks of greeter-staging version 2 failed: ")
    assert re.search(f"{re.escape(targets.url(path))}: .*({cause})", reason)


def test_an_answer_that_trickles_in_is_cut_at_its_total_deadline(hook_env, targets, monkeypatch, logs):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/trickle/3000"), "timeoutSeconds": 0.6}]))
    event = start_release()
    started = timing.clock.now()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert timing.clock.now() - started < 1.5, "each byte came quickly, but the answer took too long"
    assert f"{targets.url('/trickle/3000')}: no complete answer within 0.6s" in rejections(logs)[0]


def test_an_https_endpoint_is_checked_like_any_other(hook_env, tls_targets, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": tls_targets.url("/ok"), "expectBody": "ok"}]))
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Succeeded"}


def test_an_https_endpoint_nobody_vouches_for_fails_the_release(hook_env, tls_targets, monkeypatch, logs):
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": tls_targets.url("/ok")}]))
    event = start_release()
    assert pre_traffic.handler(event) == {"status": "Failed"}
    assert f"{tls_targets.url('/ok')}: SSLCertVerificationError" in rejections(logs)[0]


def test_an_https_answer_that_trickles_in_is_cut_at_its_total_deadline(
    hook_env, tls_targets, certificate, monkeypatch, logs
):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    url = tls_targets.url("/trickle-unframed/3000")
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": url, "timeoutSeconds": 0.6}]))
    started = timing.clock.now()
    assert pre_traffic.handler(start_release()) == {"status": "Failed"}
    assert timing.clock.now() - started < 1.5
    assert f"{url}: no complete answer within 0.6s" in rejections(logs)[0]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize(
    ("path", "cause"),
    [
        ("/cut-short", "body cut short: 12 of 64 bytes arrived"),
        ("/chunked-cut", "body cut short: 12 bytes arrived, and the chunked body ended without its last chunk"),
    ],
)
def test_a_body_cut_short_fails_the_smoke_check(request, monkeypatch, path, cause, tls):
    # What arrived is JSON with "ok" in it; only its framing says the rest never came. The canary
    # judge's ECS probes and the pipeline's smoke test run this same check.
    if tls:
        monkeypatch.setenv("SSL_CERT_FILE", request.getfixturevalue("certificate")[0])
    servers = request.getfixturevalue("tls_targets" if tls else "targets")
    check = PathCheck.from_dict({"path": path, "expectBody": "ok"}).at(servers.url(""))
    assert check.answer(Deadline.after(5)) == f"{servers.url(path)}: {cause}"


def test_a_whole_chunked_body_passes_the_smoke_check(targets):
    check = PathCheck.from_dict({"path": "/chunked", "expectBody": "ok"}).at(targets.url(""))
    assert check.answer(Deadline.after(5)) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ops:hunter2@api.example.com/health", "https://ops:***@api.example.com/health"),
        ("https://hunter2@api.example.com/health", "https://***@api.example.com/health"),
        ("http://ops:hunt@er2@10.0.0.7:8080/health?deep=1", "http://ops:***@10.0.0.7:8080/health?deep=1"),
    ],
)
def test_a_smoke_url_with_credentials_is_refused_without_showing_them(url, shown):
    # The check would drop them (every release failing on 401), and the stack file and the hook's
    # environment would hold them in plain text.
    with pytest.raises(ValueError) as refused:
        EndpointCheck.from_dict({"url": url})
    assert str(refused.value) == (
        f"url {shown!r}: a URL without user:password@; a smoke check sends no credentials (it is for "
        "unauthenticated health endpoints), and a password here would sit in plain text in the stack file and "
        "the hook's environment"
    )


def test_a_url_that_is_not_http_never_shows_its_password_either():
    with pytest.raises(ValueError, match=r"^url 'ftp://ops:\*\*\*@files.example.com/': an http:// or https:// URL$"):
        EndpointCheck.from_dict({"url": "ftp://ops:hunter2@files.example.com/"})


def test_an_at_sign_in_a_path_is_no_credential():
    url = "https://api.example.com/users/@me"
    assert EndpointCheck.from_dict({"url": url}).url == url


def test_a_target_version_that_raises_fails_the_release(hook_env, logs):
    def broken(event):
        raise RuntimeError("database password rotated")

    hook_env.functions[(FUNCTION, "2")] = broken
    event = start_release()
    pre_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]
    assert "greeter-staging:2 with hello: the function raised" in rejections(logs)[0]
    assert "database password rotated" in rejections(logs)[0]


def test_a_deployment_of_another_function_is_not_tested_here(hook_env, logs):
    event = start_release(lambda_appspec(function="billing"))
    pre_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs) == [
        f"deployment {event['DeploymentId']} targets billing; this hook tests greeter-staging only"
    ]


def test_a_deployment_without_a_json_appspec_reports_failed(hook_env):
    event = start_release("version: 0.0\nResources: []\n")
    pre_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]


def test_the_pre_traffic_hook_refuses_an_ecs_deployment(hook_env):
    event = start_release(ecs_appspec(1))
    pre_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]


def test_a_check_that_would_outlast_the_invocation_is_cut_short_and_reported(hook_env, targets, monkeypatch, logs):
    # The endpoint would be allowed 5 s, but the invocation has only 31 s left and 30 s are kept for
    # the report: the check gets 1 s, and the report is made in time.
    monkeypatch.setenv("SMOKE_ENDPOINTS", json.dumps([{"url": targets.url("/hang"), "timeoutSeconds": 5}]))
    event = start_release()
    context = LambdaContext(31)
    assert pre_traffic.handler(event, context) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert hook_env.status_reports[0]["at"] < context.deadline - 29
    assert f"{targets.url('/hang')}: no complete answer within" in rejections(logs)[0]


def test_a_hook_started_too_late_to_check_still_reports(hook_env, logs):
    event = start_release()
    assert pre_traffic.handler(event, LambdaContext(10)) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs) == ["no time left for the check"]


def test_an_event_that_is_not_from_codedeploy_is_refused(hook_env):
    with pytest.raises(HookError, match="not a CodeDeploy lifecycle event"):
        pre_traffic.handler({"hello": "world"})
    assert hook_env.status_reports == []


def test_a_report_that_could_not_be_delivered_is_delivered_by_lambdas_retry(hook_env, logs):
    # CodeDeploy invokes hooks asynchronously: an invocation that ends in an error is retried by
    # Lambda with the same event, and that invocation's report lands.
    hook_env.inject("PutLifecycleEventHookExecutionStatus", Fault(error="AccessDeniedException"))
    event = start_release()
    with pytest.raises(
        StatusNotReported,
        match=r"^status Succeeded of deployment \S+ not reported after 1 attempt\(s\), a retry cannot help: ",
    ):
        pre_traffic.handler(event)
    assert pre_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(hook_env, event) == ["Succeeded"]
    assert [line["message"] for line in hook_logs(logs) if "status" in line["message"]] == [
        "status not reported",
        "status reported",
    ]


# --- post-traffic: keep watching after the last shift, then record the release


def judged(event: dict) -> dict:
    """The release, with the canary judge's fresh and healthy look at it."""
    judge_looked(event["DeploymentId"])
    return event


def test_a_finished_release_is_recorded_then_reported(hook_env):
    event = judged(start_release(lambda_appspec(current="1", target="2")))
    assert post_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(hook_env, event) == ["Succeeded"]

    [item] = records()
    assert item["pk"] == "greeter#staging"
    assert item["sk"].startswith("SUCCEEDED#") and item["sk"].endswith(f"#{event['DeploymentId']}")
    assert (item["deploymentId"], item["previousVersion"], item["version"]) == (event["DeploymentId"], "1", "2")
    assert (item["status"], item["service"], item["environment"]) == ("SUCCEEDED", "greeter", "staging")
    assert item["deploymentCreatedAt"] and item["recordedAt"]


def test_a_retried_post_traffic_hook_neither_duplicates_nor_clobbers_the_record(hook_env, logs):
    first_event = judged(start_release())
    post_traffic.handler(first_event)
    first = records()

    retry = {**first_event, "LifecycleEventHookExecutionId": "execution-2"}
    assert post_traffic.handler(retry) == {"status": "Succeeded"}, "the conditional-check failure is a repeat"
    assert [r["status"] for r in hook_env.status_reports] == ["Succeeded", "Succeeded"]
    assert records() == first
    assert hook_logs(logs)[-2]["effect"] == "already written by an earlier attempt"


def test_a_release_that_cannot_be_recorded_fails(hook_env, monkeypatch, logs):
    monkeypatch.setenv("JUDGE_REQUIRED", "false")  # the judge's item is in the same table
    boto3.client("dynamodb").delete_table(TableName=TABLE)
    event = start_release()
    assert post_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs)[0].startswith(f"dynamodb PutItem {TABLE} for deployment {event['DeploymentId']} failed")


def test_the_last_good_version_is_one_query_away(hook_env):
    for execution, (current, target) in enumerate((("1", "2"), ("2", "3"))):
        post_traffic.handler(judged(start_release(lambda_appspec(current, target), execution=f"execution-{execution}")))
    client = boto3.client("dynamodb")
    assert last_good_version(client, TABLE, "greeter", "staging") == "3"
    assert last_good_version(client, TABLE, "greeter", "prod") is None


def test_an_ecs_release_is_recorded_with_the_previous_recorded_revision(hook_env, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ALARMS", "[]")  # as the ECS recorder is configured
    for revision in (1, 2):
        event = judged(start_release(ecs_appspec(revision), execution=f"execution-{revision}"))
        assert post_traffic.handler(event) == {"status": "Succeeded"}
    recorded = sorted((item["version"], item["previousVersion"], item["strategy"]) for item in records())
    assert recorded == [
        ("web-staging:1", "", "codedeploy-blue-green"),
        ("web-staging:2", "web-staging:1", "codedeploy-blue-green"),
    ]


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "clock", clock)
    return clock


def test_an_alarm_that_fires_minutes_after_the_last_shift_rolls_the_release_back(
    hook_env, monkeypatch, fake_clock, logs
):
    # The error rate needs its datapoints plus CloudWatch's delay: it fires 5 minutes after the
    # last traffic shift, when CodeDeploy itself has stopped watching.
    monkeypatch.setenv("WATCH_SECONDS", "600")
    fake_clock.at(300, fire_alarm)
    event = start_release()
    keep_judging(fake_clock, event["DeploymentId"])
    assert post_traffic.handler(event, LambdaContext(750)) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    [reason] = rejections(logs)
    assert reason.startswith(f"rollback alarm {ROLLBACK_ALARMS[0]} is in ALARM 300s after the last traffic shift: ")
    assert "Threshold Crossed" in reason
    assert records() == [], "a release that failed its watch is never recorded as good"

    # CodeDeploy's answer to a failed AfterAllowTraffic hook: the deployment fails and rolls back;
    # `up`, following the deployment, says so.
    publish_versions()
    hook_env.script_next_deployment(
        [
            {
                "status": "Failed",
                "errorInformation": {"code": "HOOK_FAILED", "message": "AfterAllowTraffic failed"},
                "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK2"},
                "targets": [lambda_target(0.0, ("AfterAllowTraffic", "Failed"))],
            }
        ]
    )
    releaser = Releaser("us-east-1", on_progress=lambda line: None, sleep=lambda seconds: None)
    with pytest.raises(ReleaseFailed) as failed:
        releaser.release(
            ReleaseRequest(
                "greeter",
                "greeter-deploy",
                LambdaTarget(FUNCTION, "live", "2", {"AfterAllowTraffic": "greeter-hooks-post-traffic-staging"}),
            )
        )
    assert failed.value.failed_hooks == ("AfterAllowTraffic",)
    assert failed.value.summary.endswith("traffic is back on the revision before it")
    assert "CodeDeploy rolled back (deployment d-ROLLBACK2 succeeded)" in str(failed.value)


def test_a_quiet_watch_lasts_its_full_time_then_records(hook_env, monkeypatch, fake_clock, logs):
    monkeypatch.setenv("WATCH_SECONDS", "600")
    started = fake_clock.now()
    event = start_release()
    keep_judging(fake_clock, event["DeploymentId"])
    assert post_traffic.handler(event, LambdaContext(750)) == {"status": "Succeeded"}
    assert fake_clock.now() - started >= 600
    [recorded] = [line for line in hook_logs(logs) if line["message"] == "release recorded"]
    assert (recorded["watched_seconds"], recorded["alarm_polls"]) == (600, 41), "every 15 s, first and last included"
    assert len(records()) == 1


def test_a_corrective_deployment_is_recorded_as_a_rollback_without_watching_the_alarms_that_caught_the_bad_one(
    hook_env, monkeypatch, fake_clock, logs
):
    monkeypatch.setenv("WATCH_SECONDS", "600")
    fire_alarm()  # still in ALARM from the bad version 3
    deployment_id = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": lambda_appspec("3", "4")}},
        description=describe("rollback", "4", "3", "back to known-good 2"),
    )["deploymentId"]
    event = {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": "execution-1"}
    assert post_traffic.handler(event, LambdaContext(750)) == {"status": "Succeeded"}
    [item] = records()
    assert (item["action"], item["previousVersion"], item["version"]) == ("rollback", "3", "4")
    [line] = [line for line in hook_logs(logs) if line["message"] == "rollback recorded"]
    assert line["watched_seconds"] == 0


# --- post-traffic: the canary judge must have looked, and not called for a rollback


def test_a_release_the_judge_called_for_rolling_back_is_refused_with_the_judges_explanation(hook_env, logs):
    event = start_release()
    why = "ROLLBACK: errors-vs-old: error rate of version 2 20% against 0.1% over 3 min"
    judge_looked(event["DeploymentId"], verdict="ROLLBACK", explanation=why)
    assert post_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs) == [f"the canary judge's verdict on deployment {event['DeploymentId']} is ROLLBACK: {why}"]
    assert records() == []


def test_a_release_nobody_judged_is_refused(hook_env, logs):
    event = start_release()
    assert post_traffic.handler(event) == {"status": "Failed"}
    [reason] = rejections(logs)
    assert reason.startswith(
        f"the canary judge has not looked at deployment {event['DeploymentId']} since it was created ("
    )
    assert reason.endswith("): a release nobody judges does not go through")
    assert records() == []


def test_a_release_whose_judge_stopped_looking_is_refused(hook_env, logs):
    event = start_release()
    judge_looked(event["DeploymentId"], seconds_ago=200)
    assert post_traffic.handler(event) == {"status": "Failed"}
    [reason] = rejections(logs)
    assert f"has not looked at deployment {event['DeploymentId']} since " in reason
    assert re.search(r" 20\d s ago: a release nobody judges does not go through$", reason), reason


def test_a_judge_that_looked_within_two_minutes_lets_the_release_through(hook_env):
    event = start_release()
    judge_looked(event["DeploymentId"], seconds_ago=100)
    assert post_traffic.handler(event) == {"status": "Succeeded"}
    assert len(records()) == 1


def test_a_verdict_during_the_watch_fails_it_at_the_next_poll(hook_env, monkeypatch, fake_clock, logs):
    monkeypatch.setenv("WATCH_SECONDS", "600")
    event = start_release()
    keep_judging(fake_clock, event["DeploymentId"], until=120)
    fake_clock.at(125, lambda: judge_looked(event["DeploymentId"], verdict="ROLLBACK", explanation="probes failed"))
    started = fake_clock.now()
    assert post_traffic.handler(event, LambdaContext(750)) == {"status": "Failed"}
    assert fake_clock.now() - started <= 135, "failed at the first poll after the verdict, not at the watch's end"
    assert rejections(logs)[0].endswith("is ROLLBACK: probes failed")


def test_a_judge_that_dies_during_the_watch_fails_it(hook_env, monkeypatch, fake_clock, logs):
    monkeypatch.setenv("WATCH_SECONDS", "600")
    event = start_release()
    keep_judging(fake_clock, event["DeploymentId"], until=200)  # its last look at 180 s
    started = fake_clock.now()
    assert post_traffic.handler(event, LambdaContext(750)) == {"status": "Failed"}
    assert 300 <= fake_clock.now() - started <= 315, "at the first poll two minutes after its last look"
    assert "a release nobody judges does not go through" in rejections(logs)[0]


def test_a_stack_may_say_its_releases_go_without_the_judge(hook_env, monkeypatch):
    monkeypatch.setenv("JUDGE_REQUIRED", "false")
    event = start_release()
    assert post_traffic.handler(event) == {"status": "Succeeded"}


def test_only_true_or_false_say_whether_the_judge_is_required(hook_env, monkeypatch, logs):
    monkeypatch.setenv("JUDGE_REQUIRED", "no")
    event = start_release()
    judge_looked(event["DeploymentId"])
    assert post_traffic.handler(event) == {"status": "Failed"}
    assert rejections(logs) == ['environment variable JUDGE_REQUIRED = \'no\': "true" or "false"']


# --- ECS AfterAllowTestTraffic: smoke-test green through the test listener


def ecs_event() -> dict:
    return {"DeploymentId": "d-ECS0001", "LifecycleEventHookExecutionId": "execution-ecs"}


def test_green_answering_on_the_test_listener_lets_production_traffic_move(hook_env, load_balancer_node):
    event = ecs_event()
    assert test_traffic.handler(event) == {"status": "Succeeded"}
    assert reported(hook_env, event) == ["Succeeded"]
    assert load_balancer_node.hosts_seen == [TEST_HOST], "the node is asked for the load balancer's own name"


def test_green_failing_on_the_test_listener_stops_the_release_before_users_see_it(
    hook_env, load_balancer_node, monkeypatch, logs
):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/health"}, {"path": "/status/503"}]))
    event = ecs_event()
    assert test_traffic.handler(event) == {"status": "Failed"}
    assert reported(hook_env, event) == ["Failed"]
    assert f"1 of 2 checks of green through the test listener ({TEST_HOST}:" in rejections(logs)[0]


def test_green_hanging_on_the_test_listener_fails_within_its_timeout(hook_env, load_balancer_node, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/hang", "timeoutSeconds": 0.5}]))
    event = ecs_event()
    started = timing.clock.now()
    test_traffic.handler(event)
    assert timing.clock.now() - started < 1.5
    assert reported(hook_env, event) == ["Failed"]


def test_a_load_balancer_that_cannot_be_found_reports_failed(hook_env, load_balancer_node, monkeypatch, logs):
    monkeypatch.setenv("LOAD_BALANCER", "app/another/fedcba9876543210")
    event = ecs_event()
    test_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]
    assert rejections(logs) == ["no network interface found for load balancer app/another/fedcba9876543210"]


@pytest.mark.parametrize("paths", ["[]", "not json", '{"path": "/"}'])
def test_smoke_paths_that_are_missing_or_malformed_report_failed(hook_env, load_balancer_node, monkeypatch, paths):
    monkeypatch.setenv("SMOKE_PATHS", paths)
    event = ecs_event()
    test_traffic.handler(event)
    assert reported(hook_env, event) == ["Failed"]


@pytest.mark.parametrize("url", ["https://example.com:99999/", "https://example.com:abc/", "http://example.com:0/"])
def test_a_smoke_url_whose_port_cannot_be_connected_to_is_refused(url):
    with pytest.raises(ValueError, match="a URL whose port, if any, is from 1 to 65535"):
        EndpointCheck.from_dict({"url": url})
