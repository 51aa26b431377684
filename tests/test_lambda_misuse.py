"""Policy for misusing a Lambda canary: an argument of the wrong kind is refused before anything is
created, naming the argument, the value given and what is allowed."""

from rollback_guard.components.codedeploy import LAMBDA_PREDEFINED_CONFIGS
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from tests.library_use import GREETER, refused_before_anything_exists

SMOKE_EVENT = {"name": "greets", "payload": {"name": "smoke"}, "expect": {"statusCode": 200}}


def canary(**args) -> LambdaCanary:
    args = {"smoke_events": [SMOKE_EVENT]} | args
    return LambdaCanary("greeter", LambdaCanaryArgs(code_path=GREETER, handler="app.handler", **args))


def test_a_lambda_canary_given_an_ecs_deployment_config_is_refused_naming_the_valid_configs():
    ecs_config = "CodeDeployDefault.ECSCanary10Percent5Minutes"
    found = refused_before_anything_exists(lambda: canary(deployment_config=ecs_config))
    assert (
        f"LambdaCanaryArgs.deployment_config = '{ecs_config}': a TimeBasedShift or one of the Lambda configs" in found
    )
    assert "(ECS's are not Lambda's)" in found
    assert all(config in found for config in LAMBDA_PREDEFINED_CONFIGS)


def test_a_lambda_canary_number_of_the_wrong_type_is_refused_naming_it():
    found = refused_before_anything_exists(lambda: canary(memory_mb="256", reserved_concurrency=1.5))
    assert "Lambda canary greeter: LambdaCanaryArgs.memory_mb = '256': a whole number from 128 to 10240 MB" in found
    assert found.splitlines()[0].endswith(", not str")
    assert "LambdaCanaryArgs.reserved_concurrency = 1.5: a whole number from 1 to 10000" in found


def test_a_flag_is_not_a_count():
    assert "LambdaCanaryArgs.production = 'yes': True or False, not str" in refused_before_anything_exists(
        lambda: canary(production="yes")
    )
