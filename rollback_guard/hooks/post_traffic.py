"""AfterAllowTraffic: keep watching the rollback alarms after the last traffic shift, then record
the release in the deployment log, then report. For a Lambda alias or an ECS service alike: the
AppSpec says which.

Lambda: CodeDeploy stops watching alarms at the last shift, so this hook watches them for
WATCH_SECONDS more and fails if one fires (hooks/alarm_watch.py); its failure rolls back. ECS
blue/green: WATCH_SECONDS is 0, because CodeDeploy keeps watching during blue's termination wait.
A corrective deployment (a known-good revision put back while the alarms still hold the bad one's
errors) is not watched, and is recorded as a rollback. The record is written only for a release
that passed its watch in time, never by a check that was cut off, and within the check's deadline:
a write that runs out of time fails the hook (the record is not informational, see _record).

The canary judge (hooks/judge.py) must agree, fail closed: at every poll of the watch and before
the record, its item for the deployment is read; a ROLLBACK verdict fails the hook with the
judge's explanation, and so does no item or a last look older than JUDGE_STALE_SECONDS (a release
nobody judges does not go through). Corrective deployments are not judged.

Environment: DEPLOYMENT_LOG_TABLE, SERVICE_NAME, ENVIRONMENT, ROLLBACK_ALARMS (JSON list of alarm
names), WATCH_SECONDS, JUDGE_REQUIRED ("true" or "false"; unset means "true").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from dataclasses import dataclass

from botocore.config import Config

from rollback_guard.hooks import aws, timing
from rollback_guard.hooks.alarm_watch import MAX_ALARMS, AlarmWatch
from rollback_guard.hooks.deployment_log import (
    ROLLBACK,
    SUCCEEDED,
    ReleaseRecord,
    epoch_now,
    is_recorded,
    iso,
    last_good_version,
    put_once,
    read_judge,
)
from rollback_guard.hooks.environment import environment, json_list, matching, seconds
from rollback_guard.hooks.lifecycle import EFFECT_SECONDS, REPORT_RESERVE_SECONDS, DeploymentRelease, Passed, run_hook
from rollback_guard.hooks.logs import log
from rollback_guard.hooks.timing import Deadline, HookError

# Lambda ends an invocation after 15 minutes: the watch, the reads around it, what passing leads to
# and the report must fit (components/traffic_hooks.py sets the hook's timeout from the watch).
MAX_WATCH_SECONDS = 720
# Reading the deployment, its status after the watch and the previous release, around the watch.
READS_SECONDS = 60
ENDED = {"Succeeded", "Failed", "Stopped"}
# The judge looks every 10 s (hooks/judge.py LOOK_SECONDS): twelve missed looks mean nobody is judging.
JUDGE_STALE_SECONDS = 120
# The record is written in at most WRITE_ATTEMPTS attempts of 2 + 3 s, within EFFECT_SECONDS
# (hooks/lifecycle.py). One attempt per call, retried by _record: an SDK retry could start after
# the deadline, on a thread the runner has given up on, and record a release reported Failed.
_WRITE_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})
WRITE_ATTEMPTS = 2
# A retry waits this long (as the SDK's backoff would), then starts only if a whole attempt
# (2 + 3 s) fits before the deadline, for the same reason.
WRITE_RETRY_SECONDS = 0.5
WRITE_ATTEMPT_SECONDS = 5


@functools.cache
def dynamodb():
    """The deployment log's writer (reads go through aws.client, with the SDK's retries)."""
    return aws.new_client("dynamodb", _WRITE_CONFIG)


def handler(event, context=None) -> dict:
    return run_hook("AfterAllowTraffic", event, watch_then_record, context)


def watch_then_record(deployment_id: str, deadline: Deadline) -> Passed:
    table = environment("DEPLOYMENT_LOG_TABLE", matching(r"[\w.-]{3,255}", "a DynamoDB table name"))
    service, stage = environment("SERVICE_NAME"), environment("ENVIRONMENT")
    alarms = environment("ROLLBACK_ALARMS", json_list(_alarm_name))
    if len(alarms) > MAX_ALARMS:
        raise HookError(f"environment variable ROLLBACK_ALARMS names {len(alarms)} alarms: at most {MAX_ALARMS}")
    watch = AlarmWatch(tuple(alarms), environment("WATCH_SECONDS", seconds(MAX_WATCH_SECONDS, zero_allowed=True)))
    judged = _judge_required()
    needed = watch.seconds + READS_SECONDS + EFFECT_SECONDS
    if deadline.remaining() < needed:
        raise HookError(
            f"WATCH_SECONDS = {watch.seconds:g} does not fit: this invocation leaves {deadline.remaining():.0f}s "
            f"before the report is due and needs {needed:g}s; the hook's timeout must be at least "
            f"{needed + REPORT_RESERVE_SECONDS:g}s"
        )

    release = DeploymentRelease.fetch(deployment_id, deadline)
    # Corrective deployments are neither watched nor judged.
    judge = JudgeCheck(table, service, stage, deployment_id, release.created_at) if judged else None
    polls = 0 if release.corrective else dataclasses.replace(watch, also=judge).run(deadline)
    if judge and not release.corrective:  # before the status: the verdict explains a stopped deployment
        judge(deadline)
    _still_running(deployment_id, deadline)
    # An ECS AppSpec names only the new task definition: the previous one is the last recorded.
    previous = release.current_version or aws.call(
        deadline,
        f"dynamodb Query {table} for the last release of {service}",
        last_good_version,
        client=aws.client("dynamodb"),
        table=table,
        service=service,
        environment=stage,
    )
    record = ReleaseRecord(
        service=service,
        environment=stage,
        deployment_id=release.deployment_id,
        previous_version=previous or "",
        version=release.target_version,
        status=SUCCEEDED,
        deployment_created_at=release.created_at,
        strategy="lambda-canary" if release.kind == "lambda" else "codedeploy-blue-green",
        action="rollback" if release.corrective else "release",
    )
    watched = 0 if release.corrective else watch.seconds
    return Passed(
        "rollback recorded" if release.corrective else "release recorded",
        {"version": release.target_version, "watched_seconds": watched, "alarm_polls": polls},
        effect=functools.partial(_record, table, record),
    )


def _judge_required() -> bool:
    """JUDGE_REQUIRED: only an explicit "false" releases without the canary judge's say."""
    raw = os.environ.get("JUDGE_REQUIRED") or "true"
    if raw not in ("true", "false"):
        raise HookError(f'environment variable JUDGE_REQUIRED = {raw!r}: "true" or "false"')
    return raw == "true"


def _alarm_name(raw: object) -> str:
    if not (isinstance(raw, str) and 0 < len(raw) <= 255):
        raise ValueError(f"{raw!r}: an alarm name of 1 to 255 characters")
    return raw


@dataclass(frozen=True)
class JudgeCheck:
    """The canary judge's say on a deployment, read from its item in the deployment log."""

    table: str
    service: str
    environment: str
    deployment_id: str
    created_at: str

    def __call__(self, deadline: Deadline) -> None:
        """A HookError unless the judge looked lately and did not call for a rollback. A transient
        read failure is an AwsCallFailed, which the alarm watch retries."""
        try:
            record = aws.call(
                deadline,
                f"dynamodb GetItem {self.table} for the canary judge of {self.deployment_id}",
                read_judge,
                client=aws.client("dynamodb"),
                table=self.table,
                service=self.service,
                environment=self.environment,
                deployment_id=self.deployment_id,
            )
        except aws.AwsCallFailed as error:
            if error.transient:
                raise
            raise HookError(f"the canary judge's verdict cannot be read: {error}") from error
        if record and record.verdict == ROLLBACK:
            raise HookError(
                f"the canary judge's verdict on deployment {self.deployment_id} is ROLLBACK: {record.explanation}"
            )
        if record is None or record.last_look_at is None:
            since = f"it was created ({self.created_at})"
        elif epoch_now() - record.last_look_at > JUDGE_STALE_SECONDS:
            since = f"{iso(record.last_look_at)}, {epoch_now() - record.last_look_at:.0f} s ago"
        else:
            return
        raise HookError(
            f"the canary judge has not looked at deployment {self.deployment_id} since {since}: a release nobody "
            "judges does not go through"
        )


def _still_running(deployment_id: str, deadline: Deadline) -> None:
    """A deployment stopped during the watch (`ops rollback`, a stop with rollback) has put traffic
    back: its alarms then see no traffic, and a record would call the stopped version good."""
    codedeploy = aws.client("codedeploy")
    info = aws.call(
        deadline, f"codedeploy GetDeployment {deployment_id}", codedeploy.get_deployment, deploymentId=deployment_id
    )["deploymentInfo"]
    if info.get("status") in ENDED:
        raise HookError(f"deployment {deployment_id} is {info['status']}: it ended during the watch, nothing recorded")


def _record(table: str, record: ReleaseRecord, deadline: Deadline) -> str:
    """Writes the release record within `deadline`. Fail closed: the record is where `ops rollback`
    and the next ECS release find the last known-good revision, so a release that cannot be
    recorded in time (the write failed, or the runner gave up on it) does not go through."""
    what = f"dynamodb PutItem {table} for deployment {record.deployment_id}"
    attempt = 1
    while True:
        try:
            written = aws.call(deadline, what, put_once, client=dynamodb(), table=table, record=record)
        except aws.AwsCallFailed as error:
            if not error.transient:
                raise
            if attempt < WRITE_ATTEMPTS and deadline.remaining() >= WRITE_RETRY_SECONDS + WRITE_ATTEMPT_SECONDS:
                log(
                    logging.WARNING,
                    "deployment log write failed; retrying",
                    table=table,
                    deployment_id=record.deployment_id,
                    attempt=attempt,
                    error=str(error),
                )
                timing.clock.sleep(WRITE_RETRY_SECONDS)
                attempt += 1
                continue
            # Every attempt's answer may have been lost after the write landed: a consistent read says.
            if _recorded_after_all(table, record, deadline):
                return "written (the answer to the write was lost)"
            raise
        return "written" if written else "already written by an earlier attempt"


def _recorded_after_all(table: str, record: ReleaseRecord, deadline: Deadline) -> bool:
    try:
        return aws.call(
            deadline,
            f"dynamodb GetItem {table} for the record of deployment {record.deployment_id}",
            is_recorded,
            client=aws.client("dynamodb"),
            table=table,
            record=record,
        )
    except HookError:  # unreadable, or no time left to read: the write's own failure is the cause
        return False
