"""Policy: the stack files are a mapping from YAML keys to the components' Args, not a second set of
rules. Every value a stack file refuses for a key that maps to an Args field, the component used
directly refuses too, before anything is created; and every rule across keys or for production
that the stack files apply, the component applies."""

import typing
from dataclasses import replace

import pydantic
import pytest

import settings
from ops.offline import use_config
from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.canary_judge import JudgeOptions
from rollback_guard.components.codedeploy import TimeBasedShift
from rollback_guard.components.delivery import DeliveryPipeline, DeliveryPipelineArgs
from rollback_guard.components.ecs_service import Container, NativeShift, Rolling
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.load_balancer import HealthCheck
from rollback_guard.components.network import ExistingVpc
from rollback_guard.components.pipeline import PipelineSource
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from rollback_guard.testing import run
from settings import Declared, SettingsError, load_settings
from tests.library_use import GREETER, NGINX, VPC, refused_before_anything_exists
from tests.scenarios import greeter, web

SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"


def service(production: bool = False, **args) -> EcsServiceWithRollback:
    floors = {"load_balancer": LoadBalancerOptions(certificate_arn=CERTIFICATE)} if production else {}
    args = {"network": VPC, "container": NGINX, "production": production} | floors | args
    return EcsServiceWithRollback("web", EcsServiceWithRollbackArgs(**args))


def canary(production: bool = False, **args) -> LambdaCanary:
    base = {"code_path": GREETER, "handler": "app.handler", "smoke_events": [SMOKE_EVENT], "production": production}
    return LambdaCanary("greeter", LambdaCanaryArgs(**base | args))


# The path by which a refusal names a field of each options class, from the component's own Args.
PATHS = {
    EcsServiceWithRollbackArgs: "EcsServiceWithRollbackArgs",
    Container: "EcsServiceWithRollbackArgs.container",
    ExistingVpc: "EcsServiceWithRollbackArgs.network",
    LoadBalancerOptions: "EcsServiceWithRollbackArgs.load_balancer",
    HealthCheck: "EcsServiceWithRollbackArgs.load_balancer.health_check",
    EcsRelease: "EcsServiceWithRollbackArgs.release",
    Rolling: "EcsServiceWithRollbackArgs.release.strategy",
    NativeShift: "EcsServiceWithRollbackArgs.release.strategy",
    ServiceAlarms: "EcsServiceWithRollbackArgs.alarms",
    AlarmEvaluation: "EcsServiceWithRollbackArgs.alarms.evaluation",
    LambdaCanaryArgs: "LambdaCanaryArgs",
    JudgeOptions: "LambdaCanaryArgs.judge",
    TimeBasedShift: "LambdaCanaryArgs.deployment_config",
    PipelineSource: "DeliveryPipelineArgs.source",
}


def _path_to(args_class: type) -> str:
    return PATHS[args_class]


# Where each Args class sits in a component a user builds: the program that puts `value` in `field`.
HOMES = {
    EcsServiceWithRollbackArgs: lambda field, value: service(**{field: value}),
    Container: lambda field, value: service(container=replace(NGINX, **{field: value})),
    ExistingVpc: lambda field, value: service(network=replace(VPC, **{field: value})),
    LoadBalancerOptions: lambda field, value: service(load_balancer=LoadBalancerOptions(**{field: value})),
    HealthCheck: lambda field, value: service(
        load_balancer=LoadBalancerOptions(health_check=HealthCheck(**{field: value}))
    ),
    EcsRelease: lambda field, value: service(release=EcsRelease(**{field: value})),
    Rolling: lambda field, value: service(release=EcsRelease(strategy=Rolling(**{field: value}))),
    NativeShift: lambda field, value: service(
        release=EcsRelease(
            strategy=NativeShift(
                **(
                    {"strategy": "CANARY", "canary_percent": 10, "canary_bake_minutes": 10}
                    if field.startswith("canary")
                    else {"strategy": "LINEAR", "step_percent": 10, "step_bake_minutes": 1}
                )
                | {field: value}
            )
        )
    ),
    ServiceAlarms: lambda field, value: service(alarms=ServiceAlarms(**{field: value})),
    AlarmEvaluation: lambda field, value: service(alarms=ServiceAlarms(evaluation=AlarmEvaluation(**{field: value}))),
    LambdaCanaryArgs: lambda field, value: canary(**{field: value}),
    JudgeOptions: lambda field, value: canary(judge=JudgeOptions(**{field: value})),
    PipelineSource: lambda field, value: DeliveryPipeline(
        "release",
        DeliveryPipelineArgs(
            source=PipelineSource(**{"repository": "acme/shop", field: value}),
            smoke_endpoints=[{"path": "/"}],
            test_commands=["make test"],
            url_output="serviceUrl",
            alarm_names_output="rollbackAlarmNames",
        ),
    ),
    TimeBasedShift: lambda field, value: canary(
        deployment_config=TimeBasedShift(**{"kind": "linear", "percentage": 10, "interval_minutes": 1, field: value})
    ),
}


def _marks(annotation) -> list:
    """The Declared marks in an annotation, through `X | None` and Annotated."""
    found = []
    for metadata in getattr(annotation, "__metadata__", ()):
        if isinstance(metadata, Declared):
            found.append(metadata)
    for argument in typing.get_args(annotation):
        found += _marks(argument)
    return found


def _sections() -> list[type[pydantic.BaseModel]]:
    return [
        value
        for value in vars(settings).values()
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel) and value.__module__ == "settings"
    ]


def declared_keys() -> list[tuple[type, str, Declared, object]]:
    """(section, key, the Args field it takes, its annotation) for every stack-file key that takes a
    component's field."""
    found = []
    for section in _sections():
        for key, info in section.model_fields.items():
            annotation = typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            found += [(section, key, mark, annotation) for mark in _marks(annotation)]
    return found


def refused_values(rule) -> list:
    """Values just outside what `rule` allows, and values of the wrong kind."""
    schema = rule.schema()
    candidates = ["", " not allowed ", "x" * 2000, True, -1, 0, 10**9, 1.5, "latest"]
    for bound in ("minimum", "exclusiveMinimum"):
        if bound in schema:
            candidates += [schema[bound] - 1, schema[bound] - 0.05, schema[bound]]
    if "maximum" in schema:
        candidates += [schema["maximum"] + 1, schema["maximum"] + 0.05]
    return [value for value in candidates if not rule.allows(value)]


KEYS = declared_keys()


def test_the_stack_files_take_most_of_their_keys_from_the_components():
    assert len(KEYS) >= 40, [f"{section.__name__}.{key}" for section, key, _, _ in KEYS]
    assert {mark.args_class for _, _, mark, _ in KEYS} <= set(HOMES)


@pytest.mark.parametrize("section, key, mark, annotation", KEYS, ids=[f"{s.__name__}.{k}" for s, k, _, _ in KEYS])
def test_a_value_the_stack_file_refuses_for_a_key_the_component_refuses_used_directly(section, key, mark, annotation):
    from rollback_guard.components.arguments import rule_of

    rule = rule_of(mark.args_class, mark.field)
    adapter = pydantic.TypeAdapter(annotation)
    checked = 0
    for value in refused_values(rule):
        try:
            adapter.validate_python(value, strict=True)
        except pydantic.ValidationError:
            pass
        else:
            continue  # the stack file takes it (a None the key allows): nothing to match
        found = refused_before_anything_exists(lambda value=value: HOMES[mark.args_class](mark.field, value))
        assert f"{mark.args_class.__name__}.{mark.field} = {value!r}" in found or (
            f"{_path_to(mark.args_class)}.{mark.field} = {value!r}" in found
        ), found
        checked += 1
    assert checked, f"no refused value tried for {mark}"


# --- rules across keys and production floors: (what, stack, stack-file overlay, the component's program)
CROSS_RULES = [
    (
        "a memory Fargate does not pair with the CPU",
        "staging",
        web({"cpu": 256, "memory": 4096}),
        lambda: service(container=replace(NGINX, cpu=256, memory=4096)),
    ),
    ("production runs two tasks", "prod", web({"desiredCount": 1}), lambda: service(True, desired_count=1)),
    ("production keeps logs", "prod", web({"logRetentionDays": 14}), lambda: service(True, log_retention_days=14)),
    (
        "production pins its image tag",
        "prod",
        web({"tag": "latest"}),
        lambda: service(True, container=replace(NGINX, tag="latest")),
    ),
    (
        "production keeps blue while a late alarm can fire",
        "prod",
        web(deployment={"terminationWaitMinutes": 5}),
        lambda: service(True, release=EcsRelease(termination_wait_minutes=5)),
    ),
    (
        "production shifts gradually",
        "prod",
        web(deployment={"config": "CodeDeployDefault.ECSAllAtOnce"}),
        lambda: service(True, release=EcsRelease(config="CodeDeployDefault.ECSAllAtOnce")),
    ),
    (
        "production rolls back before a tenth of requests fail",
        "prod",
        web(alarms={"errorRatePercent": 20}),
        lambda: service(True, alarms=ServiceAlarms(error_rate_percent=20)),
    ),
    (
        "an alarm cannot need more datapoints than it evaluates",
        "staging",
        web(alarms={"datapointsToAlarm": 4}),
        lambda: service(alarms=ServiceAlarms(evaluation=AlarmEvaluation(datapoints_to_alarm=4))),
    ),
    (
        "a production certificate is in the stack's region",
        "prod",
        web(loadBalancer={"certificateArn": CERTIFICATE.replace("us-east-1", "eu-west-1")}),
        lambda: service(
            True, load_balancer=LoadBalancerOptions(certificate_arn=CERTIFICATE.replace("us-east-1", "eu-west-1"))
        ),
    ),
    (
        "a smoke event outlasts the function's cold start",
        "staging",
        greeter({"timeoutSeconds": 30, "checkTimeoutSeconds": 20}),
        lambda: canary(timeout_seconds=30, check_timeout_seconds=20),
    ),
    (
        "production watches at least 10 minutes after the last shift",
        "prod",
        greeter({"watchMinutes": 8}),
        lambda: canary(True, watch_minutes=8),
    ),
    (
        "production's judge probes",
        "prod",
        greeter({"judge": {"maxProbesPerRelease": 0}}),
        lambda: canary(True, judge=JudgeOptions(max_probes_per_release=0)),
    ),
    (
        "production keeps a function's logs",
        "prod",
        greeter({"logRetentionDays": 7}),
        lambda: canary(True, log_retention_days=7),
    ),
    (
        "a handler names a file that is there",
        "staging",
        greeter({"handler": "main.handler"}),
        lambda: canary(handler="main.handler"),
    ),
]


@pytest.mark.parametrize("what, stack, overlay, program", CROSS_RULES, ids=[case[0] for case in CROSS_RULES])
def test_a_rule_across_keys_or_for_production_holds_for_the_component_too(what, stack, overlay, program):
    use_config(stack, overlay)
    with pytest.raises(SettingsError):
        load_settings()
    refused_before_anything_exists(program, config={"aws:region": "us-east-1"})


@pytest.mark.parametrize("production", [False, True])
def test_the_baselines_the_cases_start_from_are_accepted(production):
    built = run(lambda: (service(production), canary(production)), stack="prod" if production else "staging")
    assert built.monitor.registered
