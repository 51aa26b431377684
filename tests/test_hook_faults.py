"""Fault injection into the real hook handlers: the pre-traffic, post-traffic and test-traffic
CodeDeploy hooks and the ECS-native lifecycle hook, against moto's server and real HTTP targets on
loopback.

Faults go into the check (what the new version answers), every AWS call (the status report and
the deployment log's write included), the environment and time. Every case asserts the number of
status reports (exactly one whenever CodeDeploy can be told anything), the status, that the answer
came before the invocation's deadline, and a log line that names the cause. A status that cannot
be delivered ends the invocation with an error, so Lambda counts it and retries.

Time is scaled down, not faked: the report keeps 2 s of the invocation instead of 30, the alarm
watch polls every 0.2 s instead of 15, so a case that runs into a deadline takes seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import pytest

from rollback_guard.hooks import alarm_watch, ecs_lifecycle, lifecycle, post_traffic, pre_traffic, test_traffic
from rollback_guard.hooks.lifecycle import StatusNotReported
from tests.hook_runs import (
    ROLLBACK_ALARMS,
    LambdaContext,
    ecs_appspec,
    enable_logs,
    fire_alarm,
    hook_logs,
    judge_looked,
    lambda_appspec,
    start_release,
)
from tests.local_aws import Fault, LocalAws, throttled
from tests.scenarios import FUNCTION, TABLE
from tests.smoke_targets import SmokeTargets

RESERVE = 2.0
# Room for the checks, with the SDK's own retries of a failing AWS call (up to ~3 s of backoff).
REMAINING = RESERVE + 6
HANDLERS = {
    "pre": pre_traffic.handler,
    "post": post_traffic.handler,
    "test": test_traffic.handler,
    "ecs": ecs_lifecycle.handler,
}


@dataclass
class World:
    aws: LocalAws
    targets: SmokeTargets
    env: pytest.MonkeyPatch
    # What CodeDeploy sent the hook.
    event: dict
    # The hook's log lines so far.
    logs: Callable[[], list[dict]]
    # The threads running before the case was arranged (this one among them).
    threads_before: frozenset[threading.Thread] = field(default_factory=lambda: frozenset(threading.enumerate()))

    def set(self, **variables) -> None:
        for name, value in variables.items():
            self.env.setenv(name, value if isinstance(value, str) else json.dumps(value))

    def unset(self, name: str) -> None:
        self.env.delenv(name)

    def fault(self, operation: str, fault: Fault, times: int = 1) -> None:
        self.aws.inject(operation, fault, times)

    def version_answers(self, handler: Callable) -> None:
        self.aws.functions[(FUNCTION, "2")] = handler

    def endpoint(self, path: str, **expect) -> None:
        self.set(SMOKE_ENDPOINTS=[{"url": self.targets.url(path), **expect}])

    def green(self, path: str, **expect) -> None:
        self.set(SMOKE_PATHS=[{"path": path, **expect}])


@dataclass
class Case:
    id: str
    hook: str
    arrange: Callable[[World], None]
    status: str
    # Text a log line of the hook must contain.
    cause: str
    remaining: float = REMAINING
    # Status reports CodeDeploy receives: 0 only when CodeDeploy could not be told at all, or had a
    # status already.
    reports: int = 1
    # The invocation ends with an error (StatusNotReported), for a status it could not deliver.
    error: bool = False
    appspec: Callable[[], str] = field(default=lambda: lambda_appspec())
    # Further checks once the handler has answered.
    then: Callable[[World], None] | None = None


def raises(event):
    raise RuntimeError("KeyError: 'DATABASE_URL'")


def answers(document):
    return lambda event: document


def slow(seconds: float):
    def handler(event):
        time.sleep(seconds)
        return {"statusCode": 200}

    return handler


def release_records() -> list[dict]:
    """The deployment log's release records (the canary judge's items aside)."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [item for item in items if not item["sk"]["S"].startswith("JUDGE#")]


def no_record_even_later(world: World) -> None:
    """A regression guard: only the runner writes, so an abandoned check must never have. Waits 1.5 s,
    or less once every thread the case started (the abandoned check's, the server's answering it,
    the case's timers) has ended: nothing of the case is left running that could still write."""
    give_up = time.monotonic() + 1.5
    while started := [thread for thread in threading.enumerate() if thread not in world.threads_before]:
        if time.monotonic() >= give_up:
            break
        for thread in started:
            thread.join(max(0.0, give_up - time.monotonic()))
    assert release_records() == []


def one_record(world: World) -> None:
    assert len(release_records()) == 1


def wait_out_the_abandoned_write(world: World) -> None:
    """The runner gave up on a write that AWS still holds and carries out: wait for it, so that it
    cannot land in the next case's table."""
    give_up = time.monotonic() + 5
    while not release_records() and time.monotonic() < give_up:
        time.sleep(0.1)


def one_report_attempt(world: World) -> None:
    """A denied report is not retried: a retry cannot help."""
    assert world.aws.calls.count("PutLifecycleEventHookExecutionStatus") == 1


def retries_logged(code: str, retries: int) -> Callable[[World], None]:
    """Every retried report has a log line with its attempt and the error code that caused it."""

    def check(world: World) -> None:
        lines = [line for line in world.logs() if line["message"] == "status report failed; retrying"]
        assert [(line["attempt"], line["error_code"]) for line in lines] == [(n, code) for n in range(1, retries + 1)]

    return check


def judge_says(verdict: str | None = None, seconds_ago: float = 0.0) -> Callable[[World], None]:
    """The canary judge's item for the deployment: a verdict, or a look `seconds_ago`."""
    return lambda world: judge_looked(
        world.event["DeploymentId"], seconds_ago, verdict, "probe failure rate of version 2 100% against 1%"
    )


def no_judge(world: World) -> None:
    boto3.client("dynamodb").delete_item(
        TableName=TABLE,
        Key={"pk": {"S": "greeter#staging"}, "sk": {"S": f"JUDGE#{world.event['DeploymentId']}"}},
    )


def judge_stops_looking(world: World) -> None:
    """Its last look is the one before the watch: two minutes, scaled down to one second."""
    world.env.setattr(post_traffic, "JUDGE_STALE_SECONDS", 1.0)


def fire_in(seconds: float) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        timer = threading.Timer(seconds, fire_alarm)
        timer.daemon = True
        timer.start()

    return arrange


def watch(seconds: float, *more: Callable[[World], None]) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        world.set(WATCH_SECONDS=str(seconds))
        for step in more:
            step(world)

    return arrange


def stop_in(seconds: float) -> Callable[[World], None]:
    """Someone stops the deployment with rollback (`ops rollback`, the console) `seconds` from now."""

    def arrange(world: World) -> None:
        stop = boto3.client("codedeploy").stop_deployment
        timer = threading.Timer(seconds, stop, kwargs={"deploymentId": world.event["DeploymentId"]})
        timer.daemon = True
        timer.start()

    return arrange


def delete_alarm(world: World) -> None:
    boto3.client("cloudwatch").delete_alarms(AlarmNames=[ROLLBACK_ALARMS[1]])


def ecs_recorder(world: World) -> None:
    """As the ECS service's recorder is configured: no watch, the previous revision from the log."""
    world.set(ROLLBACK_ALARMS="[]")


def ecs_execution() -> dict:
    return {"executionId": "execution-ecs-1", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"}


CASES = [
    # --- pre-traffic: the check
    Case(
        "version answers 500 without an expect configured",
        "pre",
        lambda w: (w.set(SMOKE_EVENTS=[{"name": "hello"}]), w.version_answers(answers({"statusCode": 500}))),
        "Failed",
        "greeter-staging:2 with hello: expected {'statusCode': 200}, got {'statusCode': 500}",
    ),
    Case(
        "version raises",
        "pre",
        lambda w: w.version_answers(raises),
        "Failed",
        "greeter-staging:2 with hello: the function raised",
    ),
    Case(
        "version answers a list",
        "pre",
        lambda w: w.version_answers(answers([1, 2])),
        "Failed",
        "greeter-staging:2 with hello: the result is not an object",
    ),
    Case(
        "version slower than its check timeout",
        "pre",
        lambda w: (w.set(CHECK_TIMEOUT_SECONDS="1"), w.version_answers(slow(2.5))),
        "Failed",
        "greeter-staging:2 with hello: lambda Invoke failed: Read timeout",
    ),
    Case(
        "endpoint redirects to a 200 elsewhere",
        "pre",
        lambda w: w.endpoint("/redirect"),
        "Failed",
        "status 302 (a redirect to",
    ),
    Case(
        "endpoint trickles its body past the timeout",
        "pre",
        lambda w: w.endpoint("/trickle/4000", timeoutSeconds=0.5),
        "Failed",
        "/trickle/4000: no complete answer within 0.5s",
    ),
    Case(
        "endpoint trickles an unframed body past the timeout",
        "pre",
        lambda w: w.endpoint("/trickle-unframed/4000", timeoutSeconds=0.5),
        "Failed",
        "/trickle-unframed/4000: no complete answer within 0.5s",
    ),
    Case(
        "endpoint hangs past the check's time",
        "pre",
        lambda w: w.endpoint("/hang", timeoutSeconds=30),
        "Failed",
        "/hang: no complete answer within",
        remaining=RESERVE + 1.5,
    ),
    Case(
        "endpoint announces a length and closes early",
        "pre",
        lambda w: w.endpoint("/cut-short", expectBody="ok"),
        "Failed",
        "/cut-short: body cut short: 12 of 64 bytes arrived",
    ),
    Case(
        "endpoint breaks off its chunked body",
        "pre",
        lambda w: w.endpoint("/chunked-cut", expectBody="ok"),
        "Failed",
        "/chunked-cut: body cut short: 12 bytes arrived, and the chunked body ended without its last chunk",
    ),
    Case(
        "endpoint sends garbage",
        "pre",
        lambda w: w.endpoint("/garbage"),
        "Failed",
        "/garbage: BadStatusLine",
    ),
    Case(
        "endpoint body lacks the expected text",
        "pre",
        lambda w: w.endpoint("/ok", expectBody="greeting"),
        "Failed",
        "/ok: body does not contain 'greeting'",
    ),
    Case(
        "endpoint refuses connections",
        "pre",
        lambda w: w.set(SMOKE_ENDPOINTS=[{"url": "http://127.0.0.1:9/health"}]),
        "Failed",
        "http://127.0.0.1:9/health: ConnectionRefusedError",
    ),
    # --- pre-traffic: AWS calls
    Case(
        "GetDeployment throttled on every attempt",
        "pre",
        lambda w: w.fault("GetDeployment", throttled(), times=3),
        "Failed",
        "codedeploy GetDeployment",
    ),
    Case(
        "GetDeployment denied",
        "pre",
        lambda w: w.fault("GetDeployment", Fault(error="AccessDeniedException")),
        "Failed",
        "failed: AccessDeniedException",
    ),
    Case(
        "GetApplicationRevision failing with 500s",
        "pre",
        lambda w: w.fault("GetApplicationRevision", Fault(error="InternalFailure", status=500), times=3),
        "Failed",
        "codedeploy GetApplicationRevision of",
    ),
    Case(
        "Invoke throttled",
        "pre",
        lambda w: w.fault("Invoke", Fault(error="TooManyRequestsException", status=429)),
        "Failed",
        "greeter-staging:2 with hello: lambda Invoke failed: An error occurred (TooManyRequestsException)",
    ),
    Case(
        "target version deleted",
        "pre",
        lambda w: w.aws.functions.clear(),
        "Failed",
        "ResourceNotFoundException",
    ),
    # --- the status report itself
    Case(
        "report throttled three times, then lands",
        "pre",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", throttled(), times=3),
        "Succeeded",
        '"attempts": 4',
        then=retries_logged("ThrottlingException", 3),
    ),
    Case(
        "report answered 500 twice, then lands",
        "post",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", Fault(error="InternalFailure", status=500), times=2),
        "Succeeded",
        '"attempts": 3',
        then=retries_logged("InternalFailure", 2),
    ),
    Case(
        "report lands but its answer is lost",
        "pre",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", Fault(lose_answer=True)),
        "Succeeded",
        "an earlier attempt landed, its answer was lost",
    ),
    Case(
        "report slow to answer",
        "test",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", Fault(delay=1.0)),
        "Succeeded",
        "status reported",
    ),
    Case(
        "failed report lands after throttling",
        "pre",
        lambda w: (w.version_answers(raises), w.fault("PutLifecycleEventHookExecutionStatus", throttled(), times=2)),
        "Failed",
        "the function raised",
    ),
    Case(
        "report denied",
        "pre",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", Fault(error="AccessDeniedException")),
        "Succeeded",
        '"why": "a retry cannot help", "error_code": "AccessDeniedException"',
        reports=0,
        error=True,
        then=one_report_attempt,
    ),
    Case(
        "failed report denied",
        "post",
        lambda w: (fire_alarm(), w.fault("PutLifecycleEventHookExecutionStatus", Fault(error="AccessDeniedException"))),
        "Failed",
        f"rollback alarm {ROLLBACK_ALARMS[0]} is in ALARM",
        reports=0,
        error=True,
        then=one_report_attempt,
    ),
    Case(
        "report throttled until the deadline",
        "pre",
        lambda w: w.fault("PutLifecycleEventHookExecutionStatus", throttled(), times=1000),
        "Succeeded",
        "the invocation's deadline came first",
        remaining=RESERVE + 1,
        reports=0,
        error=True,
    ),
    Case(
        "CodeDeploy already has the hook's status",
        "test",
        lambda w: w.fault(
            "PutLifecycleEventHookExecutionStatus", Fault(error="LifecycleEventAlreadyCompletedException")
        ),
        "Succeeded",
        "another invocation reported, or it ended",
        reports=0,
        appspec=lambda: ecs_appspec(2),
    ),
    # --- pre-traffic: environment
    *[
        Case(
            f"CHECK_TIMEOUT_SECONDS {value}",
            "pre",
            lambda w, value=value: w.set(CHECK_TIMEOUT_SECONDS=value),
            "Failed",
            f"CHECK_TIMEOUT_SECONDS = '{value}': a number of seconds above 0 and at most 45",
        )
        for value in ("nan", "inf", "-1", "0", "46", "soon")
    ],
    Case(
        "no smoke events",
        "pre",
        lambda w: w.set(SMOKE_EVENTS=[]),
        "Failed",
        "SMOKE_EVENTS = '[]': a JSON list of at least 1 item(s)",
    ),
    Case(
        "misspelt key in a smoke event",
        "pre",
        lambda w: w.set(SMOKE_EVENTS=[{"name": "hello", "expected": {"statusCode": 200}}]),
        "Failed",
        "unknown key 'expected' (did you mean 'expect'?)",
    ),
    Case(
        "empty expectation",
        "pre",
        lambda w: w.set(SMOKE_EVENTS=[{"name": "hello", "expect": {}}]),
        "Failed",
        "item 0: expect {}: an object of keys the result must hold",
    ),
    Case(
        "misspelt key in an endpoint",
        "pre",
        lambda w: w.set(SMOKE_ENDPOINTS=[{"url": "http://127.0.0.1/", "expectedBody": "ok"}]),
        "Failed",
        "unknown key 'expectedBody' (did you mean 'expectBody'?)",
    ),
    Case(
        "TARGET_FUNCTION missing",
        "pre",
        lambda w: w.unset("TARGET_FUNCTION"),
        "Failed",
        "environment variable TARGET_FUNCTION is not set",
    ),
    Case(
        "TARGET_FUNCTION qualified",
        "pre",
        lambda w: w.set(TARGET_FUNCTION=f"{FUNCTION}:live"),
        "Failed",
        "a Lambda function name or unqualified ARN",
    ),
    # --- pre-traffic: time
    Case(
        "invoked with less time than the report needs",
        "pre",
        lambda w: None,
        "Failed",
        "no time left for the check",
        remaining=RESERVE - 0.5,
    ),
    Case(
        "the new version outlasts the invocation",
        "pre",
        lambda w: (w.set(CHECK_TIMEOUT_SECONDS="10"), w.version_answers(slow(4))),
        "Failed",
        "still waiting for greeter-staging:2 with hello",
        remaining=RESERVE + 1.5,
    ),
    # --- post-traffic: watching and recording
    Case(
        "alarm fires during the watch",
        "post",
        watch(2, fire_in(0.5)),
        "Failed",
        f"rollback alarm {ROLLBACK_ALARMS[0]} is in ALARM",
        then=no_record_even_later,
    ),
    Case(
        "alarm already firing at the last shift",
        "post",
        lambda w: fire_alarm(),
        "Failed",
        f"rollback alarm {ROLLBACK_ALARMS[0]} is in ALARM 0s after the last traffic shift: Threshold Crossed",
    ),
    Case(
        "a watched alarm was deleted",
        "post",
        delete_alarm,
        "Failed",
        f"rollback alarm(s) {ROLLBACK_ALARMS[1]} not found",
    ),
    Case(
        "DescribeAlarms throttled for a moment",
        "post",
        watch(1, lambda w: w.fault("DescribeAlarms", throttled(), times=3)),
        "Succeeded",
        "alarm poll failed; retrying",
        then=one_record,
    ),
    Case(
        "DescribeAlarms failing for good",
        "post",
        watch(1.5, lambda w: w.fault("DescribeAlarms", Fault(error="InternalFailure", status=500), times=1000)),
        "Failed",
        "cloudwatch DescribeAlarms greeter-rollback-error-rate, greeter-rollback-throttle-rate failed: InternalFailure",
        remaining=RESERVE + 12,
        then=no_record_even_later,
    ),
    Case(
        "DescribeAlarms denied",
        "post",
        lambda w: w.fault("DescribeAlarms", Fault(error="AccessDenied", status=403)),
        "Failed",
        "the rollback alarms cannot be watched: cloudwatch DescribeAlarms",
    ),
    Case(
        "the watch does not fit the invocation",
        "post",
        watch(60),
        "Failed",
        "WATCH_SECONDS = 60 does not fit",
    ),
    Case(
        "WATCH_SECONDS not a number",
        "post",
        watch("NaN"),
        "Failed",
        "WATCH_SECONDS = 'NaN': a number of seconds from 0 and at most 720",
    ),
    Case(
        "a watch with no alarm to watch",
        "post",
        watch(1, lambda w: w.set(ROLLBACK_ALARMS="[]")),
        "Failed",
        "a watch needs at least one alarm to watch",
    ),
    Case(
        "ROLLBACK_ALARMS not JSON",
        "post",
        lambda w: w.set(ROLLBACK_ALARMS="greeter-rollback-error-rate"),
        "Failed",
        "ROLLBACK_ALARMS = 'greeter-rollback-error-rate': not JSON",
    ),
    Case(
        "DEPLOYMENT_LOG_TABLE missing",
        "post",
        lambda w: w.unset("DEPLOYMENT_LOG_TABLE"),
        "Failed",
        "environment variable DEPLOYMENT_LOG_TABLE is not set",
    ),
    Case(
        "PutItem denied",
        "post",
        lambda w: w.fault("PutItem", Fault(error="AccessDeniedException")),
        "Failed",
        f"dynamodb PutItem {TABLE} for deployment",
    ),
    Case(
        "PutItem throttled once",
        "post",
        lambda w: w.fault("PutItem", Fault(error="ProvisionedThroughputExceededException")),
        "Succeeded",
        "deployment log write failed; retrying",
        then=one_record,
    ),
    Case(
        "PutItem slower than the check's time",
        "post",
        lambda w: w.fault("PutItem", Fault(delay=2)),
        "Failed",
        f"s it had; still waiting for dynamodb PutItem {TABLE} for deployment",
        remaining=RESERVE + 1.5,
        then=wait_out_the_abandoned_write,
    ),
    Case(
        "PutItem lands but its answer is lost",
        "post",
        lambda w: w.fault("PutItem", Fault(lose_answer=True)),
        "Succeeded",
        "already written by an earlier attempt",
        then=one_record,
    ),
    Case(
        "PutItem lands but the answer to every attempt is lost",
        "post",
        lambda w: w.fault("PutItem", Fault(lose_answer=True), times=2),
        "Succeeded",
        "written (the answer to the write was lost)",
        then=one_record,
    ),
    Case(
        "the deployment is stopped during the watch",
        "post",
        watch(1.5, stop_in(0.5)),
        "Failed",
        "is Stopped: it ended during the watch, nothing recorded",
        then=no_record_even_later,
    ),
    Case(
        "Query for the previous revision throttled",
        "post",
        lambda w: (ecs_recorder(w), w.fault("Query", Fault(error="ProvisionedThroughputExceededException"), times=3)),
        "Failed",
        f"dynamodb Query {TABLE} for the last release of greeter failed",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "Query slower than the check's time",
        "post",
        lambda w: (ecs_recorder(w), w.fault("Query", Fault(delay=2.5))),
        "Failed",
        f"still waiting for dynamodb Query {TABLE}",
        remaining=RESERVE + 1.5,
        appspec=lambda: ecs_appspec(2),
        then=no_record_even_later,
    ),
    # --- post-traffic: the canary judge's say
    Case(
        "the judge called for a rollback",
        "post",
        judge_says("ROLLBACK"),
        "Failed",
        "is ROLLBACK: probe failure rate of version 2 100% against 1%",
        then=no_record_even_later,
    ),
    Case(
        "the judge called for a rollback during the watch",
        "post",
        watch(2, lambda w: threading.Timer(0.5, judge_says("ROLLBACK"), args=(w,)).start()),
        "Failed",
        "is ROLLBACK: probe failure rate",
        then=no_record_even_later,
    ),
    Case(
        "the judge never looked",
        "post",
        no_judge,
        "Failed",
        "since it was created (",
        then=no_record_even_later,
    ),
    Case(
        "the judge's last look is stale",
        "post",
        judge_says(seconds_ago=130),
        "Failed",
        " s ago: a release nobody judges does not go through",
    ),
    Case(
        "the judge stops looking during the watch",
        "post",
        watch(2.5, judge_stops_looking),
        "Failed",
        "a release nobody judges does not go through",
        then=no_record_even_later,
    ),
    Case(
        "the judge's item cannot be read",
        "post",
        lambda w: w.fault("GetItem", Fault(error="AccessDeniedException")),
        "Failed",
        f"the canary judge's verdict cannot be read: dynamodb GetItem {TABLE} for the canary judge of",
    ),
    Case(
        "the judge's item throttled for a moment",
        "post",
        watch(1, lambda w: w.fault("GetItem", Fault(error="ProvisionedThroughputExceededException"), times=3)),
        "Succeeded",
        "alarm poll failed; retrying",
        then=one_record,
    ),
    Case(
        "JUDGE_REQUIRED neither true nor false",
        "post",
        lambda w: w.set(JUDGE_REQUIRED="yes"),
        "Failed",
        'JUDGE_REQUIRED = \'yes\': \\"true\\" or \\"false\\"',
    ),
    # --- test-traffic (CodeDeploy ECS AfterAllowTestTraffic)
    Case(
        "green redirects",
        "test",
        lambda w: w.green("/redirect"),
        "Failed",
        "(a redirect to",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "green hangs past the check's time",
        "test",
        lambda w: w.green("/hang", timeoutSeconds=30),
        "Failed",
        "/hang: no complete answer within",
        remaining=RESERVE + 1.5,
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "green cuts its body short",
        "test",
        lambda w: w.green("/cut-short"),
        "Failed",
        "/cut-short: body cut short: 12 of 64 bytes arrived",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "DescribeNetworkInterfaces throttled",
        "test",
        lambda w: w.fault("DescribeNetworkInterfaces", Fault(error="RequestLimitExceeded", status=503), times=3),
        "Failed",
        "ec2 DescribeNetworkInterfaces of load balancer app/web-lb-alb/0123456789abcdef failed",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "TEST_LISTENER_PORT out of range",
        "test",
        lambda w: w.set(TEST_LISTENER_PORT="70000"),
        "Failed",
        "TEST_LISTENER_PORT = '70000': a whole number from 1 to 65535",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "LOAD_BALANCER not an ARN suffix",
        "test",
        lambda w: w.set(LOAD_BALANCER="web-lb-alb"),
        "Failed",
        "LOAD_BALANCER = 'web-lb-alb': an ALB ARN suffix app/<name>/<id>",
        appspec=lambda: ecs_appspec(2),
    ),
    Case(
        "misspelt key in a smoke path",
        "test",
        lambda w: w.set(SMOKE_PATHS=[{"path": "/", "expect_status": 200}]),
        "Failed",
        "unknown key 'expect_status' (did you mean 'expectStatus'?)",
        appspec=lambda: ecs_appspec(2),
    ),
    # --- ECS-native POST_TEST_TRAFFIC_SHIFT: answers instead of reporting
    Case("green answers", "ecs", lambda w: None, "SUCCEEDED", "test-traffic checks passed"),
    Case("green answers 503", "ecs", lambda w: w.green("/status/503"), "FAILED", "/status/503: status 503"),
    Case(
        "green breaks off its chunked body",
        "ecs",
        lambda w: w.green("/chunked-cut"),
        "FAILED",
        "/chunked-cut: body cut short: 12 bytes arrived, and the chunked body ended without its last chunk",
    ),
    Case(
        "green hangs past the invocation",
        "ecs",
        lambda w: w.green("/hang", timeoutSeconds=30),
        "FAILED",
        "/hang: no complete answer within",
        remaining=2.0,
    ),
    Case(
        "no smoke paths",
        "ecs",
        lambda w: w.set(SMOKE_PATHS=[]),
        "FAILED",
        "SMOKE_PATHS = '[]': a JSON list of at least 1 item(s)",
    ),
    Case(
        "DescribeNetworkInterfaces denied",
        "ecs",
        lambda w: w.fault("DescribeNetworkInterfaces", Fault(error="UnauthorizedOperation", status=403)),
        "FAILED",
        "UnauthorizedOperation",
    ),
]


@pytest.fixture
def scaled_time(monkeypatch):
    for module, name, seconds in (
        (lifecycle, "REPORT_RESERVE_SECONDS", RESERVE),
        (post_traffic, "REPORT_RESERVE_SECONDS", RESERVE),
        (lifecycle, "REPORT_MAX_RETRY_SECONDS", 0.4),
        (lifecycle, "REPORT_ATTEMPT_SECONDS", 0.2),
        (lifecycle, "EFFECT_SECONDS", 0.3),
        (post_traffic, "EFFECT_SECONDS", 0.3),
        (post_traffic, "WRITE_RETRY_SECONDS", 0.05),
        (post_traffic, "WRITE_ATTEMPT_SECONDS", 0.1),
        (post_traffic, "READS_SECONDS", 0.5),
        (alarm_watch, "POLL_SECONDS", 0.2),
        (alarm_watch, "UNREADABLE_SECONDS", 4.0),
        (ecs_lifecycle, "ANSWER_MARGIN_SECONDS", 0.3),
    ):
        monkeypatch.setattr(module, name, seconds)


def test_the_suite_covers_every_hook_with_at_least_forty_faults():
    assert len(CASES) >= 40
    assert {case.hook for case in CASES} == set(HANDLERS)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_fault_ends_in_one_truthful_status_before_the_deadline(
    case, hook_env, targets, monkeypatch, caplog, scaled_time, request
):
    enable_logs(caplog)
    if case.hook in ("test", "ecs"):
        request.getfixturevalue("load_balancer_node")
    event = ecs_execution() if case.hook == "ecs" else start_release(case.appspec())
    if case.hook == "post":
        judge_looked(event["DeploymentId"])  # the canary judge looked just now and is content
    world = World(hook_env, targets, monkeypatch, event, lambda: hook_logs(caplog))
    case.arrange(world)

    context = LambdaContext(case.remaining)
    if case.error:
        with pytest.raises(StatusNotReported):
            HANDLERS[case.hook](event, context)
    else:
        answer = HANDLERS[case.hook](event, context)
    answered = time.monotonic()

    assert answered < context.deadline, "answered before Lambda would have ended the invocation"
    lines = [json.dumps(line) for line in hook_logs(caplog)]
    assert any(case.cause in line for line in lines), f"no log line names {case.cause!r}:\n" + "\n".join(lines)
    if case.hook == "ecs":
        assert answer == {"hookStatus": case.status}
    else:
        if case.error:  # the status the hook would have reported, in the line that says it was not
            [line] = [line for line in hook_logs(caplog) if line["message"] == "status not reported"]
            assert line["status"] == case.status
        else:
            assert answer == {"status": case.status}
        reports = hook_env.status_reports
        assert [report["status"] for report in reports] == [case.status] * case.reports
        assert all(report["deploymentId"] == event["DeploymentId"] for report in reports)
        assert all(report["at"] < context.deadline for report in reports)
    if case.then:
        case.then(world)
