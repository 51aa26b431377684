"""POST_TEST_TRAFFIC_SHIFT for ECS-native blue/green, canary and linear deployments: smoke-test
green through the test listener before production traffic moves.

ECS reads the answer's `hookStatus`: SUCCEEDED lets the deployment go on, FAILED rolls it back
(IN_PROGRESS would ask ECS to call again; these checks finish within one call). Whatever happens,
the hook answers, and before its invocation ends: a crash or a check still running when the
invocation's time (less ANSWER_MARGIN_SECONDS) runs out is FAILED, with the cause in the log.

Environment: as hooks/test_traffic.py.
"""

from __future__ import annotations

import logging

from rollback_guard.hooks.lifecycle import judge
from rollback_guard.hooks.logs import log
from rollback_guard.hooks.test_traffic import smoke_test_green
from rollback_guard.hooks.timing import Deadline

# Kept back from the invocation's time to return the answer.
ANSWER_MARGIN_SECONDS = 2


def handler(event, context=None) -> dict:
    execution = event.get("executionId", "unknown") if isinstance(event, dict) else "unknown"
    fields = {"hook": "POST_TEST_TRAFFIC_SHIFT", "execution": execution}
    deadline = Deadline.of_invocation(context).less(ANSWER_MARGIN_SECONDS)
    status = "SUCCEEDED" if judge(smoke_test_green, str(execution), deadline, fields) else "FAILED"
    log(logging.INFO, "status returned", **fields, status=status)
    return {"hookStatus": status}
