"""Rollback safety as CrossGuard policies, for ANY Pulumi program on AWS: raw `pulumi_aws`
resources are checked as they are, whether or not rollback-guard's components built them.

The rules are those of rules.py, which the components enforce on their own arguments:

- every CodeDeploy deployment group rolls back on alarm, with at least one alarm;
- what CodeDeploy changes during a release is left to it: an ECS service under the CODE_DEPLOY
  controller ignores its task definition and load balancers, a listener on a CodeDeploy traffic
  route its default actions, and a Lambda alias CodeDeploy releases its version and routing;
- in a production stack (its name in `productionStacks`, by default prod and production):
  traffic shifts gradually, and a Lambda alias's weights are shifted by CodeDeploy (which rolls
  back on alarm), not by `pulumi up`; blue is kept at least 10 minutes after the shift, load
  balancers, tables and databases keep deletion protection, and stateful data is protected from
  deletion;
- and nothing is created that AWS would refuse partway through `pulumi up` (rollback_guard.limits:
  IAM document sizes, names, Lambda's limits, log retention values, alarm names not ARNs).

A value still unknown during a preview (an ARN not yet created) cannot be checked then: the SDK says
so as an advisory note, and `pulumi up` runs the policy again with the value known.
`retainOnDelete` is not visible to policies; `protect` is.

Which aliases CodeDeploy releases is judged per alias, from what names it: a release of this
library's (LambdaCanary's) that targets it, or a Lambda deployment group in the same component; a
stack that releases some functions through CodeDeploy may keep other aliases Pulumi's own.

Requires the `policy` extra (pulumi-policy). The pack Pulumi runs is the folder
`python -m rollback_guard.policy` prints (rollback_guard/policy/crossguard-pack), which calls `serve()`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollback_guard.extras import require

require("pulumi_policy", "policy", "the CrossGuard pack (rollback_guard.policy.pack)")

from pulumi_policy import (  # noqa: E402 (after the check that names the extra)
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from rollback_guard import limits  # noqa: E402
from rollback_guard.policy import rules  # noqa: E402

DEPLOYMENT_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
DEPLOYMENT_CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"
CODEDEPLOY_APPLICATION = "aws:codedeploy/application:Application"
ECS_SERVICE = "aws:ecs/service:Service"
LAMBDA_ALIAS = "aws:lambda/alias:Alias"
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
# This library's release (components/release.py), a dynamic resource naming what it deploys.
RELEASE = "pulumi-python:dynamic/release:Release"
ROOT_STACK = "pulumi:pulumi:Stack"

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
OUTSIDE_CODEDEPLOY = {
    "aliasesOutsideCodeDeploy": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Resource names of Lambda aliases Pulumi manages although a deployment group sits beside them.",
    }
}
ALIASES = PolicyConfigSchema(properties=OUTSIDE_CODEDEPLOY)
PRODUCTION_ALIASES = PolicyConfigSchema(properties={**PRODUCTION.properties, **OUTSIDE_CODEDEPLOY})
# CodeDeploy's own default when a group names no config moves ECS and Lambda traffic at once.
UNSET_CONFIG = "no deployment config: CodeDeploy's default moves all traffic at once"


def stack_of(urn: str) -> str:
    """The stack a resource belongs to: urn:pulumi:<stack>::<project>::<type>::<name>."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def _production(args: ResourceValidationArgs) -> bool:
    return _production_stack(stack_of(args.urn), args.get_config())


def _production_stack(stack: str, config: Mapping[str, Any]) -> bool:
    patterns = config.get("productionStacks", DEFAULT_PRODUCTION_STACKS)
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
    released = _aliases_codedeploy_releases(args)
    for resource in resources:
        kind = resource.resource_type
        if kind == ECS_SERVICE:
            moved = (resource.props.get("deploymentController") or {}).get("type") == "CODE_DEPLOY"
        elif kind == LAMBDA_ALIAS:
            moved = resource.urn in released
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


def _aliases_codedeploy_releases(args: StackValidationArgs) -> set[str]:
    """The URNs of the aliases CodeDeploy shifts, each judged by what names it: a release of this
    library's that targets it (function and alias name), or a Lambda deployment group with the same
    parent, a component or, in a program of plain resources, the stack itself (a deployment group
    names no function, so an alias beside one is taken as released: failing closed, as an alias
    Pulumi sets back undoes a rollback). Aliases in `aliasesOutsideCodeDeploy` are Pulumi's whatever
    sits beside them."""
    resources = args.resources
    targets = {
        (target.get("function_name"), target.get("alias"))
        for release in _of(resources, RELEASE)
        if release.props.get("kind") == "lambda"
        for target in [release.props.get("target") or {}]
    }
    lambda_apps = {
        app.props.get("name")
        for app in _of(resources, CODEDEPLOY_APPLICATION)
        if app.props.get("computePlatform") == "Lambda"
    }
    parents_of_lambda_groups = {
        group.opts.parent or ""
        for group in _of(resources, DEPLOYMENT_GROUP)
        if group.props.get("appName") in lambda_apps
    }
    outside = set(args.get_config().get("aliasesOutsideCodeDeploy", []))
    return {
        alias.urn
        for alias in _of(resources, LAMBDA_ALIAS)
        if alias.name not in outside
        and (
            (alias.props.get("functionName"), alias.props.get("name")) in targets
            or (alias.opts.parent or "") in parents_of_lambda_groups
        )
    }


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


def _aliases_shift_through_codedeploy(args: StackValidationArgs, report: ReportViolation) -> None:
    """Stack-wide, as whether CodeDeploy releases an alias depends on other resources."""
    released = _aliases_codedeploy_releases(args)
    config = args.get_config()
    for alias in _of(args.resources, LAMBDA_ALIAS):
        weights = ((alias.props.get("routingConfig") or {}).get("additionalVersionWeights")) or {}
        if not weights or alias.urn in released or not _production_stack(stack_of(alias.urn), config):
            continue
        shifted = ", ".join(f"{float(weight):.0%} to version {version}" for version, weight in sorted(weights.items()))
        report(
            f"{alias.name}: `pulumi up` shifts production traffic itself (routing_config: {shifted}); no alarm "
            "stops the shift and nothing rolls it back. Release the function through a CodeDeploy deployment group "
            "that rolls back on alarm (rollback_guard.LambdaCanary does), and leave functionVersion and "
            "routingConfig to it (ignore_changes)",
            alias.urn,
        )


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


@dataclass
class _Resource:
    """A resource as rollback_guard.limits reads one (limits.Registered)."""

    type: str
    name: str
    # The engine's properties as they are: copying them would read every value, and one unknown
    # during a preview would then stop the whole check.
    inputs: Any


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
        name="production-aliases-shift-through-codedeploy",
        description="In production a Lambda alias's traffic is shifted by CodeDeploy, which rolls back on alarm, "
        "not by weights `pulumi up` sets.",
        validate=_aliases_shift_through_codedeploy,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION_ALIASES,
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


def serve() -> None:
    """Serves the pack to the Pulumi CLI until it stops it: what the pack folder's __main__.py runs
    (so nothing in the library constructs a PolicyPack on import, which would block)."""
    PolicyPack(name="rollback-guard", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
