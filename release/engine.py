"""Create a CodeDeploy deployment when the wanted revision is not the live one, follow it to its
end, and say what happened in words a person can act on.

The live revision is always read from AWS (the alias's version, the service's primary task set),
never remembered, so an unchanged request after a successful release does nothing, and a request
for a revision that CodeDeploy rolled back is refused until someone asks for a retry explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from hooks.revisions import appspec_content
from release import appspec

TERMINAL = {"Succeeded", "Failed", "Stopped"}
THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
# How far back a rolled-back revision is remembered.
ROLLBACK_MEMORY = timedelta(days=30)
# The SDK retries a throttled call a little; the polling loop backs off beyond that.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 2})


@dataclass(frozen=True)
class LambdaTarget:
    function_name: str
    alias: str
    version: str
    hooks: dict[str, str]

    @property
    def revision(self) -> str:
        return str(self.version)

    def describe(self, revision: str | None = None) -> str:
        return f"{self.function_name} version {revision or self.revision}"


@dataclass(frozen=True)
class EcsTarget:
    cluster: str
    service: str
    task_definition_arn: str
    container_name: str
    container_port: int
    hooks: dict[str, str]

    @property
    def revision(self) -> str:
        return appspec.task_definition_revision(self.task_definition_arn)

    def describe(self, revision: str | None = None) -> str:
        return f"service {self.service} on task definition {revision or self.revision}"


@dataclass(frozen=True)
class ReleaseRequest:
    application: str
    deployment_group: str
    target: LambdaTarget | EcsTarget
    # A revision CodeDeploy rolled back is released again only if named here.
    retry_revision: str | None = None
    # The configuration key a person sets to retry, named in the refusal message.
    retry_setting: str = "retryRevision"
    timeout_minutes: int = 120
    # The deployment group's rollback alarms, to name the one that fired.
    alarm_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    live_revision: str
    deployment_id: str | None  # None when the wanted revision was already live


class ReleaseFailed(Exception):
    """The release did not happen; the message says why and what to do. `error_code` is
    CodeDeploy's (ALARM_ACTIVE when an alarm stopped it) and `failed_hooks` the lifecycle events
    that failed, when a deployment ran."""

    def __init__(self, message: str, error_code: str | None = None, failed_hooks: tuple[str, ...] = ()):
        super().__init__(message)
        self.error_code = error_code
        self.failed_hooks = failed_hooks


@dataclass(frozen=True)
class Backoff:
    first_seconds: float = 5.0
    max_seconds: float = 30.0


class Releaser:
    def __init__(
        self,
        region: str | None = None,
        on_progress: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff = Backoff(),
        session: boto3.Session | None = None,
    ):
        session = session or boto3.Session(region_name=region)
        self._codedeploy = session.client("codedeploy", config=CLIENT_CONFIG)
        self._session = session
        self._progress = on_progress
        self._sleep = sleep
        self._backoff = backoff
        self._targets_by_sha256: dict[str | None, str | None] = {}

    # --- reading what is live

    def live_revision(self, target: LambdaTarget | EcsTarget) -> str | None:
        if isinstance(target, LambdaTarget):
            return self.live_version(target.function_name, target.alias)
        return self.live_task_definition(target.cluster, target.service)

    def live_version(self, function_name: str, alias: str) -> str | None:
        """The version the alias points at."""
        client = self._session.client("lambda", config=CLIENT_CONFIG)
        try:
            return client.get_alias(FunctionName=function_name, Name=alias)["FunctionVersion"]
        except client.exceptions.ResourceNotFoundException:
            return None

    def live_task_definition(self, cluster: str, service: str) -> str | None:
        """The primary task set's task definition (family:revision); under the ECS controller, the
        service's own."""
        client = self._session.client("ecs", config=CLIENT_CONFIG)
        try:
            services = client.describe_services(cluster=cluster, services=[service])["services"]
        except client.exceptions.ClusterNotFoundException:
            return None
        if not services:
            return None
        found = services[0]
        primary = [task_set for task_set in found.get("taskSets", []) if task_set.get("status") == "PRIMARY"]
        arn = primary[0]["taskDefinition"] if primary else found.get("taskDefinition")
        return appspec.task_definition_revision(arn) if arn else None

    # --- releasing

    def release(self, request: ReleaseRequest) -> Outcome:
        target = request.target
        live = self.live_revision(target)
        if live == target.revision:
            self._progress(f"{target.describe()} is already live: nothing to release")
            return Outcome(live_revision=live, deployment_id=None)
        if live is None:
            raise ReleaseFailed(f"cannot release {target.describe()}: there is no live revision to shift from")
        self._refuse_rolled_back(request, live)

        deployment_id = self._create_deployment(request, live)
        self._progress(f"deployment {deployment_id}: releasing {target.describe()} (live: {live})")
        info = self._follow(deployment_id, request.timeout_minutes)
        if info["status"] == "Succeeded":
            self._progress(f"deployment {deployment_id} succeeded: {target.describe()} is live")
            return Outcome(live_revision=target.revision, deployment_id=deployment_id)
        raise ReleaseFailed(
            self.explain(request, info, live),
            error_code=(info.get("errorInformation") or {}).get("code"),
            failed_hooks=tuple(
                event["lifecycleEventName"]
                for target in self.deployment_targets(deployment_id)
                for event in (target.get("lambdaTarget") or target.get("ecsTarget") or {}).get("lifecycleEvents", [])
                if event.get("status") == "Failed"
            ),
        )

    def _create_deployment(self, request: ReleaseRequest, live: str) -> str:
        target = request.target
        if isinstance(target, LambdaTarget):
            spec = appspec.lambda_appspec(target.function_name, target.alias, live, target.version, target.hooks)
        else:
            spec = appspec.ecs_appspec(
                target.task_definition_arn, target.container_name, target.container_port, target.hooks
            )
        try:
            return self._codedeploy.create_deployment(
                applicationName=request.application,
                deploymentGroupName=request.deployment_group,
                revision=appspec.revision(spec),
                description=f"rollback-guard: {target.describe()} (from {live})",
            )["deploymentId"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "DeploymentLimitExceededException":
                raise ReleaseFailed(
                    f"cannot release {target.describe()}: another deployment of {request.deployment_group} is "
                    f"still in progress ({error.response['Error']['Message']}); wait for it or stop it, then retry"
                ) from error
            raise

    def _follow(self, deployment_id: str, timeout_minutes: int) -> dict:
        """Polls until the deployment ends (blue's termination wait included), with backoff that
        resets whenever something changes."""
        deadline = time.monotonic() + timeout_minutes * 60
        delay, seen = self._backoff.first_seconds, set()
        while True:
            try:
                info = self._codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            except ClientError as error:
                if error.response["Error"]["Code"] not in THROTTLING:
                    raise
                info = None
            if info is not None:
                if info["status"] in TERMINAL:
                    return info
                news = [line for line in self._progress_lines(deployment_id, info) if line not in seen]
                for line in news:
                    self._progress(line)
                seen.update(news)
                delay = self._backoff.first_seconds if news else min(delay * 2, self._backoff.max_seconds)
            else:
                delay = min(delay * 2, self._backoff.max_seconds)
            if time.monotonic() + delay > deadline:
                raise ReleaseFailed(
                    f"deployment {deployment_id} has not finished after {timeout_minutes} minutes; it goes on in "
                    "CodeDeploy, which still rolls it back on alarm. Follow it with "
                    f"`aws deploy get-deployment --deployment-id {deployment_id}`"
                )
            self._sleep(delay)

    def _progress_lines(self, deployment_id: str, info: dict) -> list[str]:
        lines = [f"deployment {deployment_id}: {info['status']}"]
        if info["status"] == "Ready":
            lines.append(f"deployment {deployment_id}: green is ready and waits for someone to continue it")
        if info.get("instanceTerminationWaitTimeStarted"):
            lines.append(f"deployment {deployment_id}: all traffic shifted; keeping blue while the alarms watch")
        for target in self.deployment_targets(deployment_id):
            lines += _target_lines(deployment_id, target)
        return lines

    def deployment_targets(self, deployment_id: str) -> list[dict]:
        """Where a deployment is, per target: traffic weights and lifecycle events."""
        try:
            ids = self._codedeploy.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
            if not ids:
                return []
            return self._codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)[
                "deploymentTargets"
            ]
        except ClientError as error:
            if error.response["Error"]["Code"] in THROTTLING:
                return []
            raise

    # --- explaining

    def explain(self, request: ReleaseRequest, info: dict, live: str) -> str:
        target = request.target
        deployment_id = info["deploymentId"]
        lines = [f"release of {target.describe()} failed: deployment {deployment_id} {info['status']}"]
        error = info.get("errorInformation") or {}
        if error:
            lines.append(f"  CodeDeploy says: {error.get('code', 'error')}: {error.get('message', '')}".rstrip())
        lines += [f"  alarm {name} fired: {reason}" for name, reason in self._alarms_in_alarm(request)]
        for deployment_target in self.deployment_targets(deployment_id):
            lines += _failed_hook_lines(deployment_target, target.hooks)
        rollback = info.get("rollbackInfo") or {}
        if rollback.get("rollbackDeploymentId"):
            lines.append(
                f"  traffic stays on {target.describe(live)}: CodeDeploy rolled back "
                f"(deployment {rollback['rollbackDeploymentId']})"
            )
        elif rollback.get("rollbackMessage"):
            lines.append(f"  rollback: {rollback['rollbackMessage']}")
        else:
            lines.append(f"  traffic was not shifted back automatically: check {target.describe(live)} is live")
        lines.append(f"  details: aws deploy get-deployment --deployment-id {deployment_id}")
        return "\n".join(lines)

    def _alarms_in_alarm(self, request: ReleaseRequest) -> list[tuple[str, str]]:
        if not request.alarm_names:
            return []
        cloudwatch = self._session.client("cloudwatch", config=CLIENT_CONFIG)
        alarms = cloudwatch.describe_alarms(AlarmNames=list(request.alarm_names))["MetricAlarms"]
        return [
            (alarm["AlarmName"], alarm.get("StateReason", "")) for alarm in alarms if alarm["StateValue"] == "ALARM"
        ]

    # --- refusing to repeat an incident

    def _refuse_rolled_back(self, request: ReleaseRequest, live: str) -> None:
        wanted = request.target.revision
        if request.retry_revision == wanted:
            self._progress(f"retrying {request.target.describe()} deliberately ({request.retry_setting} = {wanted})")
            return
        attempts = [info for info in self._recent_deployments(request) if self._target_of(info) == wanted]
        if not attempts:
            return
        latest = max(attempts, key=lambda info: info["createTime"])
        if latest["status"] == "Succeeded":
            return
        error = latest.get("errorInformation") or {}
        why = error.get("message") or error.get("code") or latest["status"]
        raise ReleaseFailed(
            "\n".join(
                [
                    f"refusing to release {request.target.describe()} again: it was rolled back at "
                    f"{_when(latest)} (deployment {latest['deploymentId']} {latest['status']}: {why})",
                    "  ways forward:",
                    f"  - go back to what is live ({request.target.describe(live)}) or on to a fixed revision, "
                    "and run up again",
                    "  - or retry this exact revision deliberately: "
                    f"pulumi config set --path {request.retry_setting} {wanted}",
                ]
            )
        )

    def _target_of(self, info: dict) -> str | None:
        sha256 = ((info.get("revision") or {}).get("appSpecContent") or {}).get("sha256")
        if sha256 not in self._targets_by_sha256:
            self._targets_by_sha256[sha256] = appspec.target_of(appspec_content(self._codedeploy, info) or "")
        return self._targets_by_sha256[sha256]

    def _recent_deployments(self, request: ReleaseRequest) -> Iterable[dict]:
        since = datetime.now(UTC) - ROLLBACK_MEMORY
        ids: list[str] = []
        paginator = self._codedeploy.get_paginator("list_deployments")
        for page in paginator.paginate(
            applicationName=request.application,
            deploymentGroupName=request.deployment_group,
            includeOnlyStatuses=["Succeeded", "Failed", "Stopped"],
            createTimeRange={"start": since},
        ):
            ids += page["deployments"]
        for start in range(0, len(ids), 25):
            yield from self._codedeploy.batch_get_deployments(deploymentIds=ids[start : start + 25])["deploymentsInfo"]


def _when(info: dict) -> str:
    return iso(info.get("completeTime") or info["createTime"])


def iso(moment: Any) -> str:
    """A time CodeDeploy returned, as ISO 8601 to the second."""
    return moment.isoformat(timespec="seconds") if isinstance(moment, datetime) else str(moment)


def _target_lines(deployment_id: str, target: dict) -> list[str]:
    detail = target.get("lambdaTarget") or target.get("ecsTarget") or {}
    lines = []
    function = detail.get("lambdaFunctionInfo")
    if function and function.get("targetVersionWeight") is not None:
        share = round(function["targetVersionWeight"] * 100)
        lines.append(f"deployment {deployment_id}: {share}% of traffic on version {function.get('targetVersion')}")
    for task_set in detail.get("taskSetsInfo", []):
        if task_set.get("taskSetLabel") == "Green" and task_set.get("trafficWeight") is not None:
            lines.append(f"deployment {deployment_id}: {task_set['trafficWeight']:g}% of traffic on green")
    for event in detail.get("lifecycleEvents", []):
        if event.get("status") not in (None, "Pending"):
            lines.append(f"deployment {deployment_id}: {event['lifecycleEventName']} {event['status']}")
    return lines


def _failed_hook_lines(target: dict, hooks: dict[str, str]) -> list[str]:
    detail = target.get("lambdaTarget") or target.get("ecsTarget") or {}
    lines = []
    for event in detail.get("lifecycleEvents", []):
        if event.get("status") != "Failed":
            continue
        name = event["lifecycleEventName"]
        diagnostics = event.get("diagnostics") or {}
        message = diagnostics.get("message") or diagnostics.get("errorCode") or "no diagnostics"
        where = f" (logs: /aws/lambda/{hooks[name]})" if name in hooks else ""
        lines.append(f"  hook {name} failed: {message}{where}")
    return lines


def parse_target(kind: str, raw: dict) -> LambdaTarget | EcsTarget:
    """A target from plain data (the release resource's inputs)."""
    hooks = dict(raw.get("hooks") or {})
    if kind == "lambda":
        return LambdaTarget(raw["function_name"], raw["alias"], str(raw["version"]), hooks)
    if kind == "ecs":
        return EcsTarget(
            raw["cluster"],
            raw["service"],
            raw["task_definition_arn"],
            raw["container_name"],
            int(raw["container_port"]),
            hooks,
        )
    raise ValueError(f"unknown release kind {kind!r}; allowed: lambda, ecs")
