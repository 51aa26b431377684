"""The canary judge: compares the new version with the old one while CodeDeploy shifts traffic, and
stops the deployment with rollback when the evidence says the new one is worse.

CodeDeploy stays the actor: a bad verdict is `StopDeployment(autoRollbackEnabled=True)`. The
decision is hooks/verdict.py's (anytime-valid tests, one false-rollback budget per release); this
module gathers its evidence for one deployment group:
- probes: the configured smoke checks sent to the new version directly, about PROBES_PER_SECOND, one
  at a time, at most MAX_PROBES per deployment (counted across invocations). Lambda: the smoke
  events invoked on the target version; ECS: the smoke paths through the test listener, once it
  reaches green. A check that fails or crashes is a failed probe; after each one the probe test
  alone may decide, so a version that fails every probe is stopped within seconds.
- metrics: every LOOK_SECONDS, one GetMetricData over the deployment's complete minutes, per
  version (Lambda: ExecutedVersion of the alias; ECS: the green and blue target groups), and the old
  version's HISTORY_MINUTES before it (how bursty its errors are); only settled minutes count
  (hooks/verdict.py SETTLE_SECONDS).

Triggers: CodeDeploy's START event for the group (EventBridge), a schedule every minute (which takes
over a deployment whose judge died: its lease expired), and its own continuation: before its
invocation's time runs out it writes its state, releases its lease and invokes itself
asynchronously with {"continuation": "<deployment id>"}. A lease in the deployment log (item sk =
"JUDGE#<deployment id>", hooks/deployment_log.py) keeps two invocations from judging one deployment
at once; every look renews it and records lastLookAt, which the post-traffic hook requires to be
fresh before a release is recorded. Whatever names the deployment, the judge first asks GetDeployment
whose it is, and refuses (logs; reads, writes and stops nothing) one of another application or group.

Fail closed: a judge that cannot see the new version's metrics (or cannot record its looks) for
BLIND_SECONDS, or whose environment is wrong, stops the deployments in progress, saying why. A
read that fails is not seeing: every query of a GetMetricData read must be answered Complete, its
pages (PartialData, NextToken) followed; an InternalError or Forbidden answer, or a query left
out, is a look that failed, however empty its values (they are not zero errors). A judge that
crashes, or cannot run at all, stops sending its heartbeat (a metric, sent by every idle check and
every look that saw): the deployment group's heartbeat alarm then stops its releases.
Corrective deployments (CodeDeploy's own rollbacks, rollback-guard's) are never judged.

Environment (set by the component):
  KIND                    "lambda" or "ecs"
  APPLICATION_NAME        the CodeDeploy application
  DEPLOYMENT_GROUP_NAME   the deployment group judged
  DEPLOYMENT_LOG_TABLE    the deployment log's DynamoDB table (leases, looks, verdicts)
  SERVICE_NAME, ENVIRONMENT   the log's partition: "<SERVICE_NAME>#<ENVIRONMENT>"
  ERROR_RATE_PERCENT      the path's rollback threshold, the ceiling of the new version's error
                          rate (above 0, below 100)
  PROBES_PER_SECOND       above 0, at most 10
  MAX_PROBES              probes per deployment, a whole number from 0 (0: no probes)
  Lambda: FUNCTION_NAME (the function's name), ALIAS, SMOKE_EVENTS (JSON list of {name, payload,
          expect}, at least one), CHECK_TIMEOUT_SECONDS (per event, at most 45), RELEASE_METRICS
          ("true" when the function publishes rollback_guard.release_metrics' 10 s counts; they are
          then read too, read_release_metrics; unset: "false")
  ECS:    LOAD_BALANCER (ARN suffix app/<name>/<id>), TEST_HOST (its DNS name), TEST_LISTENER_PORT,
          SMOKE_PATHS (JSON list of {path, expectStatus, timeoutSeconds, expectBody}, at least one),
          TARGET_GROUPS (JSON object: target group name -> ARN suffix targetgroup/<name>/<id>)
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks import aws, timing
from rollback_guard.hooks.deployment_log import ROLLBACK, JudgeRecord, epoch_now, iso, judge_key
from rollback_guard.hooks.environment import environment, json_list, matching, seconds, whole_number
from rollback_guard.hooks.logs import log
from rollback_guard.hooks.release_series import ERRORS as RELEASE_ERRORS
from rollback_guard.hooks.release_series import NAMESPACE as RELEASE_NAMESPACE
from rollback_guard.hooks.release_series import PERIOD_SECONDS as RELEASE_PERIOD_SECONDS
from rollback_guard.hooks.release_series import REQUESTS as RELEASE_REQUESTS
from rollback_guard.hooks.revisions import described
from rollback_guard.hooks.smoke import (
    MAX_CHECK_TIMEOUT_SECONDS,
    EndpointCheck,
    InvokeCheck,
    PathCheck,
    Unreachable,
    VersionInvocation,
)
from rollback_guard.hooks.test_traffic import HOST_NAME, LOAD_BALANCER_SUFFIX, load_balancer_address
from rollback_guard.hooks.timing import Deadline, HookError
from rollback_guard.hooks.verdict import (
    FALSE_ROLLBACK_BUDGET,
    SETTLE_SECONDS,
    Evidence,
    Finding,
    Minute,
    settled,
    strongest,
)

# Metrics have one-minute resolution, but each minute becomes visible after its own ingestion
# delay: looking every 10 s sees it within 10 s of its arrival (a GetMetricData call of six
# metrics, eight for ECS, a few hundredths of a cent a release).
LOOK_SECONDS = 10
# A judge that has not renewed its lease for this long has died, and the schedule's invocation
# (every minute) takes its deployment over.
LEASE_SECONDS = 90
# Not seeing the new version for this long, while it takes traffic, is not judging it: stop. A
# look that fails (a call refused, or a GetMetricData query not answered Complete) is not seeing,
# never health: it records no lastLookAt and sends no heartbeat. 18 looks ride out a transient
# failure; the bound is under the heartbeat alarm's 5 silent minutes (components/canary_judge.py
# HEARTBEAT_MINUTES), so the judge stops the release itself, naming the reads that failed, and the
# alarm stays for a judge that cannot even stop. Meanwhile the post-traffic hook refuses to record
# a release whose last look is older than JUDGE_STALE_SECONDS, 120 s (hooks/post_traffic.py): a
# blind judge passes nothing.
BLIND_SECONDS = 180
# Kept back from the invocation for the last probe (at most 45 s, and never cut short: a probe cut
# short would count as a failure), the state write and the self-invoke.
HANDOVER_SECONDS = 60
# A stop is retried until this long before the invocation ends, leaving time to record the verdict.
STOP_RESERVE_SECONDS = 10
STOP_FIRST_RETRY_SECONDS = 0.5
STOP_MAX_RETRY_SECONDS = 8.0
# Lambda and ALB metrics are per minute.
PERIOD_SECONDS = 60
# A 10 s count of the application's own (rollback_guard.release_metrics) is read once it ended this
# long ago: its record is flushed within 1 s of the bucket's end, the CloudWatch agent forwards
# within 5 s, Lambda's log extraction within seconds; CloudWatch does not publish the delay, so this
# is an assumption (rollback_guard/detection.py uses it too) for game days to measure.
RELEASE_SETTLE_SECONDS = 30
# The old version's minutes before the deployment the judge also reads: how bursty its errors are
# (hooks/verdict.py Dispersion).
HISTORY_MINUTES = 60
# GetMetricData's StatusCode per query: Complete is read; PartialData is read so far, its next page
# (NextToken) has more. Any other (InternalError, Forbidden) is a query not read.
_COMPLETE, _PARTIAL = "Complete", "PartialData"
_READABLE = (_COMPLETE, _PARTIAL)
MAX_PROBES_PER_SECOND = 10.0
ENDED = ("Succeeded", "Failed", "Stopped")
# The judge's own metrics. HEARTBEAT_METRIC: what a judge that works says every minute at least;
# the deployment group's heartbeat alarm (components/canary_judge.py) stops releases when it falls
# silent. PROBE_METRIC: the probes an ECS judge sent through the test listener, per minute, by
# target group and load balancer; the rollback alarms take them out of the requests
# (components/alarms.py).
JUDGE_NAMESPACE, HEARTBEAT_METRIC, PROBE_METRIC = "RollbackGuard/Judge", "Heartbeat", "ProbeRequests"
# The alarm on a silent heartbeat is named for the judge's function and this (components/canary_judge.py).
HEARTBEAT_ALARM_SUFFIX = "-silent"
EVENT_SOURCE = "rollback-guard.judge"
EVENT_DETAIL_TYPE = "Canary verdict"
CODEDEPLOY_ROLLBACK = "codeDeployRollback"
_ALREADY_ENDED = ("DeploymentAlreadyCompletedException",)
_TARGET_GROUP_SUFFIX = r"targetgroup/[\w-]{1,32}/[0-9a-f]+"
_FUNCTION_NAME = r"[\w-]{1,64}"
# One attempt per call: the judge's own loops retry (stops) or look again in LOOK_SECONDS.
_ONE_ATTEMPT = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})


@functools.cache
def one_attempt(service: str):
    """A client whose calls the judge retries itself (stops), or makes once (its continuation)."""
    return aws.new_client(service, _ONE_ATTEMPT)


# --- settings


@dataclass(frozen=True)
class Metrics:
    """Where one kind of service keeps its per-version metrics."""

    namespace: str
    requests: str
    errors: str
    latency: str
    # The latency statistic's unit, in milliseconds.
    latency_ms: float
    # Failures that never became an answer of the version's own, counted as errors too.
    unanswered: str | None = None
    # The error metric has a datapoint (0 included) in every minute with requests (Lambda's Errors
    # does; the load balancer's 5xx count has none without a 5xx): a minute with requests and no
    # error datapoint yet is still being ingested, not error-free.
    errors_with_requests: bool = False


LAMBDA_METRICS = Metrics("AWS/Lambda", "Invocations", "Errors", "Duration", 1.0, errors_with_requests=True)
# A green that crashes or hangs gets no 5xx of its own: the load balancer answers 502/503/504,
# which CloudWatch counts per load balancer only, and its failed connections per target group.
ECS_METRICS = Metrics(
    "AWS/ApplicationELB",
    "RequestCount",
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime",
    1000.0,
    unanswered="TargetConnectionErrorCount",
)


@dataclass(frozen=True)
class LogPlace:
    """Where the judge's items are: the deployment log's table and this service's partition."""

    table: str
    service: str
    environment: str


@dataclass(frozen=True)
class Settings:
    kind: Literal["lambda", "ecs"]
    application: str
    group: str
    table: str
    service: str
    environment: str
    ceiling_percent: float
    probes_per_second: float
    max_probes: int
    function_name: str = ""
    alias: str = ""
    smoke_events: tuple[InvokeCheck, ...] = ()
    load_balancer: str = ""
    test_host: str = ""
    test_port: int = 0
    smoke_paths: tuple[PathCheck, ...] = ()
    target_groups: Mapping[str, str] = field(default_factory=dict)
    release_metrics: bool = False

    @classmethod
    def read(cls) -> Settings:
        """The judge's environment, or a HookError naming the variable, its value and what is allowed."""
        kind = environment("KIND", matching("lambda|ecs", '"lambda" or "ecs"'))
        common = {
            "kind": kind,
            "application": environment("APPLICATION_NAME", matching(r"[\w.+-]{1,100}", "a CodeDeploy application")),
            "group": environment("DEPLOYMENT_GROUP_NAME", matching(r"[\w.+-]{1,100}", "a deployment group name")),
            "table": environment("DEPLOYMENT_LOG_TABLE", matching(r"[\w.-]{3,255}", "a DynamoDB table name")),
            "service": environment("SERVICE_NAME"),
            "environment": environment("ENVIRONMENT"),
            "ceiling_percent": environment(
                "ERROR_RATE_PERCENT", _number(0, 100, "a percentage above 0, below 100", high_allowed=False)
            ),
            "probes_per_second": environment(
                "PROBES_PER_SECOND", _number(0, MAX_PROBES_PER_SECOND, f"above 0, at most {MAX_PROBES_PER_SECOND:g}")
            ),
            "max_probes": environment("MAX_PROBES", whole_number(0, 10**9)),
        }
        if kind == "lambda":
            timeout = environment("CHECK_TIMEOUT_SECONDS", seconds(MAX_CHECK_TIMEOUT_SECONDS))
            return cls(
                **common,
                release_metrics=_release_metrics(),
                function_name=environment("FUNCTION_NAME", matching(_FUNCTION_NAME, "a Lambda function name")),
                alias=environment("ALIAS", matching(r"[\w-]{1,128}", "an alias name")),
                smoke_events=tuple(
                    environment("SMOKE_EVENTS", json_list(lambda raw: InvokeCheck.from_dict(raw, timeout), at_least=1))
                ),
            )
        return cls(
            **common,
            load_balancer=environment(
                "LOAD_BALANCER", matching(LOAD_BALANCER_SUFFIX, "an ALB ARN suffix app/<name>/<id>")
            ),
            test_host=environment("TEST_HOST", matching(HOST_NAME, "the load balancer's DNS name")),
            test_port=environment("TEST_LISTENER_PORT", whole_number(1, 65535)),
            smoke_paths=tuple(environment("SMOKE_PATHS", json_list(PathCheck.from_dict, at_least=1))),
            target_groups=environment("TARGET_GROUPS", _target_groups),
        )

    @property
    def metrics(self) -> Metrics:
        return LAMBDA_METRICS if self.kind == "lambda" else ECS_METRICS

    @property
    def place(self) -> LogPlace:
        return LogPlace(self.table, self.service, self.environment)


def _release_metrics() -> bool:
    """RELEASE_METRICS: "true" when the function publishes its own 10 s counts; unset is "false"."""
    raw = os.environ.get("RELEASE_METRICS") or "false"
    if raw not in ("true", "false"):
        raise HookError(f'environment variable RELEASE_METRICS = {raw!r}: "true" or "false"')
    return raw == "true"


def _number(low: float, high: float, rule: str, *, high_allowed: bool = True) -> Callable[[str], float]:
    """A finite number above `low` and at most `high` (below it, unless `high_allowed`)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low < value and (value <= high if high_allowed else value < high)):
            raise ValueError(rule)
        return value

    return parse


def _target_groups(raw: str) -> dict[str, str]:
    try:
        groups = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not (isinstance(groups, dict) and groups):
        raise ValueError("a JSON object of target group name -> ARN suffix targetgroup/<name>/<id>")
    for name, suffix in groups.items():
        if not (isinstance(suffix, str) and re.fullmatch(_TARGET_GROUP_SUFFIX, suffix)):
            raise ValueError(f"target group {name!r}: {suffix!r} is not an ARN suffix targetgroup/<name>/<id>")
    return groups


# --- the handler


def handler(event: Any, context: Any = None) -> dict:
    invocation = Deadline.of_invocation(context)
    named = _named_deployment(event)
    try:
        settings = Settings.read()
    except HookError as error:
        return {"misconfigured": str(error), "stopped": _misconfigured(error, named, invocation)}
    if isinstance(event, dict) and event.get("source") == "aws.codedeploy":
        group = (event.get("detail") or {}).get("deploymentGroup")
        if group != settings.group:
            log(logging.WARNING, "not this judge's deployment group", group=group, judges=settings.group)
            return {"judged": []}
    owner = getattr(context, "aws_request_id", None) or uuid.uuid4().hex
    try:
        deployments = [named] if named else _in_progress(settings.application, settings.group, invocation)
    except HookError as error:
        log(logging.ERROR, "in-progress deployments cannot be listed", group=settings.group, reason=str(error))
        return {"judged": [], "error": str(error)}
    if not deployments:
        heartbeat(settings.group)
    judged = []
    for deployment_id in deployments:
        try:
            outcome = judge_deployment(settings, deployment_id, owner, invocation, context)
        except Exception as error:  # the lease expires, and the schedule's invocation takes over
            log(logging.ERROR, "the judge crashed", deployment_id=deployment_id, reason=repr(error), exc_info=error)
            outcome = "crashed"
        judged.append({"deploymentId": deployment_id, "outcome": outcome})
    return {"judged": judged}


def heartbeat(group: str) -> None:
    """One heartbeat: this judge did its work. A lost one is only logged; the alarm needs five
    minutes without any."""
    try:
        aws.client("cloudwatch").put_metric_data(
            Namespace=JUDGE_NAMESPACE,
            MetricData=[
                {
                    "MetricName": HEARTBEAT_METRIC,
                    "Dimensions": [{"Name": "DeploymentGroup", "Value": group}],
                    "Value": 1,
                    "Unit": "Count",
                }
            ],
        )
    except (ClientError, BotoCoreError) as error:
        log(logging.WARNING, "the heartbeat was not sent", group=group, error=str(error))


def _named_deployment(event: Any) -> str | None:
    """The deployment a START event or a continuation names (none for the schedule's event)."""
    if not isinstance(event, dict):
        return None
    named = event.get("continuation") or (event.get("detail") or {}).get("deploymentId")
    return named if isinstance(named, str) and named else None


def _in_progress(application: str, group: str, deadline: Deadline) -> list[str]:
    codedeploy, found, token = aws.client("codedeploy"), [], None
    while True:
        page = aws.call(
            deadline,
            f"codedeploy ListDeployments {application}/{group}",
            codedeploy.list_deployments,
            applicationName=application,
            deploymentGroupName=group,
            # Every status that has not ended: a blue/green deployment waiting to reroute is Ready,
            # and botocore also knows Baking.
            includeOnlyStatuses=["Created", "Queued", "InProgress", "Baking", "Ready"],
            **({"nextToken": token} if token else {}),
        )
        found += page.get("deployments", [])
        token = page.get("nextToken")
        if not token:
            return found


def _deployment(deployment_id: str, deadline: Deadline) -> dict:
    codedeploy = aws.client("codedeploy")
    return aws.call(
        deadline, f"codedeploy GetDeployment {deployment_id}", codedeploy.get_deployment, deploymentId=deployment_id
    )["deploymentInfo"]


def _ours(info: dict, application: str | None, group: str | None) -> bool:
    """Whether GetDeployment says the deployment is of this judge's application and deployment
    group. A deployment id comes from an event or a continuation's payload, which anyone allowed to
    invoke the judge can write: without this, the judge's role alone would keep it from reading,
    probing and stopping another group's release. A refusal is logged; nothing is written."""
    owner = (info.get("applicationName"), info.get("deploymentGroupName"))
    if application and group and owner == (application, group):
        return True
    log(
        logging.ERROR,
        "not this judge's deployment: refused",
        deployment_id=info.get("deploymentId"),
        application=owner[0],
        group=owner[1],
        judges=f"{application}/{group}",
    )
    return False


def _corrective(info: dict) -> bool:
    """CodeDeploy's own rollback, or rollback-guard's corrective deployment: never judged."""
    said = described(info)
    return info.get("creator") == CODEDEPLOY_ROLLBACK or bool(said and said["action"] == "rollback")


def judge_deployment(settings: Settings, deployment_id: str, owner: str, invocation: Deadline, context: Any) -> str:
    """Judges `deployment_id` until it ends, a verdict stops it, or this invocation hands over;
    returns what happened, in a few words."""
    fields = {"deployment_id": deployment_id, "group": settings.group}
    try:
        info = _deployment(deployment_id, invocation)
    except HookError as error:
        log(logging.ERROR, "the deployment cannot be read", **fields, reason=str(error))
        return "unreadable"
    if not _ours(info, settings.application, settings.group):
        return "not this judge's"
    if info.get("status") in ENDED:
        return f"already {info['status']}"
    if _corrective(info):
        log(logging.INFO, "a corrective deployment: not judged", **fields)
        return "corrective, not judged"
    created = _epoch(info["createTime"])
    try:
        record = _take_lease(settings.place, settings.group, deployment_id, owner, created, invocation)
    except HookError as error:
        log(logging.ERROR, "the lease cannot be taken", **fields, reason=str(error))
        return "lease unavailable"
    if record is None:
        log(logging.INFO, "another judge holds the lease", **fields)
        return "judged elsewhere"
    return Judging(settings, deployment_id, owner, invocation, context, created, record).run()


# --- one deployment


@dataclass(frozen=True)
class Versions:
    """The new and old version of a deployment, as its targets say now."""

    new: str
    old: str | None
    new_dimensions: tuple[tuple[str, str], ...]
    old_dimensions: tuple[tuple[str, str], ...] | None
    # Lambda: the version the probes invoke. ECS: "green", which the test listener reaches.
    probe_target: str
    # Whether a probe reaches the new version now. ECS: only once CodeDeploy's AllowTestTraffic
    # has pointed the test listener at green; before, it answers from blue or an empty group.
    probe_ready: bool = True
    # Lambda: the version numbers, as the application's high-resolution counts name them.
    new_version: str | None = None
    old_version: str | None = None

    def metric_names(self, settings: Settings) -> dict[str, str]:
        metrics, old = settings.metrics, f" (old: {self.old})" if self.old else ""
        errors = f"({metrics.errors}+{metrics.unanswered})" if metrics.unanswered else metrics.errors
        return {
            "errors": f"error rate {errors}/{metrics.requests} of {self.new}{old}",
            "latency": f"p90 latency {metrics.latency} of {self.new}{old}",
            "probes": f"probe failure rate of {self.new}",
        }


def versions_of(settings: Settings, targets: list[dict]) -> Versions | None:
    """What the deployment moves, from its targets; None for ECS until a green task set exists
    (until then the new version takes no traffic). A HookError when CodeDeploy does not say."""
    for target in targets:
        function = (target.get("lambdaTarget") or {}).get("lambdaFunctionInfo") or {}
        if settings.kind == "lambda" and function.get("targetVersion"):
            name = function.get("functionName") or settings.function_name
            new, old = str(function["targetVersion"]), function.get("currentVersion")
            base = (("FunctionName", name), ("Resource", f"{name}:{settings.alias}"))
            return Versions(
                f"version {new}",
                f"version {old}" if old else None,
                (*base, ("ExecutedVersion", new)),
                (*base, ("ExecutedVersion", str(old))) if old else None,
                new,
                new_version=new,
                old_version=str(old) if old else None,
            )
        task_sets = {s.get("taskSetLabel"): s for s in (target.get("ecsTarget") or {}).get("taskSetsInfo") or []}
        if settings.kind == "ecs" and task_sets:
            if "Green" not in task_sets:
                return None
            green, blue = task_sets["Green"], task_sets.get("Blue")
            events = (target.get("ecsTarget") or {}).get("lifecycleEvents") or []
            return Versions(
                _task_set_label(task_sets["Green"], "green"),
                _task_set_label(blue, "blue") if blue else None,
                _target_group_dimensions(settings, green),
                _target_group_dimensions(settings, blue) if blue else None,
                "green",
                probe_ready=any(
                    event.get("lifecycleEventName") == "AllowTestTraffic" and event.get("status") == "Succeeded"
                    for event in events
                ),
            )
    what = "Lambda version" if settings.kind == "lambda" else "ECS task set"
    raise HookError(f"CodeDeploy names no {what} for this deployment (yet)")


def _task_set_label(task_set: dict, colour: str) -> str:
    return f"{colour} ({(task_set.get('targetGroup') or {}).get('name')})"


def _target_group_dimensions(settings: Settings, task_set: dict) -> tuple[tuple[str, str], ...]:
    name = (task_set.get("targetGroup") or {}).get("name")
    if name not in settings.target_groups:
        raise HookError(f"target group {name!r} is not in TARGET_GROUPS ({', '.join(settings.target_groups)})")
    return (("TargetGroup", settings.target_groups[name]), ("LoadBalancer", settings.load_balancer))


@dataclass
class Judging:
    """One invocation's judging of one deployment, while it holds the lease."""

    settings: Settings
    deployment_id: str
    owner: str
    invocation: Deadline
    context: Any
    created: float
    record: JudgeRecord
    # Probes sent by this invocation, and their failures.
    probes: int = 0
    failures: int = 0
    # This invocation's probes per minute (see _evidence).
    probes_by_minute: dict[int, tuple[int, int]] = field(default_factory=dict)
    versions: Versions | None = None
    evidence: Evidence | None = None
    # When the judge last saw the new version's metrics and recorded the look (epoch seconds).
    seen_at: float = 0.0
    next_probe_at: float = 0.0
    probe_rotation: int = 0
    base_url: str | None = None
    # Probes per minute already put in PROBE_METRIC by this invocation.
    published: dict[int, int] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Any]:
        return {"deployment_id": self.deployment_id, "group": self.settings.group}

    @property
    def handover(self) -> Deadline:
        return self.invocation.less(HANDOVER_SECONDS)

    def run(self) -> str:
        if self.record.verdict == ROLLBACK:  # judged already: make sure the stop happened
            stopped = stop_deployment(self.deployment_id, self.invocation.less(STOP_RESERVE_SECONDS))
            return "stopped again" if stopped else "stop failed"
        self.seen_at = self.record.last_look_at or self.record.judging_since or epoch_now()
        self.evidence = self._evidence([])
        log(logging.INFO, "judging", **self.fields, probes_so_far=self.record.probes)
        next_look = timing.clock.now()
        while True:
            if self.handover.remaining() <= 0:
                return self._hand_over()
            if timing.clock.now() >= next_look:
                outcome = self._look()
                next_look = max(next_look + LOOK_SECONDS, timing.clock.now())
            elif self._may_probe() and timing.clock.now() >= self.next_probe_at:
                outcome = self._probe()
            else:
                outcome = None
            if outcome:
                return outcome
            wake = min(next_look, self.next_probe_at if self._may_probe() else math.inf)
            pause = min(wake - timing.clock.now(), self.handover.remaining())
            if pause > 0:
                timing.clock.sleep(pause)

    # --- looking at the metrics

    def _look(self) -> str | None:
        """One look: the deployment's status, its versions and its complete minutes; a verdict, or
        None to go on."""
        self._publish_probes()  # the alarms need them whatever this look finds
        try:
            info = _deployment(self.deployment_id, self.handover)
            if info.get("status") in ENDED:
                self._release_lease(status=info["status"])
                log(logging.INFO, "the deployment ended", **self.fields, status=info["status"])
                return f"ended {info['status']}"
            self.versions = versions_of(self.settings, self._targets())
            since, now = self.created - HISTORY_MINUTES * PERIOD_SECONDS, epoch_now()
            minutes = read_minutes(self.settings, self.versions, since, now, self.handover, self.fields)
            fine = None
            if self.settings.release_metrics:
                fine = read_release_metrics(self.settings, self.versions, since, now, self.handover, self.fields)
        except HookError as error:
            return self._blind(error)
        # With the application's high-resolution counts, each stream of evidence has half the budget
        # (a union bound), from the first look, whether or not counts have come yet: the standard
        # metrics still count what the application cannot (a Lambda timeout, a crash in its
        # initialisation).
        budget = FALSE_ROLLBACK_BUDGET / 2 if self.settings.release_metrics else FALSE_ROLLBACK_BUDGET
        self.evidence = self._evidence(minutes, budget)
        names = self._names()
        findings = self.evidence.findings(names)
        if fine:
            findings += _high_resolution_evidence(self.settings, self.created, fine, budget).findings(
                {key: f"{value} (10 s counts)" for key, value in (names or {}).items()} or None
            )
        verdict = strongest(findings)
        if verdict:
            return self._rollback(verdict.explain())
        try:
            if not self._record_look(info.get("status", ""), findings):
                log(logging.WARNING, "another judge took the lease over: stopped judging", **self.fields)
                return "lease lost"
        except HookError as error:
            return self._blind(error)
        self.seen_at = epoch_now()
        heartbeat(self.settings.group)
        return None

    def _blind(self, error: HookError) -> str | None:
        """A look that failed: a rollback once the judge has not seen for BLIND_SECONDS; until then
        the lease is kept (without a lastLookAt: the post-traffic hook knows nobody sees)."""
        blind = epoch_now() - self.seen_at
        if blind >= BLIND_SECONDS:
            what = self.versions.new if self.versions else "the new version"
            return self._rollback(f"the judge could not see {what}'s metrics for {blind:.0f} s: {error}")
        log(logging.WARNING, "a look failed", **self.fields, blind_seconds=round(blind), error=str(error))
        try:
            values = {"leaseUntil": {"N": f"{epoch_now() + LEASE_SECONDS:.3f}"}, **self._probe_counts()}
            if not _update_lease(self.settings.place, self.deployment_id, self.owner, values, self.handover):
                log(logging.WARNING, "another judge took the lease over: stopped judging", **self.fields)
                return "lease lost"
        except HookError as failed:  # the next look tries again; the lease outlasts several
            log(logging.WARNING, "the lease was not renewed", **self.fields, error=str(failed))
        return None

    def _targets(self) -> list[dict]:
        codedeploy = aws.client("codedeploy")
        what = f"codedeploy ListDeploymentTargets {self.deployment_id}"
        ids = aws.call(self.handover, what, codedeploy.list_deployment_targets, deploymentId=self.deployment_id)
        return [
            aws.call(
                self.handover,
                f"codedeploy GetDeploymentTarget {self.deployment_id} {target_id}",
                codedeploy.get_deployment_target,
                deploymentId=self.deployment_id,
                targetId=target_id,
            )["deploymentTarget"]
            for target_id in ids.get("targetIds", [])  # one: a deployment group has one function or service
        ]

    def _evidence(self, minutes: list[Minute], budget: float = FALSE_ROLLBACK_BUDGET) -> Evidence:
        """Rebuilt from scratch at every look: the settled minutes as CloudWatch has them now (the
        old version's before the deployment are its history), and every probe of this deployment
        so far."""
        history, minutes = _history_and_settled(minutes, self.created, PERIOD_SECONDS, SETTLE_SECONDS)
        evidence = Evidence(self.settings.ceiling_percent, budget, history)
        # ECS probes reach green through the test listener, so its target group counts them. They
        # are taken out again, failures too: passing probes would dilute green's error rate, and
        # failing ones are the probe test's evidence already (counted twice, a probe failing at
        # the healthy rate would roll back healthy releases).
        probes = self._all_probes_by_minute() if self.settings.kind == "ecs" else {}
        for minute in minutes:
            sent, failed = probes.get(int(minute.start), (0, 0))
            evidence.add_minute(
                replace(
                    minute,
                    new_requests=max(0.0, minute.new_requests - sent),
                    new_errors=max(0.0, minute.new_errors - failed),
                )
            )
        evidence.add_probes(self.record.probes + self.probes, self.record.probe_failures + self.failures)
        return evidence

    def _names(self) -> dict[str, str] | None:
        return self.versions.metric_names(self.settings) if self.versions else None

    # --- probing the new version

    def _may_probe(self) -> bool:
        return (
            self.versions is not None
            and self.versions.probe_ready
            and self.record.probes + self.probes < self.settings.max_probes
        )

    def _probe(self) -> str | None:
        """One smoke check of the new version; a verdict if the probes alone already say so."""
        started, minute = timing.clock.now(), _minute(epoch_now())  # the load balancer counts it at its start
        # Never faster than the rate: the next start is an interval after this one, or later.
        self.next_probe_at = started + 1 / self.settings.probes_per_second
        try:
            check = self._next_check()
        except HookError as error:  # the test listener's address: not the new version's fault
            log(logging.WARNING, "no probe: the test listener cannot be found", **self.fields, error=str(error))
            self.next_probe_at = started + LOOK_SECONDS
            return None
        try:
            failure = check.answer(self.invocation.less(STOP_RESERVE_SECONDS))  # started before the hand-over
        except Unreachable as error:  # the address or Lambda, not the version: no probe
            log(logging.WARNING, "no probe: the new version was not reached", **self.fields, error=str(error))
            self.base_url = None  # a load balancer node that went away: find another
            return None
        except HookError as error:
            failure = str(error)
        except Exception as error:  # a crashed probe is a failed one
            failure = f"{check.label}: the probe crashed: {error!r}"
        self.probes += 1
        self.failures += failure is not None
        sent, failed = self.probes_by_minute.get(minute, (0, 0))
        self.probes_by_minute[minute] = (sent + 1, failed + (failure is not None))
        self.evidence.add_probes(1, failure is not None)
        if failure:
            log(logging.WARNING, "probe failed", **self.fields, failure=failure)
        if self.evidence.probes_say_rollback():
            verdict = self.evidence.verdict(self._names())
            return self._rollback(verdict.explain() if verdict else f"the probes failed: {failure}")
        return None

    def _publish_probes(self) -> None:
        """ECS: this invocation's probes not yet in PROBE_METRIC, under green's target group and
        its load balancer, each in the minute it was sent. Kept for the next look if it fails."""
        if self.settings.kind != "ecs" or self.versions is None:
            return
        unpublished = {
            minute: sent - self.published.get(minute, 0)
            for minute, (sent, _) in self.probes_by_minute.items()
            if sent > self.published.get(minute, 0)
        }
        if not unpublished:
            return
        green = [{"Name": name, "Value": value} for name, value in self.versions.new_dimensions]
        load_balancer = [d for d in green if d["Name"] == "LoadBalancer"]
        data = [
            {
                "MetricName": PROBE_METRIC,
                "Dimensions": dimensions,
                "Timestamp": datetime.fromtimestamp(minute, UTC),
                "Value": count,
                "Unit": "Count",
            }
            for minute, count in unpublished.items()
            for dimensions in (green, load_balancer)
        ]
        try:
            aws.client("cloudwatch").put_metric_data(Namespace=JUDGE_NAMESPACE, MetricData=data)
        except (ClientError, BotoCoreError) as error:
            log(logging.WARNING, "the probe counts were not put; next look", **self.fields, error=str(error))
            return
        for minute, count in unpublished.items():
            self.published[minute] = self.published.get(minute, 0) + count

    def _next_check(self) -> VersionInvocation | EndpointCheck:
        """The configured checks in turn, aimed at the new version."""
        settings, index = self.settings, self.probe_rotation
        self.probe_rotation += 1
        if settings.kind == "lambda":
            event = settings.smoke_events[index % len(settings.smoke_events)]
            return event.against(settings.function_name, self.versions.probe_target)
        if self.base_url is None:
            address = load_balancer_address(settings.load_balancer, self.handover)
            self.base_url = f"http://{address}:{settings.test_port}"
        return settings.smoke_paths[index % len(settings.smoke_paths)].at(self.base_url, settings.test_host)

    # --- the log item: lease, looks, hand-over, verdict

    def _record_look(self, status: str, findings: list[Finding]) -> bool:
        """Renews the lease with this look; False when another judge holds it now."""
        now = epoch_now()
        values = {
            "leaseUntil": {"N": f"{now + LEASE_SECONDS:.3f}"},
            "lastLookAt": {"N": f"{now:.3f}"},
            "deploymentStatus": {"S": status},
            "findings": {"S": json.dumps([finding.as_dict() for finding in findings])},
            **self._probe_counts(),
        }
        return _update_lease(self.settings.place, self.deployment_id, self.owner, values, self.handover)

    def _probe_counts(self) -> dict[str, dict]:
        return {
            "probes": {"N": str(self.record.probes + self.probes)},
            "probeFailures": {"N": str(self.record.probe_failures + self.failures)},
            "probesByMinute": {"S": json.dumps(self._all_probes_by_minute())},
        }

    def _all_probes_by_minute(self) -> dict[int, tuple[int, int]]:
        """Every invocation's probes of this deployment and their failures, per minute."""
        merged = dict(self.record.probes_by_minute)
        for minute, (sent, failed) in self.probes_by_minute.items():
            before_sent, before_failed = merged.get(minute, (0, 0))
            merged[minute] = (before_sent + sent, before_failed + failed)
        return merged

    def _release_lease(self, status: str | None = None) -> None:
        values = {"leaseUntil": {"N": "0"}, **self._probe_counts()}
        if status:
            values["deploymentStatus"] = {"S": status}
        try:
            _update_lease(self.settings.place, self.deployment_id, self.owner, values, self.invocation)
        except HookError as error:  # it expires on its own
            log(logging.WARNING, "the lease was not released", **self.fields, error=str(error))

    def _hand_over(self) -> str:
        """Time is running out: the state goes to the log, the lease is freed, and the judge
        invokes itself to go on (the schedule takes over if that invocation never comes)."""
        self._publish_probes()
        self._release_lease()
        function = getattr(self.context, "invoked_function_arn", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not function:
            log(logging.ERROR, "no function to hand over to; the schedule takes over", **self.fields)
            return "handed over to the schedule"
        try:
            one_attempt("lambda").invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=json.dumps({"continuation": self.deployment_id}).encode(),
            )
        except (ClientError, BotoCoreError) as error:
            log(logging.ERROR, "no continuation; the schedule takes over", **self.fields, error=str(error))
            return "handed over to the schedule"
        log(logging.INFO, "handed over to a continuation", **self.fields, probes=self.record.probes + self.probes)
        return "handed over"

    def _rollback(self, explanation: str) -> str:
        findings = [finding.as_dict() for finding in self.evidence.findings(self._names())] if self.evidence else []
        verdict = Verdict(self.deployment_id, self.settings.group, explanation, findings)
        rollback(verdict, self.settings.place, self.invocation, self._probe_counts())
        return "stopped with rollback"


def _epoch(moment: Any) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def _lease_refused(error: aws.AwsCallFailed) -> bool:
    cause = error.__cause__
    return isinstance(cause, ClientError) and aws.error_code(cause) == "ConditionalCheckFailedException"


def _take_lease(
    place: LogPlace, group: str, deployment_id: str, owner: str, created: float, deadline: Deadline
) -> JudgeRecord | None:
    """The judge item with this invocation's lease (created at the first look), or None when
    another judge holds an unexpired lease on it."""
    now = epoch_now()
    try:
        item = aws.call(
            deadline,
            f"dynamodb UpdateItem {place.table} (the judge's lease on {deployment_id})",
            aws.client("dynamodb").update_item,
            TableName=place.table,
            Key=judge_key(place.service, place.environment, deployment_id),
            UpdateExpression=(
                "SET leaseOwner = :owner, leaseUntil = :until, deploymentId = :id, deploymentGroup = :group, "
                "judgingSince = if_not_exists(judgingSince, :now), "
                "deploymentCreatedAt = if_not_exists(deploymentCreatedAt, :created), "
                "probes = if_not_exists(probes, :zero), probeFailures = if_not_exists(probeFailures, :zero)"
            ),
            ConditionExpression="attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner",
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":until": {"N": f"{now + LEASE_SECONDS:.3f}"},
                ":now": {"N": f"{now:.3f}"},
                ":id": {"S": deployment_id},
                ":group": {"S": group},
                ":created": {"S": iso(created)},
                ":zero": {"N": "0"},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except aws.AwsCallFailed as error:
        if _lease_refused(error):
            return None
        raise
    return JudgeRecord.from_item(item)


def _update_lease(place: LogPlace, deployment_id: str, owner: str, values: dict[str, dict], deadline: Deadline) -> bool:
    """Sets `values` on the judge item while this invocation holds its lease; False if it does not."""
    names = {f"#a{index}": name for index, name in enumerate(values)}
    try:
        aws.call(
            deadline,
            f"dynamodb UpdateItem {place.table} (the judge's look at {deployment_id})",
            aws.client("dynamodb").update_item,
            TableName=place.table,
            Key=judge_key(place.service, place.environment, deployment_id),
            UpdateExpression="SET " + ", ".join(f"{alias} = :v{index}" for index, alias in enumerate(names)),
            ConditionExpression="leaseOwner = :owner",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                **{f":v{index}": value for index, value in enumerate(values.values())},
            },
        )
    except aws.AwsCallFailed as error:
        if _lease_refused(error):
            return False
        raise
    return True


# --- metrics


def read_minutes(
    settings: Settings,
    versions: Versions | None,
    since: float,
    now: float,
    deadline: Deadline,
    fields: Mapping[str, Any],
) -> list[Minute]:
    """Both versions' complete minutes from `since` (its minute floored), in one GetMetricData call
    and its pages. A minute without a datapoint had no requests, but only in a query CloudWatch
    answered Complete: anything else is a HookError naming the queries not read (an empty
    InternalError is not zero errors). What CloudWatch says in Messages is logged."""
    start, end = _minute(since), _minute(now)
    if versions is None or end <= start:
        return []
    metrics = settings.metrics
    sides = [("n", versions.new, versions.new_dimensions)]
    if versions.old_dimensions:
        sides.append(("o", versions.old, versions.old_dimensions))
    measures = [("r", metrics.requests, "Sum"), ("e", metrics.errors, "Sum"), ("l", metrics.latency, "p90")]
    if metrics.unanswered:
        measures.append(("u", metrics.unanswered, "Sum"))
    queries = {
        side + measure: _query(side + measure, f"{name} {stat} of {version}", metrics.namespace, name, dimensions, stat)
        for side, version, dimensions in sides
        for measure, name, stat in measures
    }
    series = _read_series(queries, start, end, f"cloudwatch GetMetricData of {versions.new}", deadline, fields)

    def latency(query_id: str, moment: int) -> float | None:
        value = series.get(query_id, {}).get(moment)
        return None if value is None else value * metrics.latency_ms

    def ingested(moment: int) -> bool:
        return not metrics.errors_with_requests or all(
            moment in series[side + "e"] or moment not in series[side + "r"] for side, _, _ in sides
        )

    return [
        Minute(
            start=moment,
            new_requests=series["nr"].get(moment, 0.0),
            new_errors=series["ne"].get(moment, 0.0) + series.get("nu", {}).get(moment, 0.0),
            old_requests=series.get("or", {}).get(moment, 0.0),
            old_errors=series.get("oe", {}).get(moment, 0.0) + series.get("ou", {}).get(moment, 0.0),
            new_latency=latency("nl", moment),
            old_latency=latency("ol", moment),
        )
        for moment in range(start, end, PERIOD_SECONDS)  # only minutes that are over: end <= now
        if ingested(moment)
    ]


def read_release_metrics(
    settings: Settings,
    versions: Versions | None,
    since: float,
    now: float,
    deadline: Deadline,
    fields: Mapping[str, Any],
) -> list[Minute] | None:
    """Both versions' 10-second periods of the application's own high-resolution counts
    (rollback_guard.release_metrics: Requests and Errors by Service and Version), read and checked
    as read_minutes reads; None when the new version has published none (its code does not use
    the helper, or has not yet) or the old version none (the first release that publishes them:
    without the old version's rate, an old baseline above the ceiling would be the new version's
    fault): the judge then judges on the standard minutes alone."""
    start, end = _period(since, RELEASE_PERIOD_SECONDS), _period(now, RELEASE_PERIOD_SECONDS)
    if versions is None or versions.new_version is None or end <= start:
        return None
    # Query ids of their own ("f" for fine), so a failure names which read it was.
    sides = [("fn", versions.new_version)] + ([("fo", versions.old_version)] if versions.old_version else [])
    queries = {
        side + measure: _query(
            side + measure,
            f"{name} of {settings.function_name} version {version} (high resolution)",
            RELEASE_NAMESPACE,
            name,
            (("Service", settings.function_name), ("Version", version)),
            "Sum",
            RELEASE_PERIOD_SECONDS,
        )
        for side, version in sides
        for measure, name in (("r", RELEASE_REQUESTS), ("e", RELEASE_ERRORS))
    }
    what = f"cloudwatch GetMetricData of version {versions.new_version}'s high-resolution counts"
    series = _read_series(queries, start, end, what, deadline, fields)
    if not series["fnr"] or not series.get("for"):
        return None  # nothing of the new version's, or nothing to compare it with: the minutes judge
    return [
        Minute(
            start=moment,
            new_requests=series["fnr"].get(moment, 0.0),
            new_errors=series["fne"].get(moment, 0.0),
            old_requests=series.get("for", {}).get(moment, 0.0),
            old_errors=series.get("foe", {}).get(moment, 0.0),
        )
        for moment in range(start, end, RELEASE_PERIOD_SECONDS)
    ]


def _query(
    query_id: str,
    label: str,
    namespace: str,
    name: str,
    dimensions: tuple[tuple[str, str], ...],
    stat: str,
    period: int = PERIOD_SECONDS,
) -> dict:
    return {
        "Id": query_id,
        "Label": label,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def _read_series(
    queries: dict[str, dict], start: int, end: int, what: str, deadline: Deadline, fields: Mapping[str, Any]
) -> dict[str, dict[int, float]]:
    """Every query's datapoints by period start, from one GetMetricData call and its pages; a
    HookError naming every query not answered Complete."""
    period = next(iter(queries.values()))["MetricStat"]["Period"]
    series: dict[str, dict[int, float]] = {query_id: {} for query_id in queries}
    # Each query's StatusCode on the last page that answered it.
    statuses: dict[str, str] = {}
    cloudwatch, token = aws.client("cloudwatch"), None
    while True:
        page = aws.call(
            deadline,
            what,
            cloudwatch.get_metric_data,
            MetricDataQueries=list(queries.values()),
            StartTime=datetime.fromtimestamp(start, UTC),
            EndTime=datetime.fromtimestamp(end, UTC),
            ScanBy="TimestampAscending",
            **({"NextToken": token} if token else {}),
        )
        _log_messages(page.get("Messages", []), fields)
        for result in page.get("MetricDataResults", []):
            query_id = result.get("Id")
            if query_id not in queries:
                continue
            _log_messages(result.get("Messages", []), fields, query=queries[query_id]["Label"])
            if statuses.get(query_id, _COMPLETE) not in _READABLE:
                continue  # one failed answer of a query fails it, whatever else the page says of it
            statuses[query_id] = result.get("StatusCode", "no StatusCode")
            if statuses[query_id] in _READABLE:
                points, moments, values = series[query_id], result.get("Timestamps", []), result.get("Values", [])
                if len(moments) != len(values):  # datapoints that cannot be placed are not zeros
                    statuses[query_id] = f"{len(moments)} timestamps for {len(values)} values"
                    continue
                for moment, value in zip(moments, values, strict=True):
                    points[_period(_epoch(moment), period)] = value
        token = page.get("NextToken")
        # A query that failed will not be read on a later page: the look has failed already.
        if not token or any(status not in _READABLE for status in statuses.values()):
            break
    unread = {
        query["Label"]: statuses.get(query_id, "left out")
        for query_id, query in queries.items()
        if statuses.get(query_id) != _COMPLETE
    }
    if unread:
        said = "; ".join(
            f"{label}: {'PartialData, the rest unread' if status == _PARTIAL else status}"
            for label, status in unread.items()
        )
        raise HookError(f"{what} did not read {said}")
    return series


def _high_resolution_evidence(settings: Settings, created: float, periods: list[Minute], budget: float) -> Evidence:
    """The error tests over the application's settled 10 s counts, the old version's before the
    deployment as their history (no probes: those are in the standard evidence)."""
    history, released = _history_and_settled(periods, created, RELEASE_PERIOD_SECONDS, RELEASE_SETTLE_SECONDS)
    evidence = Evidence(settings.ceiling_percent, budget, history, period_seconds=RELEASE_PERIOD_SECONDS)
    for period in released:
        evidence.add_minute(period)
    return evidence


def _history_and_settled(
    periods: list[Minute], created: float, seconds: int, settle_seconds: float
) -> tuple[list[Minute], list[Minute]]:
    """The periods before the deployment's (the old version's history), and the deployment's that
    have settled."""
    began = _period(created, seconds)
    history = [period for period in periods if period.start < began]
    released = [period for period in periods if period.start >= began]
    return history, settled(released, epoch_now(), seconds, settle_seconds)


def _log_messages(messages: list[dict], fields: Mapping[str, Any], query: str | None = None) -> None:
    """What CloudWatch said about a GetMetricData answer (a page's or one query's): a reason it
    could not read, or a limit it met."""
    for message in messages:
        log(
            logging.WARNING,
            "GetMetricData said",
            **fields,
            query=query,
            code=message.get("Code"),
            said=message.get("Value"),
        )


def _minute(epoch: float) -> int:
    return _period(epoch, PERIOD_SECONDS)


def _period(epoch: float, seconds: int) -> int:
    return int(epoch // seconds * seconds)


# --- acting on a verdict


@dataclass(frozen=True)
class Verdict:
    """A rollback decided: what is recorded and announced."""

    deployment_id: str
    group: str | None
    explanation: str
    findings: list[dict]


def stop_deployment(deployment_id: str, until: Deadline) -> bool:
    """StopDeployment with rollback, retried until `until`: True once CodeDeploy took it (or the
    deployment had ended already), False if time ran out first."""
    codedeploy, delay, attempts = one_attempt("codedeploy"), STOP_FIRST_RETRY_SECONDS, 0
    while True:
        attempts += 1
        try:
            codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        except (ClientError, BotoCoreError) as error:
            if aws.error_code(error) in _ALREADY_ENDED:
                return _ended_without_us(deployment_id, until)
            if until.remaining() < delay + 1:
                log(
                    logging.ERROR,
                    "the deployment could not be stopped: the post-traffic hook still refuses to record it",
                    deployment_id=deployment_id,
                    attempts=attempts,
                    error=str(error),
                )
                return False
            log(logging.WARNING, "StopDeployment failed; retrying", deployment_id=deployment_id, error=str(error))
            timing.clock.sleep(delay)
            delay = min(delay * 2, STOP_MAX_RETRY_SECONDS)
            continue
        log(logging.INFO, "deployment stopped with rollback", deployment_id=deployment_id, attempts=attempts)
        return True


def _ended_without_us(deployment_id: str, until: Deadline) -> bool:
    """The deployment ended before the stop: True if it was stopped or failed (traffic went back
    or never moved), False if it succeeded, when the bad version is live and only a person can
    put the old one back."""
    try:
        status = _deployment(deployment_id, until).get("status")
    except HookError as error:
        status = f"unknown ({error})"
    if status in ("Stopped", "Failed"):
        log(logging.INFO, "the deployment had ended already", deployment_id=deployment_id, status=status)
        return True
    log(
        logging.ERROR,
        "the deployment succeeded before the verdict stopped it: the bad version is live; run ops rollback",
        deployment_id=deployment_id,
        status=status,
    )
    return False


def rollback(verdict: Verdict, place: LogPlace | None, invocation: Deadline, extra: dict | None = None) -> bool:
    """A bad verdict: the deployment is stopped with rollback, the verdict recorded (once, with
    `extra` attributes) and announced on EventBridge for the pipeline's notifier. Returns whether
    the stop landed."""
    log(
        logging.ERROR,
        "canary verdict: ROLLBACK",
        deployment_id=verdict.deployment_id,
        group=verdict.group,
        explanation=verdict.explanation,
    )
    stopped = stop_deployment(verdict.deployment_id, invocation.less(STOP_RESERVE_SECONDS))
    if place:
        _record_verdict(verdict, place, stopped, extra or {})
    detail = {
        "service": place.service if place else None,
        "environment": place.environment if place else None,
        "deploymentGroup": verdict.group,
        "deploymentId": verdict.deployment_id,
        "verdict": ROLLBACK,
        "explanation": verdict.explanation,
        "findings": verdict.findings,
        "stopped": stopped,
    }
    entry = {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps(detail)}
    try:
        answer = aws.client("events").put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise HookError(f"events PutEvents refused the verdict: {answer.get('Entries')}")
    except (ClientError, BotoCoreError, HookError) as error:
        log(logging.ERROR, "the verdict was not announced", deployment_id=verdict.deployment_id, error=str(error))
    return stopped


def _record_verdict(verdict: Verdict, place: LogPlace, stopped: bool, extra: dict[str, dict]) -> None:
    values = {
        "verdict": {"S": ROLLBACK},
        "explanation": {"S": verdict.explanation},
        "findings": {"S": json.dumps(verdict.findings)},
        "verdictAt": {"S": iso(epoch_now())},
        "stopped": {"BOOL": stopped},
        "deploymentId": {"S": verdict.deployment_id},
        "leaseUntil": {"N": "0"},
        **extra,
    }
    names = {f"#a{index}": name for index, name in enumerate(values)}
    try:
        aws.client("dynamodb").update_item(
            TableName=place.table,
            Key=judge_key(place.service, place.environment, verdict.deployment_id),
            UpdateExpression="SET " + ", ".join(f"{alias} = :v{index}" for index, alias in enumerate(names)),
            ConditionExpression="attribute_not_exists(verdict)",  # once: the first verdict stands
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{index}": value for index, value in enumerate(values.values())},
        )
    except (ClientError, BotoCoreError) as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            log(logging.ERROR, "the verdict was not recorded", deployment_id=verdict.deployment_id, error=str(error))


def _misconfigured(error: HookError, named: str | None, invocation: Deadline) -> list[str]:
    """A judge that cannot judge fails closed: every deployment of its group in progress (or the
    one its event names, if GetDeployment says it is of its group) is stopped with rollback, saying
    which setting is wrong. Returns them."""
    explanation = f"the canary judge cannot judge: {error}"
    log(logging.ERROR, "the judge's environment is wrong", reason=str(error))
    found = {name: os.environ.get(name) for name in ("DEPLOYMENT_LOG_TABLE", "SERVICE_NAME", "ENVIRONMENT")}
    place = LogPlace(*found.values()) if all(found.values()) else None
    application, group = os.environ.get("APPLICATION_NAME"), os.environ.get("DEPLOYMENT_GROUP_NAME")
    deployments = [named] if named else []
    if not named and application and group:
        try:
            deployments = _in_progress(application, group, invocation)
        except HookError as failed:
            log(logging.ERROR, "in-progress deployments cannot be listed", reason=str(failed))
    stopped = []
    for deployment_id in deployments:
        try:
            info = _deployment(deployment_id, invocation)
        except HookError as failed:
            log(logging.ERROR, "the deployment cannot be read", deployment_id=deployment_id, reason=str(failed))
            continue
        # Not knowing its own group, the judge cannot tell its deployments from others': its
        # heartbeat alarm, silent since, stops its group's releases instead.
        if not _ours(info, application, group) or info.get("status") in ENDED or _corrective(info):
            continue
        verdict = Verdict(deployment_id, group, explanation, [])
        rollback(verdict, place, invocation)
        stopped.append(deployment_id)
    return stopped
