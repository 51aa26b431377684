"""AfterAllowTraffic: record the release in the deployment log, then report.

Environment: DEPLOYMENT_LOG_TABLE, SERVICE_NAME, ENVIRONMENT.
"""

from __future__ import annotations

import functools
import logging

import boto3

from hooks.deployment_log import SUCCEEDED, ReleaseRecord, put_once
from hooks.lifecycle import AWS_CLIENT_CONFIG, LambdaRelease, environment, log, run_hook


@functools.cache
def dynamodb():
    return boto3.client("dynamodb", config=AWS_CLIENT_CONFIG)


def handler(event, context=None) -> dict:
    return run_hook("AfterAllowTraffic", event, record_release)


def record_release(deployment_id: str) -> None:
    release = LambdaRelease.fetch(deployment_id)
    table = environment("DEPLOYMENT_LOG_TABLE")
    record = ReleaseRecord(
        service=environment("SERVICE_NAME"),
        environment=environment("ENVIRONMENT"),
        deployment_id=release.deployment_id,
        previous_version=release.current_version,
        version=release.target_version,
        status=SUCCEEDED,
        deployment_created_at=release.created_at,
        strategy="lambda-canary",
    )
    written = put_once(dynamodb(), table, record)
    log(
        logging.INFO,
        "release recorded" if written else "release already recorded by an earlier attempt",
        deployment_id=release.deployment_id,
        version=release.target_version,
    )
