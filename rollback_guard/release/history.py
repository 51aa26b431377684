"""What happened to a deployment group's releases: CodeDeploy's own history, newest first, and the
rollbacks `ops` did outside CodeDeploy, from the deployment log.

It answers three questions, from AWS alone (nothing is remembered in Pulumi's state):
- was a revision rolled back for cause, so that `up` must not release it again unasked?
- which revision is known good, to go back to (the one before the release that failed)?
- what did a revision replace?

"For cause" means an alarm stopped it after it got traffic, a lifecycle hook failed it, or an
operator rolled it back (`ops rollback`, a corrective deployment). A deployment that failed for
infrastructure reasons, or a hotfix stopped at its start because the previous incident's alarm had
not cleared, says nothing about its revision.

Cost is bounded: CodeDeploy is read in windows of growing age (a day, a week, a month), each
window only when the newer ones did not answer, and an AppSpec is fetched only for a deployment
that rollback-guard did not describe itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rollback_guard.hooks.deployment_log import ROLLED_BACK, partition_key
from rollback_guard.hooks.revisions import appspec_content, described
from rollback_guard.release import appspec
from rollback_guard.release.patience import ONE_ATTEMPT, Patient

# How far back CodeDeploy's history is read, newest window first.
WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=30))
MAX_DEPLOYMENTS_READ = 500
ENDED = ["Succeeded", "Failed", "Stopped"]
IN_FLIGHT = ["Created", "Queued", "InProgress", "Baking", "Ready"]
# Lifecycle events that give a revision (test or production) traffic once they have started.
_TRAFFIC_EVENTS = ("AllowTestTraffic", "AllowTraffic")
# Lifecycle events that run hooks (the AppSpec's); one that failed failed the revision.
HOOK_EVENTS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


@dataclass(frozen=True)
class LogRef:
    """Where the deployment log keeps this service's records."""

    table: str
    service: str
    environment: str


@dataclass
class Attempt:
    """One deployment of the group, as far as the questions above need it."""

    deployment_id: str
    status: str
    created: datetime
    creator: str
    target: str | None
    # The revision it replaced, when rollback-guard created it.
    source: str | None
    # "release", or "rollback" for a corrective deployment (rollback-guard's or CodeDeploy's own).
    action: str
    error_code: str | None
    info: dict


class History:
    def __init__(self, session, application: str, group: str, patience: Patient, log: LogRef | None = None):
        self._codedeploy = session.client("codedeploy", config=ONE_ATTEMPT)
        self._dynamodb = session.client("dynamodb", config=ONE_ATTEMPT) if log else None
        self._application, self._group = application, group
        self._patience = patience
        self._log = log
        self._targets_by_sha256: dict[str | None, str | None] = {}
        self._events: dict[str, dict[str, str]] = {}
        self._ended: list[Attempt] = []
        self._unread: Iterator[Attempt] = self._read(ENDED)
        self._ops_rollbacks: list[dict] | None = None

    # --- reading

    def attempts(self) -> Iterator[Attempt]:
        """The group's ended deployments, newest first; read from AWS only as far as asked. Any
        number of these iterations may run at once, one inside another."""
        index = 0
        while True:
            if index == len(self._ended):
                attempt = next(self._unread, None)
                if attempt is None:
                    return
                self._ended.append(attempt)
            yield self._ended[index]
            index += 1

    def in_flight(self) -> list[Attempt]:
        return list(self._read(IN_FLIGHT))

    def ops_rollbacks(self) -> list[dict]:
        """Rollbacks done by `ops` (records ROLLED_BACK#...), newest first."""
        if self._ops_rollbacks is None:
            self._ops_rollbacks = list(self._query_rollbacks()) if self._log else []
        return self._ops_rollbacks

    # --- answering

    def rolled_back(self, revision: str) -> str | None:
        """Why `revision` was last rolled back for cause, or None if it was not (or was released
        successfully since)."""
        by_ops = [record for record in self.ops_rollbacks() if record.get("previousVersion") == revision]
        newest_by_ops = datetime.fromisoformat(by_ops[0]["deploymentCreatedAt"]) if by_ops else None
        for attempt in self.attempts():
            if newest_by_ops and attempt.created < newest_by_ops:
                break
            if attempt.action == "rollback" and attempt.source == revision and attempt.status == "Succeeded":
                return f"corrective deployment {attempt.deployment_id} replaced it at {_when(attempt.info)}"
            if attempt.target != revision or attempt.action != "release":
                continue
            if attempt.status == "Succeeded":
                return None
            if self.failed_for_cause(attempt):
                error = attempt.info.get("errorInformation") or {}
                why = error.get("message") or error.get("code") or "a lifecycle hook failed"
                return f"deployment {attempt.deployment_id} {attempt.status} at {_when(attempt.info)}: {why}"
        if by_ops:
            record = by_ops[0]
            return (
                f"rolled back by {record.get('by') or 'an operator'} at {record['deploymentCreatedAt']}: "
                f"{record.get('reason') or 'no reason given'}"
            )
        return None

    def failed_for_cause(self, attempt: Attempt) -> bool:
        """A lifecycle hook failed it, or an alarm stopped it after its revision got traffic; not a
        failure of CodeDeploy or the platform, nor an alarm that was firing before it began."""
        if attempt.status not in ("Failed", "Stopped") or attempt.action == "rollback":
            return False
        events = self._lifecycle_events(attempt.deployment_id)
        if attempt.error_code == "HOOK_EXECUTION_FAILURE" or any(events.get(h) == "Failed" for h in HOOK_EVENTS):
            return True
        got_traffic = any(events.get(name) not in (None, "Pending", "Skipped") for name in _TRAFFIC_EVENTS)
        return attempt.error_code == "ALARM_ACTIVE" and got_traffic

    def known_good(self, live: str | None) -> str | None:
        """The revision to go back to from `live`: the one the newest release of `live` replaced
        (whatever became of that release: its own rollback may have failed), or failing that an
        earlier successful one, passing over anything rolled back for cause; None when there is
        none."""
        live_seen = False
        for attempt in self.attempts():
            newest_of_live = not live_seen and attempt.target == live
            live_seen = live_seen or newest_of_live
            if not (newest_of_live or (live_seen and attempt.status == "Succeeded")):
                continue
            for candidate in (attempt.target, attempt.source):
                if candidate and candidate != live and self.rolled_back(candidate) is None:
                    return candidate
        return None

    def now_after_everything(self) -> datetime:
        """Now, or just after the newest deployment read if this machine's clock is behind AWS's:
        what an operator's record is ordered against."""
        newest = max((attempt.created for attempt in self._ended), default=None)
        now = datetime.now(UTC)
        return max(now, newest + timedelta(microseconds=1)) if newest else now

    # --- plumbing

    def _read(self, statuses: list[str]) -> Iterator[Attempt]:
        """Deployments in `statuses`, newest first, window by window, at most MAX_DEPLOYMENTS_READ."""
        now, newer_than, left = datetime.now(UTC), None, MAX_DEPLOYMENTS_READ
        for age in WINDOWS:
            start = now - age
            window = {"start": start, **({"end": newer_than} if newer_than else {})}
            infos = list(self._infos(statuses, window, left))
            left -= len(infos)
            for info in sorted(infos, key=lambda i: i["createTime"], reverse=True):
                yield self._attempt(info)
            if left <= 0:
                return
            newer_than = start

    def _query_rollbacks(self) -> Iterator[dict]:
        log, start_key = self._log, None
        while True:
            page = self._patience.call(
                f"dynamodb Query {log.table}",
                self._dynamodb.query,
                TableName=log.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :status)",
                ExpressionAttributeValues={
                    ":pk": {"S": partition_key(log.service, log.environment)},
                    ":status": {"S": f"{ROLLED_BACK}#"},
                },
                ScanIndexForward=False,
                **({"ExclusiveStartKey": start_key} if start_key else {}),
            )
            yield from ({key: value["S"] for key, value in item.items() if "S" in value} for item in page["Items"])
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return

    def _infos(self, statuses: list[str], window: dict, most: int) -> Iterator[dict]:
        ids: list[str] = []
        token = None
        while len(ids) < most:
            page = self._patience.call(
                f"codedeploy ListDeployments {self._group}",
                self._codedeploy.list_deployments,
                applicationName=self._application,
                deploymentGroupName=self._group,
                includeOnlyStatuses=statuses,
                createTimeRange=window,
                **({"nextToken": token} if token else {}),
            )
            ids += page["deployments"]
            token = page.get("nextToken")
            if not token:
                break
        ids = ids[:most]
        for start in range(0, len(ids), 25):
            yield from self._patience.call(
                "codedeploy BatchGetDeployments",
                self._codedeploy.batch_get_deployments,
                deploymentIds=ids[start : start + 25],
            )["deploymentsInfo"]

    def _attempt(self, info: dict) -> Attempt:
        rollback = info.get("creator") == "codeDeployRollback"
        # CodeDeploy's own rollback may carry over the description of what it undoes.
        said = None if rollback else described(info)
        return Attempt(
            deployment_id=info["deploymentId"],
            status=info["status"],
            created=info["createTime"],
            creator=info.get("creator", "user"),
            target=said["target"] if said else self._target_of(info),
            source=said["source"] if said else None,
            action="rollback" if rollback or (said and said["action"] == "rollback") else "release",
            error_code=(info.get("errorInformation") or {}).get("code"),
            info=info,
        )

    def _target_of(self, info: dict) -> str | None:
        sha256 = ((info.get("revision") or {}).get("appSpecContent") or {}).get("sha256")
        if sha256 not in self._targets_by_sha256:
            content = self._patience.call(
                f"codedeploy GetApplicationRevision of {info['deploymentId']}",
                appspec_content,
                codedeploy=self._codedeploy,
                info=info,
            )
            self._targets_by_sha256[sha256] = appspec.target_of(content or "")
        return self._targets_by_sha256[sha256]

    def _lifecycle_events(self, deployment_id: str) -> dict[str, str]:
        if deployment_id not in self._events:
            self._events[deployment_id] = self._read_lifecycle_events(deployment_id)
        return self._events[deployment_id]

    def _read_lifecycle_events(self, deployment_id: str) -> dict[str, str]:
        return {
            event["lifecycleEventName"]: event.get("status")
            for target in deployment_targets(self._codedeploy, self._patience, deployment_id)
            for event in target_detail(target).get("lifecycleEvents", [])
        }


def deployment_targets(codedeploy, patience: Patient, deployment_id: str, until: float | None = None) -> list[dict]:
    """Where a deployment is, per target: traffic weights and lifecycle events."""
    ids = patience.call(
        f"codedeploy ListDeploymentTargets {deployment_id}",
        codedeploy.list_deployment_targets,
        until=until,
        deploymentId=deployment_id,
    ).get("targetIds", [])
    if not ids:
        return []
    return patience.call(
        f"codedeploy BatchGetDeploymentTargets {deployment_id}",
        codedeploy.batch_get_deployment_targets,
        until=until,
        deploymentId=deployment_id,
        targetIds=ids,
    )["deploymentTargets"]


def target_detail(target: dict) -> dict[str, Any]:
    return target.get("lambdaTarget") or target.get("ecsTarget") or {}


def _when(info: dict) -> str:
    moment = info.get("completeTime") or info["createTime"]
    return moment.isoformat(timespec="seconds") if isinstance(moment, datetime) else str(moment)
