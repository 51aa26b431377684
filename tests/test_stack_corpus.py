"""A corpus of stack files as operators write them, typos and all: every key of the three stack
files, each bad one refused with one message that names the key, the value and what is allowed (and
no misleading second line), each valid edge case accepted by the program and by the published
schema an editor checks against.

A case is an overlay on a real stack file (ops/offline.py: objects merge, None removes a key)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ops.offline import overlaid_config, use_config
from settings import SettingsError, load_settings, stack_file_schema
from tests.scenarios import greeter, released_by, web

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "stack.schema.json"
CERTIFICATE = "arn:aws:acm:{region}:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
GREETER = overlaid_config("staging", {})["rollback-guard:functions"]["greeter"]
EXISTING_VPC = {"cidrBlock": None, "availabilityZones": None, "natGateways": None, "vpcId": "vpc-0123456789abcdef0"}


@dataclass(frozen=True)
class Bad:
    what: str
    stack: str
    overlay: dict
    # The key the message names, without the namespace, and a fragment of what it says is allowed.
    key: str
    says: str
    # How many lines the file earns: one per problem, never a follow-on.
    lines: int = 1


@dataclass(frozen=True)
class Good:
    what: str
    stack: str
    overlay: dict
    holds: Any = field(default=None, compare=False)  # a check on the loaded settings


def canary_service(**keys) -> dict:
    return released_by("ecs-canary", **{"bakeTimeMinutes": 15} | keys)


def linear_service(**keys) -> dict:
    return released_by("ecs-linear", **{"bakeTimeMinutes": 15} | keys)


def smoke_paths(count: int) -> dict:
    return web(deployment={"smokePaths": [{"path": f"/a/rather/long/path/to/check/{i:04d}"} for i in range(count)]})


def pipeline(**keys) -> dict:
    return {"pipeline": keys}


BAD = [
    # --- the stack as a whole
    Bad("an environment that does not exist", "staging", {"environment": "prd"}, "environment", "one of staging, prod"),
    Bad("prod calling itself staging", "prod", {"environment": "staging"}, "environment", "'prod' in stack prod"),
    Bad("staging calling itself prod", "staging", {"environment": "prod"}, "environment", "'staging' in stack staging"),
    Bad("a misspelt top-level key", "staging", {"rollback-guard:fuction": {}}, "fuction", "did you mean functions?"),
    Bad("round 1's single-service layout", "staging", {"rollback-guard:service": {}}, "service", "moved to"),
    Bad("a pipeline service that is not there", "staging", {"pipelineService": "api"}, "pipelineService", "one of"),
    Bad(
        "several services and no pipeline service",
        "staging",
        {
            "services": {
                "api": {"image": "public.ecr.aws/docker/library/httpd", "tag": "2.4", "expectedRequestsPerSecond": 5}
            }
        },
        "pipelineService",
        "required with several services",
    ),
    Bad("a region that does not exist", "staging", {"aws:region": "us-east-9"}, "aws:region", "an AWS region"),
    Bad("no region", "prod", {"aws:region": None}, "aws:region", "an AWS region"),
    Bad("no services", "staging", {"services": None}, "services", "at least one ECS service"),
    Bad(
        "a service name AWS names cannot hold",
        "staging",
        {"services": {"web": None, "Web_Frontend": {"image": "nginx", "tag": "1", "expectedRequestsPerSecond": 5}}},
        "services",
        "names of 1 to 15 lowercase",
    ),
    Bad(
        "a function named like a service",
        "staging",
        {"functions": {"greeter": None, "web": GREETER}},
        "functions",
        "a name no service has",
    ),
    Bad("a function name too long for Lambda", "staging", {"functions": {"a" * 26: {}}}, "functions", "1 to 25"),
    # --- network
    Bad("a bare IP for the VPC", "staging", {"network": {"cidrBlock": "10.0.0.1"}}, "network.cidrBlock", "CIDR block"),
    Bad("a VPC too small", "staging", {"network": {"cidrBlock": "10.0.0.0/28"}}, "network.cidrBlock", "/16 to /24"),
    Bad(
        "host bits in a CIDR", "staging", {"network": {"cidrBlock": "10.0.0.1/16"}}, "network.cidrBlock", "no host bits"
    ),
    Bad(
        "one availability zone", "staging", {"network": {"availabilityZones": 1}}, "network.availabilityZones", "2 to 6"
    ),
    Bad("NAT gateways by count", "staging", {"network": {"natGateways": 2}}, "network.natGateways", "one of single"),
    Bad("a network name with capitals", "prod", {"network": {"name": "Web_Net"}}, "network.name", "1 to 20 lowercase"),
    Bad(
        "an existing VPC with one public subnet",
        "staging",
        {"network": EXISTING_VPC | {"publicSubnetIds": ["subnet-0a000001"], "privateSubnetIds": ["subnet-0b000001"]}},
        "network.publicSubnetIds",
        "an ALB needs two",
    ),
    Bad(
        "an existing VPC and a CIDR block",
        "staging",
        {
            "network": EXISTING_VPC
            | {
                "cidrBlock": "10.1.0.0/16",
                "publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
                "privateSubnetIds": ["subnet-0b000001"],
            }
        },
        "network.cidrBlock",
        "only for a new VPC",
    ),
    Bad(
        "a subnet id that is not one",
        "staging",
        {
            "network": EXISTING_VPC
            | {"publicSubnetIds": ["subnet-xyz", "subnet-0a000002"], "privateSubnetIds": ["subnet-0b000001"]}
        },
        "network.publicSubnetIds[0]",
        "a subnet id",
    ),
    Bad(
        "a subnet both public and private",
        "staging",
        {
            "network": EXISTING_VPC
            | {"publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"], "privateSubnetIds": ["subnet-0a000001"]}
        },
        "network.privateSubnetIds",
        "not also public",
    ),
    Bad(
        "a VPC id that is not one",
        "staging",
        {
            "network": EXISTING_VPC
            | {
                "vpcId": "vpc-main",
                "publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
                "privateSubnetIds": ["subnet-0b000001"],
            }
        },
        "network.vpcId",
        "a VPC id",
    ),
    # --- a service
    Bad(
        "an image that carries its tag", "staging", web({"image": "nginx:1.27"}), "services.web.image", "without a tag"
    ),
    Bad(
        "an image pinned by digest",
        "staging",
        web({"image": "nginx@sha256:" + "0" * 64}),
        "services.web.image",
        "without a tag or digest",
    ),
    Bad("the latest tag", "prod", web({"tag": "latest"}), "services.web.tag", "a pinned tag"),
    Bad("a tag YAML read as a number", "staging", web({"tag": 1.27}), "services.web.tag", "quoted"),
    Bad("no tag", "staging", web({"tag": None}), "services.web.tag", "required"),
    Bad("port 0", "staging", web({"containerPort": 0}), "services.web.containerPort", "from 1 to 65535"),
    Bad("a CPU size Fargate lacks", "staging", web({"cpu": 300}), "services.web.cpu", "Fargate's CPU units"),
    Bad("memory the CPU cannot have", "staging", web({"cpu": 1024, "memory": 1000}), "services.web.memory", "2048"),
    Bad("one task in prod", "prod", web({"desiredCount": 1}), "services.web.desiredCount", "at least 2 tasks"),
    Bad("a count in words", "staging", web({"desiredCount": "two"}), "services.web.desiredCount", "a whole number"),
    Bad(
        "an architecture by nickname",
        "staging",
        web({"cpuArchitecture": "arm"}),
        "services.web.cpuArchitecture",
        "ARM64",
    ),
    Bad(
        "a retention CloudWatch lacks",
        "staging",
        web({"logRetentionDays": 10}),
        "services.web.logRetentionDays",
        "3653",
    ),
    Bad("two weeks of logs in prod", "prod", web({"logRetentionDays": 14}), "services.web.logRetentionDays", "30 days"),
    Bad(
        "an environment variable name that is not one",
        "staging",
        web({"environment": {"1BAD": "x"}}),
        "services.web.environment",
        "environment variable names",
    ),
    Bad(
        "an environment variable that is a number",
        "staging",
        web({"environment": {"WORKERS": 4}}),
        "services.web.environment.WORKERS",
        "quote a number",
    ),
    Bad("a misspelt service key", "staging", web({"desiredCounts": 2}), "services.web.desiredCounts", "desiredCount?"),
    # --- a service's load balancer
    Bad(
        "a port past 65535",
        "staging",
        web(loadBalancer={"listenerPort": 70000}),
        "services.web.loadBalancer.listenerPort",
        "65535",
    ),
    Bad(
        "one port for both listeners",
        "staging",
        web(loadBalancer={"testListenerPort": 80}),
        "services.web.loadBalancer.testListenerPort",
        "other than",
    ),
    Bad(
        "a certificate from another region",
        "prod",
        web(loadBalancer={"certificateArn": CERTIFICATE.format(region="eu-west-1")}),
        "services.web.loadBalancer.certificateArn",
        "in the stack's region (us-east-1)",
    ),
    Bad(
        "production without a certificate",
        "prod",
        web(loadBalancer={"certificateArn": None}),
        "services.web.loadBalancer.certificateArn",
        "production listens on HTTPS",
    ),
    Bad(
        "an HTTP redirect on the HTTPS port",
        "prod",
        web(loadBalancer={"httpRedirectPort": 443}),
        "services.web.loadBalancer.httpRedirectPort",
        "a port other than the production listener's (443)",
    ),
    Bad(
        "a certificate that is not an ACM ARN",
        "prod",
        web(loadBalancer={"certificateArn": "my-cert"}),
        "services.web.loadBalancer.certificateArn",
        "an ACM certificate's ARN",
    ),
    Bad(
        "a bare IP where a CIDR is required",
        "staging",
        web(loadBalancer={"ingressCidrs": ["203.0.113.7"]}),
        "services.web.loadBalancer.ingressCidrs[0]",
        "with its prefix length",
    ),
    Bad(
        "a list given as text",
        "staging",
        web(loadBalancer={"ingressCidrs": "0.0.0.0/0"}),
        "services.web.loadBalancer.ingressCidrs",
        "a list of CIDR blocks",
    ),
    Bad(
        "smoke events given as one event",
        "staging",
        greeter({"smokeEvents": {"name": "greets"}}),
        "functions.greeter.smokeEvents",
        "a list of at least one",
    ),
    Bad(
        "one block allowed in twice",
        "staging",
        web(loadBalancer={"ingressCidrs": ["10.0.0.0/8", "10.0.0.0/8"]}),
        "services.web.loadBalancer.ingressCidrs",
        "each block once",
    ),
    Bad(
        "more blocks than a security group holds",
        "prod",
        web(loadBalancer={"ingressCidrs": [f"10.{i}.0.0/16" for i in range(40)]}),
        "services.web.loadBalancer.ingressCidrs",
        "at most 60 inbound rules",
    ),
    Bad(
        "an HTTP redirect without HTTPS",
        "staging",
        web(loadBalancer={"httpRedirectPort": 80}),
        "services.web.loadBalancer.httpRedirectPort",
        "only with certificateArn",
    ),
    Bad(
        "a certificate of another partition",
        "prod",
        web(loadBalancer={"certificateArn": "arn:aws-cn:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000"}),
        "services.web.loadBalancer.certificateArn",
        "partition (aws)",
    ),
    Bad(
        "a service whose name extends another's",
        "staging",
        {
            "services": {"web-api": {"image": "nginx", "tag": "1", "expectedRequestsPerSecond": 5}},
            "pipelineService": "web",
        },
        "services",
        "does not extend web's",
    ),
    Bad(
        "a service named like an internal load balancer",
        "staging",
        {"services": {"web": None, "internal": {"image": "nginx", "tag": "1", "expectedRequestsPerSecond": 5}}},
        "services",
        "does not start with internal",
    ),
    Bad(
        "a pin to another service's task definition",
        "prod",
        web(deployment={"pinnedRevision": "api-prod:7"}),
        "services.web.deployment.pinnedRevision",
        "web-prod:<n>",
    ),
    Bad(
        "alarms too slow for blue to wait",
        "staging",
        web(alarms={"periodSeconds": 86400, "evaluationPeriods": 1, "datapointsToAlarm": 1}),
        "services.web.alarms.periodSeconds",
        "longer than blue can be kept",
    ),
    Bad(
        "a shift of more than two days",
        "staging",
        greeter({"deploymentConfig": {"type": "linear", "percentage": 1, "intervalMinutes": 60}}),
        "functions.greeter.deploymentConfig",
        "within 2880 minutes",
    ),
    Bad(
        "a production stage without a stack file",
        "pipeline",
        pipeline(productionStack="production"),
        "pipeline.productionStack",
        "Pulumi.production.yaml is missing",
    ),
    Bad("a branch git refuses", "pipeline", pipeline(branch="main.lock"), "pipeline.branch", "check-ref-format"),
    Bad(
        "a test listener open to a word",
        "staging",
        web(loadBalancer={"testIngressCidrs": ["office"]}),
        "services.web.loadBalancer.testIngressCidrs[0]",
        "CIDR block",
    ),
    Bad(
        "no deletion protection in prod",
        "prod",
        web(loadBalancer={"deletionProtection": False}),
        "services.web.loadBalancer.deletionProtection",
        "keep deletion protection on",
    ),
    Bad(
        "a health-check code past 499",
        "staging",
        web(loadBalancer={"healthCheck": {"matcher": "200-599"}}),
        "services.web.loadBalancer.healthCheck.matcher",
        "from 200 to 499",
    ),
    Bad(
        "a health-check code below 200",
        "staging",
        web(loadBalancer={"healthCheck": {"matcher": "199"}}),
        "services.web.loadBalancer.healthCheck.matcher",
        "from 200 to 499",
    ),
    Bad(
        "a health-check path without a slash",
        "staging",
        web(loadBalancer={"healthCheck": {"path": "health"}}),
        "services.web.loadBalancer.healthCheck.path",
        "starting with /",
    ),
    Bad(
        "a health check every seven minutes",
        "staging",
        web(loadBalancer={"healthCheck": {"intervalSeconds": 420}}),
        "services.web.loadBalancer.healthCheck.intervalSeconds",
        "5 to 300",
    ),
    Bad(
        "a health-check timeout as long as its interval",
        "staging",
        web(loadBalancer={"healthCheck": {"intervalSeconds": 10, "timeoutSeconds": 10}}),
        "services.web.loadBalancer.healthCheck.timeoutSeconds",
        "less than intervalSeconds",
    ),
    Bad(
        "eleven healthy checks",
        "staging",
        web(loadBalancer={"healthCheck": {"healthyThreshold": 11}}),
        "services.web.loadBalancer.healthCheck.healthyThreshold",
        "2 to 10",
    ),
    Bad(
        "one unhealthy check",
        "staging",
        web(loadBalancer={"healthCheck": {"unhealthyThreshold": 1}}),
        "services.web.loadBalancer.healthCheck.unhealthyThreshold",
        "2 to 10",
    ),
    # --- a service's alarms
    Bad(
        "a 90-second period",
        "staging",
        web(alarms={"periodSeconds": 90}),
        "services.web.alarms.periodSeconds",
        "multiples of 60",
    ),
    Bad(
        "no evaluation periods",
        "staging",
        web(alarms={"evaluationPeriods": 0}),
        "services.web.alarms.evaluationPeriods",
        "1 to 1440",
    ),
    Bad(
        "M above N",
        "staging",
        web(alarms={"datapointsToAlarm": 4}),
        "services.web.alarms.datapointsToAlarm",
        "at most evaluationPeriods",
    ),
    Bad(
        "an evaluation window over a day",
        "staging",
        web(alarms={"periodSeconds": 600, "evaluationPeriods": 200, "datapointsToAlarm": 2}),
        "services.web.alarms.evaluationPeriods",
        "86400 s",
    ),
    Bad(
        "an alarm that can never fire",
        "prod",
        web(alarms={"errorRatePercent": 100}),
        "services.web.alarms.errorRatePercent",
        "never fire",
    ),
    Bad(
        "a fifth failing in prod",
        "prod",
        web(alarms={"errorRatePercent": 20}),
        "services.web.alarms.errorRatePercent",
        "at most 10%",
    ),
    Bad(
        "a guard of no requests",
        "staging",
        web(alarms={"minimumRequests": 0}),
        "services.web.alarms.minimumRequests",
        "1 to 1000000",
    ),
    Bad(
        "a band of 20 deviations",
        "staging",
        web(alarms={"latencyAnomalyBand": 20}),
        "services.web.alarms.latencyAnomalyBand",
        "0.5 to 10",
    ),
    Bad(
        "an alarm listed twice",
        "staging",
        web(alarms={"extraAlarmNames": ["db-errors", "db-errors"]}),
        "services.web.alarms.extraAlarmNames",
        "each alarm once",
    ),
    Bad(
        "more alarms than a deployment group takes",
        "prod",
        # 3 rollback alarms, the latency anomaly alarm and the judge's heartbeat alarm: the 6th extra is the 11th.
        web(alarms={"extraAlarmNames": [f"alarm-{i}" for i in range(6)]}),
        "services.web.alarms.extraAlarmNames",
        "at most 10 alarms",
    ),
    Bad(
        "an empty alarm name",
        "staging",
        web(alarms={"extraAlarmNames": [""]}),
        "services.web.alarms.extraAlarmNames[0]",
        "1 to 255",
    ),
    # --- a service's deployment
    Bad(
        "a strategy we do not know",
        "staging",
        web(deployment={"strategy": "big-bang"}),
        "services.web.deployment.strategy",
        "one of",
    ),
    Bad(
        "a Lambda config for a service",
        "staging",
        web(deployment={"config": "CodeDeployDefault.LambdaAllAtOnce"}),
        "services.web.deployment.config",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    ),
    Bad(
        "all at once in prod",
        "prod",
        web(deployment={"config": "CodeDeployDefault.ECSAllAtOnce"}),
        "services.web.deployment.config",
        "production shifts traffic gradually, not all at once",
    ),
    Bad(
        "a canary prod's alarms cannot stop",
        "prod",
        web(deployment={"config": "CodeDeployDefault.ECSCanary10Percent5Minutes"}),
        "services.web.deployment.config",
        "reaches 100% after 5 min",
    ),
    Bad(
        "a custom shift of 0%",
        "staging",
        web(deployment={"config": {"type": "linear", "percentage": 0, "intervalMinutes": 1}}),
        "services.web.deployment.config.percentage",
        "from 1 to 100",
    ),
    Bad(
        "blue dropped after 5 minutes in prod",
        "prod",
        web(deployment={"terminationWaitMinutes": 5}),
        "services.web.deployment.terminationWaitMinutes",
        "at least 10 minutes",
    ),
    Bad(
        "blue dropped before the alarms can fire",
        "staging",
        web(deployment={"terminationWaitMinutes": 7}),
        "services.web.deployment.terminationWaitMinutes",
        "at least 8",
    ),
    Bad(
        "blue kept past two days",
        "staging",
        web(deployment={"terminationWaitMinutes": 3000}),
        "services.web.deployment.terminationWaitMinutes",
        "0 to 2880",
    ),
    Bad(
        "a negative approval wait",
        "staging",
        web(deployment={"approvalWaitMinutes": -1}),
        "services.web.deployment.approvalWaitMinutes",
        "0 to 2880",
    ),
    Bad(
        "no smoke paths",
        "staging",
        web(deployment={"smokePaths": []}),
        "services.web.deployment.smokePaths",
        "at least one path",
    ),
    Bad(
        "a misspelt key in a smoke path",
        "staging",
        web(deployment={"smokePaths": [{"path": "/", "expect_status": 200}]}),
        "services.web.deployment.smokePaths[0].expect_status",
        "did you mean expectStatus?",
    ),
    Bad(
        "a smoke path without a slash",
        "staging",
        web(deployment={"smokePaths": [{"path": "health"}]}),
        "services.web.deployment.smokePaths[0].path",
        "starting with /",
    ),
    Bad(
        "smoke paths past Lambda's 4 KB of environment",
        "staging",
        smoke_paths(100),
        "services.web.deployment.smokePaths",
        "Lambda allows 4096 bytes",
    ),
    Bad(
        "smoke paths the test-traffic hook holds but the canary judge does not",
        "staging",
        smoke_paths(55),
        "services.web.deployment.smokePaths",
        "fit the canary judge's environment",
    ),
    Bad(
        "smoke paths past an ECS-native test-traffic hook's 4 KB",
        "staging",
        canary_service(smokePaths=[{"path": f"/a/rather/long/path/to/check/{i:04d}"} for i in range(100)]),
        "services.web.deployment.smokePaths",
        "fit the test-traffic hook's environment",
    ),
    Bad(
        "a retry by image tag",
        "staging",
        web(deployment={"retryRevision": "1.28"}),
        "services.web.deployment.retryRevision",
        "web-prod:7",
    ),
    Bad(
        "a pin to revision 0",
        "staging",
        web(deployment={"pinnedRevision": "web:0"}),
        "services.web.deployment.pinnedRevision",
        "web-prod:7",
    ),
    Bad(
        "a rolling update that stops every task in prod",
        "prod",
        released_by("rolling", minimumHealthyPercent=0),
        "services.web.deployment.minimumHealthyPercent",
        "keeps some tasks running",
    ),
    Bad(
        "a rolling update with no room",
        "staging",
        released_by("rolling", minimumHealthyPercent=100, maximumPercent=100),
        "services.web.deployment.maximumPercent",
        "cannot replace a task",
    ),
    Bad(
        "a CodeDeploy key under rolling",
        "staging",
        released_by("rolling", config="CodeDeployDefault.ECSAllAtOnce"),
        "services.web.deployment.config",
        "only with strategy codedeploy-blue-green",
    ),
    Bad(
        "a canary of everything in prod",
        "prod",
        canary_service(canaryPercent=100),
        "services.web.deployment.canaryPercent",
        "not 100%",
    ),
    Bad(
        "a canary of 12.34%",
        "staging",
        canary_service(canaryPercent=12.34),
        "services.web.deployment.canaryPercent",
        "steps of 0.1",
    ),
    Bad(
        "a canary prod's alarms cannot see",
        "prod",
        canary_service(canaryBakeMinutes=5),
        "services.web.deployment.canaryBakeMinutes",
        "reaches 100% after 5 min",
    ),
    Bad(
        "a linear step of 2%",
        "staging",
        linear_service(stepPercent=2),
        "services.web.deployment.stepPercent",
        "3 to 100",
    ),
    Bad(
        "a linear step of 33.33%",
        "staging",
        linear_service(stepPercent=33.33),
        "services.web.deployment.stepPercent",
        "steps of 0.1",
    ),
    Bad(
        "a linear step of everything in prod",
        "prod",
        linear_service(stepPercent=100),
        "services.web.deployment.stepPercent",
        "not 100%",
    ),
    Bad(
        "ECS blue/green all at once in prod",
        "prod",
        released_by("ecs-blue-green", bakeTimeMinutes=15),
        "services.web.deployment.strategy",
        "not all at once",
    ),
    Bad(
        "a five-minute bake in prod",
        "prod",
        canary_service(bakeTimeMinutes=5),
        "services.web.deployment.bakeTimeMinutes",
        "at least 10 minutes",
    ),
    Bad(
        "a canary key under a linear shift",
        "staging",
        linear_service(canaryPercent=10),
        "services.web.deployment.canaryPercent",
        "only with strategy ecs-canary",
    ),
    # --- a function
    Bad(
        "code outside the project",
        "staging",
        greeter({"codePath": "../elsewhere"}),
        "functions.greeter.codePath",
        "inside this project",
    ),
    Bad(
        "a handler module that is not there",
        "staging",
        greeter({"handler": "main.handler"}),
        "functions.greeter.handler",
        "looks for main.py or main/__init__.py there, and there is none",
    ),
    Bad(
        "a handler without its module",
        "staging",
        greeter({"handler": "handler"}),
        "functions.greeter.handler",
        "module.function",
    ),
    Bad(
        "a runtime Lambda retired",
        "staging",
        greeter({"runtime": "python2.7"}),
        "functions.greeter.runtime",
        "python3.13",
    ),
    Bad(
        "less memory than Lambda gives",
        "staging",
        greeter({"memoryMb": 100}),
        "functions.greeter.memoryMb",
        "128 to 10240",
    ),
    Bad(
        "a timeout no smoke check can wait for",
        "staging",
        greeter({"timeoutSeconds": 40}),
        "functions.greeter.timeoutSeconds",
        "from 1 to 35 seconds",
    ),
    Bad("tracing by word", "staging", greeter({"tracing": "yes"}), "functions.greeter.tracing", "true or false"),
    Bad(
        "no concurrency at all",
        "prod",
        greeter({"reservedConcurrency": 0}),
        "functions.greeter.reservedConcurrency",
        "1 to 10000",
    ),
    Bad(
        "a week of function logs in prod",
        "prod",
        greeter({"logRetentionDays": 7}),
        "functions.greeter.logRetentionDays",
        "30 days",
    ),
    Bad(
        "an error-rate alarm that can never fire",
        "staging",
        greeter({"alarms": {"errorRatePercent": 100}}),
        "functions.greeter.alarms.errorRatePercent",
        "never fire",
    ),
    Bad(
        "a guard of no invocations",
        "staging",
        greeter({"alarms": {"minimumInvocations": 0}}),
        "functions.greeter.alarms.minimumInvocations",
        "1 to 1000000",
    ),
    Bad(
        "alarms too slow for any watch",
        "staging",
        greeter({"alarms": {"periodSeconds": 300}}),
        "functions.greeter.alarms.periodSeconds",
        "longer than the post-traffic hook can keep watching",
    ),
    Bad(
        "an ECS config for a function",
        "staging",
        greeter({"deploymentConfig": "CodeDeployDefault.ECSAllAtOnce"}),
        "functions.greeter.deploymentConfig",
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    ),
    Bad(
        "a one-minute canary in prod",
        "prod",
        greeter({"deploymentConfig": {"type": "canary", "percentage": 10, "intervalMinutes": 1}}),
        "functions.greeter.deploymentConfig",
        "reaches 100% after 1 min",
    ),
    Bad(
        "a five-minute canary in prod",
        "prod",
        greeter({"deploymentConfig": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}),
        "functions.greeter.deploymentConfig",
        "worst detection time",
    ),
    Bad(
        "a function all at once in prod",
        "prod",
        greeter({"deploymentConfig": "CodeDeployDefault.LambdaAllAtOnce"}),
        "functions.greeter.deploymentConfig",
        "production shifts traffic gradually, not all at once",
    ),
    Bad(
        "no smoke events",
        "staging",
        greeter({"smokeEvents": []}),
        "functions.greeter.smokeEvents",
        "only an event invokes",
    ),
    Bad(
        "a misspelt key in a smoke event",
        "staging",
        greeter({"smokeEvents": [{"name": "greets", "expected": {"statusCode": 200}}]}),
        "functions.greeter.smokeEvents[0].expected",
        "did you mean expect?",
    ),
    Bad(
        "a smoke event expecting nothing",
        "staging",
        greeter({"smokeEvents": [{"name": "greets", "expect": {}}]}),
        "functions.greeter.smokeEvents[0].expect",
        "keys the result must hold",
    ),
    Bad(
        "an endpoint over FTP",
        "staging",
        greeter({"smokeEndpoints": [{"url": "ftp://files.example.com"}]}),
        "functions.greeter.smokeEndpoints[0].url",
        "http:// or https://",
    ),
    Bad(
        "an endpoint the hook cannot wait for",
        "staging",
        greeter({"smokeEndpoints": [{"url": "https://api.example.com/", "timeoutSeconds": 50}]}),
        "functions.greeter.smokeEndpoints[0].timeoutSeconds",
        "at most 45",
    ),
    Bad(
        "smoke events the pre-traffic hook holds but the canary judge does not",
        "staging",
        greeter(
            {
                "smokeEvents": [
                    {"name": f"e{i:03d}", "payload": {"text": "x" * 80}, "expect": {"ok": 1}} for i in range(21)
                ]
            }
        ),
        "functions.greeter.smokeEvents",
        "fit the canary judge's environment",
    ),
    Bad(
        "endpoints past Lambda's 4 KB of environment",
        "staging",
        greeter({"smokeEndpoints": [{"url": f"https://api.example.com/a/long/route/{i:04d}"} for i in range(100)]}),
        "functions.greeter.smokeEndpoints",
        "Lambda allows 4096 bytes",
    ),
    Bad(
        "a check shorter than a cold start",
        "staging",
        greeter({"checkTimeoutSeconds": 15}),
        "functions.greeter.checkTimeoutSeconds",
        "from 20 (timeoutSeconds + 10",
    ),
    Bad(
        "a check the hook cannot outlive",
        "staging",
        greeter({"checkTimeoutSeconds": 60}),
        "functions.greeter.checkTimeoutSeconds",
        "at most 45",
    ),
    Bad(
        "a 9-minute watch in prod",
        "prod",
        greeter({"watchMinutes": 9}),
        "functions.greeter.watchMinutes",
        "prod keeps watching at least 10",
    ),
    Bad(
        "a watch Lambda cannot hold",
        "staging",
        greeter({"watchMinutes": 13}),
        "functions.greeter.watchMinutes",
        "to 12",
    ),
    Bad(
        "a retry of $LATEST",
        "staging",
        greeter({"retryRevision": "$LATEST"}),
        "functions.greeter.retryRevision",
        "a published version",
    ),
    Bad(
        "a pin to version 0",
        "staging",
        greeter({"pinnedVersion": 0}),
        "functions.greeter.pinnedVersion",
        "a published version",
    ),
    Bad(
        "a misspelt function key",
        "staging",
        greeter({"watchMinute": 10}),
        "functions.greeter.watchMinute",
        "did you mean watchMinutes?",
    ),
    # --- the traffic the detection model plans with, and the canary judge's probes
    *(
        Bad(f"{what} expected of {name}", "staging", overlay({"expectedRequestsPerSecond": value}), key, says)
        for name, overlay, key in (
            ("web", web, "services.web.expectedRequestsPerSecond"),
            ("greeter", greeter, "functions.greeter.expectedRequestsPerSecond"),
        )
        for what, value, says in (
            ("no traffic", 0, "above 0 and at most 1,000,000"),
            ("negative traffic", -5, "above 0"),
            ("more traffic than planned for", 2_000_000, "and at most 1,000,000"),
            ("true as the traffic", True, "a second"),
            ("traffic in words", "ten", "a second"),
        )
    ),
    Bad(
        "no expected traffic for a service",
        "prod",
        web({"expectedRequestsPerSecond": None}),
        "services.web.expectedRequestsPerSecond",
        "required: requests a second",
    ),
    Bad(
        "no expected traffic for a function",
        "staging",
        greeter({"expectedRequestsPerSecond": None}),
        "functions.greeter.expectedRequestsPerSecond",
        "required: invocations a second of the alias",
    ),
    *(
        Bad(f"{what} for {name}'s judge", stack, overlay({"judge": {key: value}}), f"{prefix}.judge.{key}", says)
        for name, overlay, prefix in (("web", web, "services.web"), ("greeter", greeter, "functions.greeter"))
        for what, stack, key, value, says in (
            ("no probes a second", "staging", "probesPerSecond", 0, "above 0, at most 10"),
            ("negative probes a second", "staging", "probesPerSecond", -1, "above 0"),
            ("too many probes a second", "staging", "probesPerSecond", 11, "at most 10"),
            ("true as the probe rate", "staging", "probesPerSecond", True, "probes a second"),
            ("a probe rate in words", "staging", "probesPerSecond", "2", "probes a second"),
            ("no probes in prod", "prod", "maxProbesPerRelease", 0, "at least 1 in prod"),
            ("a negative probe budget", "staging", "maxProbesPerRelease", -1, "from 0 to 100000"),
            ("too large a probe budget", "staging", "maxProbesPerRelease", 100_001, "from 0 to 100000"),
            ("a fractional probe budget", "staging", "maxProbesPerRelease", 2.5, "a whole number"),
            ("true as the probe budget", "staging", "maxProbesPerRelease", True, "a whole number"),
            ("a probe budget in words", "staging", "maxProbesPerRelease", "5000", "a whole number"),
            ("a misspelt key", "staging", "probesPerSec", 2, "did you mean probesPerSecond?"),
        )
    ),
    Bad("a judge that is not a section", "staging", web({"judge": True}), "services.web.judge", "an object with keys"),
    Bad(
        "a judge for a service ECS releases itself",
        "staging",
        {
            **canary_service(),
            "services": {"web": {**canary_service()["services"]["web"], "judge": {"probesPerSecond": 1}}},
        },
        "services.web.judge",
        "only with strategy codedeploy-blue-green (strategy is ecs-canary)",
    ),
    # --- the pipeline stack
    Bad(
        "a repository without its owner",
        "pipeline",
        pipeline(repository="rollback-guard"),
        "pipeline.repository",
        "owner/name",
    ),
    Bad(
        "a branch with a space",
        "pipeline",
        pipeline(branch="release candidate"),
        "pipeline.branch",
        "a git branch name",
    ),
    Bad("staging that is prod", "pipeline", pipeline(stagingStack="prod"), "pipeline.stagingStack", "not prod"),
    Bad(
        "production that is staging",
        "pipeline",
        pipeline(productionStack="staging"),
        "pipeline.productionStack",
        "the prod stack",
    ),
    Bad(
        "staging that is the pipeline",
        "pipeline",
        pipeline(stagingStack="pipeline"),
        "pipeline.stagingStack",
        "or the pipeline",
    ),
    Bad(
        "an address without a domain",
        "pipeline",
        pipeline(notificationEmails=["team"]),
        "pipeline.notificationEmails[0]",
        "an e-mail address",
    ),
    Bad(
        "an address twice",
        "pipeline",
        pipeline(notificationEmails=["team@example.com", "team@example.com"]),
        "pipeline.notificationEmails",
        "each address once",
    ),
    Bad(
        "a health check of no minutes",
        "pipeline",
        pipeline(healthCheckMinutes=0),
        "pipeline.healthCheckMinutes",
        "1 to 60",
    ),
    Bad(
        "41 smoke endpoints",
        "pipeline",
        pipeline(smokeEndpoints=[{"path": f"/{i}"} for i in range(41)]),
        "pipeline.smokeEndpoints",
        "1 to 40",
    ),
    Bad("no smoke endpoints", "pipeline", pipeline(smokeEndpoints=[]), "pipeline.smokeEndpoints", "1 to 40"),
    Bad(
        "two weeks of pipeline logs",
        "pipeline",
        pipeline(logRetentionDays=14),
        "pipeline.logRetentionDays",
        "at least 30 days",
    ),
    Bad(
        "a misspelt pipeline section",
        "pipeline",
        {"pipeline": None, "rollback-guard:pipline": {"repository": "example-org/rollback-guard"}},
        "pipline",
        "did you mean pipeline?",
        lines=2,  # and the pipeline section it was meant to be
    ),
    Bad(
        "the pipeline calling itself staging",
        "pipeline",
        {"environment": "staging"},
        "environment",
        "'pipeline' in stack pipeline",
    ),
    # --- what AWS would refuse at `pulumi up` or on every release
    Bad(
        "a /24 network over 3 zones: public subnets of /28",
        "prod",
        {"network": {"cidrBlock": "10.30.0.0/24", "availabilityZones": 3}},
        "network.cidrBlock",
        "/16 to /23 with 3 availability zones",
    ),
    Bad(
        "a /24 network over 6 zones: public subnets of /29",
        "staging",
        {"network": {"cidrBlock": "10.0.0.0/24", "availabilityZones": 6}},
        "network.cidrBlock",
        "/29 here",
    ),
    Bad(
        "a /23 network over 5 zones",
        "staging",
        {"network": {"cidrBlock": "10.0.0.0/23", "availabilityZones": 5}},
        "network.cidrBlock",
        "/16 to /22",
    ),
    Bad(
        "a termination wait longer than the pipeline's deploy step",
        "prod",
        web(deployment={"terminationWaitMinutes": 720}),
        "services.web.deployment.terminationWaitMinutes",
        "the step stops at 480",
    ),
    Bad(
        "an approval wait longer than the pipeline's deploy step",
        "staging",
        web(deployment={"approvalWaitMinutes": 600}),
        "services.web.deployment.approvalWaitMinutes",
        "the step stops at 480",
    ),
    Bad(
        "an ECS-native bake longer than the pipeline's deploy step",
        "prod",
        canary_service(bakeTimeMinutes=500),
        "services.web.deployment.bakeTimeMinutes",
        "the step stops at 480",
    ),
    Bad(
        "a Lambda shift longer than the pipeline's deploy step",
        "staging",
        greeter({"deploymentConfig": {"type": "linear", "percentage": 10, "intervalMinutes": 60}}),
        "functions.greeter.deploymentConfig",
        "the step stops at 480",
    ),
    Bad(
        "an alarm's ARN among the extra alarms",
        "staging",
        web(alarms={"extraAlarmNames": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-db"]}),
        "services.web.alarms.extraAlarmNames[0]",
        "not its ARN",
    ),
    Bad(
        "a repository with .git",
        "pipeline",
        pipeline(repository="example-org/rollback-guard.git"),
        "pipeline.repository",
        "without .git (example-org/rollback-guard)",
    ),
    Bad(
        "all at once in prod beside another bad key of the service",
        "prod",
        web({"desiredCount": 1}, deployment={"config": "CodeDeployDefault.ECSAllAtOnce"}),
        "services.web.deployment.config",
        "not all at once",
        lines=2,  # and desiredCount: every problem at once
    ),
    Bad(
        "all at once in prod beside another bad key of the function",
        "prod",
        greeter({"memoryMb": 64, "deploymentConfig": "CodeDeployDefault.LambdaAllAtOnce"}),
        "functions.greeter.deploymentConfig",
        "not all at once",
        lines=2,
    ),
    Bad(
        "a Node.js runtime with Python code",
        "prod",
        greeter({"runtime": "nodejs22.x"}),
        "functions.greeter.handler",
        "runtime nodejs22.x looks for app.js or app.mjs or app.cjs",
    ),
    Bad(
        "a smoke endpoint with a password in its URL",
        "staging",
        greeter({"smokeEndpoints": [{"url": "https://ops:hunter2@api.example.com/health"}]}),
        "functions.greeter.smokeEndpoints[0]",
        "without user:password@",
    ),
    Bad(
        "test blocks that, with the VPC's own, overflow the security group",
        "staging",
        web(
            loadBalancer={
                "ingressCidrs": [f"10.1.{i}.0/24" for i in range(30)],
                "testIngressCidrs": [f"10.2.{i}.0/24" for i in range(30)],
            }
        ),
        "services.web.loadBalancer.ingressCidrs",
        "61 here",
    ),
    Bad(
        "an image and tag longer than ECS takes together",
        "staging",
        web({"image": "registry.example.com/" + "a" * 230, "tag": "1" * 100}),
        "services.web.tag",
        "at most 255 characters together",
    ),
    Bad(
        "a container environment larger than a task definition holds",
        "staging",
        web({"environment": {"BLOB": "x" * 70_000}}),
        "services.web.environment",
        "ECS takes a task definition of 64 KiB",
    ),
    Bad(
        "a handler longer than Lambda takes",
        "staging",
        greeter({"handler": "app." + "h" * 130}),
        "functions.greeter.handler",
        "module.function",
    ),
    Bad(
        "a VPC in the loopback range",
        "staging",
        {"network": {"cidrBlock": "127.0.0.0/16"}},
        "network.cidrBlock",
        "EC2 refuses multicast, loopback",
    ),
    Bad(
        "a CIDR block with a zero-padded prefix",
        "staging",
        web(loadBalancer={"ingressCidrs": ["0.0.0.0/0", "0.0.0.0/00"]}),
        "services.web.loadBalancer.ingressCidrs[1]",
        "IPv4 CIDR block",
    ),
    Bad(
        "an e-mail address with a comma",
        "pipeline",
        pipeline(notificationEmails=["a,b@example.com"]),
        "pipeline.notificationEmails[0]",
        "an e-mail address",
    ),
    # --- every problem at once: a check across keys still runs when another key of its section is wrong
    Bad(
        "latest in production beside a memory the CPU cannot have",
        "prod",
        web({"tag": "latest", "cpu": 256, "memory": 4096}),
        "services.web.memory",
        "with cpu 256, Fargate allows 512 to 2048",
        lines=2,
    ),
    Bad(
        "a pin to another stack's revision beside a function's bad memory",
        "staging",
        {**greeter({"memoryMb": 1}), **web(deployment={"pinnedRevision": "web-prod:3"})},
        "services.web.deployment.pinnedRevision",
        "this service's own task definition",
        lines=2,
    ),
    Bad(
        "no certificate in prod beside deletion protection off",
        "prod",
        web(loadBalancer={"deletionProtection": False, "certificateArn": None}),
        "services.web.loadBalancer.certificateArn",
        "required in prod",
        lines=2,
    ),
    Bad(
        "a repeated block beside a bad port",
        "staging",
        web(loadBalancer={"listenerPort": 0, "ingressCidrs": ["198.51.100.0/24", "198.51.100.0/24"]}),
        "services.web.loadBalancer.ingressCidrs",
        "each block once",
        lines=2,
    ),
    Bad(
        "a mistyped region in prod",
        "prod",
        {"aws:region": "us-east1"},
        "aws:region",
        "did you mean us-east-1?",
    ),
    Bad(
        "an infinite canary percentage",
        "staging",
        canary_service(canaryPercent=float("inf")),
        "services.web.deployment.canaryPercent",
        "",
    ),
    Bad(
        "the pipeline in another region than its stacks",
        "pipeline",
        {"aws:region": "eu-west-1"},
        "pipeline.stagingStack",
        "a stack in the pipeline's region (eu-west-1)",
        lines=2,  # and productionStack
    ),
    Bad(
        "a branch git refuses",
        "pipeline",
        pipeline(branch="feature/.hidden"),
        "pipeline.branch",
        "git check-ref-format",
    ),
    Bad(
        "an absolute code path",
        "staging",
        greeter({"codePath": str(ROOT / "functions" / "greeter")}),
        "functions.greeter.codePath",
        "a folder inside this project",
    ),
    Bad(
        "alarms too slow for any release the pipeline can follow",
        "staging",
        web(alarms={"evaluationPeriods": 1440, "datapointsToAlarm": 1440}),
        "services.web.alarms.periodSeconds",
        "longer than blue can be kept",
    ),
    Bad(
        "a handler function the module does not define",
        "staging",
        greeter({"handler": "app.nothere"}),
        "functions.greeter.handler",
        "a function app.py defines (nothere is not among its names)",
    ),
    Bad(
        "a smoke endpoint on a port past 65535",
        "staging",
        greeter({"smokeEndpoints": [{"url": "https://api.example.com:99999/health"}]}),
        "functions.greeter.smokeEndpoints[0]",
        "port, if any, is from 1 to 65535",
    ),
    Bad(
        "more rollback alarms than the pipeline's health check reads in one call",
        "staging",
        {
            "services": {
                f"api{i}": {
                    "image": "public.ecr.aws/docker/library/httpd",
                    "tag": "2.4",
                    "expectedRequestsPerSecond": 5,
                    "alarms": {"extraAlarmNames": [f"api{i}-db-{n}" for n in range(6)]},
                }
                for i in range(11)
            },
            "pipelineService": "web",
        },
        "services",
        "at most 100 rollback alarms",
    ),
]


GOOD = [
    Good("an image name with Docker's double underscore", "staging", web({"image": "team/my__app"})),
    Good("a /24 network over 2 zones", "staging", {"network": {"cidrBlock": "10.0.0.0/24", "availabilityZones": 2}}),
    Good("a /23 network over 4 zones", "prod", {"network": {"cidrBlock": "10.30.0.0/23", "availabilityZones": 4}}),
    Good("a /22 network over 6 zones", "prod", {"network": {"cidrBlock": "10.30.0.0/22", "availabilityZones": 6}}),
    Good(
        "the longest release the pipeline's deploy step follows",
        "prod",
        web(deployment={"terminationWaitMinutes": 480 - 30 - 10}),
        lambda s: s.services[0].release_minutes == 480,
    ),
    Good("a tag with letters and dashes", "staging", web({"tag": "v1.27.0-rc_1"})),
    Good("an image from a registry with a port", "staging", web({"image": "registry.example.com:5000/team/web"})),
    Good("an image from ECR", "prod", web({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"})),
    Good(
        "an existing VPC with two public subnets",
        "prod",
        {
            "network": EXISTING_VPC
            | {"publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"], "privateSubnetIds": ["subnet-0b000001"]}
        },
        lambda s: s.network.vpc_id == "vpc-0123456789abcdef0",
    ),
    Good(
        "a certificate in the stack's region",
        "prod",
        web(loadBalancer={"certificateArn": CERTIFICATE.format(region="us-east-1")}),
    ),
    Good("one address allowed in", "staging", web(loadBalancer={"ingressCidrs": ["203.0.113.7/32"]})),
    Good(
        "exactly ten alarms",
        "prod",
        web(alarms={"extraAlarmNames": [f"alarm-{i}" for i in range(5)]}),
        lambda s: s.services[0].deployment_group_alarm_count == 10 and s.services[0].alarms.rollback_alarm_count == 9,
    ),
    Good(
        "health codes as a list and a range", "staging", web(loadBalancer={"healthCheck": {"matcher": "200,302-399"}})
    ),
    Good("a half-percent canary in prod", "prod", canary_service(canaryPercent=0.5, canaryBakeMinutes=10)),
    Good("a 3.3% linear shift in prod", "prod", linear_service(stepPercent=3.3, stepBakeMinutes=1)),
    Good(
        "a staging rolling update that may stop every task",
        "staging",
        released_by("rolling", minimumHealthyPercent=0, maximumPercent=100),
    ),
    Good(
        "a pin written by pulumi config set --path",
        "prod",
        greeter({"pinnedVersion": 7}),
        lambda s: s.functions[0].pinned_version == "7",
    ),
    Good(
        "a pin written by hand", "prod", greeter({"pinnedVersion": "7"}), lambda s: s.functions[0].pinned_version == "7"
    ),
    Good(
        "a custom linear Lambda shift that outlasts detection in prod",
        "prod",
        greeter({"deploymentConfig": {"type": "linear", "percentage": 20, "intervalMinutes": 2}}),
    ),
    Good(
        "the longest function timeout a check can wait for",
        "staging",
        greeter({"timeoutSeconds": 35, "checkTimeoutSeconds": 45}),
    ),
    Good("a stack without functions", "prod", {"functions": None}, lambda s: s.functions == ()),
    Good(
        "a trickle of traffic and a flood",
        "prod",
        {**web({"expectedRequestsPerSecond": 0.05}), **greeter({"expectedRequestsPerSecond": 1_000_000})},
        lambda s: (
            (s.services[0].expected_requests_per_second, s.functions[0].expected_requests_per_second)
            == (0.05, 1_000_000)
        ),
    ),
    Good(
        "a judge left at its defaults",
        "prod",
        {**web({"judge": None}), **greeter({"judge": None})},
        lambda s: (s.services[0].judge.probes_per_second, s.functions[0].judge.max_probes_per_release) == (2, 5000),
    ),
    Good(
        "staging's judge without probes",
        "staging",
        greeter({"judge": {"maxProbesPerRelease": 0}}),
        lambda s: s.functions[0].judge.max_probes_per_release == 0,
    ),
    Good(
        "the fastest and the slowest probes",
        "prod",
        {**web({"judge": {"probesPerSecond": 10}}), **greeter({"judge": {"probesPerSecond": 0.05}})},
        lambda s: s.functions[0].judge.probes_per_second == 0.05,
    ),
    Good(
        "as many smoke paths as an ECS-native hook holds, with no judge to hold them too",
        "staging",
        canary_service(smokePaths=[{"path": f"/a/rather/long/path/to/check/{i:04d}"} for i in range(55)]),
    ),
    Good(
        "an ECS-native strategy without a judge",
        "prod",
        released_by("ecs-linear", bakeTimeMinutes=15, stepPercent=10, stepBakeMinutes=1),
        lambda s: s.services[0].deployment.strategy_name == "ecs-linear",
    ),
    Good(
        "two services and the one the pipeline tests",
        "staging",
        {
            "services": {
                "api": {"image": "public.ecr.aws/docker/library/httpd", "tag": "2.4", "expectedRequestsPerSecond": 5}
            },
            "pipelineService": "api",
        },
        lambda s: s.pipeline_service == "api",
    ),
    Good(
        "another region, with its own certificate",
        "prod",
        {"aws:region": "eu-west-1", **web(loadBalancer={"certificateArn": CERTIFICATE.format(region="eu-west-1")})},
    ),
]


def problems(case: Bad) -> list[str]:
    use_config(case.stack, case.overlay)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return raised.value.problems


def test_the_corpus_covers_enough_ground():
    assert len(BAD) + len(GOOD) >= 80
    assert {case.stack for case in BAD} == {"staging", "prod", "pipeline"}


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.what)
def test_a_bad_stack_file_is_refused_naming_key_value_and_what_is_allowed(case):
    found = problems(case)
    key = case.key if ":" in case.key else f"rollback-guard:{case.key}"
    named = [problem for problem in found if problem.startswith(f"{key} = ")]
    assert named, found
    assert case.says in named[0], named[0]
    value, _, allowed = named[0].removeprefix(f"{key} = ").partition(": ")
    assert value and allowed, named[0]
    assert len(found) == case.lines, found


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.what)
def test_a_valid_edge_case_is_accepted(case):
    use_config(case.stack, case.overlay)
    settings = load_settings()
    assert case.holds is None or case.holds(settings)


# --- the published schema


def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_published_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == stack_file_schema(), (
        "regenerate it: .venv/bin/python settings.py > stack.schema.json"
    )


def test_the_published_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("stack", ["staging", "prod", "pipeline"])
def test_the_stack_files_follow_the_schema(stack):
    schema_validator().validate({"config": overlaid_config(stack, {})})


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.what)
def test_an_editor_accepts_every_valid_edge_case(case):
    schema_validator().validate({"config": overlaid_config(case.stack, case.overlay)})


# What an editor underlines before anything runs: misspelt keys, wrong types, values out of range.
EDITOR_CATCHES = [
    "a misspelt top-level key",
    "a misspelt service key",
    "a misspelt function key",
    "a misspelt key in a smoke event",
    "a count in words",
    "a tag YAML read as a number",
    "a CPU size Fargate lacks",
    "an image that carries its tag",
    "a port past 65535",
    "a region that does not exist",
    "a runtime Lambda retired",
    "a strategy we do not know",
    "an existing VPC with one public subnet",
    "tracing by word",
    "41 smoke endpoints",
]


@pytest.mark.parametrize("what", EDITOR_CATCHES)
def test_an_editor_underlines_a_typo_before_anything_runs(what):
    case = next(case for case in BAD if case.what == what)
    assert not schema_validator().is_valid({"config": overlaid_config(case.stack, case.overlay)})
