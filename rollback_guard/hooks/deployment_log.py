"""The deployment log: one DynamoDB item per release, keyed so that "the last good version of
service S in environment E" is a single query.

pk = "<service>#<environment>", sk = "<STATUS>#<deployment created at>#<deployment id>". Succeeded
releases share the "SUCCEEDED#" prefix, so the newest one is the first item of a descending query
on that prefix. The sort key is built from the deployment, never from the clock, so a retried hook
writes the same key and its conditional write cannot duplicate or clobber the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
