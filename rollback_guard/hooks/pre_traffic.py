"""BeforeAllowTraffic: smoke-test the target version before any user traffic reaches it.

At this point the alias still serves the current version, so an endpoint reached through it tests
the old code: only a test event, invoked on the AppSpec's TargetVersion, exercises the new one. At
least one is required; endpoints add to them.

Environment: TARGET_FUNCTION (the only function this hook may invoke), SMOKE_EVENTS (JSON list of
{name, payload, expect}, at least one), SMOKE_ENDPOINTS (JSON list of {url, expectStatus,
timeoutSeconds, expectBody}), CHECK_TIMEOUT_SECONDS (per test event).
"""

from __future__ import annotations

from rollback_guard.hooks.environment import environment, json_list, matching, seconds
from rollback_guard.hooks.lifecycle import DeploymentRelease, Passed, run_hook
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS, EndpointCheck, InvokeCheck, run_checks
from rollback_guard.hooks.timing import Deadline, HookError

# A function's name or unqualified ARN: the hook names the version itself.
FUNCTION_NAME = r"(arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:)?[\w-]{1,64}"


def handler(event, context=None) -> dict:
    return run_hook("BeforeAllowTraffic", event, smoke_test, context)


def smoke_test(deployment_id: str, deadline: Deadline) -> Passed:
    target = environment("TARGET_FUNCTION", matching(FUNCTION_NAME, "a Lambda function name or unqualified ARN"))
    timeout = environment("CHECK_TIMEOUT_SECONDS", seconds(MAX_CHECK_TIMEOUT_SECONDS))
    events = environment("SMOKE_EVENTS", json_list(lambda raw: InvokeCheck.from_dict(raw, timeout), at_least=1))
    endpoints = environment("SMOKE_ENDPOINTS", json_list(EndpointCheck.from_dict))

    release = DeploymentRelease.fetch(deployment_id, deadline)
    if release.kind != "lambda":
        raise HookError(f"deployment {deployment_id} moves an ECS service; this hook tests Lambda versions")
    if release.function_name not in (target, target.rsplit(":", 1)[-1]):
        raise HookError(f"deployment {deployment_id} targets {release.function_name}; this hook tests {target} only")

    checks = [event.against(target, release.target_version) for event in events] + endpoints
    failures = run_checks(checks, deadline)
    if failures:
        raise HookError(
            f"{len(failures)} of {len(checks)} smoke checks of {release.function_name} version "
            f"{release.target_version} failed: " + "; ".join(failures)
        )
    return Passed("smoke checks passed", {"version": release.target_version, "checks": len(checks)})
