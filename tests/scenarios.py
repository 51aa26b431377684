"""A Lambda function released through CodeDeploy on AWS on loopback: names, and the deployment
scripts that tests play (see LocalAws.script_next_deployment)."""

from __future__ import annotations

import io
import zipfile

FUNCTION = "greeter-staging"
HOOKS = {
    "BeforeAllowTraffic": "greeter-hooks-pre-traffic-staging",
    "AfterAllowTraffic": "greeter-hooks-post-traffic-staging",
}
ALARM = "greeter-rollback-error-rate"


def lambda_target(weight: float, *events: tuple[str, str], diagnostics: dict | None = None) -> dict:
    return {
        "deploymentTargetId": FUNCTION,
        "deploymentTargetType": "LambdaTarget",
        "lambdaTarget": {
            "lambdaFunctionInfo": {"currentVersion": "1", "targetVersion": "2", "targetVersionWeight": weight},
            "lifecycleEvents": [
                {"lifecycleEventName": name, "status": status, **({"diagnostics": diagnostics} if diagnostics else {})}
                for name, status in events
            ],
        },
    }


ROLLED_BACK_BY_ALARM = [
    {"status": "InProgress", "targets": [lambda_target(0.1, ("BeforeAllowTraffic", "Succeeded"))]},
    {
        "status": "Stopped",
        "errorInformation": {"code": "ALARM_ACTIVE", "message": f"One or more alarms have been activated: {ALARM}"},
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1", "rollbackMessage": "Deployment rolled back"},
        "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Succeeded"))],
    },
]


def zipped_code(release: int) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {{'release': {release}}}\n")
    return code.getvalue()
