"""`pulumi up` as the release command: the release resource's provider against AWS on loopback,
its wiring under mocks, what Pulumi pickles of it, and the AppSpec formats it sends."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import boto3
import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.rpc import UNKNOWN

from ops.offline import ROOT
from rollback_guard.components.codedeploy import LambdaDeploymentGroup, LambdaDeploymentGroupArgs, RollbackPolicy
from rollback_guard.components.release import LambdaReleaseTarget, Release, ReleaseArgs, ReleaseProvider
from rollback_guard.hooks.revisions import describe
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.release import appspec
from rollback_guard.release.engine import ReleaseFailed
from rollback_guard.testing import mock_arn, run
from tests.scenarios import FUNCTION, HOOKS, ROLLED_BACK_BY_ALARM, greeter, web


def lambda_props(version: str, **overrides) -> dict:
    """The resource's inputs as the provider receives them."""
    return {
        "kind": "lambda",
        "region": "us-east-1",
        "application": "greeter",
        "deployment_group": "greeter-deploy",
        "target": {"function_name": FUNCTION, "alias": "live", "version": version, "hooks": HOOKS},
        "alarm_names": [],
        "retry_revision": None,
        "retry_setting": "rollback-guard:functions.greeter.retryRevision",
        "timeout_minutes": 40,
        "live_revision": None,
        "deployment_id": None,
        **overrides,
    }


def alias_version() -> str:
    return boto3.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]


# --- the provider


def test_the_first_up_releases_nothing_when_the_alias_is_already_on_the_version(published_function):
    result = ReleaseProvider().create(lambda_props("1"))
    assert result.id == "greeter/greeter-deploy"
    assert (result.outs["live_revision"], result.outs["deployment_id"]) == ("1", None)


def test_a_second_up_with_unchanged_config_after_success_shows_no_diff(published_function, codedeploy_groups):
    provider = ReleaseProvider()
    state = provider.create(lambda_props("1")).outs
    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    assert provider.diff("id", state, lambda_props("2")).changes is True
    state = provider.update("id", state, lambda_props("2")).outs
    assert state["live_revision"] == "2" and state["deployment_id"]
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")  # what CodeDeploy did

    assert provider.diff("id", state, lambda_props("2")).changes is False


def test_a_live_revision_moved_outside_pulumi_is_a_diff(published_function):
    provider = ReleaseProvider()
    state = provider.create(lambda_props("1")).outs
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")
    assert provider.diff("id", state, lambda_props("1")).changes is True
    assert provider.read("id", state).outs["live_revision"] == "3"


def test_an_up_after_a_rollback_refuses_to_repeat_the_bad_revision(published_function, codedeploy_groups):
    provider = ReleaseProvider()
    state = provider.create(lambda_props("1")).outs
    # Straight to the end: the provider polls with real sleeps.
    codedeploy_groups.script_next_deployment(ROLLED_BACK_BY_ALARM[-1:])
    with pytest.raises(ReleaseFailed, match=r"failed: deployment .* Stopped"):
        provider.update("id", state, lambda_props("2"))
    assert alias_version() == "1"

    with pytest.raises(ReleaseFailed, match="refusing to release greeter-staging version 2 again"):
        provider.update("id", state, lambda_props("2"))

    codedeploy_groups.script_next_deployment([{"status": "Succeeded"}])
    outs = provider.update("id", state, lambda_props("2", retry_revision="2")).outs
    assert outs["live_revision"] == "2"


def test_an_up_after_a_killed_one_follows_the_deployment_it_left_running(published_function, codedeploy_groups):
    # The killed up had already moved traffic: the alias is on 2, blue is kept while the alarms watch.
    provider = ReleaseProvider()
    state = provider.create(lambda_props("1")).outs
    published_function.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    state = {**state, **lambda_props("2"), "live_revision": "2"}
    deployment = boto3.client("codedeploy").create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision=appspec.revision(appspec.lambda_appspec(FUNCTION, "live", "1", "2", HOOKS)),
        description=describe("release", "2", "1", "the killed up"),
    )["deploymentId"]
    codedeploy_groups.script_next_deployment(
        [{"status": "InProgress", "instanceTerminationWaitTimeStarted": True}, {"status": "Succeeded"}]
    )
    boto3.client("codedeploy").get_deployment(deploymentId=deployment)

    assert provider.diff("id", state, lambda_props("2")).changes is True, "not finished: blue is still kept"
    outs = provider.update("id", state, lambda_props("2")).outs
    assert (outs["live_revision"], outs["deployment_id"]) == ("2", deployment)


def test_unknown_inputs_during_preview_are_a_diff_without_asking_aws(published_function):
    state = ReleaseProvider().create(lambda_props("1")).outs
    news = lambda_props("1", target={**lambda_props("1")["target"], "version": UNKNOWN})
    assert ReleaseProvider().diff("id", state, news).changes is True


def test_deleting_a_release_leaves_traffic_where_it_is(published_function):
    provider = ReleaseProvider()
    state = provider.create(lambda_props("1")).outs
    provider.delete("greeter/greeter-deploy", state)
    assert alias_version() == "1"


# --- what Pulumi stores of the provider


def test_the_pickled_provider_is_a_reference_with_no_clients_or_credentials():
    provider = ReleaseProvider()
    assert vars(provider) == {}
    pickled = base64.b64decode(serialize_provider(provider))
    assert b"rollback_guard.components.release" in pickled and b"ReleaseProvider" in pickled
    for secret_or_client in (b"boto", b"Session", b"credentials", b"AWS_"):
        assert secret_or_client not in pickled
    assert len(pickled) < 200


def test_the_pickled_provider_loads_in_a_fresh_interpreter_from_the_project():
    pickled = serialize_provider(ReleaseProvider())
    code = (
        "import base64, dill, sys; "
        f"provider = dill.loads(base64.b64decode({pickled!r})); "
        "print(type(provider).__module__, type(provider).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["rollback_guard.components.release", "ReleaseProvider"]
    assert dill.loads(base64.b64decode(pickled)).__class__ is ReleaseProvider


# --- wiring under mocks


def test_the_ecs_release_ships_the_task_definition_pulumi_registered(prod):
    release = prod.registration("web-release")
    assert release.type == "pulumi-python:dynamic/release:Release"
    inputs = release.inputs
    assert (inputs["kind"], inputs["application"], inputs["deployment_group"]) == (
        "ecs",
        "web-deploy-app",
        "web-deploy",
    )
    assert inputs["target"] == {
        "cluster": "web-cluster",
        "service": "web-service",
        "task_definition_arn": mock_arn("aws:ecs/taskDefinition:TaskDefinition", "web-task"),
        "container_name": "web",
        "container_port": 80,
        "hooks": {"AfterAllowTestTraffic": "web-test-traffic-prod", "AfterAllowTraffic": "web-recorder-prod"},
    }
    assert inputs["alarm_names"][0] == "web-rollback-5xx-rate"
    assert inputs["retry_setting"] == "rollback-guard:services.web.deployment.retryRevision"
    assert inputs["timeout_minutes"] == 10 + 15 + 30, "shift, termination wait, margin"


def test_the_lambda_release_shifts_the_newest_version_with_both_hooks(staging):
    inputs = staging.inputs("greeter-release")
    assert inputs["target"] == {
        "function_name": "greeter-staging",
        "alias": "live",
        "version": "1",
        "hooks": {
            "BeforeAllowTraffic": "greeter-hooks-pre-traffic-staging",
            "AfterAllowTraffic": "greeter-hooks-post-traffic-staging",
        },
    }
    assert inputs["alarm_names"] == ["greeter-rollback-error-rate", "greeter-rollback-throttle-rate"]
    assert inputs["retry_setting"] == "rollback-guard:functions.greeter.retryRevision"


@pytest.mark.parametrize(
    ("release", "must_wait_for"),
    [
        ("web-release", ("web-deploy-group", "web-test-traffic-invoke", "web-service", "web-task")),
        ("greeter-release", ("greeter-deploy-group", "greeter-hooks-invoke", "greeter-live")),
    ],
)
def test_a_release_starts_only_once_codedeploy_can_invoke_its_hooks(prod, release, must_wait_for):
    waited_for = {urn.rsplit("::", 1)[1] for urn in prod.registration(release).dependencies}
    assert set(must_wait_for) <= waited_for


def test_a_retry_setting_reaches_the_release():
    from ops.offline import settled_stack

    staged = settled_stack(
        "staging", **greeter({"retryRevision": "7"}), **web(deployment={"retryRevision": "web-staging:4"})
    )
    assert staged.inputs("greeter-release")["retry_revision"] == "7"
    assert staged.inputs("web-release")["retry_revision"] == "web-staging:4"


def test_a_pinned_version_is_what_the_release_keeps_live():
    from ops.offline import settled_stack

    staged = settled_stack(
        "staging", **greeter({"pinnedVersion": "6"}), **web(deployment={"pinnedRevision": "web-staging:3"})
    )
    assert staged.inputs("greeter-release")["target"]["version"] == "6"
    assert staged.inputs("web-release")["target"]["task_definition_arn"] == (
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web-staging:3"
    )


# --- AppSpec formats


def test_a_lambda_appspec_follows_the_documented_format():
    spec = appspec.lambda_appspec(
        "greeter", "live", "3", "4", {"BeforeAllowTraffic": "pre", "AfterAllowTraffic": "post"}
    )
    assert spec == {
        "version": 0.0,
        "Resources": [
            {
                "greeter": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {"Name": "greeter", "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"},
                }
            }
        ],
        "Hooks": [{"BeforeAllowTraffic": "pre"}, {"AfterAllowTraffic": "post"}],
    }


def test_an_ecs_appspec_follows_the_documented_format():
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web-prod:7"
    spec = appspec.ecs_appspec(arn, "web", 80, {"AfterAllowTestTraffic": "smoke"})
    assert spec == {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": arn,
                        "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
                    },
                }
            }
        ],
        "Hooks": [{"AfterAllowTestTraffic": "smoke"}],
    }


def test_the_revision_carries_the_content_and_its_sha256():
    spec = appspec.lambda_appspec("greeter", "live", "1", "2", {})
    revision = appspec.revision(spec)
    content = revision["appSpecContent"]["content"]
    assert revision["revisionType"] == "AppSpecContent"
    assert json.loads(content) == spec
    assert revision["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()


def test_appspecs_never_point_at_latest_and_know_their_hooks():
    with pytest.raises(ValueError, match=r"TargetVersion must be a published version number, not '\$LATEST'"):
        appspec.lambda_appspec("greeter", "live", "1", "$LATEST", {})
    with pytest.raises(ValueError, match="unknown lifecycle hooks \\['AfterAllowTestTraffic'\\]"):
        appspec.lambda_appspec("greeter", "live", "1", "2", {"AfterAllowTestTraffic": "x"})


def test_the_target_of_an_appspec_reads_back():
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web-prod:7"
    assert appspec.target_of(json.dumps(appspec.ecs_appspec(arn, "web", 80, {}))) == "web-prod:7"
    assert appspec.target_of(json.dumps(appspec.lambda_appspec("f", "live", "1", "2", {}))) == "2"
    assert appspec.target_of("version: 0.0") is None


def test_a_release_naming_a_hook_at_an_event_lambda_has_not_is_refused_naming_the_events():
    def attempt() -> str:
        group = LambdaDeploymentGroup("fn-deploy", LambdaDeploymentGroupArgs(rollback=RollbackPolicy(["fn-errors"])))
        target = LambdaReleaseTarget("fn", "live", "2", hooks={"AfterAllowTestTraffic": "fn-hook"})
        with pytest.raises(UnsafeConfiguration) as refused:
            Release("fn-release", ReleaseArgs(group, target, timeout_minutes=0))
        return str(refused.value)

    built = run(attempt)
    assert built.value.splitlines() == [
        "release fn-release: ReleaseArgs.timeout_minutes = 0: a whole number from 1 to 8700 minutes (three waits of "
        "two days)",
        "release fn-release: ReleaseArgs.target.hooks = ['AfterAllowTestTraffic']: lifecycle events among "
        "BeforeAllowTraffic, AfterAllowTraffic",
    ]
    assert not built.of_type("pulumi-python:dynamic:Resource"), "the release is not created"
