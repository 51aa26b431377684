"""Runs a CodeDeploy lifecycle hook so that exactly one status is reported, whatever happens.

A hook that never calls PutLifecycleEventHookExecutionStatus leaves its deployment hanging for an
hour. So the status starts as Failed; reading the environment, fetching the deployment and the
check all run inside the try; and the report is made in `finally`, retried on anything transient
until the invocation ends, each retry logged with its cause. A report that cannot be delivered
(denied, or still throttled at the deadline) ends the invocation with StatusNotReported: Lambda
counts the error and retries the asynchronous invocation, whose report may land (one that finds
LifecycleEventAlreadyCompleted knows an earlier one did).

Time: the check gets the invocation's remaining time less REPORT_RESERVE_SECONDS and is abandoned
when that runs out (hooks/timing.py). Checks are read-only: what passing leads to (the "passed"
log line, a record in the deployment log) is done here, only for a check that finished in time,
and within the same deadline, so that the report is still made in time.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks import aws, timing
from rollback_guard.hooks.logs import log
from rollback_guard.hooks.revisions import appspec_content, described
from rollback_guard.hooks.timing import Deadline, HookError, run_within

# Kept back from the invocation's time for the status report and its retries.
REPORT_RESERVE_SECONDS = 30
# The report's retries stop this long before Lambda would end the invocation.
REPORT_MARGIN_SECONDS = 0.5
REPORT_FIRST_RETRY_SECONDS = 0.2
REPORT_MAX_RETRY_SECONDS = 5.0
# What passing leads to (one conditional write, at most 2 attempts of 2 + 3 s) starts only with
# this much of the check's time left.
EFFECT_SECONDS = 12
# A check's own timeouts end this long before the runner gives up on it, so a slow endpoint or
# call is named by the check that waited for it.
CUT_MARGIN_SECONDS = 0.5
# One attempt per call: report() retries until the deadline itself, and knows an accepted report
# from a lost answer. A retry starts only if an attempt (2 + 5 s at most) fits before the deadline.
_REPORT_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
REPORT_ATTEMPT_SECONDS = 7
_ALREADY_REPORTED = "LifecycleEventAlreadyCompletedException"


class StatusNotReported(Exception):
    """CodeDeploy could not be told the hook's status. Raised out of the handler, so that Lambda
    counts an error (its Errors metric, an alarm on it) and retries the asynchronous invocation;
    ending quietly would leave the deployment waiting an hour with nothing to show why."""


@functools.cache
def status_reports():
    return aws.new_client("codedeploy", _REPORT_CLIENT_CONFIG)


@dataclass(frozen=True)
class LifecycleEvent:
    deployment_id: str
    execution_id: str

    @classmethod
    def from_event(cls, event: Any) -> LifecycleEvent:
        try:
            ids = cls(event["DeploymentId"], event["LifecycleEventHookExecutionId"])
        except (KeyError, TypeError) as error:
            raise HookError(f"not a CodeDeploy lifecycle event: missing {error}") from error
        if not all(isinstance(value, str) and value for value in (ids.deployment_id, ids.execution_id)):
            raise HookError(f"not a CodeDeploy lifecycle event: ids {ids.deployment_id!r}, {ids.execution_id!r}")
        return ids


@dataclass(frozen=True)
class DeploymentRelease:
    """What a deployment's AppSpec says it moves, and when the deployment was created: a Lambda
    alias from one version to another, or an ECS service to a task definition revision."""

    deployment_id: str
    kind: Literal["lambda", "ecs"]
    target_version: str
    created_at: str
    # Lambda only.
    function_name: str = ""
    current_version: str | None = None
    # A corrective deployment (rollback-guard's): it puts a known-good revision back.
    corrective: bool = False

    @classmethod
    def fetch(cls, deployment_id: str, deadline: Deadline) -> DeploymentRelease:
        codedeploy = aws.client("codedeploy")
        info = aws.call(
            deadline, f"codedeploy GetDeployment {deployment_id}", codedeploy.get_deployment, deploymentId=deployment_id
        )["deploymentInfo"]
        content = aws.call(
            deadline,
            f"codedeploy GetApplicationRevision of {deployment_id}",
            appspec_content,
            codedeploy=codedeploy,
            info=info,
        )
        said = described(info)
        corrective = bool(said and said["action"] == "rollback")
        try:
            resource = next(iter(json.loads(content)["Resources"][0].values()))
            properties, created_at = resource["Properties"], info["createTime"].isoformat()
            if resource.get("Type") == "AWS::ECS::Service":
                revision = properties["TaskDefinition"].rsplit("/", 1)[-1]
                return cls(deployment_id, "ecs", revision, created_at, corrective=corrective)
            return cls(
                deployment_id,
                "lambda",
                target_version=str(properties["TargetVersion"]),
                created_at=created_at,
                function_name=properties["Name"],
                current_version=str(properties["CurrentVersion"]),
                corrective=corrective,
            )
        except (KeyError, IndexError, StopIteration, TypeError, ValueError, AttributeError) as error:
            raise HookError(f"deployment {deployment_id} has no Lambda or ECS AppSpec in JSON: {error!r}") from error


@dataclass(frozen=True)
class Passed:
    """A check's verdict that the release may go on: a log line with its details, and what passing
    leads to (`effect`, returning a word for the log), which the runner does only for a check that
    finished in time. The effect gets the check's deadline: each write it makes starts only while
    that leaves time, and the runner gives up on it there (a HookError, so the hook reports
    Failed); an effect that must not fail the release catches its own errors."""

    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    effect: Callable[[Deadline], str] | None = None


Check = Callable[[str, Deadline], Passed]


def judge(check: Check, release_id: str, deadline: Deadline, fields: dict[str, Any]) -> bool:
    """Runs `check(release_id, deadline)` and the effect of its passing within `deadline`; logs the
    verdict, naming the cause of a rejection. True only if both finished in time."""
    try:
        passed = run_within(deadline, "the check", lambda: check(release_id, deadline.less(CUT_MARGIN_SECONDS)))
        effect = _apply(passed.effect, deadline) if passed.effect else None
    except HookError as error:
        log(logging.ERROR, "release rejected", **fields, reason=str(error))
        return False
    except Exception as error:  # a crash is a failed check, never a hung deployment
        log(logging.ERROR, "release rejected: the hook crashed", **fields, reason=repr(error), exc_info=error)
        return False
    log(logging.INFO, passed.summary, **{**fields, **passed.details, **({"effect": effect} if effect else {})})
    return True


def _apply(effect: Callable[[Deadline], str], deadline: Deadline) -> str:
    if deadline.remaining() < EFFECT_SECONDS:
        raise HookError(
            f"the check passed with {deadline.remaining():.1f}s of its time left; what passing leads to needs "
            f"{EFFECT_SECONDS}s"
        )
    return run_within(deadline, "what passing leads to", lambda: effect(deadline.less(CUT_MARGIN_SECONDS)))


def run_hook(hook: str, event: Any, check: Check, context: Any = None) -> dict:
    """Judges the deployment in `event` with `check` and reports the verdict to CodeDeploy once;
    StatusNotReported when CodeDeploy could not be told."""
    lifecycle = LifecycleEvent.from_event(event)  # without these ids there is nobody to report to
    invocation = Deadline.of_invocation(context)
    fields = {"hook": hook, "deployment_id": lifecycle.deployment_id}
    status = "Failed"
    try:
        if judge(check, lifecycle.deployment_id, invocation.less(REPORT_RESERVE_SECONDS), fields):
            status = "Succeeded"
    finally:
        report(lifecycle, status, invocation, fields)
    return {"status": status}


def report(lifecycle: LifecycleEvent, status: str, invocation: Deadline, fields: dict[str, Any]) -> None:
    """PutLifecycleEventHookExecutionStatus, retried on anything transient until the invocation's
    deadline (REPORT_RESERVE_SECONDS from now without one). LifecycleEventAlreadyCompleted means
    CodeDeploy has a status: after an attempt whose answer was lost, that attempt's. StatusNotReported
    when the status could not be delivered."""
    until = invocation.less(REPORT_MARGIN_SECONDS) if invocation.bounded else Deadline.after(REPORT_RESERVE_SECONDS)
    delay, attempts = REPORT_FIRST_RETRY_SECONDS, 0
    while True:
        attempts += 1
        outcome = {**fields, "status": status, "attempts": attempts}
        try:
            status_reports().put_lifecycle_event_hook_execution_status(
                deploymentId=lifecycle.deployment_id,
                lifecycleEventHookExecutionId=lifecycle.execution_id,
                status=status,
            )
        except (ClientError, BotoCoreError) as error:
            # A connection that failed or timed out has no AWS code: its exception's name says what.
            code = aws.error_code(error) or type(error).__name__
            if code == _ALREADY_REPORTED:
                why = (
                    "an earlier attempt landed, its answer was lost"
                    if attempts > 1
                    else "CodeDeploy has a status for this hook already: another invocation reported, or it ended"
                )
                log(logging.WARNING, "status already reported", **outcome, why=why)
                return
            if not aws.is_transient(error) or until.remaining() < delay + REPORT_ATTEMPT_SECONDS:
                why = "the invocation's deadline came first" if aws.is_transient(error) else "a retry cannot help"
                log(logging.ERROR, "status not reported", **outcome, why=why, error_code=code, error=str(error))
                raise StatusNotReported(
                    f"status {status} of deployment {lifecycle.deployment_id} not reported after {attempts} "
                    f"attempt(s), {why}: {error}"
                ) from error
            log(
                logging.WARNING,
                "status report failed; retrying",
                **fields,
                status=status,
                attempt=attempts,
                error_code=code,
                error=str(error),
                retry_in_seconds=delay,
            )
            timing.clock.sleep(delay)
            delay = min(delay * 2, REPORT_MAX_RETRY_SECONDS)
            continue
        log(logging.INFO, "status reported", **outcome)
        return
