"""BeforeAllowTraffic: smoke-test the target version before any user traffic reaches it.

Environment: TARGET_FUNCTION (the only function this hook may invoke), SMOKE_EVENTS (JSON list of
{name, payload, expect}), SMOKE_ENDPOINTS (JSON list of {url, expectStatus, timeoutSeconds,
expectBody}), CHECK_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import json
import logging

from hooks.lifecycle import DeploymentRelease, HookError, environment, log, run_hook
from hooks.smoke import EndpointCheck, InvokeCheck, run_checks


def handler(event, context=None) -> dict:
    return run_hook("BeforeAllowTraffic", event, smoke_test, context)


def smoke_test(deployment_id: str) -> None:
    release = DeploymentRelease.fetch(deployment_id)
    if release.kind != "lambda":
        raise HookError(f"deployment {deployment_id} moves an ECS service; this hook tests Lambda versions")
    target = environment("TARGET_FUNCTION")
    timeout = environment("CHECK_TIMEOUT_SECONDS", float)
    events = environment("SMOKE_EVENTS", lambda raw: [InvokeCheck.from_dict(x, timeout) for x in _json_list(raw)])
    endpoints = environment("SMOKE_ENDPOINTS", lambda raw: [EndpointCheck.from_dict(x) for x in _json_list(raw)])
    if release.function_name not in (target, target.rsplit(":", 1)[-1]):
        raise HookError(f"the deployment targets {release.function_name}, this hook tests {target} only")
    if not events and not endpoints:
        raise HookError("no smoke checks configured: SMOKE_EVENTS and SMOKE_ENDPOINTS are both empty")

    checks = [check.against(target, release.target_version) for check in events] + endpoints
    failures = run_checks(checks)
    if failures:
        raise HookError(f"{len(failures)} of {len(checks)} smoke checks failed: " + "; ".join(failures))
    log(logging.INFO, "smoke checks passed", version=release.target_version, checks=len(checks))


def _json_list(raw: str) -> list:
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list, got {type(value).__name__}")
    return value
