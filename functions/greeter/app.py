"""The sample function both stacks release through the Lambda canary."""

import json
import os


def handler(event, context):
    name = (event or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"greeting": f"hello, {name}", "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}),
    }
