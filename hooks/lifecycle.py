"""Runs a CodeDeploy lifecycle hook so that exactly one status is reported, whatever happens.

A hook that never calls PutLifecycleEventHookExecutionStatus leaves its deployment hanging for an
hour. So the status starts as Failed, everything that can go wrong (reading the environment,
fetching the deployment, the check itself) runs inside the try, and the report is made in `finally`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from botocore.config import Config

from hooks.revisions import appspec_content

logger = logging.getLogger("rollback-guard.hooks")
# Kept back from the invocation's time for the status report (3 attempts of 2 + 5 s, with backoff).
REPORT_RESERVE_SECONDS = 30
logger.setLevel(logging.INFO)

# At most 3 attempts of 2 + 5 s per call, with the SDK's standard backoff for throttling: the
# hook's timeout (components/traffic_hooks.py) leaves room for these around the longest check.
AWS_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})


@functools.cache
def codedeploy():
    """Created on first use, so importing a hook stays cheap and tests can point it elsewhere."""
    return boto3.client("codedeploy", config=AWS_CLIENT_CONFIG)


class HookError(Exception):
    """The release must not go on: a check failed, or the hook is misconfigured."""


def log(level: int, message: str, **fields: Any) -> None:
    """One JSON object per line, so CloudWatch Logs Insights can filter on any field."""
    logger.log(level, json.dumps({"message": message, **fields}, default=str))


def environment(name: str, parse: Callable[[str], Any] = str) -> Any:
    """A required environment variable, parsed; a HookError naming it if missing or malformed."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        raise HookError(f"environment variable {name} is not set")
    try:
        return parse(raw)
    except (ValueError, TypeError) as error:
        raise HookError(f"environment variable {name} is malformed: {error}") from error


@dataclass(frozen=True)
class LifecycleEvent:
    deployment_id: str
    execution_id: str

    @classmethod
    def from_event(cls, event: Any) -> LifecycleEvent:
        try:
            return cls(event["DeploymentId"], event["LifecycleEventHookExecutionId"])
        except (KeyError, TypeError) as error:
            raise HookError(f"not a CodeDeploy lifecycle event: missing {error}") from error


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

    @classmethod
    def fetch(cls, deployment_id: str) -> DeploymentRelease:
        info = codedeploy().get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        try:
            content = appspec_content(codedeploy(), info)
            resource = next(iter(json.loads(content)["Resources"][0].values()))
            properties, created_at = resource["Properties"], info["createTime"].isoformat()
            if resource.get("Type") == "AWS::ECS::Service":
                revision = properties["TaskDefinition"].rsplit("/", 1)[-1]
                return cls(deployment_id, "ecs", revision, created_at)
            return cls(
                deployment_id,
                "lambda",
                target_version=str(properties["TargetVersion"]),
                created_at=created_at,
                function_name=properties["Name"],
                current_version=str(properties["CurrentVersion"]),
            )
        except (KeyError, IndexError, StopIteration, TypeError, ValueError) as error:
            raise HookError(f"deployment {deployment_id} has no Lambda or ECS AppSpec in JSON: {error!r}") from error


def run_hook(hook: str, event: Any, check: Callable[[str], None], context: Any = None) -> dict:
    """Runs `check(deployment_id)` for the deployment in `event`; reports Succeeded only if it
    returns. With a Lambda `context`, the check gets the invocation's remaining time less
    REPORT_RESERVE_SECONDS: a check still running then counts as failed, so the report is always made
    before Lambda ends the invocation."""
    lifecycle = LifecycleEvent.from_event(event)  # without these ids there is nobody to report to
    status = "Failed"
    try:
        _within(_time_left(context), check, lifecycle.deployment_id)
        status = "Succeeded"
    except HookError as error:
        log(logging.ERROR, "release rejected", hook=hook, deployment_id=lifecycle.deployment_id, reason=str(error))
    except Exception as error:  # a crash must still end in a Failed report, never a hung deployment
        logger.exception("hook crashed")
        log(logging.ERROR, "hook crashed", hook=hook, deployment_id=lifecycle.deployment_id, error=repr(error))
    finally:
        codedeploy().put_lifecycle_event_hook_execution_status(
            deploymentId=lifecycle.deployment_id,
            lifecycleEventHookExecutionId=lifecycle.execution_id,
            status=status,
        )
        log(logging.INFO, "status reported", hook=hook, deployment_id=lifecycle.deployment_id, status=status)
    return {"status": status}


def _time_left(context: Any) -> float | None:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return context.get_remaining_time_in_millis() / 1000 - REPORT_RESERVE_SECONDS


def _within(seconds: float | None, check: Callable[[str], None], deployment_id: str) -> None:
    """Runs the check, giving up on it after `seconds` (None: no limit of our own)."""
    if seconds is None:
        check(deployment_id)
        return
    if seconds <= 0:
        raise HookError("no time left for the check before the report is due")
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(check, deployment_id).result(timeout=seconds)
    except FutureTimeout as error:
        raise HookError(f"the check did not finish within the {seconds:.0f}s left for it") from error
    finally:
        pool.shutdown(wait=False)  # a check still running is abandoned; the invocation ends after the report
