"""The canary judge (hooks/judge.py) against AWS on loopback: moto holds the deployment, its
per-version metrics (put with PutMetricData, read back with GetMetricData), the deployment log and
the events; the new version answers in-process (tests/local_aws.py). Time is played (FakeClock):
minutes of a release take a second, and the wall clock the judge reads moves with it.

A release here is a CodeDeploy deployment moto holds, moved on by the test (`LocalAws.play`), with
traffic figures per minute from its creation, as CloudWatch would have them once each minute is over.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import numpy
import pytest

from ops import cli
from rollback_guard.components.canary_judge import HEARTBEAT_MINUTES
from rollback_guard.hooks import judge, timing
from rollback_guard.hooks.deployment_log import JudgeRecord, epoch_now, judge_key, read_judge
from rollback_guard.hooks.timing import Deadline
from rollback_guard.hooks.verdict import SETTLE_SECONDS, UNCOMPARED_RUN, threshold
from tests.conftest import TEST_HOST
from tests.hook_runs import FakeClock, LambdaContext, enable_logs, hook_logs, lambda_appspec
from tests.local_aws import OMITTED, Fault, LocalAws, throttled
from tests.scenarios import FUNCTION, TABLE, lambda_target, publish_versions
from tests.test_ops import OUTPUTS, FakeStack

JUDGE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:greeter-judge-staging"
TARGET_GROUPS = {
    "web-tg-blue": "targetgroup/web-tg-blue/0123456789abcdef",
    "web-tg-green": "targetgroup/web-tg-green/fedcba9876543210",
}
LOAD_BALANCER = "app/web-lb-alb/0123456789abcdef"


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    played = FakeClock()
    monkeypatch.setattr(timing, "clock", played)
    return played


@dataclass
class Release:
    """A deployment in flight, as the judge meets it."""

    aws: LocalAws
    clock: FakeClock
    deployment_id: str
    application: str
    group: str
    created: float

    def minute(self, index: int) -> float:
        """The start of the deployment's `index`th minute (its first, 0, is partial)."""
        return math.floor(self.created / 60) * 60 + 60 * index

    def at(self, step: dict) -> None:
        self.aws.play(self.deployment_id, step)

    def ends(self, after_seconds: float, status: str = "Succeeded") -> None:
        self.clock.at(after_seconds, lambda: self.aws.play(self.deployment_id, {"status": status}))

    def start_event(self) -> dict:
        return {
            "source": "aws.codedeploy",
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "detail": {
                "deploymentId": self.deployment_id,
                "deploymentGroup": self.group,
                "application": self.application,
                "state": "START",
            },
        }

    def record(self) -> JudgeRecord | None:
        return read_judge(boto3.client("dynamodb"), TABLE, SERVICE[self.application], "staging", self.deployment_id)

    def item(self) -> dict:
        key = judge_key(SERVICE[self.application], "staging", self.deployment_id)
        return boto3.client("dynamodb").get_item(TableName=TABLE, Key=key)["Item"]


SERVICE = {"greeter": "greeter", "web": "web"}


def new_release(aws: LocalAws, clock: FakeClock, application: str, targets: list[dict], spec: str) -> Release:
    codedeploy = boto3.client("codedeploy")
    deployment_id = codedeploy.create_deployment(
        applicationName=application,
        deploymentGroupName=f"{application}-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": spec}},
    )["deploymentId"]
    aws.play(deployment_id, {"status": "InProgress", "targets": targets})
    created = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["createTime"].timestamp()
    return Release(aws, clock, deployment_id, application, f"{application}-deploy", created)


def run_judge(event: dict, aws: LocalAws, seconds: float = 900) -> list[dict]:
    """The judge as Lambda runs it: invoked by `event`, then by each continuation it asks for."""
    answers = [judge.handler(event, LambdaContext(seconds, JUDGE_ARN, "request-0"))]
    while aws.async_invocations:
        invocation = aws.async_invocations.pop(0)
        assert invocation["function"] == JUDGE_ARN
        context = LambdaContext(seconds, JUDGE_ARN, f"request-{len(answers)}")
        answers.append(judge.handler(invocation["payload"], context))
    return answers


def outcomes(answers: list[dict]) -> list[str]:
    return [judged["outcome"] for answer in answers for judged in answer["judged"]]


def put_metrics(namespace: str, data: list[dict]) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])


def lambda_dimensions(version: str) -> list[dict]:
    return [
        {"Name": "FunctionName", "Value": FUNCTION},
        {"Name": "Resource", "Value": f"{FUNCTION}:live"},
        {"Name": "ExecutedVersion", "Value": version},
    ]


def lambda_traffic(
    release: Release,
    minutes: range,
    new_errors: Callable[[int, int], int],
    old_errors: Callable[[int, int], int],
    per_minute: int = 1000,
    share: Callable[[int], float] = lambda minute: 0.1,
) -> None:
    """Each minute's invocations, errors and p90 duration of versions 2 (new) and 1 (old);
    `*_errors(minute, invocations)` says how many failed."""
    data = []
    for minute in minutes:
        at = datetime.fromtimestamp(release.minute(minute), UTC)
        new = round(per_minute * share(minute))
        for version, count, errors in (("2", new, new_errors), ("1", per_minute - new, old_errors)):
            dimensions = lambda_dimensions(version)
            data += [
                {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": at, "Value": count},
                {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": at, "Value": errors(minute, count)},
                {"MetricName": "Duration", "Dimensions": dimensions, "Timestamp": at, "Value": 80.0},
            ]
    put_metrics("AWS/Lambda", data)


def rate(share: float) -> Callable[[int, int], int]:
    return lambda minute, count: round(count * share)


def stops(aws: LocalAws) -> list[dict]:
    return aws.stopped_deployments


def log_lines(caplog, message: str) -> list[dict]:
    return [line for line in hook_logs(caplog) if line["message"] == message]


# --- the Lambda canary


@pytest.fixture
def lambda_judge(hook_env, monkeypatch, clock, caplog):
    """The greeter's judge, as the component configures it: version 2 answers its smoke event."""
    enable_logs(caplog)
    judge.one_attempt.cache_clear()
    for name, value in {
        "KIND": "lambda",
        "APPLICATION_NAME": "greeter",
        "DEPLOYMENT_GROUP_NAME": "greeter-deploy",
        "ERROR_RATE_PERCENT": "1",
        "PROBES_PER_SECOND": "1",
        "MAX_PROBES": "1000",
        "FUNCTION_NAME": FUNCTION,
        "ALIAS": "live",
    }.items():
        monkeypatch.setenv(name, value)
    return hook_env


def lambda_release(aws: LocalAws, clock: FakeClock, weight: float = 0.1) -> Release:
    targets = [lambda_target(weight, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "InProgress"))]
    return new_release(aws, clock, "greeter", targets, lambda_appspec("1", "2"))


def test_a_version_failing_every_probe_is_stopped_with_rollback_within_seconds(lambda_judge, clock, caplog):
    def broken(event):
        raise RuntimeError("KeyError: 'DATABASE_URL'")

    lambda_judge.functions[(FUNCTION, "2")] = broken
    release = lambda_release(lambda_judge, clock)
    started = clock.now()
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    assert clock.now() - started < 5, "two failed probes a second apart, not a minute of metrics"
    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]
    record = release.record()
    assert record.verdict == "ROLLBACK" and record.stopped is True
    assert record.explanation.startswith(
        "ROLLBACK: probes: probe failure rate of version 2 100% against 1% over 2 probes"
    )
    assert record.probes == record.probe_failures == 2
    [event] = lambda_judge.put_events
    assert (event["Source"], event["DetailType"]) == ("rollback-guard.judge", "Canary verdict")
    detail = event["Detail"]
    assert detail["explanation"] == record.explanation
    assert (detail["service"], detail["environment"], detail["deploymentGroup"]) == (
        "greeter",
        "staging",
        "greeter-deploy",
    )
    assert (detail["deploymentId"], detail["verdict"], detail["stopped"]) == (release.deployment_id, "ROLLBACK", True)
    assert [finding["check"] for finding in detail["findings"] if finding["bad"]] == ["probes"]
    assert log_lines(caplog, "the verdict was not announced") == [], "EventBridge took it"
    [failed] = log_lines(caplog, "probe failed")[:1]
    assert "greeter-staging:2 with hello: the function raised" in failed["failure"]
    assert "DATABASE_URL" in failed["failure"]


def test_a_version_failing_real_traffic_is_stopped_at_the_first_look_after_its_first_minute_settles(
    lambda_judge, clock
):
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.2), old_errors=rate(0.001), per_minute=10_000)
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    first_minute_settled = release.minute(1) + SETTLE_SECONDS
    assert first_minute_settled <= epoch_now() <= first_minute_settled + judge.LOOK_SECONDS + 1
    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]
    record = release.record()
    assert record.probe_failures == 0, "the probes passed: the metrics caught it"
    bad = {finding["check"]: finding for finding in record.findings if finding["bad"]}
    # Both versions served the minute: the comparison decides (the ceiling judges minutes the old
    # version does not serve).
    assert set(bad) == {"errors-vs-old"}
    assert (bad["errors-vs-old"]["newValue"], bad["errors-vs-old"]["oldValue"]) == (0.2, 0.1 / 100)
    # The explanation is the strongest finding's: metric, new and old values, statistic, threshold, window.
    strongest = max(bad.values(), key=lambda finding: finding["statistic"] - finding["threshold"])
    assert record.explanation == strongest["explanation"]
    window = datetime.fromtimestamp(release.minute(0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert strongest["window"] == f"1 min from {window}"
    assert strongest["threshold"] == round(threshold(strongest["check"]), 3) < strongest["statistic"]
    said = record.explanation
    assert said.startswith(
        f"ROLLBACK: {strongest['check']}: error rate Errors/Invocations of version 2 (old: version 1) 20% against "
    )
    assert f"over 1 min from {window}" in said and f"{threshold(strongest['check']):.2f}" in said
    assert lambda_judge.put_events[0]["Detail"]["explanation"] == record.explanation


def test_a_healthy_version_is_never_stopped_over_a_whole_release(lambda_judge, clock, monkeypatch):
    # Linear 10% a minute, then the post-traffic hook's 10-minute watch: 21 minutes of looks, over
    # two invocations and a continuation; both versions fail 1% of the time.
    monkeypatch.setenv("PROBES_PER_SECOND", "0.2")
    probes = []
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: probes.append(event) or {"statusCode": 200}
    release = lambda_release(lambda_judge, clock)
    noise = numpy.random.default_rng(15)
    lambda_traffic(
        release,
        range(0, 23),
        new_errors=lambda minute, count: int(noise.binomial(count, 0.01)),
        old_errors=lambda minute, count: int(noise.binomial(count, 0.01)),
        share=lambda minute: min(1.0, 0.1 * (minute + 1)),
    )
    release.ends(21 * 60)
    answers = run_judge(release.start_event(), lambda_judge)

    assert outcomes(answers) == ["handed over", "ended Succeeded"]
    assert stops(lambda_judge) == [] and lambda_judge.put_events == []
    record = release.record()
    assert record.verdict is None and record.lease_until == 0
    assert record.probes == len(probes) and record.probes >= 0.2 * 21 * 60 - 10
    assert record.last_look_at >= release.created + 20 * 60, "it looked until the deployment ended"
    assert {finding["check"] for finding in record.findings} == {
        "errors-vs-old",
        "errors-vs-ceiling",
        "probes",
        "latency",
    }
    assert not any(finding["bad"] for finding in record.findings)


def test_a_release_that_starts_failing_late_is_stopped_after_the_last_shift(lambda_judge, clock, monkeypatch):
    # All traffic on version 2 from minute 10; it fails from minute 14 (a cache expires, say).
    monkeypatch.setenv("PROBES_PER_SECOND", "0.1")
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(
        release,
        range(0, 20),
        new_errors=lambda minute, count: round(count * (0.08 if minute >= 14 else 0.005)),
        old_errors=rate(0.005),
        share=lambda minute: min(1.0, 0.1 * (minute + 1)),
    )
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["handed over", "stopped with rollback"]
    # With no old version to compare with, the ceiling alone needs UNCOMPARED_RUN failing minutes in
    # a row (14, 15, 16; one more to outweigh the healthy ones), each once settled.
    assert UNCOMPARED_RUN == 3
    assert (
        release.minute(17) + SETTLE_SECONDS <= epoch_now() <= release.minute(18) + SETTLE_SECONDS + judge.LOOK_SECONDS
    )
    assert "errors-vs-ceiling" in release.record().explanation, "the old version has no traffic left to compare"


# --- the lease: one judge per deployment


def test_a_second_judge_does_not_judge_a_deployment_another_one_holds(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    holder = {
        **judge_key("greeter", "staging", release.deployment_id),
        "leaseOwner": {"S": "the START event's judge"},
        "leaseUntil": {"N": str(epoch_now() + 60)},
        "lastLookAt": {"N": str(epoch_now() - 5)},
    }
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=holder)
    answer = judge.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext(900, JUDGE_ARN))
    assert answer == {"judged": [{"deploymentId": release.deployment_id, "outcome": "judged elsewhere"}]}
    assert "Invoke" not in lambda_judge.calls and "GetMetricData" not in lambda_judge.calls
    assert release.item()["leaseOwner"]["S"] == "the START event's judge"


def test_an_expired_lease_is_taken_over_by_the_schedule(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    dead = {
        **judge_key("greeter", "staging", release.deployment_id),
        "leaseOwner": {"S": "a judge that died"},
        "leaseUntil": {"N": str(epoch_now() - 1)},
        "lastLookAt": {"N": str(epoch_now() - 91)},
        "judgingSince": {"N": str(epoch_now() - 200)},
        "probes": {"N": "40"},
        "probeFailures": {"N": "0"},
    }
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=dead)
    release.ends(60)
    answer = judge.handler({"source": "aws.events"}, LambdaContext(900, JUDGE_ARN, "the schedule's"))
    assert answer == {"judged": [{"deploymentId": release.deployment_id, "outcome": "ended Succeeded"}]}
    item = release.item()
    assert item["leaseOwner"]["S"] == "the schedule's"
    assert 40 + 55 <= int(item["probes"]["N"]) <= 40 + 61, "the dead judge's probes still count"
    assert float(item["lastLookAt"]["N"]) >= epoch_now() - 31


def test_while_a_judge_runs_the_schedule_does_not_judge_its_deployment_even_when_it_is_blind(lambda_judge, clock):
    # Its first five looks cannot read the targets (120 s: not yet blind long enough to stop); its
    # lease, taken at 0 s for 90 s, is kept by those looks, so the schedule's run at 140 s stays out.
    release = lambda_release(lambda_judge, clock)
    lambda_judge.inject("ListDeploymentTargets", Fault(error="AccessDeniedException", status=403), times=5)
    release.ends(200)
    schedule = []
    clock.at(
        140, lambda: schedule.append(judge.handler({"source": "aws.events"}, LambdaContext(900, JUDGE_ARN, "2nd")))
    )
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]
    assert schedule == [{"judged": [{"deploymentId": release.deployment_id, "outcome": "judged elsewhere"}]}]
    assert stops(lambda_judge) == []


def test_a_judge_hands_over_to_itself_before_its_time_runs_out(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("PROBES_PER_SECOND", "0.5")
    release = lambda_release(lambda_judge, clock)
    started = clock.now()
    answer = judge.handler(release.start_event(), LambdaContext(180, JUDGE_ARN, "first"))

    assert answer["judged"][0]["outcome"] == "handed over"
    assert 180 - judge.HANDOVER_SECONDS <= clock.now() - started < 180 - judge.HANDOVER_SECONDS + 3
    assert lambda_judge.async_invocations == [
        {"function": JUDGE_ARN, "qualifier": "$LATEST", "payload": {"continuation": release.deployment_id}}
    ]
    item = release.item()
    assert item["leaseUntil"]["N"] == "0", "the lease is free for the continuation"
    handed = int(item["probes"]["N"])
    assert 55 <= handed <= 61

    release.ends(60)
    answers = run_judge(lambda_judge.async_invocations.pop()["payload"], lambda_judge)
    assert outcomes(answers) == ["ended Succeeded"]
    assert int(release.item()["probes"]["N"]) >= handed + 25, "counted across invocations"


def test_a_corrective_deployment_is_not_judged(lambda_judge, clock):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 500}
    release = lambda_release(lambda_judge, clock)
    release.at({"status": "InProgress", "creator": "codeDeployRollback"})
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["corrective, not judged"]
    assert stops(lambda_judge) == [] and release.record() is None


def test_an_event_of_another_deployment_group_is_not_judged_here(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    event = release.start_event()
    event["detail"]["deploymentGroup"] = "billing-deploy"
    assert judge.handler(event, LambdaContext(900, JUDGE_ARN)) == {"judged": []}
    assert release.record() is None


def another_groups_release(aws: LocalAws, clock: FakeClock) -> Release:
    """A release of the billing service's group, as the greeter's judge could be told of it."""
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_application(applicationName="billing", computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName="billing",
        deploymentGroupName="billing-deploy",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    targets = [lambda_target(0.1, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "InProgress"))]
    return new_release(aws, clock, "billing", targets, lambda_appspec("1", "2"))


def continuation(release: Release) -> dict:
    return {"continuation": release.deployment_id}


def start_event_in_the_judges_group_name(release: Release) -> dict:
    event = release.start_event()
    event["detail"]["deploymentGroup"] = "greeter-deploy"  # what the event says; GetDeployment says billing's
    return event


def refused_untouched(aws: LocalAws, caplog) -> None:
    """The judge read whose the deployment is, logged its refusal, and did nothing else."""
    assert aws.calls == ["GetDeployment"], "no metrics, no probe, no lease, no write, no stop"
    assert stops(aws) == [] and aws.put_events == [] and aws.async_invocations == []
    [refused] = log_lines(caplog, "not this judge's deployment: refused")
    assert (refused["application"], refused["group"], refused["judges"]) == (
        "billing",
        "billing-deploy",
        "greeter/greeter-deploy",
    )


@pytest.mark.parametrize("told", [continuation, start_event_in_the_judges_group_name])
def test_a_deployment_of_another_group_is_neither_judged_nor_stopped(lambda_judge, clock, caplog, told):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}  # judged, it would be stopped
    release = another_groups_release(lambda_judge, clock)
    lambda_judge.calls.clear()
    answer = judge.handler(told(release), LambdaContext(900, JUDGE_ARN))
    assert answer == {"judged": [{"deploymentId": release.deployment_id, "outcome": "not this judge's"}]}
    refused_untouched(lambda_judge, caplog)


def test_a_misconfigured_judge_does_not_stop_a_deployment_of_another_group(lambda_judge, clock, monkeypatch, caplog):
    monkeypatch.setenv("PROBES_PER_SECOND", "fast")
    release = another_groups_release(lambda_judge, clock)
    lambda_judge.calls.clear()
    answer = judge.handler(continuation(release), LambdaContext(900, JUDGE_ARN))
    assert answer["stopped"] == []
    refused_untouched(lambda_judge, caplog)


# --- probes: a rate, and a budget


def test_probes_keep_to_their_rate_and_stop_at_the_budget(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("PROBES_PER_SECOND", "2")
    monkeypatch.setenv("MAX_PROBES", "50")
    sent = []
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: sent.append(timing.clock.now()) or {"statusCode": 200}
    release = lambda_release(lambda_judge, clock)
    release.ends(120)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]

    assert len(sent) == 50, "the budget, and no more"
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) >= 0.5 - 1e-9, "never faster than 2 a second"
    assert sent[-1] - sent[0] <= 49 * 0.5 + 2, "and about that fast"
    assert int(release.item()["probes"]["N"]) == 50


def test_a_throttled_probe_says_nothing_about_the_version(lambda_judge, clock, monkeypatch, caplog):
    monkeypatch.setenv("PROBES_PER_SECOND", "2")
    lambda_judge.inject("Invoke", Fault(error="TooManyRequestsException", status=429), times=10)
    release = lambda_release(lambda_judge, clock)
    release.ends(30)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]
    assert stops(lambda_judge) == []
    record = release.record()
    assert record.probe_failures == 0 and 0 < record.probes <= 60 - 10
    assert len(log_lines(caplog, "no probe: the new version was not reached")) == 10


def test_the_probe_budget_counts_every_invocations_probes(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("MAX_PROBES", "50")
    sent = []
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: sent.append(event) or {"statusCode": 200}
    release = lambda_release(lambda_judge, clock)
    earlier = {**judge_key("greeter", "staging", release.deployment_id), "probes": {"N": "45"}}
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=earlier)
    release.ends(60)
    run_judge(release.start_event(), lambda_judge)
    assert len(sent) == 5


def test_no_probes_at_all_when_the_budget_is_zero(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("MAX_PROBES", "0")
    release = lambda_release(lambda_judge, clock)
    release.ends(60)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]
    assert "Invoke" not in lambda_judge.calls


# --- fail closed


def judged_sum(metric: str, dimensions: list[dict]) -> float:
    """What the judge put in moto's CloudWatch under its `metric` and `dimensions`, summed."""
    now = datetime.now(UTC)
    answer = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=judge.JUDGE_NAMESPACE,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - timedelta(days=1),
        EndTime=now + timedelta(days=1),
        Period=86400,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in answer["Datapoints"])


def heartbeats(group: str) -> float:
    return judged_sum(judge.HEARTBEAT_METRIC, [{"Name": "DeploymentGroup", "Value": group}])


def test_a_judge_with_nothing_to_judge_still_says_it_is_alive(lambda_judge, clock):
    run_judge({"source": "aws.events", "detail-type": "Scheduled Event"}, lambda_judge)
    assert heartbeats("greeter-deploy") == 1


def test_a_judge_says_it_is_alive_at_every_look(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    release.ends(60)
    run_judge(release.start_event(), lambda_judge)
    assert heartbeats("greeter-deploy") >= 5, "a look every 10 s for a minute"


def test_a_judge_that_crashes_falls_silent_so_its_alarm_stops_the_release(lambda_judge, clock, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(judge, "judge_deployment", crash)
    release = lambda_release(lambda_judge, clock)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["crashed"]
    assert heartbeats("greeter-deploy") == 0


def test_metrics_unreadable_for_three_minutes_stop_the_release_saying_why(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    lambda_judge.inject("GetMetricData", Fault(error="AccessDeniedException", status=403), times=1000)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]
    explanation = release.record().explanation
    assert re.fullmatch(
        r"the judge could not see version 2's metrics for 1[89]\d s: cloudwatch GetMetricData of version 2 failed: "
        r"AccessDeniedException: injected fault: GetMetricData answered AccessDeniedException",
        explanation,
    ), explanation
    assert lambda_judge.put_events[0]["Detail"]["explanation"] == explanation


def test_metrics_unreadable_for_a_moment_are_looked_at_again(lambda_judge, clock, caplog):
    release = lambda_release(lambda_judge, clock)
    lambda_judge.inject("GetMetricData", Fault(error="AccessDeniedException", status=403), times=3)
    release.ends(300)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]
    assert stops(lambda_judge) == []
    assert len(log_lines(caplog, "a look failed")) == 3


# GetMetricData answers each query with its own StatusCode: only Complete is read.


def test_a_version_failing_half_its_requests_is_never_passed_while_its_errors_cannot_be_read(lambda_judge, clock):
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.5), old_errors=rate(0.001))
    lambda_judge.metric_status("ne", "InternalError", times=1000)  # no values: not zero errors
    release.ends(900)
    started = epoch_now()
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    record = release.record()
    assert record.last_look_at is None, "no look passed: every one failed to read the errors"
    blind_until = started + judge.BLIND_SECONDS
    assert blind_until - judge.LOOK_SECONDS <= epoch_now() <= blind_until + judge.LOOK_SECONDS + 1
    assert re.fullmatch(
        r"the judge could not see version 2's metrics for 1[89]\d s: "
        r"cloudwatch GetMetricData of version 2 did not read Errors Sum of version 2: InternalError",
        record.explanation,
    ), record.explanation


def test_errors_unreadable_for_a_minute_hold_the_verdict_until_a_look_reads_them(lambda_judge, clock, caplog):
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.5), old_errors=rate(0.001))
    # The six looks from the one that would count the first minute (settled) fail.
    settled_look = math.ceil((release.minute(1) + SETTLE_SECONDS - epoch_now()) / judge.LOOK_SECONDS)
    lambda_judge.metric_status("ne", "InternalError", times=6, after=settled_look)
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    assert len(log_lines(caplog, "a look failed")) == 6, "six looks did not see: none of them passed"
    assert release.record().last_look_at < release.minute(1) + SETTLE_SECONDS
    first_readable_look = release.minute(1) + SETTLE_SECONDS + 6 * judge.LOOK_SECONDS
    assert first_readable_look <= epoch_now() <= first_readable_look + judge.LOOK_SECONDS + 1
    bad = {finding["check"] for finding in release.record().findings if finding["bad"]}
    assert bad == {"errors-vs-old"}, "stopped on the errors, once read"


@pytest.mark.parametrize(
    ("query", "answered", "said"),
    [
        ("ne", "InternalError", "Errors Sum of version 2: InternalError"),
        ("oe", "Forbidden", "Errors Sum of version 1: Forbidden"),
        ("nl", "PartialData", "Duration p90 of version 2: PartialData, the rest unread"),
        ("nr", OMITTED, "Invocations Sum of version 2: left out"),
    ],
)
def test_a_query_not_answered_complete_fails_the_look_and_for_three_minutes_stops_the_release_naming_it(
    lambda_judge, clock, caplog, query, answered, said
):
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.001), old_errors=rate(0.001))
    lambda_judge.metric_status(query, answered, times=1000)
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]
    assert release.record().explanation.endswith(f"cloudwatch GetMetricData of version 2 did not read {said}")
    failed = log_lines(caplog, "a look failed")
    assert len(failed) >= judge.BLIND_SECONDS / judge.LOOK_SECONDS - 1
    assert all(line["error"].endswith(f"did not read {said}") for line in failed)
    if answered != OMITTED:  # what CloudWatch said of the query is logged with it
        said_by_cloudwatch = log_lines(caplog, "GetMetricData said")
        assert said_by_cloudwatch and all(line["code"] == answered for line in said_by_cloudwatch)
        assert said_by_cloudwatch[0]["query"] == said.split(":")[0]
        assert said_by_cloudwatch[0]["deployment_id"] == release.deployment_id


def test_a_read_that_fails_once_does_not_stop_a_healthy_release(lambda_judge, clock, caplog):
    release = lambda_release(lambda_judge, clock)
    noise = numpy.random.default_rng(3)
    lambda_traffic(
        release,
        range(0, 6),
        new_errors=lambda minute, count: int(noise.binomial(count, 0.01)),
        old_errors=lambda minute, count: int(noise.binomial(count, 0.01)),
    )
    lambda_judge.metric_status("ne", "InternalError")
    release.ends(300)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["ended Succeeded"]

    assert stops(lambda_judge) == [] and release.record().verdict is None
    [failed] = log_lines(caplog, "a look failed")
    assert failed["error"].endswith("did not read Errors Sum of version 2: InternalError")
    assert release.record().last_look_at >= release.created + 300 - 2 * judge.LOOK_SECONDS, "it looked on to the end"


def test_every_page_of_a_paged_answer_is_read(lambda_judge, clock):
    # The first minute's errors come on the second of two pages, its invocations on the third of
    # three: a judge that took a first page (PartialData, no values) for the answer would see none.
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.5), old_errors=rate(0.001))
    lambda_judge.page_metric("ne", 2)
    lambda_judge.page_metric("nr", 3)
    release.ends(900)
    started = clock.now()
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    first_minute_settled = release.minute(1) + SETTLE_SECONDS
    assert first_minute_settled <= epoch_now() <= first_minute_settled + judge.LOOK_SECONDS + 1
    bad = {finding["check"]: finding for finding in release.record().findings if finding["bad"]}
    assert bad["errors-vs-old"]["newValue"] == 0.5
    looks = math.floor((clock.now() - started) / judge.LOOK_SECONDS) + 1
    assert lambda_judge.calls.count("GetMetricData") == 3 * looks, "every look, in three pages"


def test_a_blind_judge_rides_out_a_few_failed_looks_and_stops_the_release_before_its_heartbeat_alarm_would():
    assert judge.BLIND_SECONDS >= 10 * judge.LOOK_SECONDS, "a transient failure of a few looks stops nothing"
    assert judge.BLIND_SECONDS < HEARTBEAT_MINUTES * 60, "the judge's stop names the failed reads; the alarm cannot"


def test_a_judge_taking_over_a_deployment_nobody_looked_at_for_three_minutes_stops_it_if_it_cannot_see(
    lambda_judge, clock
):
    release = lambda_release(lambda_judge, clock)
    stale = {
        **judge_key("greeter", "staging", release.deployment_id),
        "leaseUntil": {"N": str(epoch_now() - 100)},
        "lastLookAt": {"N": str(epoch_now() - 190)},
    }
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=stale)
    lambda_judge.inject("ListDeploymentTargets", Fault(error="AccessDeniedException", status=403), times=1000)
    assert outcomes(run_judge({"source": "aws.events"}, lambda_judge)) == ["stopped with rollback"]
    assert release.record().explanation.startswith("the judge could not see the new version's metrics for 19")


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("PROBES_PER_SECOND", "0", "environment variable PROBES_PER_SECOND = '0': above 0, at most 10"),
        ("PROBES_PER_SECOND", "11", "environment variable PROBES_PER_SECOND = '11': above 0, at most 10"),
        (
            "ERROR_RATE_PERCENT",
            "100",
            "environment variable ERROR_RATE_PERCENT = '100': a percentage above 0, below 100",
        ),
        ("MAX_PROBES", "-1", "environment variable MAX_PROBES = '-1': a whole number from 0 to 1000000000"),
        ("KIND", "ec2", 'environment variable KIND = \'ec2\': "lambda" or "ecs"'),
        ("KIND", None, "environment variable KIND is not set"),
        ("SMOKE_EVENTS", "[]", "environment variable SMOKE_EVENTS = '[]': a JSON list of at least 1 item(s)"),
        ("FUNCTION_NAME", None, "environment variable FUNCTION_NAME is not set"),
    ],
)
def test_a_judge_with_a_wrong_setting_stops_the_release_naming_the_setting(
    lambda_judge, clock, monkeypatch, caplog, variable, value, said
):
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    release = lambda_release(lambda_judge, clock)
    answer = judge.handler({"source": "aws.events"}, LambdaContext(900, JUDGE_ARN))

    assert answer == {"misconfigured": said, "stopped": [release.deployment_id]}
    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]
    assert release.record().explanation == f"the canary judge cannot judge: {said}"
    assert lambda_judge.put_events[0]["Detail"]["explanation"] == f"the canary judge cannot judge: {said}"
    [line] = log_lines(caplog, "the judge's environment is wrong")
    assert (line["level"], line["reason"]) == ("ERROR", said)


def test_a_wrong_setting_with_nothing_in_flight_is_only_logged(lambda_judge, clock, monkeypatch, caplog):
    monkeypatch.setenv("PROBES_PER_SECOND", "fast")
    assert judge.handler({"source": "aws.events"}, LambdaContext(900, JUDGE_ARN))["stopped"] == []
    assert stops(lambda_judge) == []
    assert log_lines(caplog, "the judge's environment is wrong")


def test_a_throttled_stop_is_retried_until_it_lands(lambda_judge, clock, caplog):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}
    lambda_judge.inject("StopDeployment", throttled(), times=3)
    release = lambda_release(lambda_judge, clock)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]
    assert len(stops(lambda_judge)) == 1 and release.record().stopped is True
    [stopped] = log_lines(caplog, "deployment stopped with rollback")
    assert stopped["attempts"] == 4


def test_a_deployment_stopped_before_the_judges_stop_is_not_an_error(lambda_judge, clock, caplog):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}
    lambda_judge.inject("StopDeployment", Fault(error="DeploymentAlreadyCompletedException"))
    release = lambda_release(lambda_judge, clock)
    release.ends(0.5, status="Stopped")  # an alarm was quicker
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]
    assert release.record().stopped is True
    assert log_lines(caplog, "the deployment had ended already")
    assert not [line for line in hook_logs(caplog) if line["level"] == "ERROR" and "stop" in line["message"]]


def test_a_deployment_that_succeeded_before_the_judges_stop_is_said_to_be_live(lambda_judge, clock, caplog):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}
    lambda_judge.inject("StopDeployment", Fault(error="DeploymentAlreadyCompletedException"))
    release = lambda_release(lambda_judge, clock)
    release.ends(0.5, status="Succeeded")
    run_judge(release.start_event(), lambda_judge)
    assert release.record().stopped is False, "nothing rolled back: the bad version is live"
    [said] = log_lines(
        caplog, "the deployment succeeded before the verdict stopped it: the bad version is live; run ops rollback"
    )
    assert said["status"] == "Succeeded"
    assert lambda_judge.put_events[0]["Detail"]["stopped"] is False


def test_a_stop_that_never_lands_is_left_to_the_next_invocation_and_the_post_traffic_hook(lambda_judge, clock, caplog):
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}
    lambda_judge.inject("StopDeployment", Fault(error="AccessDeniedException", status=403), times=1000)
    release = lambda_release(lambda_judge, clock)
    assert outcomes(run_judge(release.start_event(), lambda_judge, seconds=120)) == ["stopped with rollback"]
    record = release.record()
    assert (record.verdict, record.stopped) == ("ROLLBACK", False)
    assert log_lines(caplog, "the deployment could not be stopped: the post-traffic hook still refuses to record it")
    assert lambda_judge.put_events[0]["Detail"]["stopped"] is False

    # The schedule's next invocation finds the verdict and stops the deployment again.
    lambda_judge.faults.clear()
    assert outcomes(run_judge({"source": "aws.events"}, lambda_judge)) == ["stopped again"]
    assert stops(lambda_judge) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]


# --- ECS blue/green: green against blue, by target group


@pytest.fixture
def ecs_judge(load_balancer_node, monkeypatch, clock, caplog):
    """The web service's judge: green answers on the test listener (a local HTTP server)."""
    enable_logs(caplog)
    judge.one_attempt.cache_clear()
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_application(applicationName="web", computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName="web",
        deploymentGroupName="web-deploy",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    for name, value in {
        "KIND": "ecs",
        "APPLICATION_NAME": "web",
        "DEPLOYMENT_GROUP_NAME": "web-deploy",
        "SERVICE_NAME": "web",
        "ERROR_RATE_PERCENT": "5",
        "PROBES_PER_SECOND": "0.2",
        "MAX_PROBES": "1000",
        "TARGET_GROUPS": json.dumps(TARGET_GROUPS),
    }.items():
        monkeypatch.setenv(name, value)
    return load_balancer_node


def task_sets(green_weight: float | None, test_traffic: bool = True) -> list[dict]:
    """The ECS target: blue, and green once its task set exists; the test listener reaches green
    once AllowTestTraffic has succeeded."""
    sets = [
        {"taskSetLabel": "Blue", "targetGroup": {"name": "web-tg-blue"}, "trafficWeight": 100 - (green_weight or 0)}
    ]
    events = [{"lifecycleEventName": "Install", "status": "Succeeded" if green_weight is not None else "InProgress"}]
    if green_weight is not None:
        sets.append({"taskSetLabel": "Green", "targetGroup": {"name": "web-tg-green"}, "trafficWeight": green_weight})
        events.append({"lifecycleEventName": "AllowTestTraffic", "status": "Succeeded" if test_traffic else "Pending"})
    return [
        {
            "deploymentTargetId": "web-cluster:web-service",
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": {"targetId": "web-cluster:web-service", "taskSetsInfo": sets, "lifecycleEvents": events},
        }
    ]


def ecs_release(aws: LocalAws, clock: FakeClock, green_weight: float | None) -> Release:
    spec = json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service"}}]})
    return new_release(aws, clock, "web", task_sets(green_weight), spec)


def put_alb(release: Release, minutes: range, metrics: Callable[[str, int], dict[str, float]]) -> None:
    """Each minute's load balancer metrics of each target group, as `metrics(group, minute)` gives
    them: green is "web-tg-green", blue "web-tg-blue"."""
    data = []
    for minute in minutes:
        at = datetime.fromtimestamp(release.minute(minute), UTC)
        for group in ("web-tg-green", "web-tg-blue"):
            dimensions = [
                {"Name": "TargetGroup", "Value": TARGET_GROUPS[group]},
                {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
            ]
            data += [
                {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value}
                for name, value in metrics(group, minute).items()
            ]
    put_metrics("AWS/ApplicationELB", data)


def alb_traffic(release: Release, minutes: range, green_ms: Callable[[int], float], blue_ms: Callable[[int], float]):
    """A canary of 10% of 1000 requests a minute; no 5xx; p90 response times."""

    def metrics(group: str, minute: int) -> dict[str, float]:
        green = group == "web-tg-green"
        return {
            "RequestCount": 100 if green else 900,
            "HTTPCode_Target_5XX_Count": 0,
            "TargetResponseTime": (green_ms if green else blue_ms)(minute) / 1000,
        }

    put_alb(release, minutes, metrics)


def test_ecs_a_latency_regression_of_green_is_stopped_by_the_rank_test(hook_env, ecs_judge, clock):
    # Green's p90 is twice blue's, minute after minute. At this budget the rank test needs 9
    # comparable minutes (all of green's above all of blue's: p = 1/C(18, 9)).
    release = ecs_release(hook_env, clock, green_weight=10.0)
    alb_traffic(release, range(0, 20), green_ms=lambda m: 200.0 + m, blue_ms=lambda m: 100.0 + m % 3)
    assert outcomes(run_judge(release.start_event(), hook_env, seconds=900)) == ["stopped with rollback"]

    settled = release.minute(9) + SETTLE_SECONDS
    assert settled <= epoch_now() <= settled + judge.LOOK_SECONDS + 1
    record = release.record()
    [latency] = [finding for finding in record.findings if finding["bad"]]
    metric = "p90 latency TargetResponseTime of green (web-tg-green) (old: blue (web-tg-blue))"
    assert (latency["check"], latency["metric"]) == ("latency", metric)
    assert (latency["newValue"], latency["oldValue"]) == (204.0, 101.0), "medians of the minutes, in ms"
    assert latency["window"].startswith("9 comparable min of 9 min from ")
    assert latency["statistic"] == pytest.approx(math.log10(math.comb(18, 9)), abs=1e-3), "p = 1/C(18, 9)"
    # The latency share of the budget (a fifth), spent from the 3rd minute: 3/(9 x 10) of it at the 9th.
    assert latency["threshold"] == pytest.approx(-math.log10(0.005 * 0.2 * 3 / (9 * 10)), abs=1e-3)
    assert record.explanation == latency["explanation"]
    assert record.explanation.startswith(
        f"ROLLBACK: latency: {metric} 204 ms against 101 ms over {latency['window']}; "
    )
    assert stops(hook_env) == [{"deploymentId": release.deployment_id, "autoRollbackEnabled": True}]


def test_ecs_a_green_as_fast_as_blue_is_not_stopped(hook_env, ecs_judge, clock):
    release = ecs_release(hook_env, clock, green_weight=10.0)
    noise = numpy.random.default_rng(7)
    alb_traffic(release, range(0, 16), green_ms=lambda m: 100 * noise.lognormal(0, 0.1), blue_ms=lambda m: 100.0)
    release.ends(15 * 60)
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["handed over", "ended Succeeded"]
    assert stops(hook_env) == []


def test_ecs_probes_go_through_the_test_listener_once_it_reaches_green(hook_env, ecs_judge, clock, caplog):
    release = ecs_release(hook_env, clock, green_weight=None)  # green's tasks are still starting
    clock.at(120, lambda: release.at({"status": "InProgress", "targets": task_sets(0.0)}))
    release.ends(240)
    ecs_judge.hosts_seen.clear()
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["ended Succeeded"]
    probes = int(release.item()["probes"]["N"])
    assert 20 <= probes <= 25, "0.2 a second, from 2 minutes in"
    assert ecs_judge.hosts_seen == [TEST_HOST] * probes
    # Counted where the rollback alarms take them out of green's requests again.
    green = [
        {"Name": "TargetGroup", "Value": TARGET_GROUPS["web-tg-green"]},
        {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
    ]
    assert judged_sum(judge.PROBE_METRIC, green) == probes
    listed = boto3.client("cloudwatch").list_metrics(Namespace=judge.JUDGE_NAMESPACE, MetricName=judge.PROBE_METRIC)
    assert {len(metric["Dimensions"]) for metric in listed["Metrics"]} == {1, 2}, "and under the load balancer"


def test_ecs_probes_wait_until_the_test_listener_has_been_pointed_at_green(hook_env, ecs_judge, clock):
    # Green's task set exists, but the test listener still answers from blue (or an empty group).
    release = ecs_release(hook_env, clock, green_weight=None)
    hook_env.play(release.deployment_id, {"status": "InProgress", "targets": task_sets(0.0, test_traffic=False)})
    clock.at(120, lambda: release.at({"status": "InProgress", "targets": task_sets(0.0)}))
    release.ends(240)
    ecs_judge.hosts_seen.clear()
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["ended Succeeded"]
    assert 20 <= int(release.item()["probes"]["N"]) <= 25, "none before AllowTestTraffic, 0.2 a second after"


def test_ecs_green_failing_on_the_test_listener_is_stopped_within_seconds(hook_env, ecs_judge, clock, monkeypatch):
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/health"}, {"path": "/status/503"}]))
    monkeypatch.setenv("PROBES_PER_SECOND", "2")
    release = ecs_release(hook_env, clock, green_weight=0.0)
    started = clock.now()
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["stopped with rollback"]
    assert clock.now() - started < 5
    record = release.record()
    assert record.explanation.startswith("ROLLBACK: probes: probe failure rate of green (web-tg-green) 50% against 5%")


def test_ecs_greens_metrics_are_judged_without_the_judges_own_passing_probes(hook_env, ecs_judge, clock, monkeypatch):
    # Green's target group counts the 120 passing probes a minute that reach it through the test
    # listener: 2 errors in 140 requests would look like blue's 1%, but real users see 10%.
    monkeypatch.setenv("PROBES_PER_SECOND", "2")
    monkeypatch.setenv("MAX_PROBES", "5000")  # 120 a minute all release long, as the metrics below say
    release = ecs_release(hook_env, clock, green_weight=10.0)
    put_alb(
        release,
        range(0, 20),
        lambda group, minute: {
            "RequestCount": 20 + 120 if group == "web-tg-green" else 900,
            "HTTPCode_Target_5XX_Count": 2 if group == "web-tg-green" else 9,
        },
    )
    release.ends(20 * 60)

    assert outcomes(run_judge(release.start_event(), hook_env)) == ["stopped with rollback"]
    record = release.record()
    [finding] = [finding for finding in record.findings if finding["bad"]]
    assert finding["check"] == "errors-vs-old"
    # About 2 in 20 (the judge's first minute probed only part of the minute), not 2 in 140.
    assert 0.05 < finding["newValue"] <= 0.1
    assert json.loads(release.item()["probesByMinute"]["S"]), "the probes each minute, kept for the next invocation"


def test_ecs_a_green_that_refuses_connections_is_stopped_though_it_answers_no_5xx(hook_env, ecs_judge, clock):
    # A crashing green answers nothing: the load balancer's 502s are counted per load balancer only,
    # its failed connections per target group.
    release = ecs_release(hook_env, clock, green_weight=10.0)
    put_alb(
        release,
        range(0, 10),
        lambda group, minute: {
            "RequestCount": 100 if group == "web-tg-green" else 900,
            "HTTPCode_Target_5XX_Count": 0,
            "TargetConnectionErrorCount": 30 if group == "web-tg-green" else 0,
        },
    )
    release.ends(10 * 60)
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["stopped with rollback"]
    bad = {finding["check"] for finding in release.record().findings if finding["bad"]}
    assert bad & {"errors-vs-old", "errors-vs-ceiling"}


def test_ecs_a_target_group_the_judge_does_not_know_is_blindness_and_stops_the_release(
    hook_env, ecs_judge, clock, monkeypatch
):
    monkeypatch.setenv("TARGET_GROUPS", json.dumps({"web-tg-blue": TARGET_GROUPS["web-tg-blue"]}))
    release = ecs_release(hook_env, clock, green_weight=10.0)
    assert outcomes(run_judge(release.start_event(), hook_env)) == ["stopped with rollback"]
    assert "target group 'web-tg-green' is not in TARGET_GROUPS (web-tg-blue)" in release.record().explanation


# --- ops status shows the judge's say


def test_ops_status_shows_the_judges_verdict_and_each_finding(lambda_judge, clock):
    publish_versions()
    lambda_judge.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 503}
    release = lambda_release(lambda_judge, clock)
    run_judge(release.start_event(), lambda_judge)

    out = io.StringIO()
    code = cli.main(
        ["status", "staging", "--service", "greeter"],
        stack_factory=lambda name: FakeStack("staging", OUTPUTS),
        session_factory=lambda region: boto3.Session(region_name=region),
        out=out,
        err=io.StringIO(),
    )
    assert code == 0
    lines = out.getvalue().splitlines()
    record = release.record()
    assert f"    judge on {release.deployment_id}: ROLLBACK (2 probes, last look " in out.getvalue()
    assert f"      why: {record.explanation}" in lines
    for finding in record.findings:
        assert f"      {finding['explanation']}" in lines
    assert not any("JUDGE#" in line for line in lines), "the judge's item is not a release"


# --- the application's own 10 s counts (rollback_guard.release_metrics)


def release_counts(release: Release, seconds: range, new_errors: float, new_share: float = 0.1, per_second=100):
    """What the application's ReleaseMetrics publishes: each 10 s bucket's requests and errors of
    versions 2 (new) and 1 (old), high resolution."""
    data = []
    for moment in seconds:
        at = datetime.fromtimestamp(release.minute(0) + moment, UTC)
        new = round(per_second * 10 * new_share)
        for version, requests, errors in (("2", new, round(new * new_errors)), ("1", per_second * 10 - new, 0)):
            dimensions = [{"Name": "Service", "Value": FUNCTION}, {"Name": "Version", "Value": version}]
            data += [
                {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "StorageResolution": 1}
                for name, value in (("Requests", requests), ("Errors", errors))
            ]
    put_metrics("RollbackGuard/Release", data)


def test_with_the_applications_10_second_counts_a_failing_version_is_stopped_before_its_first_minute_settles(
    lambda_judge, clock, monkeypatch
):
    monkeypatch.setenv("RELEASE_METRICS", "true")
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.5), old_errors=rate(0.001))
    release_counts(release, range(0, 900, 10), new_errors=0.5)
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]

    assert epoch_now() < release.minute(1) + SETTLE_SECONDS, "before the standard minute could be judged"
    assert "(10 s counts)" in release.record().explanation


def test_without_the_applications_counts_the_judge_judges_on_the_standard_minutes(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("RELEASE_METRICS", "true")  # the component asked for them; the code publishes none
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.5), old_errors=rate(0.001))
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]
    assert epoch_now() >= release.minute(1) + SETTLE_SECONDS
    assert "(10 s counts)" not in release.record().explanation


def test_a_failed_read_of_the_applications_counts_is_a_failed_look_not_zero_errors(lambda_judge, clock, monkeypatch):
    monkeypatch.setenv("RELEASE_METRICS", "true")
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(0, 15), new_errors=rate(0.001), old_errors=rate(0.001))
    release_counts(release, range(0, 900, 10), new_errors=0.0)
    lambda_judge.metric_status("fne", "InternalError", times=1000)
    release.ends(900)
    assert outcomes(run_judge(release.start_event(), lambda_judge)) == ["stopped with rollback"]
    assert re.search(
        r"high-resolution counts did not read Errors of \S+ version 2 \(high resolution\): InternalError",
        release.record().explanation,
    ), release.record().explanation


def test_a_lambda_minute_whose_errors_are_not_ingested_yet_is_not_read_as_error_free(lambda_judge, clock):
    # Lambda's Errors has a datapoint, 0 included, in every minute with invocations: one missing is
    # a minute CloudWatch is still ingesting, left out until its errors come.
    release = lambda_release(lambda_judge, clock)
    lambda_traffic(release, range(1, 3), new_errors=rate(0.5), old_errors=rate(0.001))
    at = datetime.fromtimestamp(release.minute(0), UTC)
    put_metrics(
        "AWS/Lambda",
        [
            {"MetricName": "Invocations", "Dimensions": lambda_dimensions(version), "Timestamp": at, "Value": 100}
            for version in ("1", "2")
        ],
    )
    pairs = {version: tuple((d["Name"], d["Value"]) for d in lambda_dimensions(version)) for version in ("1", "2")}
    versions = judge.Versions("version 2", "version 1", pairs["2"], pairs["1"], "2")
    read = judge.read_minutes(
        judge.Settings.read(), versions, release.minute(0), release.minute(3), Deadline.after(30), {}
    )
    assert [minute.start for minute in read] == [release.minute(1), release.minute(2)]
    assert read[0].new_errors == 50
