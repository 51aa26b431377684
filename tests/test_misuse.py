"""Policy for misusing the components: an argument of the wrong kind is refused before anything is
created, naming the argument, the value given and what is allowed, never a KeyError, TypeError or
AttributeError from deep inside."""

import sys

import pytest

from rollback_guard.components.codedeploy import (
    ECS_PREDEFINED_CONFIGS,
    EcsDeploymentGroup,
    EcsDeploymentGroupArgs,
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    TimeBasedShift,
)
from rollback_guard.components.ecs_service import NativeShift
from rollback_guard.components.network import Network, NetworkArgs, NewVpc
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    ServiceAlarms,
)
from rollback_guard.policy.rules import UnsafeConfiguration
from tests.library_use import NGINX, VPC, refused_before_anything_exists


def service(**args) -> EcsServiceWithRollback:
    args = {"network": VPC} | args
    return EcsServiceWithRollback("checkout", EcsServiceWithRollbackArgs(container=NGINX, **args))


def ecs_group(**args) -> EcsDeploymentGroup:
    return EcsDeploymentGroup(
        "checkout-deploy",
        EcsDeploymentGroupArgs(
            cluster_name="c",
            service_name="s",
            blue_target_group_name="blue",
            green_target_group_name="green",
            production_listener_arn="arn:prod",
            rollback=RollbackPolicy(alarm_names=["checkout-5xx"]),
            **args,
        ),
    )


# --- deployment configs belong to their compute platform


def test_an_ecs_release_given_a_lambda_deployment_config_is_refused_naming_the_valid_configs():
    lambda_config = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    found = refused_before_anything_exists(lambda: service(release=EcsRelease(config=lambda_config)))
    assert f"EcsServiceWithRollbackArgs.release.config = '{lambda_config}'" in found
    assert "(Lambda's are not ECS's)" in found
    assert all(config in found for config in ECS_PREDEFINED_CONFIGS)
    assert "TimeBasedShift" in found


def test_a_deployment_group_refuses_another_platforms_config_or_a_misspelt_one():
    found = refused_before_anything_exists(lambda: ecs_group(deployment_config="CodeDeployDefault.LambdaAllAtOnce"))
    assert found.startswith("deployment group checkout-deploy: ")
    assert "deployment_config = 'CodeDeployDefault.LambdaAllAtOnce'" in found
    # AWS spells Lambda's one-minute linear shift in the singular.
    misspelt = "CodeDeployDefault.LambdaLinear10PercentEvery1Minutes"
    found = refused_before_anything_exists(
        lambda: LambdaDeploymentGroup("greeter-deploy", LambdaDeploymentGroupArgs(deployment_config=misspelt))
    )
    assert f"deployment_config = '{misspelt}': a TimeBasedShift or one of the Lambda configs" in found
    assert "CodeDeployDefault.LambdaLinear10PercentEvery1Minute," in found


def test_a_custom_shift_that_moves_nothing_is_refused_naming_its_field():
    found = refused_before_anything_exists(lambda: service(release=EcsRelease(config=TimeBasedShift("linear", 0, 1))))
    assert found.splitlines() == [
        "service checkout: EcsServiceWithRollbackArgs.release.config.percentage = 0: a whole number from 1 to 100 % "
        "(100 moves all traffic at once)"
    ], "named once"


# --- numbers and flags are numbers and flags


def test_a_count_given_as_text_is_refused_naming_the_argument_and_the_value():
    found = refused_before_anything_exists(lambda: service(desired_count="3", production=True))
    assert (
        "service checkout: EcsServiceWithRollbackArgs.desired_count = '3': a whole number from 1 to 1000 tasks "
        "(production at least 2), not str"
    ) in found


def test_a_nested_number_of_the_wrong_type_is_refused_by_its_path():
    found = refused_before_anything_exists(
        lambda: service(release=EcsRelease(termination_wait_minutes="15"), alarms=ServiceAlarms(error_rate_percent="1"))
    )
    assert found.splitlines() == [
        "service checkout: EcsServiceWithRollbackArgs.release.termination_wait_minutes = '15': a whole number from 0 "
        "to 2880 minutes (production at least 10), not str",
        "service checkout: EcsServiceWithRollbackArgs.alarms.error_rate_percent = '1': a percentage above 0 and below "
        "100 (at 100 the alarm can never fire); production at most 10, not str",
    ]


def test_a_flag_is_not_a_count_nor_a_count_a_flag():
    assert "desired_count = True: a whole number from 1 to 1000 tasks" in refused_before_anything_exists(
        lambda: service(desired_count=True)
    )
    assert "production = 'yes': True or False, not str" in refused_before_anything_exists(
        lambda: service(production="yes")
    )


# --- the network is a network


def test_a_cidr_block_given_as_the_network_is_refused_naming_the_accepted_types():
    found = refused_before_anything_exists(lambda: service(network="10.0.0.0/16"))
    assert found == (
        "service checkout: EcsServiceWithRollbackArgs.network = '10.0.0.0/16': NewVpc, ExistingVpc or Network, not str "
        "(a CIDR block goes in NewVpc(cidr_block='10.0.0.0/16'))"
    )


def test_a_network_given_a_cidr_block_as_its_vpc_is_refused_too():
    found = refused_before_anything_exists(lambda: Network("shared", NetworkArgs(vpc="10.0.0.0/16")))
    assert found.startswith("network shared: NetworkArgs.vpc = '10.0.0.0/16': NewVpc or ExistingVpc, not str")


# --- ECS-native shifts come with their fields


def test_a_native_canary_without_its_share_and_bake_time_is_refused_naming_both():
    with pytest.raises(UnsafeConfiguration) as refused:
        NativeShift("CANARY")
    assert str(refused.value).splitlines() == [
        "NativeShift('CANARY'): NativeShift.canary_percent = None: required with strategy 'CANARY'",
        "NativeShift('CANARY'): NativeShift.canary_bake_minutes = None: required with strategy 'CANARY'",
    ]


def test_a_native_linear_shift_without_its_step_is_refused_and_an_unknown_strategy_named():
    with pytest.raises(UnsafeConfiguration, match="step_percent = None: required with strategy 'LINEAR'"):
        NativeShift("LINEAR", step_bake_minutes=1)
    with pytest.raises(UnsafeConfiguration, match="strategy = 'ROLLING': one of BLUE_GREEN, CANARY, LINEAR"):
        NativeShift("ROLLING")


# --- how a refusal reads


def test_a_refusal_lists_one_problem_per_line_each_naming_what_refused_it():
    refusal = UnsafeConfiguration("service checkout", ["desired_count 1: at least 2", "log_retention_days 7: 30"])
    assert str(refusal).splitlines() == [
        "service checkout: desired_count 1: at least 2",
        "service checkout: log_retention_days 7: 30",
    ]
    assert refusal.violations == ["desired_count 1: at least 2", "log_retention_days 7: 30"]


# --- a missing extra is named with its install command


def test_a_new_vpc_without_the_vpc_extra_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pulumi_awsx", None)  # as if pulumi-awsx were not installed
    found = refused_before_anything_exists(lambda: service(network=NewVpc("10.0.0.0/16")), error=ModuleNotFoundError)
    assert "pip install 'rollback-guard[vpc]'" in found
    assert "ExistingVpc" in found
