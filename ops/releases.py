"""What `status`, `rollback` and `gameday` do against AWS, from a stack's `releasePaths` output.

Known-good versions come from the records of releases: the deployment log for functions (the
post-traffic hook writes one per successful release), CodeDeploy's history for services.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from hooks.deployment_log import SUCCEEDED, ReleaseRecord, partition_key, put_once
from hooks.revisions import appspec_content
from release import appspec
from release.engine import LambdaTarget, ReleaseFailed, Releaser, ReleaseRequest, iso

IN_FLIGHT = ["Created", "Queued", "InProgress", "Baking", "Ready"]
# Set on the version a drill publishes: the sample function fails on purpose (functions/greeter).
DRILL_FAULT = "ROLLBACK_GUARD_DRILL_FAULT"


@dataclass(frozen=True)
class ReleasePath:
    service: str
    kind: str
    strategy: str
    alarms: tuple[str, ...]
    application: str | None = None
    deployment_group: str | None = None
    function: str | None = None
    alias: str | None = None
    hooks: dict = field(default_factory=dict)
    cluster: str | None = None
    ecs_service: str | None = None

    @classmethod
    def from_output(cls, raw: dict) -> ReleasePath:
        return cls(
            service=raw["service"],
            kind=raw["kind"],
            strategy=raw["strategy"],
            alarms=tuple(raw.get("alarms") or ()),
            application=raw.get("application"),
            deployment_group=raw.get("deploymentGroup"),
            function=raw.get("function"),
            alias=raw.get("alias"),
            hooks=dict(raw.get("hooks") or {}),
            cluster=raw.get("cluster"),
            ecs_service=raw.get("ecsService"),
        )


def release_paths(outputs: dict[str, Any], service: str | None = None) -> list[ReleasePath]:
    paths = [ReleasePath.from_output(raw) for raw in outputs.get("releasePaths", [])]
    if service is not None:
        paths = [path for path in paths if path.service == service]
        if not paths:
            known = ", ".join(ReleasePath.from_output(raw).service for raw in outputs.get("releasePaths", []))
            raise LookupError(f"no service {service!r} in this stack; services: {known}")
    return paths


@dataclass
class Operations:
    """AWS calls for one stack. Clients come from `session`; `clock` and `sleep` are injectable so
    drills can be tested without waiting."""

    session: boto3.Session
    environment: str
    table: str | None
    on_progress: Callable[[str], None] = print
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def client(self, service: str):
        return self.session.client(service)

    @functools.cached_property
    def releaser(self) -> Releaser:
        """One engine, on this stack's session, for every read and release."""
        return Releaser(session=self.session, on_progress=self.on_progress, sleep=self.sleep)

    # --- status

    def status(self, path: ReleasePath) -> dict:
        report: dict[str, Any] = {"service": path.service, "kind": path.kind, "strategy": path.strategy}
        report["live"] = self.live(path)
        report["inFlight"] = [self._in_flight_summary(i) for i in self._deployments(path, IN_FLIGHT)]
        alarms = (
            self.client("cloudwatch").describe_alarms(AlarmNames=list(path.alarms))["MetricAlarms"]
            if path.alarms
            else []
        )
        report["alarms"] = {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}
        report["lastReleases"] = self.last_releases(path.service)
        return report

    def live(self, path: ReleasePath) -> str | None:
        if path.kind == "lambda":
            return self.releaser.live_version(path.function, path.alias)
        return self.releaser.live_task_definition(path.cluster, path.ecs_service)

    def last_releases(self, service: str, limit: int = 5) -> list[dict]:
        """The newest records first, whatever their status (the sort key groups by status)."""
        if not self.table:
            return []
        paginator = self.client("dynamodb").get_paginator("query")
        items = [
            {key: value["S"] for key, value in item.items() if "S" in value}
            for page in paginator.paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": partition_key(service, self.environment)}},
            )
            for item in page["Items"]
        ]
        return sorted(items, key=lambda item: item.get("deploymentCreatedAt", ""), reverse=True)[:limit]

    # --- rollback

    def rollback(self, path: ReleasePath) -> dict:
        """The fast path: stop an in-flight deployment (CodeDeploy shifts back), or put traffic back
        on the last known-good version. Returns what was done and the version now live."""
        if path.deployment_group is None:
            raise LookupError(
                f"{path.service} is released by ECS ({path.strategy}): ECS rolls back on its own alarms; "
                "use `redeploy` to release an earlier task definition"
            )
        in_flight = self._deployments(path, IN_FLIGHT)
        codedeploy = self.client("codedeploy")
        if in_flight:
            deployment_id = in_flight[0]["deploymentId"]
            codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
            return {"service": path.service, "action": "stopped", "deploymentId": deployment_id, "pin": None}
        live = self.live(path)
        good = self.known_good(path, live)
        if good is None:
            raise LookupError(f"no known-good version of {path.service} other than the live one ({live})")
        if path.kind == "lambda":
            self.client("lambda").update_alias(
                FunctionName=path.function,
                Name=path.alias,
                FunctionVersion=good,
                RoutingConfig={"AdditionalVersionWeights": {}},
            )
            return {
                "service": path.service,
                "action": "alias-flipped",
                "from": live,
                "to": good,
                "pin": ("function.pinnedVersion", good),
            }
        deployment_id = self._shift_back(path, good)
        return {
            "service": path.service,
            "action": "shifted-back",
            "from": live,
            "to": good,
            "deploymentId": deployment_id,
            "pin": ("deployment.pinnedRevision", good),
        }

    def known_good(self, path: ReleasePath, live: str | None) -> str | None:
        if path.kind == "lambda":
            for record in self.last_releases(path.service, limit=50):
                if record.get("status") == SUCCEEDED and record.get("version") != live:
                    return record["version"]
            return None
        for info in sorted(self._deployments(path, ["Succeeded"]), key=lambda i: i["createTime"], reverse=True):
            target = appspec.target_of(appspec_content(self.client("codedeploy"), info) or "")
            if target and target != live:
                return target
        return None

    def _shift_back(self, path: ReleasePath, revision: str) -> str:
        account = self.client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:ecs:{self.session.region_name}:{account}:task-definition/{revision}"
        container = self.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
        first = container["containerDefinitions"][0]
        spec = appspec.ecs_appspec(arn, first["name"], first["portMappings"][0]["containerPort"], {})
        return self.client("codedeploy").create_deployment(
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
            revision=appspec.revision(spec),
            # The fast path: straight back, no canary for the version that was live before.
            deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
            description=f"rollback-guard rollback: back to {revision}",
        )["deploymentId"]

    # --- game day

    def gameday(self, path: ReleasePath, sla_seconds: float) -> Drill:
        """Releases a deliberately broken version of a function to this stack and measures how long
        the automatic rollback takes. Restores the function's configuration afterwards."""
        if path.kind != "lambda":
            raise LookupError(f"drills break a Lambda function; {path.service} is {path.kind}")
        functions = self.client("lambda")
        live = self.live(path)
        configuration = functions.get_function_configuration(FunctionName=path.function)
        variables = dict((configuration.get("Environment") or {}).get("Variables") or {})
        functions.update_function_configuration(
            FunctionName=path.function, Environment={"Variables": {**variables, DRILL_FAULT: "1"}}
        )
        try:
            broken = functions.publish_version(
                FunctionName=path.function, Description="rollback-guard drill: fails on purpose"
            )["Version"]
        finally:
            functions.update_function_configuration(FunctionName=path.function, Environment={"Variables": variables})
        self.on_progress(f"drill: published broken version {broken} of {path.function}; live is {live}")

        started = self.clock()
        request = ReleaseRequest(
            application=path.application,
            deployment_group=path.deployment_group,
            target=LambdaTarget(path.function, path.alias, broken, path.hooks),
            retry_revision=broken,
            alarm_names=path.alarms,
        )
        rolled_back, outcome, caught_by = True, "", None
        try:
            self.releaser.release(request)
            rolled_back, outcome = False, "the broken version was released: automatic rollback did not happen"
        except ReleaseFailed as failure:
            outcome = str(failure)
            # The pre-traffic hook usually stops a version this broken before users see it; an alarm
            # is what catches a version that fails only under real traffic.
            if failure.error_code == "ALARM_ACTIVE":
                caught_by = "alarm"
            elif failure.failed_hooks:
                caught_by = f"hook {', '.join(failure.failed_hooks)}"
            else:
                caught_by = "deployment failure"
        restored = self.clock()
        alarm_at = self._first_alarm_after(path.alarms, started)
        drill = Drill(
            service=path.service,
            environment=self.environment,
            broken_version=broken,
            live_version=live,
            rolled_back=rolled_back and self.live(path) == live,
            started_at=_iso(started),
            alarm_at=_iso(alarm_at) if alarm_at else None,
            restored_at=_iso(restored),
            time_to_detect_seconds=round(alarm_at - started, 1) if alarm_at else None,
            time_to_recover_seconds=round(restored - started, 1),
            sla_seconds=sla_seconds,
            caught_by=caught_by,
            outcome=outcome,
        )
        self._record(drill)
        return drill

    def _first_alarm_after(self, alarms: tuple[str, ...], started: float) -> float | None:
        """When the first alarm still in ALARM entered it, if that was during the drill. Right after
        a rollback the alarm that caused it has not yet seen enough good periods to return to OK."""
        if not alarms:
            return None
        found = self.client("cloudwatch").describe_alarms(AlarmNames=list(alarms))["MetricAlarms"]
        moments = [
            alarm["StateUpdatedTimestamp"].timestamp()
            for alarm in found
            if alarm["StateValue"] == "ALARM" and alarm["StateUpdatedTimestamp"].timestamp() >= started
        ]
        return min(moments, default=None)

    def _record(self, drill: Drill) -> None:
        if not self.table:
            return
        record = ReleaseRecord(
            service=drill.service,
            environment=drill.environment,
            deployment_id=f"drill-{drill.started_at}",
            previous_version=drill.live_version or "",
            version=drill.broken_version,
            status="DRILL",
            deployment_created_at=drill.started_at,
            strategy="lambda-canary",
        )
        put_once(self.client("dynamodb"), self.table, record)

    # --- helpers

    def _deployments(self, path: ReleasePath, statuses: list[str]) -> list[dict]:
        if path.deployment_group is None:
            return []
        codedeploy = self.client("codedeploy")
        ids = codedeploy.list_deployments(
            applicationName=path.application, deploymentGroupName=path.deployment_group, includeOnlyStatuses=statuses
        )["deployments"]
        return codedeploy.batch_get_deployments(deploymentIds=ids[:25])["deploymentsInfo"] if ids else []

    def _in_flight_summary(self, info: dict) -> dict:
        """An in-flight deployment and where its traffic is: percent on each side."""
        deployment_id = info["deploymentId"]
        targets = self.releaser.deployment_targets(deployment_id)
        split = {}
        for target in targets:
            function = (target.get("lambdaTarget") or {}).get("lambdaFunctionInfo") or {}
            if function.get("targetVersionWeight") is not None:
                split[f"version {function.get('targetVersion')}"] = round(function["targetVersionWeight"] * 100, 1)
            for task_set in (target.get("ecsTarget") or {}).get("taskSetsInfo", []):
                split[task_set.get("taskSetLabel", "?").lower()] = task_set.get("trafficWeight")
        return {
            "deploymentId": deployment_id,
            "status": info["status"],
            "createdAt": iso(info["createTime"]),
            "traffic": split,
        }


@dataclass(frozen=True)
class Drill:
    service: str
    environment: str
    broken_version: str
    live_version: str | None
    rolled_back: bool
    started_at: str
    alarm_at: str | None
    restored_at: str
    time_to_detect_seconds: float | None
    time_to_recover_seconds: float
    sla_seconds: float
    # What stopped the broken version: the pre-traffic "hook", an "alarm", or another failure.
    caught_by: str | None
    outcome: str

    @property
    def passed(self) -> bool:
        return self.rolled_back and self.time_to_recover_seconds <= self.sla_seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
