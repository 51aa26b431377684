"""What `status`, `rollback` and `gameday` do against AWS, from a stack's `releasePaths` output.

What is known good comes from CodeDeploy's history and the deployment log (release/history.py):
a rollback goes back to the revision before the release that made the live one live, passing over
anything rolled back for cause, so a second rollback never flips back to the bad revision. Every
rollback is recorded in the deployment log (who, when, from, to, why), where the next `up` finds it
and refuses to release the rolled-back revision again unasked, pin committed or not.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from ops.stack import BAD_INPUT, FAILED, OpsError
from rollback_guard.hooks.deployment_log import (
    JUDGE,
    ROLLED_BACK,
    ReleaseRecord,
    judge_records,
    partition_key,
    put_once,
)
from rollback_guard.hooks.revisions import describe
from rollback_guard.release import appspec
from rollback_guard.release.engine import ALL_AT_ONCE, LambdaTarget, ReleaseFailed, Releaser, ReleaseRequest, iso
from rollback_guard.release.history import History, LogRef

# Set on the version a drill publishes: the sample function fails on purpose (functions/greeter).
DRILL_FAULT = "ROLLBACK_GUARD_DRILL_FAULT"
# How long a corrective deployment may take to move traffic back (tasks of the known-good revision
# must start first).
SHIFT_BACK_MINUTES = 30


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
    container: str | None = None
    container_port: int | None = None
    # The stack settings that pin its revision and allow a deliberate retry, e.g.
    # {"pin": "rollback-guard:functions.greeter.pinnedVersion", "retry": "...retryRevision"}.
    settings: dict = field(default_factory=dict)

    def setting(self, which: str) -> str:
        """The full config key `ops` writes for `which` ("pin" or "retry")."""
        if which not in self.settings:
            raise OpsError(
                f"the stack's releasePaths output does not say which setting pins {self.service}: run `up` once "
                "with this version of rollback-guard",
                BAD_INPUT,
            )
        return self.settings[which]

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
            container=raw.get("container"),
            container_port=raw.get("containerPort"),
            settings=dict(raw.get("settings") or {}),
        )


def release_paths(outputs: dict[str, Any], service: str | None = None) -> list[ReleasePath]:
    paths = [ReleasePath.from_output(raw) for raw in outputs.get("releasePaths", [])]
    if service is not None:
        paths = [path for path in paths if path.service == service]
        if not paths:
            known = ", ".join(ReleasePath.from_output(raw).service for raw in outputs.get("releasePaths", []))
            raise OpsError(f"no service {service!r} in this stack; services: {known}", BAD_INPUT)
    return paths


@dataclass
class Operations:
    """AWS calls for one stack. Clients come from `session`; `clock` (wall time, for drills),
    `monotonic` (for deadlines) and `sleep` are injectable so tests need not wait."""

    session: boto3.Session
    environment: str
    table: str | None
    on_progress: Callable[[str], None] = print
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def client(self, service: str):
        return self.session.client(service)

    @functools.cached_property
    def releaser(self) -> Releaser:
        """One engine, on this stack's session, for every read and release."""
        return Releaser(session=self.session, on_progress=self.on_progress, sleep=self.sleep, clock=self.monotonic)

    def caller(self) -> str:
        """Who is acting: the ARN of the credentials in use."""
        return self.client("sts").get_caller_identity()["Arn"]

    def history(self, path: ReleasePath) -> History:
        log = LogRef(self.table, path.service, self.environment) if self.table else None
        return self.releaser.history(path.application, path.deployment_group, log)

    # --- status

    def status(self, path: ReleasePath) -> dict:
        report: dict[str, Any] = {"service": path.service, "kind": path.kind, "strategy": path.strategy}
        report["live"] = self.live(path)
        in_flight = self.history(path).in_flight() if path.deployment_group else []
        report["inFlight"] = [self._in_flight_summary(attempt.info) for attempt in in_flight]
        alarms = (
            self.client("cloudwatch").describe_alarms(AlarmNames=list(path.alarms))["MetricAlarms"]
            if path.alarms
            else []
        )
        report["alarms"] = {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}
        report["lastReleases"] = self.last_releases(path.service)
        report["judge"] = self.judge(path.service, [flight["deploymentId"] for flight in report["inFlight"]])
        return report

    def judge(self, service: str, in_flight: list[str]) -> dict | None:
        """What the canary judge says about the in-flight deployment, or else the latest it judged."""
        if not self.table:
            return None
        records = judge_records(self.client("dynamodb"), self.table, service, self.environment)
        chosen = next((r for r in records if r.deployment_id in in_flight), records[0] if records else None)
        return chosen.as_dict() if chosen else None

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
            if not item["sk"]["S"].startswith(f"{JUDGE}#")  # the judge's items are not releases
        ]
        return sorted(items, key=lambda item: item.get("deploymentCreatedAt", ""), reverse=True)[:limit]

    # --- rollback

    def rollback(self, path: ReleasePath, by: str, reason: str | None = None) -> dict:
        """The fast path: stop an in-flight deployment (CodeDeploy shifts back), or put traffic back
        on the known-good revision at once. Records what it did; returns it and the pin to write."""
        if path.deployment_group is None:
            raise OpsError(
                f"{path.service} is released by ECS ({path.strategy}): ECS rolls back on its own alarms; "
                "use `redeploy` to release an earlier task definition",
                BAD_INPUT,
            )
        history = self.history(path)
        reason = reason or self._alarms_reason(path)
        in_flight = history.in_flight()
        rolling_back = [attempt for attempt in in_flight if attempt.action == "rollback"]
        if rolling_back:  # CodeDeploy's own rollback, or a corrective deployment: stopping it would undo it
            return {
                "service": path.service,
                "action": "already-rolling-back",
                "deploymentId": rolling_back[0].deployment_id,
                "pin": None,
            }
        live = self.live(path)
        if in_flight:
            stopped = in_flight[0]
            self.client("codedeploy").stop_deployment(deploymentId=stopped.deployment_id, autoRollbackEnabled=True)
            done = {"action": "stopped", "deploymentId": stopped.deployment_id, "pin": None}
            rolled_back, restored = stopped.target or "", stopped.source or live or ""
        elif path.kind == "lambda" and (weighted := self._weighted_version(path)):
            # A shift stopped half-way (its rollback failed, say): the alias's own version is the
            # one before the release; only the weight on the new one must go.
            self._clear_weights(path)
            done = {"action": "weights-cleared", "pin": (path.setting("pin"), live)}
            rolled_back, restored = weighted, live
        else:
            good = history.known_good(live)
            if good is None:
                raise OpsError(
                    f"no known-good version of {path.service} to go back to from {live}: nothing released before it "
                    "that was not rolled back",
                    BAD_INPUT,
                )
            if path.kind == "lambda":
                self._flip_alias(path, good)
                done = {"action": "alias-flipped", "pin": (path.setting("pin"), good)}
            else:
                done = {"action": "shifted-back", "deploymentId": self._shift_back(path, live, good)}
                done["pin"] = (path.setting("pin"), good)
            rolled_back, restored = live or "", good
        done = {"service": path.service, **done, "from": rolled_back, "to": restored, "by": by, "reason": reason}
        try:
            self._record_rollback(path, history, rolled_back, restored, by, reason)
        except (ClientError, BotoCoreError) as error:
            done["warning"] = (
                f"rolled back, but not recorded in the deployment log ({error}): commit the pin, or the next up "
                f"from git may release {rolled_back} again"
            )
        return done

    def _weighted_version(self, path: ReleasePath) -> str | None:
        alias = self.client("lambda").get_alias(FunctionName=path.function, Name=path.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return next(iter(weights), None)

    def _clear_weights(self, path: ReleasePath) -> None:
        self.client("lambda").update_alias(
            FunctionName=path.function, Name=path.alias, RoutingConfig={"AdditionalVersionWeights": {}}
        )

    def _flip_alias(self, path: ReleasePath, version: str) -> None:
        self.client("lambda").update_alias(
            FunctionName=path.function,
            Name=path.alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )

    def known_good(self, path: ReleasePath, live: str | None) -> str | None:
        return self.history(path).known_good(live)

    def _shift_back(self, path: ReleasePath, live: str | None, revision: str) -> str:
        """A corrective deployment: all at once, with the group's alarms (in ALARM: that is why we
        roll back) and automatic rollback set aside; followed until traffic has moved."""
        if not (path.container and path.container_port):
            raise OpsError(
                f"the stack's releasePaths output has no container for {path.service}: run `up` once with this "
                "version of rollback-guard",
                BAD_INPUT,
            )
        account = self.client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:ecs:{self.session.region_name}:{account}:task-definition/{revision}"
        spec = appspec.ecs_appspec(arn, path.container, int(path.container_port), {})
        deployment_id = self.client("codedeploy").create_deployment(
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
            revision=appspec.revision(spec),
            deploymentConfigName=ALL_AT_ONCE["ecs"],
            overrideAlarmConfiguration={"enabled": False, "alarms": []},
            autoRollbackConfiguration={"enabled": False, "events": []},
            description=describe("rollback", revision, live or "unknown", "ops rollback"),
        )["deploymentId"]
        self.on_progress(f"deployment {deployment_id}: shifting {path.service} back to {revision}, all at once")
        try:
            info = self.releaser.follow(deployment_id, SHIFT_BACK_MINUTES, until_traffic_moved=True)
        except ReleaseFailed as failure:
            raise OpsError(f"the shift back to {revision} has not moved traffic: {failure}", FAILED) from None
        if info["status"] in ("Failed", "Stopped"):
            error = info.get("errorInformation") or {}
            raise OpsError(
                f"the shift back to {revision} failed: deployment {deployment_id} {info['status']}: "
                f"{error.get('message') or error.get('code') or 'no reason given'}; traffic is still on {live}",
                FAILED,
            )
        return deployment_id

    def _alarms_reason(self, path: ReleasePath) -> str:
        firing, unreadable = self.releaser.alarms_in_alarm(path.alarms)
        if firing:
            return "alarms in ALARM: " + ", ".join(name for name, _ in firing)
        return "the operator's call" + (f" (alarms unreadable: {unreadable})" if unreadable else "")

    def _record_rollback(
        self, path: ReleasePath, history: History, rolled_back: str, restored: str, by: str, reason: str
    ) -> None:
        if not self.table:
            return
        # To the microsecond, and never before a deployment it follows, whatever this clock says.
        now = history.now_after_everything().isoformat()
        record = ReleaseRecord(
            service=path.service,
            environment=self.environment,
            deployment_id=f"ops-rollback-{now}",
            previous_version=rolled_back,
            version=restored,
            status=ROLLED_BACK,
            deployment_created_at=now,
            strategy=path.strategy,
            action="rollback",
            by=by,
            reason=reason,
        )
        put_once(self.client("dynamodb"), self.table, record)

    # --- game day

    def gameday(self, path: ReleasePath, sla_seconds: float) -> Drill:
        """Releases a deliberately broken version of a function to this stack and measures how long
        the automatic rollback takes. Restores the function's configuration afterwards."""
        if path.kind != "lambda":
            raise OpsError(f"drills break a Lambda function; {path.service} is {path.kind}", BAD_INPUT)
        live = self.live(path)
        broken = self._publish_broken(path.function)
        self.on_progress(f"drill: published broken version {broken} of {path.function}; live is {live}")

        started = self.clock()
        request = ReleaseRequest(
            application=path.application,
            deployment_group=path.deployment_group,
            target=LambdaTarget(path.function, path.alias, broken, path.hooks),
            retry_revision=broken,
            alarm_names=path.alarms,
        )
        ran, rolled_back, outcome, caught_by = True, True, "", None
        try:
            self.releaser.release(request)
            rolled_back, outcome = False, "the broken version was released: automatic rollback did not happen"
        except ReleaseFailed as failure:
            outcome = str(failure)
            ran = failure.deployment_id is not None
            rolled_back = failure.traffic_back is not False
            # The pre-traffic hook usually stops a version this broken before users see it; an alarm
            # is what catches a version that fails only under real traffic.
            if not ran:
                rolled_back, outcome = False, f"the drill did not run: {outcome}"
            elif failure.error_code == "ALARM_ACTIVE":
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
            ran=ran,
            # Back means all of it: the alias on the old version with no weight left on the broken one.
            rolled_back=rolled_back and self.live(path) == live and self._weighted_version(path) is None,
            started_at=_iso(started),
            alarm_at=_iso(alarm_at) if alarm_at else None,
            restored_at=_iso(restored),
            time_to_detect_seconds=round(alarm_at - started, 1) if alarm_at else None,
            time_to_recover_seconds=round(restored - started, 1),
            sla_seconds=sla_seconds,
            caught_by=caught_by,
            outcome=outcome,
        )
        if ran:
            self._record(drill)
        return drill

    def _publish_broken(self, function: str) -> str:
        """A version of `function` that fails on purpose; $LATEST is restored and checked after.
        Lambda refuses to publish (or change) a function whose last update is still in progress,
        so each update is waited for."""
        functions = self.client("lambda")
        variables = dict(
            (functions.get_function_configuration(FunctionName=function).get("Environment") or {}).get("Variables")
            or {}
        )
        functions.get_waiter("function_updated_v2").wait(FunctionName=function)  # a release may be updating it
        functions.update_function_configuration(
            FunctionName=function, Environment={"Variables": {**variables, DRILL_FAULT: "1"}}
        )
        try:
            functions.get_waiter("function_updated_v2").wait(FunctionName=function)
            return functions.publish_version(
                FunctionName=function, Description="rollback-guard drill: fails on purpose"
            )["Version"]
        finally:
            self._restore(function, variables)

    def _restore(self, function: str, variables: dict) -> None:
        """$LATEST without the drill's fault, or an error that says it is still there."""
        functions = self.client("lambda")
        try:
            functions.get_waiter("function_updated_v2").wait(FunctionName=function)
            functions.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
            functions.get_waiter("function_updated_v2").wait(FunctionName=function)
            restored = functions.get_function_configuration(FunctionName=function)
            still_set = DRILL_FAULT in ((restored.get("Environment") or {}).get("Variables") or {})
            problem = "it is still there after the restore" if still_set else None
        except (ClientError, BotoCoreError, WaiterError) as error:
            problem = f"the restore failed: {error}"
        if problem:
            raise OpsError(
                f"the drill's fault {DRILL_FAULT} may still be set on {function}'s $LATEST ({problem}): remove it "
                "before the next release, or that release is broken too",
                FAILED,
            )

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
    # False when the drill failed before any deployment existed (another one in flight, say).
    ran: bool
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
        return self.ran and self.rolled_back and self.time_to_recover_seconds <= self.sla_seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
