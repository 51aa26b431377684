"""AppSpec content for CodeDeploy deployments created from code (revisionType AppSpecContent).

Formats: https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure.html
- Lambda: one AWS::Lambda::Function resource with Name, Alias, CurrentVersion, TargetVersion;
  hooks BeforeAllowTraffic and AfterAllowTraffic (function names).
- ECS: one AWS::ECS::Service resource with TaskDefinition and LoadBalancerInfo (ContainerName,
  ContainerPort); hooks BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic,
  AfterAllowTraffic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

LAMBDA_HOOKS = ("BeforeAllowTraffic", "AfterAllowTraffic")
ECS_HOOKS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


def lambda_appspec(
    function_name: str, alias: str, current_version: str, target_version: str, hooks: Mapping[str, str]
) -> dict:
    _check_hooks(hooks, LAMBDA_HOOKS)
    for name, version in (("CurrentVersion", current_version), ("TargetVersion", target_version)):
        if not str(version).isdigit():
            raise ValueError(f"{name} must be a published version number, not {version!r}")
    return {
        "version": 0.0,
        "Resources": [
            {
                function_name: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function_name,
                        "Alias": alias,
                        "CurrentVersion": str(current_version),
                        "TargetVersion": str(target_version),
                    },
                }
            }
        ],
        "Hooks": [{event: hooks[event]} for event in LAMBDA_HOOKS if event in hooks],
    }


def ecs_appspec(task_definition_arn: str, container_name: str, container_port: int, hooks: Mapping[str, str]) -> dict:
    _check_hooks(hooks, ECS_HOOKS)
    return {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": task_definition_arn,
                        "LoadBalancerInfo": {"ContainerName": container_name, "ContainerPort": container_port},
                    },
                }
            }
        ],
        "Hooks": [{event: hooks[event]} for event in ECS_HOOKS if event in hooks],
    }


def revision(appspec: dict) -> dict:
    """The `revision` argument of CreateDeployment for this AppSpec, with its SHA-256."""
    content = json.dumps(appspec, sort_keys=True)
    return {
        "revisionType": "AppSpecContent",
        "appSpecContent": {"content": content, "sha256": hashlib.sha256(content.encode()).hexdigest()},
    }


def target_of(content: str) -> str | None:
    """The revision an AppSpec moves to: a Lambda TargetVersion, or an ECS task definition as
    family:revision. None for anything else (a YAML AppSpec, another kind of deployment)."""
    try:
        properties = next(iter(json.loads(content)["Resources"][0].values()))["Properties"]
    except (ValueError, KeyError, IndexError, TypeError, StopIteration):
        return None
    if "TargetVersion" in properties:
        return str(properties["TargetVersion"])
    if "TaskDefinition" in properties:
        return task_definition_revision(properties["TaskDefinition"])
    return None


def task_definition_revision(arn: str) -> str:
    """arn:aws:ecs:region:account:task-definition/web-prod:7 -> web-prod:7"""
    return arn.rsplit("/", 1)[-1]


def _check_hooks(hooks: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(hooks) - set(allowed))
    if unknown:
        raise ValueError(f"unknown lifecycle hooks {unknown}; allowed: {', '.join(allowed)}")
