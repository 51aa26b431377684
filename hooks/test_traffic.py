"""AfterAllowTestTraffic (ECS): smoke-test green through the test listener before any production
traffic moves to it.

The load balancer is internet-facing but its test listener admits the VPC only, and a request to
its public address would leave through the NAT gateway and arrive from outside. So the hook runs in
the VPC and calls a load balancer node on its private address (found through the node's network
interface), sending the load balancer's DNS name as Host.

Environment: LOAD_BALANCER (ARN suffix app/<name>/<id>), TEST_HOST (its DNS name),
TEST_LISTENER_PORT, SMOKE_PATHS (JSON list of {path, expectStatus, timeoutSeconds, expectBody}).
"""

from __future__ import annotations

import functools
import json
import logging

import boto3

from hooks.lifecycle import AWS_CLIENT_CONFIG, HookError, environment, log, run_hook
from hooks.smoke import EndpointCheck, run_checks


@functools.cache
def ec2():
    return boto3.client("ec2", config=AWS_CLIENT_CONFIG)


def handler(event, context=None) -> dict:
    return run_hook("AfterAllowTestTraffic", event, smoke_test_green, context)


def smoke_test_green(release_id: str) -> None:
    address = load_balancer_address(environment("LOAD_BALANCER"))
    host = environment("TEST_HOST")
    port = environment("TEST_LISTENER_PORT", int)
    checks = environment("SMOKE_PATHS", lambda raw: _checks(raw, f"http://{address}:{port}", host))
    failures = run_checks(checks)
    if failures:
        raise HookError(f"{len(failures)} of {len(checks)} test-traffic checks failed: " + "; ".join(failures))
    log(logging.INFO, "test-traffic checks passed", release=release_id, checks=len(checks))


def _checks(raw: str, base_url: str, host: str) -> list[EndpointCheck]:
    paths = json.loads(raw)
    if not isinstance(paths, list) or not paths or not all(isinstance(p, dict) and "path" in p for p in paths):
        raise ValueError("expected a non-empty JSON list of {path, ...} objects")
    return [EndpointCheck.from_dict({**spec, "url": f"{base_url}{spec['path']}", "host": host}) for spec in paths]


def load_balancer_address(arn_suffix: str) -> str:
    """The private address of one node of the load balancer."""
    interfaces = ec2().describe_network_interfaces(Filters=[{"Name": "description", "Values": [f"ELB {arn_suffix}"]}])[
        "NetworkInterfaces"
    ]
    addresses = sorted(i["PrivateIpAddress"] for i in interfaces if i.get("PrivateIpAddress"))
    if not addresses:
        raise HookError(f"no network interface found for load balancer {arn_suffix}")
    return addresses[0]
