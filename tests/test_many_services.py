"""A stack holds any number of ECS services and Lambda functions, each with its own strategy, alarms
and hooks, sharing the stack's network and deployment log."""

import pytest

from ops.offline import build_stack, stack_config, use_config
from rollback_guard.testing import resolved
from settings import SettingsError, load_settings

SERVICE_TYPE = "rollback-guard:service:EcsServiceWithRollback"
CANARY_TYPE = "rollback-guard:lambda_canary:LambdaCanary"


def with_api_and_hello(**overrides) -> dict:
    """The staging stack plus an `api` service released by rolling updates and a `hello` function."""
    config = stack_config("staging")
    api = dict(config["rollback-guard:services"]["web"])
    del api["judge"]  # rolling: ECS releases it, there is no CodeDeploy deployment for a judge to stop
    api |= {"image": "public.ecr.aws/docker/library/httpd", "tag": "2.4", "deployment": {"strategy": "rolling"}}
    api["alarms"] = {**api["alarms"], "errorRatePercent": 2}
    hello = {**config["rollback-guard:functions"]["greeter"], "watchMinutes": 12}
    return {"services": {"api": api}, "functions": {"hello": hello}, "pipelineService": "web", **overrides}


@pytest.fixture(scope="module")
def several():
    return build_stack("staging", **with_api_and_hello())


def test_each_service_and_function_is_a_node_of_its_own(several):
    assert {r.name for r in several.of_type(SERVICE_TYPE)} == {"web", "api"}
    assert {r.name for r in several.of_type(CANARY_TYPE)} == {"greeter", "hello"}


def test_each_keeps_its_own_strategy_and_alarms(several):
    groups = {r.name for r in several.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")}
    assert groups == {"web-deploy-group", "greeter-deploy-group", "hello-deploy-group"}, "api rolls"
    assert several.inputs("api-service")["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    api_rate = several.inputs("api-rollback-5xx-rate")
    assert api_rate["threshold"] == 2 and several.inputs("web-rollback-5xx-rate")["threshold"] == 5
    assert "WATCH_SECONDS" in several.inputs("hello-hooks-post-traffic-function")["environment"]["variables"]


def test_services_share_the_stacks_network_and_functions_its_deployment_log(several):
    assert [r.name for r in several.of_type("rollback-guard:network:Network")] == ["web-net"]
    assert [r.name for r in several.of_type("aws:dynamodb/table:Table")] == ["staging-deployment-log-table"]
    assert several.inputs("api-lb-alb")["subnets"] == several.inputs("web-lb-alb")["subnets"]


def test_every_release_path_is_exported_with_the_settings_that_pin_it():
    def check(exports):
        paths = {path["service"]: path for path in exports["releasePaths"]}
        assert list(paths) == ["web", "api", "greeter", "hello"]
        assert paths["api"]["strategy"] == "rolling" and "deploymentGroup" not in paths["api"]
        assert paths["hello"]["settings"] == {
            "pin": "rollback-guard:functions.hello.pinnedVersion",
            "retry": "rollback-guard:functions.hello.retryRevision",
        }
        assert paths["api"]["settings"]["pin"] == "rollback-guard:services.api.deployment.pinnedRevision"
        assert set(exports["services"]) == {"web", "api"} and set(exports["functions"]) == {"greeter", "hello"}
        assert "api-rollback-5xx-rate" in exports["rollbackAlarmNames"]
        assert exports["serviceUrl"] == exports["services"]["web"]["url"]

    build_stack("staging", then=lambda program: resolved(program.exports).apply(check), **with_api_and_hello())


def test_the_pipeline_smoke_tests_the_service_the_stack_names():
    def check(exports):
        assert exports["serviceUrl"] == exports["services"]["api"]["url"]

    overlay = with_api_and_hello(pipelineService="api")
    build_stack("staging", then=lambda program: resolved(program.exports).apply(check), **overlay)


def problems(**overrides) -> list[str]:
    use_config("staging", overrides)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return raised.value.problems


def test_with_several_services_the_stack_names_the_one_the_pipeline_smoke_tests():
    assert problems(**with_api_and_hello(pipelineService=None)) == [
        "rollback-guard:pipelineService = None: required with several services: the one the pipeline smoke-tests, "
        "one of web, api"
    ]
    assert problems(**with_api_and_hello(pipelineService="www")) == [
        "rollback-guard:pipelineService = 'www': one of this stack's services (web, api)"
    ]


def test_a_stack_needs_a_service():
    assert problems(services=None) == [
        "rollback-guard:services = None: required: at least one ECS service: {<name>: {image, tag, ...}}"
    ]


def test_a_service_is_an_object_of_settings():
    [problem] = problems(services={"api": "httpd"})
    assert problem.startswith(
        "rollback-guard:services.api = 'httpd': an object with keys image, tag, expectedRequestsPerSecond, "
    )


def test_a_problem_names_the_service_it_belongs_to():
    overlay = with_api_and_hello()
    overlay["services"]["api"]["desiredCount"] = 0
    assert problems(**overlay) == [
        "rollback-guard:services.api.desiredCount = 0: a whole number from 1 to 1000 tasks (production at least 2)"
    ]


def test_a_stack_file_in_the_old_single_service_layout_is_told_where_each_key_moved():
    found = problems(**{"rollback-guard:function": {"name": "greeter"}, "rollback-guard:deployment": {}})
    assert found == [
        "rollback-guard:deployment = {}: moved to rollback-guard:services.<name>.deployment; this stack file has the "
        "old layout",
        "rollback-guard:function = {'name': 'greeter'}: moved to rollback-guard:functions.<name> (its errorRatePercent and "
        "minimumInvocations under functions.<name>.alarms); this stack file has the old layout",
    ]
