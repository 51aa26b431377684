"""rollback-guard: Pulumi components that give AWS services automatic rollback.

    from rollback_guard import EcsServiceWithRollback, LambdaCanary, DeliveryPipeline

Importing this package imports nothing: it is shipped to Lambda with the hook handlers
(rollback_guard.hooks), where Pulumi is not installed. Each name below is imported from its module
the first time it is used (PEP 562), so `import rollback_guard.hooks.judge` stays free of Pulumi
while a program gets every component and option from one place.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Each public name and the module that defines it.
_EXPORTS = {
    "EcsServiceWithRollback": "rollback_guard.components.service",
    "EcsServiceWithRollbackArgs": "rollback_guard.components.service",
    "EcsRelease": "rollback_guard.components.service",
    "ServiceAlarms": "rollback_guard.components.service",
    "LoadBalancerOptions": "rollback_guard.components.service",
    "Container": "rollback_guard.components.ecs_service",
    "CodeDeployBlueGreen": "rollback_guard.components.ecs_service",
    "Rolling": "rollback_guard.components.ecs_service",
    "NativeShift": "rollback_guard.components.ecs_service",
    "HealthCheck": "rollback_guard.components.load_balancer",
    "NewVpc": "rollback_guard.components.network",
    "ExistingVpc": "rollback_guard.components.network",
    "Network": "rollback_guard.components.network",
    "LambdaCanary": "rollback_guard.components.lambda_canary",
    "LambdaCanaryArgs": "rollback_guard.components.lambda_canary",
    "AlarmEvaluation": "rollback_guard.components.alarms",
    "JudgeOptions": "rollback_guard.components.canary_judge",
    "TimeBasedShift": "rollback_guard.components.codedeploy",
    "DeploymentLog": "rollback_guard.components.deployment_log",
    "DeliveryPipeline": "rollback_guard.components.delivery",
    "DeliveryPipelineArgs": "rollback_guard.components.delivery",
    "PipelineSource": "rollback_guard.components.pipeline",
    "BuildReport": "rollback_guard.components.pipeline",
    "UnsafeConfiguration": "rollback_guard.policy.rules",
}

# Spelled out, as type checkers read it; a test keeps it, _EXPORTS and the block below in step.
__all__ = [
    "AlarmEvaluation",
    "BuildReport",
    "CodeDeployBlueGreen",
    "Container",
    "DeliveryPipeline",
    "DeliveryPipelineArgs",
    "DeploymentLog",
    "EcsRelease",
    "EcsServiceWithRollback",
    "EcsServiceWithRollbackArgs",
    "ExistingVpc",
    "HealthCheck",
    "JudgeOptions",
    "LambdaCanary",
    "LambdaCanaryArgs",
    "LoadBalancerOptions",
    "NativeShift",
    "Network",
    "NewVpc",
    "PipelineSource",
    "Rolling",
    "ServiceAlarms",
    "TimeBasedShift",
    "UnsafeConfiguration",
    "__version__",
]

if TYPE_CHECKING:  # What type checkers and editors see; at run time __getattr__ imports on first use.
    from rollback_guard.components.alarms import AlarmEvaluation
    from rollback_guard.components.canary_judge import JudgeOptions
    from rollback_guard.components.codedeploy import TimeBasedShift
    from rollback_guard.components.delivery import DeliveryPipeline, DeliveryPipelineArgs
    from rollback_guard.components.deployment_log import DeploymentLog
    from rollback_guard.components.ecs_service import CodeDeployBlueGreen, Container, NativeShift, Rolling
    from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
    from rollback_guard.components.load_balancer import HealthCheck
    from rollback_guard.components.network import ExistingVpc, Network, NewVpc
    from rollback_guard.components.pipeline import BuildReport, PipelineSource
    from rollback_guard.components.service import (
        EcsRelease,
        EcsServiceWithRollback,
        EcsServiceWithRollbackArgs,
        LoadBalancerOptions,
        ServiceAlarms,
    )
    from rollback_guard.policy.rules import UnsafeConfiguration


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rollback_guard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # Imported once: later lookups do not come back here.
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
