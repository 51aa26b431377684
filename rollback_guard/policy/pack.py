"""Rollback safety as CrossGuard policies, for ANY Pulumi program on AWS: raw `pulumi_aws`
resources are checked as they are, whether or not rollback-guard's components built them.

The rules are those of rules.py, which the components enforce on their own arguments:

- every CodeDeploy deployment group rolls back on alarm, with at least one alarm;
- what CodeDeploy changes during a release is left to it: an ECS service under the CODE_DEPLOY
  controller ignores its task definition and load balancers, a listener on a CodeDeploy traffic
  route its default actions, and, in a stack that releases Lambda through CodeDeploy, an alias
  its version and routing (unless the alias is listed in `aliasesOutsideCodeDeploy`);
- in a production stack (its name in `productionStacks`, by default prod and production):
  traffic shifts gradually, blue is kept at least 10 minutes after the shift, load balancers,
  tables and databases keep deletion protection, and stateful data is protected from deletion;
- and nothing is created that AWS would refuse partway through `pulumi up` (rollback_guard.limits:
  IAM document sizes, names, Lambda's limits, log retention values, alarm names not ARNs).

A value still unknown during a preview (an ARN not yet created) cannot be checked then: the SDK says
so as an advisory note, and `pulumi up` runs the policy again with the value known.
`retainOnDelete` is not visible to policies; `protect` is. Requires the `policy` extra
(pulumi-policy); policy-pack/ is the pack itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rollback_guard import limits
from rollback_guard.policy import rules

DEPLOYMENT_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
DEPLOYMENT_CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"
CODEDEPLOY_APPLICATION = "aws:codedeploy/application:Application"
ECS_SERVICE = "aws:ecs/service:Service"
LAMBDA_ALIAS = "aws:lambda/alias:Alias"
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")

# What CodeDeploy changes during a release, which Pulumi must not set back (the DESIGN facts).
CODEDEPLOY_OWNED = {
    ECS_SERVICE: ("taskDefinition", "loadBalancers"),
    LAMBDA_ALIAS: ("functionVersion", "routingConfig"),
    **dict.fromkeys(LISTENERS, ("defaultActions",)),
}
# The property that keeps each deletable resource from being deleted by an API call.
DELETION_PROTECTION = {
    "aws:lb/loadBalancer:LoadBalancer": "enableDeletionProtection",
    "aws:alb/loadBalancer:LoadBalancer": "enableDeletionProtection",
    "aws:dynamodb/table:Table": "deletionProtectionEnabled",
    "aws:rds/instance:Instance": "deletionProtection",
    "aws:rds/cluster:Cluster": "deletionProtection",
}
STATEFUL = (
    "aws:dynamodb/table:Table",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
)
# As this project's settings read a stack's name (settings.stack_environment).
DEFAULT_PRODUCTION_STACKS = ("prod", "production", "prod-*", "production-*")
PRODUCTION = PolicyConfigSchema(
    properties={
        "productionStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_PRODUCTION_STACKS),
            "description": "The stacks production floors apply to: names or shell-style patterns.",
        }
    }
)
ALIASES = PolicyConfigSchema(
    properties={
        "aliasesOutsideCodeDeploy": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Resource names of Lambda aliases Pulumi manages although the stack uses CodeDeploy.",
        }
    }
)
# CodeDeploy's own default when a group names no config moves ECS and Lambda traffic at once.
UNSET_CONFIG = "no deployment config: CodeDeploy's default moves all traffic at once"


def stack_of(urn: str) -> str:
    """The stack a resource belongs to: urn:pulumi:<stack>::<project>::<type>::<name>."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def _production(args: ResourceValidationArgs) -> bool:
    stack = stack_of(args.urn)
    patterns = args.get_config().get("productionStacks", DEFAULT_PRODUCTION_STACKS)
    # Case-insensitive, as the stacks' settings read a name: Prod is production.
    return any(fnmatch.fnmatchcase(stack.lower(), pattern.lower()) for pattern in patterns)


def _report_each(report: ReportViolation, what: str, violations: Iterable[str]) -> None:
    for violation in violations:
        report(f"{what}: {violation}", None)


# --- every stack


def _rolls_back_on_alarm(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DEPLOYMENT_GROUP:
        return
    alarms = args.props.get("alarmConfiguration") or {}
    rollback = args.props.get("autoRollbackConfiguration") or {}
    _report_each(
        report,
        f"deployment group {args.name}",
        rules.rollback_on_alarm(
            alarm_names=alarms.get("alarms") or [],
            alarms_enabled=bool(alarms.get("enabled")),
            rollback_events=rollback.get("events") or [],
            rollback_enabled=bool(rollback.get("enabled")),
        ),
    )


def _codedeploy_owned_properties_ignored(args: StackValidationArgs, report: ReportViolation) -> None:
    """Stack-wide: which listeners and aliases CodeDeploy moves depends on other resources."""
    resources = args.resources
    routed_listeners = {
        arn for group in _of(resources, DEPLOYMENT_GROUP) for arn in _traffic_route_listeners(group.props)
    }
    releases_lambda = any(
        app.props.get("computePlatform") == "Lambda" for app in _of(resources, CODEDEPLOY_APPLICATION)
    )
    outside = set(args.get_config().get("aliasesOutsideCodeDeploy", []))
    for resource in resources:
        kind = resource.resource_type
        if kind == ECS_SERVICE:
            moved = (resource.props.get("deploymentController") or {}).get("type") == "CODE_DEPLOY"
        elif kind == LAMBDA_ALIAS:
            moved = releases_lambda and resource.name not in outside
        elif kind in LISTENERS:
            moved = resource.props.get("arn") in routed_listeners
        else:
            continue
        forgotten = [p for p in CODEDEPLOY_OWNED[kind] if moved and p not in resource.opts.ignore_changes]
        if forgotten:
            report(
                f"{resource.name}: CodeDeploy changes {', '.join(forgotten)} during a release; without "
                f"ignore_changes={list(CODEDEPLOY_OWNED[kind])} the next `pulumi up` sets it back and undoes the "
                "release or its rollback",
                resource.urn,
            )


def _of(resources: list[PolicyResource], kind: str) -> list[PolicyResource]:
    return [resource for resource in resources if resource.resource_type == kind]


def _traffic_route_listeners(group: Mapping[str, Any]) -> list[str]:
    pair = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfo") or {}
    return [
        arn
        for route in ("prodTrafficRoute", "testTrafficRoute")
        for arn in (pair.get(route) or {}).get("listenerArns") or []
    ]


# --- production stacks


def _shifts_gradually(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _production(args):
        return
    props, what = args.props, f"{args.resource_type.rsplit(':', 1)[1]} {args.name}"
    if args.resource_type == DEPLOYMENT_GROUP:
        config = props.get("deploymentConfigName")
        found = rules.gradual_shift(config or UNSET_CONFIG, config is None or config in rules.ALL_AT_ONCE_CONFIGS, True)
    elif args.resource_type == DEPLOYMENT_CONFIG:
        routing = props.get("trafficRoutingConfig") or {}
        steps = [routing.get("timeBasedCanary") or {}, routing.get("timeBasedLinear") or {}]
        one_step = routing.get("type") in (None, "AllAtOnce") or any(s.get("percentage", 0) >= 100 for s in steps)
        found = rules.gradual_shift(props.get("deploymentConfigName") or args.name, one_step, True)
    elif args.resource_type == ECS_SERVICE:
        native = props.get("deploymentConfiguration") or {}
        found = rules.ecs_shift(
            native_strategy=native.get("strategy"),
            canary_percent=(native.get("canaryConfiguration") or {}).get("canaryPercent"),
            step_percent=(native.get("linearConfiguration") or {}).get("stepPercent"),
            # A rolling update with no healthy minimum may stop every task before starting new ones.
            minimum_healthy_percent=props.get("deploymentMinimumHealthyPercent"),
            production=True,
        )
    else:
        return
    _report_each(report, what, found)


def _keeps_blue(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _production(args):
        return
    props = args.props
    if args.resource_type == DEPLOYMENT_GROUP and props.get("ecsService"):
        termination = (props.get("blueGreenDeploymentConfig") or {}).get("terminateBlueInstancesOnDeploymentSuccess")
        termination = termination or {}
        kept = (
            None
            if termination.get("action") == "KEEP_ALIVE"
            else int(termination.get("terminationWaitTimeInMinutes", 0))
        )
        _report_each(report, f"deployment group {args.name}", rules.blue_kept(kept, True))
    elif args.resource_type == ECS_SERVICE:
        native = props.get("deploymentConfiguration") or {}
        if native.get("strategy") in ("BLUE_GREEN", "CANARY", "LINEAR"):
            bake = int(native.get("bakeTimeInMinutes") or 0)
            _report_each(report, f"ECS service {args.name}", rules.rollback_window(bake, "bake time", True))


def _deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    setting = DELETION_PROTECTION.get(args.resource_type)
    if setting and _production(args) and args.props.get(setting) is not True:
        report(f"{args.name}: production keeps deletion protection on ({setting}: true)", None)


def _stateful_data_retained(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in STATEFUL and _production(args) and not args.opts.protect:
        report(
            f"{args.name}: production data is protected from deletion (protect=True, and retain_on_delete=True so "
            "Pulumi never deletes it either)",
            None,
        )


@dataclass(frozen=True)
class _Resource:
    type: str
    name: str
    inputs: Mapping[str, Any]


def _within_aws_limits(args: StackValidationArgs, report: ReportViolation) -> None:
    """Stack-wide: a role's inline policies count together."""
    resources = {r.name: r for r in args.resources}
    found = limits.limit_violations(_Resource(r.resource_type, r.name, r.props) for r in args.resources)
    for violation in found:
        resource = resources.get(violation.resource)
        report(f"AWS would refuse {violation}", resource.urn if resource else None)


POLICIES = [
    ResourceValidationPolicy(
        name="codedeploy-rolls-back-on-alarm",
        description="Every CodeDeploy deployment group rolls back on alarm and on failure, with at least one alarm.",
        validate=_rolls_back_on_alarm,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="codedeploy-owned-properties-ignored",
        description="ECS services, listeners and Lambda aliases under CodeDeploy ignore what CodeDeploy changes.",
        validate=_codedeploy_owned_properties_ignored,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ALIASES,
    ),
    ResourceValidationPolicy(
        name="production-shifts-gradually",
        description="In production no deployment moves all traffic at once.",
        validate=_shifts_gradually,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION,
    ),
    ResourceValidationPolicy(
        name="production-keeps-blue",
        description="In production blue is kept at least 10 minutes after the shift, while a late alarm can fire.",
        validate=_keeps_blue,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION,
    ),
    ResourceValidationPolicy(
        name="production-deletion-protection",
        description="In production load balancers, tables and databases keep deletion protection on.",
        validate=_deletion_protection,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION,
    ),
    StackValidationPolicy(
        name="within-aws-limits",
        description="Nothing exceeds what AWS accepts: IAM document sizes, names, Lambda's limits, log retention.",
        validate=_within_aws_limits,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="production-stateful-data-retained",
        description="In production tables, buckets, databases and file systems are protected from deletion.",
        validate=_stateful_data_retained,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION,
    ),
]
