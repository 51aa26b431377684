"""AWS's published limits that Pulumi's mocks (and `pulumi preview`) do not enforce, as data, and
`limit_violations`, which checks everything a program registered against them.

Each limit says where AWS publishes it. The components, this project's stack files and the tests
read them from here, so a limit is written down once. `limit_violations` takes what
`rollback_guard.testing.run` recorded, so a program's own tests can assert that AWS would accept
what it creates:

    assert limit_violations(run(my_program, stack="prod").monitor.registered) == []
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# --- IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
# Sizes count characters without whitespace.
MANAGED_POLICY_CHARACTERS = 6_144
INLINE_POLICY_CHARACTERS_PER_ROLE = 10_240
# 2,048 by default, raisable to 4,096 through Service Quotas.
TRUST_POLICY_CHARACTERS = 2_048
# 10 by default, raisable to 20.
MANAGED_POLICIES_PER_ROLE = 10
ROLE_NAME_LENGTH = 64
POLICY_NAME_LENGTH = 128
IAM_PATH_LENGTH = 512

# --- EC2 and Elastic Load Balancing
# A subnet is /16 to /28: https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html
SMALLEST_SUBNET_PREFIX = 28
# A load balancer's subnets are at least /27 with 8 free addresses:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#subnets-load-balancer
LOAD_BALANCER_SUBNET_PREFIX = 27
LOAD_BALANCER_FREE_ADDRESSES = 8
# AWS keeps 5 addresses of every subnet (network, router, DNS, future, broadcast).
SUBNET_RESERVED_ADDRESSES = 5
# Inbound (and outbound) rules per security group, the default quota:
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
SECURITY_GROUP_RULES = 60
# Load balancer and target group names: 32 characters, letters, digits and dashes, no dash at either end:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html
LOAD_BALANCER_NAME_LENGTH = 32

# --- Lambda: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_NAME_LENGTH = 64
LAMBDA_HANDLER_LENGTH = 128
# A function's code uploaded with it: 50 MB zipped, 250 MB unzipped.
LAMBDA_ZIPPED_BYTES = 50 * 1024 * 1024
LAMBDA_UNZIPPED_BYTES = 250 * 1024 * 1024
LAMBDA_ENVIRONMENT_BYTES = 4_096
LAMBDA_TIMEOUT_SECONDS = 900
LAMBDA_MEMORY_MB = (128, 10_240)
# Reservations must leave this many concurrent executions unreserved in the account.
LAMBDA_UNRESERVED_CONCURRENCY = 100
# A new account's concurrency quota may be as low as 10; the documented default is 1,000.
LAMBDA_DEFAULT_CONCURRENCY = 1_000

# --- ECS: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html
TASK_DEFINITION_BYTES = 64 * 1024
# An image reference, repository and tag together (RegisterTaskDefinition's ContainerDefinition.image).
IMAGE_REFERENCE_LENGTH = 255

# Keys Lambda sets itself and refuses in a function's environment:
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
LAMBDA_RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

# --- CloudWatch: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
ALARM_NAME_LENGTH = 255
# DescribeAlarms takes at most 100 alarm names in one call:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html
DESCRIBE_ALARMS_NAMES = 100
# Dashboards (global, not regional). The name: PutDashboard's DashboardName,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
DASHBOARD_NAME_LENGTH = 255
DASHBOARD_NAME_PATTERN = r"[A-Za-z0-9_-]+"
# The body: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
# 0 to 500 widgets on a 24-column grid (x 0-23, width 1-24, height 1-1000); a metric widget's
# metrics array holds up to 500 metrics and expressions; an alarm widget lists 1 to 100 alarm ARNs.
DASHBOARD_WIDGETS = 500
DASHBOARD_GRID_COLUMNS = 24
DASHBOARD_WIDGET_HEIGHT = 1_000
DASHBOARD_WIDGET_TYPES = frozenset({"metric", "text", "log", "alarm", "explorer"})
DASHBOARD_METRICS_PER_WIDGET = 500
DASHBOARD_ALARM_WIDGET_ALARMS = 100
# Across all widgets, metrics a math expression only reads included:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html
# (AWS publishes no limit on the body's size: PutDashboard's model gives none.)
DASHBOARD_METRICS = 2_500

# --- CodeDeploy: https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html
ALARMS_PER_DEPLOYMENT_GROUP = 10
# The termination wait and the ready wait: at most two days.
CODEDEPLOY_WAIT_MINUTES = 2_880

# --- CodeBuild and CodePipeline
# A build's timeout: https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html
CODEBUILD_TIMEOUT_MINUTES = (5, 2_160)
# A CodeBuild action in CodePipeline stops at 8 hours whatever the project allows:
# https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html
CODEPIPELINE_BUILD_ACTION_MINUTES = 480

# Pulumi's auto-naming appends "-" and 7 random characters to a resource's logical name.
AUTONAME_SUFFIX = 8
# Terraform's `name_prefix` appends a 26-character unique id.
NAME_PREFIX_SUFFIX = 26


@dataclass(frozen=True)
class NameRule:
    property: str
    max_length: int
    pattern: str
    allowed: str


def _rule(max_length: int, pattern: str, allowed: str, property: str = "name") -> NameRule:
    return NameRule(property, max_length, pattern, f"{allowed}, at most {max_length} characters")


def _codedeploy(property: str) -> NameRule:
    return _rule(100, r"[A-Za-z0-9+=,.@_-]+", "letters, digits, +=,.@_-", property)


_BUCKET = _rule(63, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "lowercase letters, digits, . and -", "bucket")
_LB_NAME = _rule(LOAD_BALANCER_NAME_LENGTH, r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", "letters, digits, dashes")
# Physical names of the resources rollback-guard creates, by type: where the name is, how long it may
# be and what it may hold. Sources: each service's API reference for its Create call.
NAME_RULES: Mapping[str, NameRule] = {
    "aws:lambda/function:Function": _rule(LAMBDA_NAME_LENGTH, r"[A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:lb/loadBalancer:LoadBalancer": _LB_NAME,
    "aws:lb/targetGroup:TargetGroup": _LB_NAME,
    "aws:iam/role:Role": _rule(ROLE_NAME_LENGTH, r"[\w+=,.@-]+", "letters, digits, +=,.@_-"),
    "aws:iam/policy:Policy": _rule(POLICY_NAME_LENGTH, r"[\w+=,.@-]+", "letters, digits, +=,.@_-"),
    "aws:iam/rolePolicy:RolePolicy": _rule(POLICY_NAME_LENGTH, r"[\w+=,.@-]+", "letters, digits, +=,.@_-"),
    "aws:sfn/stateMachine:StateMachine": _rule(80, r"[A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _rule(ALARM_NAME_LENGTH, r"[^\x00-\x1f]+", "printable characters"),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _rule(
        ALARM_NAME_LENGTH, r"[^\x00-\x1f]+", "printable characters", "alarmName"
    ),
    "aws:cloudwatch/logGroup:LogGroup": _rule(512, r"[.\-_/#A-Za-z0-9]+", "letters, digits, . - _ / #"),
    "aws:cloudwatch/eventRule:EventRule": _rule(64, r"[.\-_A-Za-z0-9]+", "letters, digits, . - _"),
    DASHBOARD: _rule(DASHBOARD_NAME_LENGTH, DASHBOARD_NAME_PATTERN, "letters, digits, - and _", "dashboardName"),
    "aws:dynamodb/table:Table": _rule(255, r"[A-Za-z0-9_.-]{3,}", "3 or more letters, digits, _ . -"),
    "aws:sns/topic:Topic": _rule(256, r"[A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:codebuild/project:Project": _rule(150, r"[A-Za-z0-9][A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:codepipeline/pipeline:Pipeline": _rule(100, r"[A-Za-z0-9.@_-]+", "letters, digits, . @ - _"),
    "aws:codedeploy/application:Application": _codedeploy("name"),
    "aws:codedeploy/deploymentGroup:DeploymentGroup": _codedeploy("deploymentGroupName"),
    "aws:codedeploy/deploymentConfig:DeploymentConfig": _codedeploy("deploymentConfigName"),
    "aws:ecs/cluster:Cluster": _rule(255, r"[A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:ecs/service:Service": _rule(255, r"[A-Za-z0-9_-]+", "letters, digits, - and _"),
    "aws:ecs/taskDefinition:TaskDefinition": _rule(255, r"[A-Za-z0-9_-]+", "letters, digits, - and _", "family"),
    "aws:ec2/securityGroup:SecurityGroup": _rule(255, r"[ -~]+", "printable ASCII"),
    "aws:s3/bucket:Bucket": _BUCKET,
    "aws:s3/bucketV2:BucketV2": _BUCKET,
    "aws:kms/alias:Alias": _rule(256, r"alias/[A-Za-z0-9/_-]+", "alias/ then letters, digits, / _ -"),
}
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
# Security group rules as resources of their own: the VPC's ingress rule, and EC2's rule of either way.
_INGRESS_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)
# Types whose name Pulumi (or the engine) cannot make up: the name is the property or nothing.
_NOT_AUTONAMED = {"aws:ecs/taskDefinition:TaskDefinition", DASHBOARD}


class Registered(Protocol):
    """What `rollback_guard.testing.Registration` records, as far as the limits need it."""

    type: str
    name: str
    inputs: dict


@dataclass(frozen=True)
class LimitViolation:
    resource: str
    limit: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.limit} {self.value}: {self.allowed}"


def policy_characters(document: str | Mapping) -> int:
    """A policy document's size as IAM counts it: its characters, whitespace not counted."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(re.sub(r"\s", "", text))


def physical_name(registration: Registered) -> str | None:
    """The name AWS will hold: the name given, or what Pulumi's auto-naming makes of the logical
    name (its longest form: the random suffix has a fixed length)."""
    rule = NAME_RULES.get(registration.type)
    if rule is None:
        return None
    given = registration.inputs.get(rule.property)
    if isinstance(given, str) and given:
        return given
    prefix = registration.inputs.get("namePrefix")
    if isinstance(prefix, str) and prefix:
        return prefix + "x" * NAME_PREFIX_SUFFIX
    if registration.type in _NOT_AUTONAMED:
        return None
    return f"{registration.name}-{'x' * (AUTONAME_SUFFIX - 1)}"


def smallest_public_subnet_prefix(cidr_block: str, availability_zones: int) -> int:
    """The prefix length of the public subnets awsx 3.x's default layout ("Legacy", public and
    private subnets in every zone) cuts from `cidr_block`: the block split into a power of two of
    zone blocks, each zone block halved for its private subnet and the public one a quarter of it."""
    zone_prefix = ipaddress.IPv4Network(cidr_block).prefixlen + math.ceil(math.log2(availability_zones))
    return zone_prefix + 2


def _documents(value: Any) -> str | None:
    """A policy input as a string: JSON text as given, an object dumped."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value)
    return None


def limit_violations(registered: Iterable[Registered]) -> list[LimitViolation]:
    """Every limit of this module that a resource of `registered` (inputs resolved, as
    rollback_guard.testing records them) would break at `pulumi up`."""
    registered = list(registered)
    found: list[LimitViolation] = []
    # Policies name their role, and rules their security group, by name or id.
    roles, groups = _references(registered, "aws:iam/role:Role"), _references(registered, SECURITY_GROUP)
    inline: dict[str, int] = defaultdict(int)
    attached: dict[str, set[str]] = defaultdict(set)
    # A security group's inbound rules: inline, and as rule resources naming it.
    ingress: dict[str, int] = defaultdict(int)
    for r in registered:
        inputs = r.inputs
        name = physical_name(r)
        rule = NAME_RULES.get(r.type)
        if rule and name is not None:
            if len(name) > rule.max_length:
                found.append(LimitViolation(r.name, "name", f"{name!r} ({len(name)} characters)", rule.allowed))
            elif not re.fullmatch(rule.pattern, name):
                found.append(LimitViolation(r.name, "name", repr(name), rule.allowed))
        if r.type == "aws:iam/role:Role":
            role = r.name
            trust = _documents(inputs.get("assumeRolePolicy"))
            if trust and policy_characters(trust) > TRUST_POLICY_CHARACTERS:
                found.append(
                    LimitViolation(
                        r.name,
                        "trust policy",
                        f"{policy_characters(trust)} characters",
                        f"at most {TRUST_POLICY_CHARACTERS} (IAM's default quota)",
                    )
                )
            for policy in inputs.get("inlinePolicies") or ():
                inline[role] += policy_characters(_documents(policy.get("policy")) or "")
            attached[role] |= set(inputs.get("managedPolicyArns") or ())
        elif r.type == "aws:iam/rolePolicy:RolePolicy":
            role = str(inputs.get("role"))
            inline[roles.get(role, role)] += policy_characters(_documents(inputs.get("policy")) or "")
        elif r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            role = str(inputs.get("role"))
            attached[roles.get(role, role)].add(str(inputs.get("policyArn")))
        elif r.type == "aws:iam/policy:Policy":
            size = policy_characters(_documents(inputs.get("policy")) or "")
            if size > MANAGED_POLICY_CHARACTERS:
                found.append(
                    LimitViolation(
                        r.name, "managed policy", f"{size} characters", f"at most {MANAGED_POLICY_CHARACTERS}"
                    )
                )
        elif r.type == "aws:lambda/function:Function":
            found += _function_violations(r)
        elif r.type == "aws:cloudwatch/logGroup:LogGroup":
            days = inputs.get("retentionInDays")
            if days is not None and days not in LOG_RETENTION_DAYS:
                found.append(
                    LimitViolation(r.name, "retentionInDays", days, f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
                )
        elif r.type == "aws:codedeploy/deploymentGroup:DeploymentGroup":
            found += _deployment_group_violations(r)
        elif r.type == DASHBOARD:
            found += [
                LimitViolation(r.name, "dashboardBody", value, allowed)
                for value, allowed in dashboard_body_problems(inputs.get("dashboardBody"))
            ]
        elif r.type == SECURITY_GROUP:
            ingress[r.name] += len(inputs.get("ingress") or ())
        elif r.type in _INGRESS_RULES and (r.type != _INGRESS_RULES[1] or inputs.get("type") == "ingress"):
            group = str(inputs.get("securityGroupId"))
            ingress[groups.get(group, group)] += 1
        elif r.type == "aws:ecs/taskDefinition:TaskDefinition":
            found += _task_definition_violations(r)
        elif r.type == "aws:codebuild/project:Project":
            low, high = CODEBUILD_TIMEOUT_MINUTES
            timeout = inputs.get("buildTimeout")
            if timeout is not None and not low <= timeout <= high:
                found.append(LimitViolation(r.name, "buildTimeout", timeout, f"{low} to {high} minutes"))
    for group, rules in ingress.items():
        if rules > SECURITY_GROUP_RULES:
            found.append(LimitViolation(group, "ingress rules", rules, f"at most {SECURITY_GROUP_RULES}"))
    for role, size in inline.items():
        if size > INLINE_POLICY_CHARACTERS_PER_ROLE:
            found.append(
                LimitViolation(
                    role,
                    "inline policies",
                    f"{size} characters",
                    f"at most {INLINE_POLICY_CHARACTERS_PER_ROLE} per role",
                )
            )
    for role, arns in attached.items():
        if len(arns) > MANAGED_POLICIES_PER_ROLE:
            found.append(
                LimitViolation(
                    role,
                    "managed policies",
                    len(arns),
                    f"at most {MANAGED_POLICIES_PER_ROLE} per role (IAM's default quota)",
                )
            )
    return found


def _references(registered: list[Registered], type_token: str) -> dict[str, str]:
    """Each way a resource of `type_token` may be referred to (its physical name, its logical name,
    FakeAws's id "<name>-id"), to its logical name."""
    return {
        reference: r.name
        for r in registered
        if r.type == type_token
        for reference in (r.inputs.get("name") or r.name, r.name, f"{r.name}-id")
    }


def _function_violations(r: Registered) -> list[LimitViolation]:
    inputs, found = r.inputs, []
    variables = (inputs.get("environment") or {}).get("variables") or {}
    size = sum(len(key.encode()) + len(str(value).encode()) for key, value in variables.items())
    if size > LAMBDA_ENVIRONMENT_BYTES:
        found.append(LimitViolation(r.name, "environment", f"{size} bytes", f"at most {LAMBDA_ENVIRONMENT_BYTES}"))
    refused = [
        key for key in variables if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key) or key in LAMBDA_RESERVED_KEYS
    ]
    if refused:
        found.append(
            LimitViolation(r.name, "environment", refused, "names of letters, digits and _, not Lambda's reserved ones")
        )
    handler = inputs.get("handler")
    if isinstance(handler, str) and len(handler) > LAMBDA_HANDLER_LENGTH:
        found.append(LimitViolation(r.name, "handler", handler, f"at most {LAMBDA_HANDLER_LENGTH} characters"))
    timeout = inputs.get("timeout")
    if timeout is not None and not 1 <= timeout <= LAMBDA_TIMEOUT_SECONDS:
        found.append(LimitViolation(r.name, "timeout", timeout, f"1 to {LAMBDA_TIMEOUT_SECONDS} seconds"))
    memory = inputs.get("memorySize")
    low, high = LAMBDA_MEMORY_MB
    if memory is not None and not low <= memory <= high:
        found.append(LimitViolation(r.name, "memorySize", memory, f"{low} to {high} MB"))
    return found


def _task_definition_violations(r: Registered) -> list[LimitViolation]:
    found = []
    containers = r.inputs.get("containerDefinitions")
    text = containers if isinstance(containers, str) else json.dumps(containers or [])
    if len(text.encode()) > TASK_DEFINITION_BYTES:
        found.append(
            LimitViolation(
                r.name, "containerDefinitions", f"{len(text.encode())} bytes", f"at most {TASK_DEFINITION_BYTES}"
            )
        )
    for container in json.loads(text) if text.startswith("[") else ():
        image = str(container.get("image", ""))
        if len(image) > IMAGE_REFERENCE_LENGTH:
            found.append(LimitViolation(r.name, "image", image, f"at most {IMAGE_REFERENCE_LENGTH} characters"))
    return found


def _deployment_group_violations(r: Registered) -> list[LimitViolation]:
    found = []
    alarms = [alarm for alarm in (r.inputs.get("alarmConfiguration") or {}).get("alarms") or ()]
    if len(alarms) > ALARMS_PER_DEPLOYMENT_GROUP:
        found.append(LimitViolation(r.name, "alarms", len(alarms), f"at most {ALARMS_PER_DEPLOYMENT_GROUP}"))
    arns = [alarm for alarm in alarms if str(alarm).startswith("arn:")]
    if arns:
        found.append(LimitViolation(r.name, "alarms", arns, "alarm names: CodeDeploy looks alarms up by name"))
    wait = (
        (r.inputs.get("blueGreenDeploymentConfig") or {}).get("terminateBlueInstancesOnDeploymentSuccess") or {}
    ).get("terminationWaitTimeInMinutes")
    if wait is not None and not 0 <= wait <= CODEDEPLOY_WAIT_MINUTES:
        found.append(LimitViolation(r.name, "terminationWaitTimeInMinutes", wait, f"0 to {CODEDEPLOY_WAIT_MINUTES}"))
    return found


def dashboard_body_problems(body: Any) -> list[tuple[Any, str]]:
    """(what, what AWS allows) for each way a dashboard body (PutDashboard's DashboardBody, JSON
    text) breaks AWS's published structure and limits: its widgets, their place on the grid, the
    properties each type requires, the metrics and alarms they hold. Empty when AWS would take it,
    and for a body not known yet (not a string: unknown until `pulumi up`)."""
    if not isinstance(body, str):
        return []
    try:
        document = json.loads(body)
    except ValueError as error:
        return [(f"not JSON ({error})", "a JSON object")]
    widgets = document.get("widgets") if isinstance(document, dict) else None
    if not isinstance(widgets, list):
        return [("no widgets array", "a JSON object with a widgets array (it may be empty)")]
    found: list[tuple[Any, str]] = []
    if len(widgets) > DASHBOARD_WIDGETS:
        found.append((f"{len(widgets)} widgets", f"at most {DASHBOARD_WIDGETS}"))
    metrics = 0
    for index, widget in enumerate(widgets):
        problems, count = _widget_problems(widget)
        found += [(f"widget {index}: {what}", allowed) for what, allowed in problems]
        metrics += count
    if metrics > DASHBOARD_METRICS:
        found.append((f"{metrics} metrics", f"at most {DASHBOARD_METRICS} across all widgets"))
    return found


def _widget_problems(widget: Any) -> tuple[list[tuple[Any, str]], int]:
    """A widget's problems, and how many metrics and expressions it holds."""
    if not isinstance(widget, dict):
        return [(repr(widget), "a widget object")], 0
    found: list[tuple[Any, str]] = []
    kind, properties = widget.get("type"), widget.get("properties")
    if kind not in DASHBOARD_WIDGET_TYPES:
        found.append((f"type {kind!r}", f"one of {', '.join(sorted(DASHBOARD_WIDGET_TYPES))}"))
    if not isinstance(properties, dict):
        return [*found, ("no properties", "a properties object")], 0
    x, y, width, height = (widget.get(key) for key in ("x", "y", "width", "height"))
    columns = DASHBOARD_GRID_COLUMNS
    if (x is None) != (y is None):
        found.append((f"x {x!r}, y {y!r}", "both x and y, or neither"))
    if x is not None and not (isinstance(x, int) and 0 <= x < columns):
        found.append((f"x {x!r}", f"0 to {columns - 1}"))
    if y is not None and not (isinstance(y, int) and y >= 0):
        found.append((f"y {y!r}", "0 or more"))
    if width is not None and not (isinstance(width, int) and 1 <= width <= columns):
        found.append((f"width {width!r}", f"1 to {columns}"))
    if height is not None and not (isinstance(height, int) and 1 <= height <= DASHBOARD_WIDGET_HEIGHT):
        found.append((f"height {height!r}", f"1 to {DASHBOARD_WIDGET_HEIGHT}"))
    if isinstance(x, int) and isinstance(width, int) and x + width > columns:
        found.append((f"x {x} + width {width}", f"within the grid's {columns} columns"))
    # An alarm widget's alarms are counted below.
    required = {"metric": ("region",), "log": ("region", "query"), "text": ("markdown",)}
    found += [(f"{kind} widget without {key}", f"a {key}") for key in required.get(kind, ()) if not properties.get(key)]
    count = 0
    if kind == "metric":
        listed = properties.get("metrics") or []
        alarm_annotations = (properties.get("annotations") or {}).get("alarms")
        if not listed and not alarm_annotations:
            found.append(("metric widget without metrics", "metrics, or an alarm annotation"))
        count = len(listed)
        if count > DASHBOARD_METRICS_PER_WIDGET:
            found.append((f"{count} metrics", f"at most {DASHBOARD_METRICS_PER_WIDGET} in a widget"))
    elif kind == "alarm":
        alarms = properties.get("alarms") or []
        if not 1 <= len(alarms) <= DASHBOARD_ALARM_WIDGET_ALARMS:
            found.append((f"{len(alarms)} alarms", f"1 to {DASHBOARD_ALARM_WIDGET_ALARMS} alarm ARNs"))
        found += [(alarm, "an alarm ARN") for alarm in alarms if not str(alarm).startswith("arn:")]
    elif kind == "log" and properties.get("query") and not str(properties["query"]).startswith("SOURCE "):
        found.append(("log widget query", "SOURCE '<log group>' first"))
    return found, count
