"""The deployment log: one DynamoDB item per release, keyed so that "the last good version of
service S in environment E" is a single query.

pk = "<service>#<environment>", sk = "<STATUS>#<deployment created at>#<deployment id>". Succeeded
releases share the "SUCCEEDED#" prefix, so the newest one is the first item of a descending query
on that prefix. The sort key is built from the deployment, never from the clock, so a retried hook
writes the same key and its conditional write cannot duplicate or clobber the record.

The canary judge (hooks/judge.py) keeps one item per deployment it judges in the same partition,
sk = "JUDGE#<deployment id>": its lease, its last look (epoch seconds), its probe counts and, once,
its verdict. The post-traffic hook reads it before a release is recorded; `ops status` shows it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rollback_guard.hooks import timing

SUCCEEDED = "SUCCEEDED"
# An operator put traffic back (`ops rollback`): `previousVersion` is the revision rolled back,
# `version` the one restored, `by` and `reason` who and why.
ROLLED_BACK = "ROLLED_BACK"


def partition_key(service: str, environment: str) -> str:
    return f"{service}#{environment}"


@dataclass(frozen=True)
class ReleaseRecord:
    service: str
    environment: str
    deployment_id: str
    previous_version: str
    version: str
    status: str
    deployment_created_at: str
    strategy: str
    # "release", or "rollback" for a deployment that put a known-good revision back.
    action: str = "release"
    by: str = ""
    reason: str = ""

    @property
    def sort_key(self) -> str:
        return f"{self.status}#{self.deployment_created_at}#{self.deployment_id}"

    def item(self) -> dict:
        return {
            "pk": {"S": partition_key(self.service, self.environment)},
            "sk": {"S": self.sort_key},
            "service": {"S": self.service},
            "environment": {"S": self.environment},
            "deploymentId": {"S": self.deployment_id},
            "previousVersion": {"S": self.previous_version},
            "version": {"S": self.version},
            "status": {"S": self.status},
            "strategy": {"S": self.strategy},
            "deploymentCreatedAt": {"S": self.deployment_created_at},
            "recordedAt": {"S": datetime.now(UTC).isoformat()},
            "action": {"S": self.action},
            **({"by": {"S": self.by}} if self.by else {}),
            **({"reason": {"S": self.reason}} if self.reason else {}),
        }


def put_once(client, table: str, record: ReleaseRecord) -> bool:
    """Writes the record unless it is already there; False when a previous attempt wrote it."""
    try:
        client.put_item(TableName=table, Item=record.item(), ConditionExpression="attribute_not_exists(sk)")
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def is_recorded(client, table: str, record: ReleaseRecord) -> bool:
    """Whether the record is there, read consistently: after a write whose answer was lost."""
    key = {name: value for name, value in record.item().items() if name in ("pk", "sk")}
    return "Item" in client.get_item(TableName=table, Key=key, ConsistentRead=True)


def last_good_version(client, table: str, service: str, environment: str) -> str | None:
    response = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :succeeded)",
        ExpressionAttributeValues={
            ":pk": {"S": partition_key(service, environment)},
            ":succeeded": {"S": f"{SUCCEEDED}#"},
        },
        ScanIndexForward=False,
        Limit=1,
    )
    items = response["Items"]
    return items[0]["version"]["S"] if items else None


# --- the canary judge's item (hooks/judge.py): one per deployment it judges, sk = "JUDGE#<id>"

JUDGE = "JUDGE"
ROLLBACK = "ROLLBACK"


def epoch_now() -> float:
    """Wall time for the log's timestamps (leases, looks): the played clock's own when a test plays
    time (timing.clock with an `epoch`), else the system's."""
    played = getattr(timing.clock, "epoch", None)
    return played() if played else time.time()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def judge_key(service: str, environment: str, deployment_id: str) -> dict:
    return {"pk": {"S": partition_key(service, environment)}, "sk": {"S": f"{JUDGE}#{deployment_id}"}}


@dataclass(frozen=True)
class JudgeRecord:
    """What the canary judge wrote about one deployment: its lease, its last look, its probe counts
    so far and, once, its verdict."""

    deployment_id: str
    lease_owner: str = ""
    lease_until: float = 0.0
    judging_since: float | None = None
    last_look_at: float | None = None
    probes: int = 0
    probe_failures: int = 0
    # Probes sent and failed in each minute (epoch seconds of its start): an ECS judge takes them
    # out of green's target-group metrics, which count them.
    probes_by_minute: dict[int, tuple[int, int]] = field(default_factory=dict)
    verdict: str | None = None
    explanation: str = ""
    findings: tuple[dict, ...] = ()
    stopped: bool | None = None
    deployment_created_at: str = ""

    @classmethod
    def from_item(cls, item: dict) -> JudgeRecord:
        def number(name: str) -> float | None:
            return float(item[name]["N"]) if name in item else None

        def text(name: str) -> str:
            return item[name]["S"] if name in item else ""

        return cls(
            deployment_id=text("deploymentId") or item["sk"]["S"].removeprefix(f"{JUDGE}#"),
            lease_owner=text("leaseOwner"),
            lease_until=number("leaseUntil") or 0.0,
            judging_since=number("judgingSince"),
            last_look_at=number("lastLookAt"),
            probes=int(number("probes") or 0),
            probe_failures=int(number("probeFailures") or 0),
            probes_by_minute={
                int(minute): (sent, failed)
                for minute, (sent, failed) in json.loads(text("probesByMinute") or "{}").items()
            },
            verdict=text("verdict") or None,
            explanation=text("explanation"),
            findings=tuple(json.loads(text("findings") or "[]")),
            stopped=item["stopped"]["BOOL"] if "stopped" in item else None,
            deployment_created_at=text("deploymentCreatedAt"),
        )

    def as_dict(self) -> dict:
        """For people and `ops status --json`: times as ISO 8601."""
        return {
            "deploymentId": self.deployment_id,
            "verdict": self.verdict,
            "explanation": self.explanation,
            "lastLookAt": iso(self.last_look_at) if self.last_look_at is not None else None,
            "probes": self.probes,
            "probeFailures": self.probe_failures,
            "stopped": self.stopped,
            "findings": [finding.get("explanation", "") for finding in self.findings],
        }


def read_judge(client, table: str, service: str, environment: str, deployment_id: str) -> JudgeRecord | None:
    """The judge's item for a deployment, read consistently, or None if the judge never wrote one."""
    item = client.get_item(
        TableName=table, Key=judge_key(service, environment, deployment_id), ConsistentRead=True
    ).get("Item")
    return JudgeRecord.from_item(item) if item else None


def judge_records(client, table: str, service: str, environment: str) -> list[JudgeRecord]:
    """Every deployment the judge looked at for this service, newest deployment first."""
    paginator = client.get_paginator("query")
    items = [
        item
        for page in paginator.paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :judge)",
            ExpressionAttributeValues={":pk": {"S": partition_key(service, environment)}, ":judge": {"S": f"{JUDGE}#"}},
        )
        for item in page["Items"]
    ]
    records = [JudgeRecord.from_item(item) for item in items]
    return sorted(records, key=lambda record: record.deployment_created_at, reverse=True)
