"""A Lambda function released through CodeDeploy on AWS on loopback: names, and the deployment
scripts that tests play (see LocalAws.script_next_deployment)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3

FUNCTION = "greeter-staging"
HOOKS = {
    "BeforeAllowTraffic": "greeter-hooks-pre-traffic-staging",
    "AfterAllowTraffic": "greeter-hooks-post-traffic-staging",
}
ALARM = "greeter-rollback-error-rate"
TABLE = "deployment-log"


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
    {
        "status": "InProgress",
        "targets": [lambda_target(0.1, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "InProgress"))],
    },
    {
        "status": "Stopped",
        "errorInformation": {"code": "ALARM_ACTIVE", "message": f"One or more alarms have been activated: {ALARM}"},
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1", "rollbackMessage": "Deployment rolled back"},
        "targets": [lambda_target(0.0, ("BeforeAllowTraffic", "Succeeded"), ("AllowTraffic", "Failed"))],
    },
]


def zipped_code(release: int) -> bytes:
    """The same bytes for the same release, so Lambda sees the same code (the same CodeSha256)."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        entry = zipfile.ZipInfo("app.py", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(entry, f"def handler(event, context):\n    return {{'release': {release}}}\n")
    return code.getvalue()


def publish_versions():
    """The function with versions 1 to 3 published and `live` on version 1, as Pulumi leaves it;
    returns the Lambda client."""
    role = boto3.client("iam").create_role(
        RoleName="greeter", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    client = boto3.client("lambda")
    client.create_function(
        FunctionName=FUNCTION, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": zipped_code(0)}
    )
    for release in (1, 2, 3):  # Lambda publishes a new version only for new code
        client.update_function_code(FunctionName=FUNCTION, ZipFile=zipped_code(release))
        client.publish_version(FunctionName=FUNCTION)
    client.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    return client


def create_log_table() -> None:
    """The deployment log's key schema, as components/deployment_log.py creates it."""
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


def ecs_service_on(live: int) -> list[str]:
    """Two task definition revisions of web (nginx 1.27, 1.28) and a service running revision
    `live` (0 or 1); returns both ARNs."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="web-cluster")
    arns = [
        ecs.register_task_definition(
            family="web-staging",
            containerDefinitions=[
                {"name": "web", "image": f"nginx:{tag}", "memory": 512, "portMappings": [{"containerPort": 80}]}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        for tag in ("1.27", "1.28")
    ]
    ecs.create_service(cluster="web-cluster", serviceName="web-service", taskDefinition=arns[live], desiredCount=1)
    return arns


def web(keys: dict | None = None, **sections: dict) -> dict:
    """An overlay of the web service's settings (`services.web`) for build_stack and use_config:
    its own keys, and its sections (deployment, alarms, loadBalancer)."""
    return {"services": {"web": {**(keys or {}), **sections}}}


def greeter(keys: dict) -> dict:
    """An overlay of the greeter function's settings (`functions.greeter`)."""
    return {"functions": {"greeter": keys}}


def deployment_for(strategy: str, **keys) -> dict:
    """The `deployment` overlay that switches a stack file to `strategy`: the keys only CodeDeploy
    takes are removed (and the smoke paths, which rolling has no use for), `keys` are added."""
    removed = {"config": None, "terminationWaitMinutes": None, "approvalWaitMinutes": None}
    removed |= {"retryRevision": None, "pinnedRevision": None}
    if strategy == "rolling":
        removed["smokePaths"] = None
    return {**removed, "strategy": strategy, **keys}


def released_by(strategy: str, **keys) -> dict:
    """The web service's overlay that switches it to `strategy` (deployment_for), without the canary
    judge's section when the strategy has no CodeDeploy deployment for a judge to stop."""
    judge = {} if strategy == "codedeploy-blue-green" else {"judge": None}
    return web(judge, deployment=deployment_for(strategy, **keys))
