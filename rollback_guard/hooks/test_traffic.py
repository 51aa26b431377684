"""AfterAllowTestTraffic (ECS): smoke-test green through the test listener before any production
traffic moves to it.

The load balancer is internet-facing but its test listener admits the VPC only, and a request to
its public address would leave through the NAT gateway and arrive from outside. So the hook runs in
the VPC and calls a load balancer node on its private address (found through the node's network
interface), sending the load balancer's DNS name as Host.

Environment: LOAD_BALANCER (ARN suffix app/<name>/<id>), TEST_HOST (its DNS name),
TEST_LISTENER_PORT, SMOKE_PATHS (JSON list of {path, expectStatus, timeoutSeconds, expectBody}, at
least one).
"""

from __future__ import annotations

from rollback_guard.hooks import aws
from rollback_guard.hooks.environment import environment, json_list, matching, whole_number
from rollback_guard.hooks.lifecycle import Passed, run_hook
from rollback_guard.hooks.smoke import PathCheck, run_checks
from rollback_guard.hooks.timing import Deadline, HookError

HOST_NAME = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
LOAD_BALANCER_SUFFIX = r"app/[\w-]{1,32}/[0-9a-f]+"


def handler(event, context=None) -> dict:
    return run_hook("AfterAllowTestTraffic", event, smoke_test_green, context)


def smoke_test_green(release_id: str, deadline: Deadline) -> Passed:
    load_balancer = environment("LOAD_BALANCER", matching(LOAD_BALANCER_SUFFIX, "an ALB ARN suffix app/<name>/<id>"))
    host = environment("TEST_HOST", matching(HOST_NAME, "the load balancer's DNS name"))
    port = environment("TEST_LISTENER_PORT", whole_number(1, 65535))
    paths = environment("SMOKE_PATHS", json_list(PathCheck.from_dict, at_least=1))

    base_url = f"http://{load_balancer_address(load_balancer, deadline)}:{port}"
    checks = [path.at(base_url, host) for path in paths]
    failures = run_checks(checks, deadline)
    if failures:
        raise HookError(
            f"{len(failures)} of {len(checks)} checks of green through the test listener ({host}:{port}) failed: "
            + "; ".join(failures)
        )
    return Passed("test-traffic checks passed", {"release": release_id, "checks": len(checks)})


def load_balancer_address(arn_suffix: str, deadline: Deadline) -> str:
    """The private address of one node of the load balancer."""
    interfaces = aws.call(
        deadline,
        f"ec2 DescribeNetworkInterfaces of load balancer {arn_suffix}",
        aws.client("ec2").describe_network_interfaces,
        Filters=[{"Name": "description", "Values": [f"ELB {arn_suffix}"]}],
    )["NetworkInterfaces"]
    addresses = sorted(i["PrivateIpAddress"] for i in interfaces if i.get("PrivateIpAddress"))
    if not addresses:
        raise HookError(f"no network interface found for load balancer {arn_suffix}")
    return addresses[0]
