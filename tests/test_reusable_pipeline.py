"""DeliveryPipeline used by another repository: its own source host, build commands, test reports and
stack outputs, built under mocks and judged by the policy pack; and the arguments it refuses, each
named, before anything exists."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pytest
import yaml

from rollback_guard.components.arguments import documented_fields
from rollback_guard.components.delivery import BuildReport, DeliveryPipeline, DeliveryPipelineArgs, PipelineSource
from rollback_guard.components.pipeline import PipelineStorageArgs, ReleasePipelineArgs, build_spec
from rollback_guard.policy.pack import POLICIES
from rollback_guard.testing import FakeAws, mock_arn, policy_violations, run
from tests.library_use import refused_before_anything_exists

SHOP = dict(
    source=PipelineSource(repository="acme/shop", branch="release/2.x", provider="Bitbucket"),
    smoke_endpoints=[{"path": "/health"}, {"path": "/api/products", "expectStatus": 200}],
    install_commands=["npm ci"],
    test_commands=["npm run lint", "npm test -- --ci"],
    test_reports=[BuildReport(name="unit", files=["junit.xml"], base_directory="reports")],
    url_output="endpoint",
    alarm_names_output="alarms",
)
EXISTING_CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"


def shop_pipeline(**changes) -> DeliveryPipeline:
    return DeliveryPipeline("release", DeliveryPipelineArgs(**(SHOP | changes)))


@pytest.fixture(scope="module")
def shop():
    """The shop's pipeline stack `tooling`, in a Pulumi project of its own."""
    return run(shop_pipeline, project="shop", stack="tooling")


def stage(built, name: str) -> dict:
    return next(s for s in built.inputs("release-pipeline")["stages"] if s["name"] == name)


def buildspec(built, project: str) -> dict:
    return yaml.safe_load(built.inputs(project)["source"]["buildspec"])


# --- a repository with its own build, source and outputs


def test_the_build_runs_the_repositorys_own_install_and_test_commands(shop):
    phases = buildspec(shop, "release-build")["phases"]
    assert phases["install"]["commands"] == ["npm ci"]
    assert phases["build"]["commands"] == ["npm run lint", "npm test -- --ci"]
    assert "make" not in shop.inputs("release-build")["source"]["buildspec"]


def test_a_test_report_goes_to_a_report_group_of_its_own_that_only_the_build_writes(shop):
    group = shop.inputs("release-report-unit")
    assert (group["name"], group["type"], group["exportConfig"]) == (
        "shop-release-tooling-unit",
        "TEST",
        {"type": "NO_EXPORT"},
    )
    arn = mock_arn("aws:codebuild/reportGroup:ReportGroup", "release-report-unit")
    assert buildspec(shop, "release-build")["reports"] == {
        arn: {"files": ["junit.xml"], "base-directory": "reports", "file-format": "JUNITXML"}
    }
    grants = json.loads(shop.inputs("release-build-policy")["policy"])["Statement"]
    reports = next(s for s in grants if "codebuild:BatchPutTestCases" in s["Action"])
    assert reports["Resource"] == [arn]


def test_the_deploy_stages_read_the_repositorys_own_stack_outputs(shop):
    for project in ("release-deploy-staging", "release-deploy-production"):
        commands = buildspec(shop, project)["phases"]["build"]["commands"]
        assert 'export SERVICE_URL="$(pulumi stack output endpoint --stack "$STACK")"' in commands
        assert any(c.startswith('export ROLLBACK_ALARMS="$(pulumi stack output alarms --stack') for c in commands)
        assert "serviceUrl" not in json.dumps(commands) and "rollbackAlarmNames" not in json.dumps(commands)


def test_the_source_is_the_bitbucket_branch_through_a_connection_the_pipeline_creates(shop):
    assert shop.inputs("release-bitbucket")["providerType"] == "Bitbucket"
    [source] = stage(shop, "Source")["actions"]
    assert (source["name"], source["provider"]) == ("Bitbucket", "CodeStarSourceConnection")
    assert source["configuration"] == {
        "ConnectionArn": mock_arn("aws:codestarconnections/connection:Connection", "release-bitbucket"),
        "FullRepositoryId": "acme/shop",
        "BranchName": "release/2.x",
        "OutputArtifactFormat": "CODE_ZIP",
    }


def test_names_carry_the_project_so_two_projects_share_an_account(shop):
    assert shop.inputs("release-pipeline")["name"] == "shop-release-tooling"
    assert shop.inputs("release-storage-key-alias")["name"] == "alias/shop-release-tooling"
    assert shop.inputs("release-deploy-staging")["name"] == "shop-release-tooling-deploy-staging"
    assert shop.inputs("release-checks-smoke-test-logs")["name"] == (
        "/aws/vendedlogs/states/shop-release-checks-smoke-test-tooling"
    )
    rule = json.loads(shop.inputs("release-notifications-pipeline-failed")["eventPattern"])
    assert rule["detail"]["pipeline"] == ["shop-release-tooling"]


def test_each_deploy_job_writes_the_state_of_the_repositorys_own_project(shop):
    policy = json.loads(shop.inputs("release-deploy-staging-policy")["policy"])["Statement"]
    state = next(s["Resource"] for s in policy if "s3:DeleteObject" in s["Action"])
    assert all("/.pulumi/" in arn and "/shop/staging" in arn for arn in state), state


def test_the_shops_pipeline_passes_every_policy_of_the_pack(shop):
    assert policy_violations(shop, POLICIES) == []


def test_an_approved_connection_is_used_as_it_is_even_when_another_stack_gives_it():
    built = run(
        lambda: shop_pipeline(
            source=PipelineSource(
                repository="acme/platform/shop",
                provider="GitLab",
                connection_arn=pulumi.Output.from_input(EXISTING_CONNECTION),
            )
        ),
        project="shop",
        stack="tooling",
    )
    assert built.of_type("aws:codestarconnections/connection:Connection") == []
    [source] = stage(built, "Source")["actions"]
    assert source["name"] == "GitLab"
    assert source["configuration"]["ConnectionArn"] == EXISTING_CONNECTION
    assert source["configuration"]["FullRepositoryId"] == "acme/platform/shop"
    grants = json.loads(built.inputs("release-role-policy")["policy"])["Statement"]
    assert next(s for s in grants if "codeconnections:UseConnection" in s["Action"])["Resource"] == EXISTING_CONNECTION


def test_a_connection_arn_known_only_at_update_is_checked_when_it_resolves():
    junk = pulumi.Output.from_input("arn:aws:s3:::not-a-connection")
    with pytest.raises(ValueError) as refused:
        run(lambda: shop_pipeline(source=PipelineSource(repository="acme/shop", connection_arn=junk)))
    assert "DeliveryPipelineArgs.source.connection_arn = 'arn:aws:s3:::not-a-connection'" in str(refused.value)


class ChinaRegions(FakeAws):
    def call(self, args):
        answer = super().call(args)
        return {"partition": "aws-cn", "dnsSuffix": "amazonaws.com.cn"} if "getPartition" in args.token else answer


def test_the_arns_the_pipeline_writes_are_in_the_stacks_partition():
    built = run(shop_pipeline, project="shop", stack="tooling", mocks=ChinaRegions())
    health = json.loads(built.inputs("release-checks-health-check")["definition"])
    assert health["States"]["CheckAlarms"]["Resource"] == "arn:aws-cn:states:::aws-sdk:cloudwatch:describeAlarms"
    deploy = json.loads(built.inputs("release-deploy-production-policy")["policy"])["Statement"]
    creates = next(s for s in deploy if "iam:CreateRole" in s["Action"])
    assert creates["Resource"].startswith("arn:aws-cn:iam::")
    trust = json.loads(built.inputs("release-deploy-production-role")["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"].startswith("arn:aws-cn:codebuild:")


@pytest.mark.parametrize(
    "command",
    ['echo "release: ok"', "npm test # unit only", "true", "- dash first", "pytest -k 'not slow'", "übersetzen"],
)
def test_a_command_reaches_the_buildspec_as_it_was_written(command):
    spec = yaml.safe_load(build_spec([command], [command]))
    assert spec["phases"]["install"]["commands"] == [command]
    assert spec["phases"]["build"]["commands"] == [command]


# --- what is refused, by name, before anything exists


def refusal(**changes) -> str:
    return refused_before_anything_exists(lambda: shop_pipeline(**changes))


def with_source(**changes) -> PipelineSource:
    return dataclasses.replace(SHOP["source"], **changes)


def test_a_repository_given_where_the_source_belongs_is_refused_naming_what_to_pass():
    assert "DeliveryPipelineArgs.source = 'acme/shop': a PipelineSource" in refusal(source="acme/shop")


def test_an_address_sns_cannot_mail_is_refused():
    message = refusal(notification_emails=["team@example.com", "team at example.com"])
    assert (
        "DeliveryPipelineArgs.notification_emails = ['team@example.com', 'team at example.com']: a list of e-mail"
        in (message)
    )


def test_an_unknown_source_host_is_refused_naming_the_three_it_takes():
    assert "DeliveryPipelineArgs.source.provider = 'SourceForge': one of GitHub, Bitbucket, GitLab" in refusal(
        source=with_source(provider="SourceForge")
    )


def test_a_build_that_tests_nothing_is_refused():
    assert "DeliveryPipelineArgs.test_commands = []: a list of at least 1 shell commands" in refusal(test_commands=[])


def test_a_single_string_of_commands_is_refused_rather_than_run_letter_by_letter():
    assert "DeliveryPipelineArgs.test_commands = 'npm test': a list of" in refusal(test_commands="npm test")


@pytest.mark.parametrize("command", ["", "   ", "npm ci\nnpm test"])
def test_a_blank_or_multi_line_install_command_is_refused(command):
    assert "DeliveryPipelineArgs.install_commands = " in refusal(install_commands=[command])


@pytest.mark.parametrize("output", ["service url", "1st", "services.web.url", "", "$(whoami)"])
def test_an_output_name_pulumi_stack_output_cannot_read_safely_is_refused(output):
    message = refusal(url_output=output)
    assert f"DeliveryPipelineArgs.url_output = {output!r}: a top-level Pulumi stack output name" in message


@pytest.mark.parametrize("branch", ["feature..x", "-x", "release 2", "topic.lock", "a//b", "HEAD", "x~1", "main/"])
def test_a_branch_name_git_refuses_is_refused(branch):
    message = refusal(source=with_source(branch=branch))
    assert f"DeliveryPipelineArgs.source.branch = {branch!r}: a git branch name (git check-ref-format --branch)" in (
        message
    )


def test_a_nested_repository_is_refused_where_the_host_does_not_nest():
    message = refusal(source=with_source(repository="acme/team/shop"))
    assert "DeliveryPipelineArgs.source.repository = 'acme/team/shop': Bitbucket names a repository owner/name" in (
        message
    )


def test_a_connection_arn_that_names_something_else_is_refused():
    message = refusal(source=with_source(connection_arn="arn:aws:s3:::bucket"))
    assert "DeliveryPipelineArgs.source.connection_arn = 'arn:aws:s3:::bucket': the ARN of a CodeConnections" in message


def test_report_problems_are_named_by_their_place_in_the_list():
    message = refusal(
        test_reports=[
            BuildReport(name="unit", files=["a.xml"]),
            BuildReport(name="unit", files=[], file_format="XUNIT"),
        ]
    )
    assert "DeliveryPipelineArgs.test_reports[1].files = []: a list of at least one file path" in message
    assert "DeliveryPipelineArgs.test_reports[1].file_format = 'XUNIT': one of JUNITXML, CUCUMBERJSON" in message
    assert "the report name 'unit' is given more than once" in message


def test_a_pipeline_name_aws_would_refuse_for_its_length_is_refused_with_the_limit():
    message = refusal(pipeline_name="p" * 101)
    assert "the pipeline would be named 'ppp" in message and "(101 characters); AWS allows 100" in message


def test_a_derived_pipeline_name_that_is_too_long_is_refused():
    message = refused_before_anything_exists(lambda: DeliveryPipeline("r" * 100, DeliveryPipelineArgs(**SHOP)))
    assert "AWS allows 100" in message and "a function of the pipeline" in message


def test_every_problem_is_named_at_once_one_per_line():
    message = refusal(
        source=with_source(provider="CodeCommit", branch="bad..branch"),
        test_commands=[],
        url_output="",
        alarm_names_output="alarm names",
        log_retention_days=45,
        staging_stack="prod",
    )
    lines = message.splitlines()
    assert len(lines) == 7, message
    assert all(line.startswith("pipeline release: ") for line in lines)


# --- documentation: every field says its default and why


@pytest.mark.parametrize(
    "args_class", [DeliveryPipelineArgs, ReleasePipelineArgs, PipelineSource, BuildReport, PipelineStorageArgs]
)
def test_every_field_is_documented_with_its_default(args_class):
    documented = documented_fields(args_class)
    assert list(documented) == [f.name for f in dataclasses.fields(args_class)]
    for field in dataclasses.fields(args_class):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        assert ("Required." if required else "Default:") in documented[field.name], field.name


def test_a_pipeline_name_too_long_says_to_shorten_the_argument_that_gave_it():
    found = refused_before_anything_exists(lambda: shop_pipeline(pipeline_name="p" * 120))
    assert "AWS allows 100: shorten DeliveryPipelineArgs.pipeline_name" in found


def test_the_pipelines_own_function_names_are_checked_with_the_project_prefix():
    """Its smoke-check and formatter functions carry the prefix as every function does; a name that
    fits only without it is refused before anything exists."""
    prefix = "m" * 30 + "-"
    found = refused_before_anything_exists(shop_pipeline, config={"rollback-guard:namePrefix": prefix})
    assert f"a function of the pipeline would be named '{prefix}release-" in found and "AWS allows 64" in found
