"""POST_TEST_TRAFFIC_SHIFT for ECS-native blue/green, canary and linear deployments: smoke-test
green through the test listener before production traffic moves.

ECS reads the answer's `hookStatus`: SUCCEEDED lets the deployment go on, FAILED rolls it back
(IN_PROGRESS would ask ECS to call again; these checks finish within one call). Whatever happens,
the hook answers: a crash is FAILED, never an exception ECS has to interpret.

Environment: as hooks/test_traffic.py.
"""

from __future__ import annotations

import logging

from hooks.lifecycle import HookError, log, logger
from hooks.test_traffic import smoke_test_green


def handler(event, context=None) -> dict:
    execution = event.get("executionId", "unknown") if isinstance(event, dict) else "unknown"
    status = "FAILED"
    try:
        smoke_test_green(execution)
        status = "SUCCEEDED"
    except HookError as error:
        log(logging.ERROR, "release rejected", hook="POST_TEST_TRAFFIC_SHIFT", execution=execution, reason=str(error))
    except Exception as error:  # a crash is a failed check, and ECS rolls back
        logger.exception("hook crashed")
        log(logging.ERROR, "hook crashed", hook="POST_TEST_TRAFFIC_SHIFT", execution=execution, error=repr(error))
    log(logging.INFO, "status returned", hook="POST_TEST_TRAFFIC_SHIFT", execution=execution, status=status)
    return {"hookStatus": status}
