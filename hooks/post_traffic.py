"""AfterAllowTraffic: record the release in the deployment log, then report. For a Lambda alias or
an ECS service alike: the AppSpec says which.

Environment: DEPLOYMENT_LOG_TABLE, SERVICE_NAME, ENVIRONMENT.
"""

from __future__ import annotations

import functools
import logging

import boto3

from hooks.deployment_log import SUCCEEDED, ReleaseRecord, last_good_version, put_once
from hooks.lifecycle import AWS_CLIENT_CONFIG, DeploymentRelease, environment, log, run_hook


@functools.cache
def dynamodb():
    return boto3.client("dynamodb", config=AWS_CLIENT_CONFIG)


def handler(event, context=None) -> dict:
    return run_hook("AfterAllowTraffic", event, record_release, context)


def record_release(deployment_id: str) -> None:
    release = DeploymentRelease.fetch(deployment_id)
    table = environment("DEPLOYMENT_LOG_TABLE")
    service, stage = environment("SERVICE_NAME"), environment("ENVIRONMENT")
    # An ECS AppSpec names only the new task definition: the previous one is the last recorded.
    previous = release.current_version or last_good_version(dynamodb(), table, service, stage) or ""
    record = ReleaseRecord(
        service=service,
        environment=stage,
        deployment_id=release.deployment_id,
        previous_version=previous,
        version=release.target_version,
        status=SUCCEEDED,
        deployment_created_at=release.created_at,
        strategy="lambda-canary" if release.kind == "lambda" else "codedeploy-blue-green",
    )
    written = put_once(dynamodb(), table, record)
    log(
        logging.INFO,
        "release recorded" if written else "release already recorded by an earlier attempt",
        deployment_id=release.deployment_id,
        version=release.target_version,
    )
