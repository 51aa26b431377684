"""The sample function both stacks release through the Lambda canary."""

import json
import os

# Set only on a version published by `ops gameday`: a deliberately broken release for the drill.
DRILL_FAULT = "ROLLBACK_GUARD_DRILL_FAULT"


def handler(event, context):
    if os.environ.get(DRILL_FAULT):
        raise RuntimeError(f"game-day drill: this version fails on purpose ({DRILL_FAULT} is set)")
    name = (event or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"greeting": f"hello, {name}", "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}),
    }
