"""Policy for the release pipeline (the `pipeline` stack) and for production protection."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase

import pytest

from ops.offline import ROOT
from rollback_guard.components.boundaries import ANY_RESOURCE_ACTIONS, DEPLOY_ACTIONS, actions
from rollback_guard.components.pipeline import DEPLOY_POLICIES
from rollback_guard.components.pipeline_checks import health_check_definition, smoke_test_definition
from rollback_guard.hooks import smoke_check
from rollback_guard.testing import mock_arn
from tests.smoke_targets import SmokeTargets

PIPELINE = "release-pipeline"
CHECK_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:release-checks-smoke-check-pipeline"
ENDPOINTS = [{"path": f"/route/{i}", "expectStatus": 200, "timeoutSeconds": 5} for i in range(20)]


def stages(stack) -> list[dict]:
    return stack.inputs(PIPELINE)["stages"]


def stage(stack, name: str) -> dict:
    return next(s for s in stages(stack) if s["name"] == name)


def action_types(stage_document: dict) -> list[tuple[str, str]]:
    return [(action["category"], action["provider"]) for action in stage_document["actions"]]


def statements(stack, policy: str) -> list[dict]:
    return json.loads(stack.inputs(policy)["policy"])["Statement"]


def granted(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def attached_to(stack, role: str) -> list[str]:
    """The ARNs of the managed policies attached to `role`."""
    return [
        attachment.inputs["policyArn"]
        for attachment in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if attachment.inputs["role"] == role
    ]


def carried(stack, role: str) -> list[dict]:
    """The statements of every policy `role` carries: its inline policy and the managed ones attached to it."""
    managed = {policy.outputs["arn"]: policy.name for policy in stack.of_type("aws:iam/policy:Policy")}
    policies = [f"{role.removesuffix('-role')}-policy", *(managed[arn] for arn in attached_to(stack, role))]
    return [statement for policy in policies for statement in statements(stack, policy)]


# --- the pipeline


def test_stages_carry_a_commit_from_github_to_production_in_order(pipeline_stack):
    assert pipeline_stack.inputs(PIPELINE)["pipelineType"] == "V2"
    assert [s["name"] for s in stages(pipeline_stack)] == ["Source", "Build", "Staging", "Approval", "Production"]
    assert action_types(stage(pipeline_stack, "Source")) == [("Source", "CodeStarSourceConnection")]
    assert action_types(stage(pipeline_stack, "Build")) == [("Build", "CodeBuild")]
    assert action_types(stage(pipeline_stack, "Staging")) == [("Build", "CodeBuild"), ("Invoke", "StepFunctions")]
    assert action_types(stage(pipeline_stack, "Approval")) == [("Approval", "Manual")]
    assert action_types(stage(pipeline_stack, "Production")) == [("Build", "CodeBuild"), ("Invoke", "StepFunctions")]


def test_the_source_is_the_configured_github_branch_through_the_connection(pipeline_stack):
    source = stage(pipeline_stack, "Source")["actions"][0]["configuration"]
    assert source == {
        "ConnectionArn": mock_arn("aws:codestarconnections/connection:Connection", "release-github"),
        "FullRepositoryId": "example-org/rollback-guard",
        "BranchName": "main",
        "OutputArtifactFormat": "CODE_ZIP",
    }
    assert pipeline_stack.inputs("release-github")["providerType"] == "GitHub"


DEPLOYS = {"Staging": ("staging", "release-deploy-staging"), "Production": ("prod", "release-deploy-production")}
DEPLOY_ROLES = [f"{project}-role" for _, project in DEPLOYS.values()]


def test_each_deploy_stage_runs_its_own_deploy_job_for_its_stack(pipeline_stack):
    for stage_name, (stack_name, project) in DEPLOYS.items():
        deploy = stage(pipeline_stack, stage_name)["actions"][0]
        assert deploy["runOrder"] == 1 and deploy["namespace"] == stage_name
        assert deploy["configuration"] == {"ProjectName": f"rollback-guard-pipeline-{project.removeprefix('release-')}"}
        job = pipeline_stack.inputs(project)
        variables = {v["name"]: v["value"] for v in job["environment"]["environmentVariables"]}
        assert variables["STACK"] == stack_name
        buildspec = job["source"]["buildspec"]
        assert 'pulumi login "s3://$STATE_BUCKET"' in buildspec
        assert "awskms://$SECRETS_KEY_ALIAS" in buildspec
        assert "exported-variables: [SERVICE_URL, ROLLBACK_ALARMS]" in buildspec


def test_the_production_deploy_role_serves_only_the_production_job(pipeline_stack):
    for _, project in DEPLOYS.values():
        trust = json.loads(pipeline_stack.inputs(f"{project}-role")["assumeRolePolicy"])["Statement"]
        name = pipeline_stack.inputs(project)["name"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:123456789012:project/{name}"}
                },
            }
        ]


def test_each_deploy_job_reaches_only_its_own_stacks_state(pipeline_stack):
    state = mock_arn("aws:s3/bucket:Bucket", "release-storage-state")
    staging = carried(pipeline_stack, "release-deploy-staging-role")
    writable = next(
        s["Resource"] for s in staging if "s3:PutObject" in s["Action"] and "/.pulumi/" in str(s["Resource"])
    )
    assert writable == [
        f"{state}/.pulumi/stacks/rollback-guard/staging.json*",
        f"{state}/.pulumi/history/rollback-guard/staging/*",
        f"{state}/.pulumi/locks/organization/rollback-guard/staging/*",
        f"{state}/.pulumi/backups/rollback-guard/staging/*",
    ]
    assert "prod" not in json.dumps(staging)


WORKLOAD_BOUNDARY = "arn:aws:iam::123456789012:policy/rollback-guard/release-boundaries-workload"


def test_a_deploy_role_creates_roles_only_on_the_project_path_within_the_workload_boundary(pipeline_stack):
    production = carried(pipeline_stack, "release-deploy-production-role")
    roles = "arn:aws:iam::123456789012:role/rollback-guard/prod/*"
    writes = next(s for s in production if "iam:CreateRole" in s["Action"])
    assert writes["Resource"] == roles
    assert writes["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": WORKLOAD_BOUNDARY}}
    attach = next(s for s in production if s["Action"] == "iam:AttachRolePolicy")
    assert attach["Condition"]["ArnEquals"]["iam:PermissionsBoundary"] == WORKLOAD_BOUNDARY
    assert attach["Condition"]["ArnEquals"]["iam:PolicyARN"] == [
        "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECSLimited",
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited",
        "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
    ]
    passing = next(s for s in production if s["Action"] == "iam:PassRole")
    assert passing["Resource"] == roles and "iam:PassedToService" in passing["Condition"]["StringEquals"]
    iam_actions = {action for s in production for action in granted(s)}
    assert not {"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeleteRolePermissionsBoundary"} & iam_actions


def test_both_deploy_roles_carry_the_stacks_resources_as_managed_policies_of_the_pipeline(pipeline_stack):
    """What `pulumi up` does to a stack's resources fits neither one managed policy (6,144 characters)
    nor a role's inline policies (10,240 together): a managed policy per family of services, under
    the pipeline's path, out of the deploy roles' reach."""
    expected = {
        mock_arn("aws:iam/policy:Policy", f"release-deploy-{family}", "/rollback-guard-pipeline/")
        for family in DEPLOY_POLICIES
    }
    for role in DEPLOY_ROLES:
        assert set(attached_to(pipeline_stack, role)) == expected, role


def test_the_deploy_policies_grant_each_deploy_action_once_on_its_own_services_resources(pipeline_stack):
    """Split to fit IAM, still the same grants: on this account's and region's resources of the
    action's service, or on "*" in this region where IAM takes nothing else."""
    listed = []
    for family in DEPLOY_POLICIES:
        for statement in statements(pipeline_stack, f"release-deploy-{family}"):
            listed += statement["Action"]
            if statement["Resource"] == "*":
                assert set(statement["Action"]) <= ANY_RESOURCE_ACTIONS
                assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
            else:
                services = {action.split(":")[0] for action in statement["Action"]}
                scopes = {tuple(arn.split(":")[2:5]) for arn in statement["Resource"]}
                assert scopes == {(service, "us-east-1", "123456789012") for service in services}
    assert sorted(listed) == sorted(actions(DEPLOY_ACTIONS))


def test_every_action_a_deploy_role_is_granted_is_within_the_deployer_boundary(pipeline_stack):
    """A grant the boundary does not cover is denied in AWS: `pulumi up` would fail at its first call."""
    [boundary] = statements(pipeline_stack, "release-boundaries-deployer")
    for role in DEPLOY_ROLES:
        outside = {
            action
            for statement in carried(pipeline_stack, role)
            for action in granted(statement)
            if not any(fnmatchcase(action, allowed) for allowed in boundary["Action"])
        }
        assert outside == set(), role


def test_no_policy_of_the_pipeline_grants_a_whole_service(pipeline_stack):
    for registration in pipeline_stack.monitor.registered:
        if registration.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
            for statement in json.loads(registration.inputs["policy"])["Statement"]:
                assert not [a for a in granted(statement) if a == "*" or a.endswith(":*")], registration.name


def test_every_pipeline_role_carries_a_boundary_under_the_project_path(pipeline_stack):
    deployer = "arn:aws:iam::123456789012:policy/rollback-guard/release-boundaries-deployer"
    for role in pipeline_stack.of_type("aws:iam/role:Role"):
        assert role.inputs["path"] == "/rollback-guard-pipeline/", role.name
        expected = deployer if role.name.startswith("release-deploy-") else WORKLOAD_BOUNDARY
        assert role.inputs["permissionsBoundary"] == expected, role.name


def test_the_build_runs_the_tests_and_the_migration_gate(pipeline_stack):
    buildspec = pipeline_stack.inputs("release-build")["source"]["buildspec"]
    assert "- make test" in buildspec and "- make lint-migrations" in buildspec


def test_a_failed_deploy_stage_rolls_back_to_the_last_successful_revision(pipeline_stack):
    for name in ("Staging", "Production"):
        assert stage(pipeline_stack, name)["onFailure"] == {"result": "ROLLBACK"}


def test_the_smoke_test_checks_20_endpoints_of_staging_after_its_deploy(pipeline_stack):
    smoke = stage(pipeline_stack, "Staging")["actions"][1]
    assert smoke["runOrder"] == 2, "after the deploy, inside the stage it judges"
    configuration = smoke["configuration"]
    assert configuration["StateMachineArn"] == mock_arn(
        "aws:sfn/stateMachine:StateMachine", "release-checks-smoke-test"
    )
    assert json.loads(configuration["Input"].replace("#{Staging.SERVICE_URL}", "http://staging")) == {
        "baseUrl": "http://staging"
    }
    definition = json.loads(pipeline_stack.inputs("release-checks-smoke-test")["definition"])
    assert len(definition["States"]["Endpoints"]["Parameters"]["endpoints"]) == 20
    assert definition["States"]["CheckEndpoints"]["MaxConcurrency"] == 20


def test_every_action_setting_fits_codepipelines_1000_characters(pipeline_stack):
    for stage_document in stages(pipeline_stack):
        for action in stage_document["actions"]:
            for key, value in action["configuration"].items():
                assert len(str(value)) <= 1000, (action["name"], key)


def test_production_is_watched_for_5_minutes_after_its_deploy(pipeline_stack):
    health = stage(pipeline_stack, "Production")["actions"][1]
    assert health["runOrder"] == 2
    payload = json.loads(health["configuration"]["Input"].replace("#{Production.ROLLBACK_ALARMS}", '["a", "b"]'))
    assert payload == {"alarmNames": ["a", "b"]}
    definition = json.loads(pipeline_stack.inputs("release-checks-health-check")["definition"])
    polls = definition["States"]["Start"]["Parameters"]["remaining"]
    assert polls * definition["States"]["Wait"]["Seconds"] == 5 * 60


def test_production_waits_for_a_person_to_approve(pipeline_stack):
    approval = stage(pipeline_stack, "Approval")["actions"][0]["configuration"]
    assert approval["NotificationArn"] == mock_arn("aws:sns/topic:Topic", "release-notifications-topic")


def test_artifacts_and_state_are_encrypted_versioned_and_private(pipeline_stack):
    key = mock_arn("aws:kms/key:Key", "release-storage-key")
    for bucket in ("release-storage-artifacts", "release-storage-state"):
        assert pipeline_stack.inputs(f"{bucket}-versioning")["versioningConfiguration"] == {"status": "Enabled"}
        rule = pipeline_stack.inputs(f"{bucket}-encryption")["rules"][0]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}
        block = pipeline_stack.inputs(f"{bucket}-public-access")
        assert all(
            block[flag]
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
    store = pipeline_stack.inputs(PIPELINE)["artifactStores"][0]
    assert store["encryptionKey"] == {"type": "KMS", "id": key}
    assert pipeline_stack.inputs("release-storage-key")["enableKeyRotation"] is True


def test_the_state_bucket_and_its_key_outlive_the_pipeline_stack(pipeline_stack):
    for name in ("release-storage-state", "release-storage-key"):
        registration = pipeline_stack.registration(name)
        assert (registration.protect, registration.retain_on_delete) == (True, True)


def test_the_build_project_can_touch_only_artifacts_and_its_logs(pipeline_stack):
    allowed = statements(pipeline_stack, "release-build-policy")
    assert {json.dumps(s["Resource"]) for s in allowed} == {
        json.dumps(mock_arn("aws:cloudwatch/logGroup:LogGroup", "release-build-logs") + ":*"),
        json.dumps(mock_arn("aws:s3/bucket:Bucket", "release-storage-artifacts") + "/*"),
        json.dumps(mock_arn("aws:kms/key:Key", "release-storage-key")),
    }


def test_the_pipeline_role_starts_only_its_own_builds_and_checks(pipeline_stack):
    allowed = {
        s["Action"] if isinstance(s["Action"], str) else s["Action"][0]: s
        for s in statements(pipeline_stack, "release-role-policy")
    }
    assert allowed["codebuild:StartBuild"]["Resource"] == [
        mock_arn("aws:codebuild/project:Project", "release-build"),
        mock_arn("aws:codebuild/project:Project", "release-deploy-staging"),
        mock_arn("aws:codebuild/project:Project", "release-deploy-production"),
    ]
    assert allowed["states:StartExecution"]["Resource"] == [
        mock_arn("aws:sfn/stateMachine:StateMachine", "release-checks-smoke-test"),
        mock_arn("aws:sfn/stateMachine:StateMachine", "release-checks-health-check"),
    ]
    assert all(s["Resource"] != "*" for s in allowed.values())


# --- notifications


def test_notifications_go_to_an_encrypted_topic_and_its_subscribers(pipeline_stack):
    assert pipeline_stack.inputs("release-notifications-topic")["kmsMasterKeyId"] == mock_arn(
        "aws:kms/key:Key", "release-storage-key"
    )
    subscription = pipeline_stack.inputs("release-notifications-email-0")
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "platform-team@example.com")


@pytest.mark.parametrize(
    ("rule", "detail"),
    [
        ("pipeline-succeeded", {"pipeline": ["rollback-guard-pipeline"], "state": ["SUCCEEDED"]}),
        ("pipeline-failed", {"pipeline": ["rollback-guard-pipeline"], "state": ["FAILED"]}),
        (
            "pipeline-rollback",
            {
                "pipeline": ["rollback-guard-pipeline"],
                "state": ["STARTED"],
                "execution-trigger": {"trigger-type": ["AutomatedRollback"]},
            },
        ),
    ],
)
def test_success_failure_and_rollback_are_announced(pipeline_stack, rule, detail):
    pattern = json.loads(pipeline_stack.inputs(f"release-notifications-{rule}")["eventPattern"])
    assert pattern["detail"] == detail
    assert_reaches_the_formatter(pipeline_stack, rule)


def test_deployment_outcomes_and_canary_verdicts_are_announced(pipeline_stack):
    pattern = json.loads(pipeline_stack.inputs("release-notifications-deployments")["eventPattern"])
    assert pattern == {
        "$or": [
            {
                "source": ["aws.codedeploy"],
                "detail-type": ["CodeDeploy Deployment State-change Notification"],
                "detail": {"state": ["SUCCESS", "FAILURE", "STOP"], "application": [{"wildcard": "*-deploy-app-*"}]},
            },
            {"source": ["rollback-guard.judge"], "detail-type": ["Canary verdict"]},
        ]
    }
    assert_reaches_the_formatter(pipeline_stack, "deployments")


def assert_reaches_the_formatter(pipeline_stack, rule: str) -> None:
    formatter = mock_arn("aws:lambda/function:Function", "release-notifications-formatter-function")
    assert pipeline_stack.inputs(f"release-notifications-{rule}-target")["arn"] == formatter
    permission = pipeline_stack.inputs(f"release-notifications-{rule}-invoke")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["sourceArn"] == mock_arn("aws:cloudwatch/eventRule:EventRule", f"release-notifications-{rule}")


# --- production protection: the analogue of CloudFormation's termination protection


def test_every_resource_of_the_prod_stack_is_protected(prod):
    unprotected = [r.name for r in prod.monitor.registered if not r.protect]
    assert unprotected == ["web-task"], "only the task definition, which every release replaces"
    assert prod.inputs("web-task")["skipDestroy"] is True, "a replaced revision stays registered"


def test_nothing_in_staging_is_protected(staging):
    assert [r.name for r in staging.monitor.registered if r.protect] == []


# --- the state machines, checked by a real validator


def asl_validator(definition: dict) -> subprocess.CompletedProcess:
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists(), "asl-validator is missing: `make test` installs it with npm ci"
    return subprocess.run(
        [str(validator), "--json-definition", json.dumps(definition)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "definition",
    [smoke_test_definition(CHECK_FUNCTION, ENDPOINTS), health_check_definition(5)],
    ids=["smoke-test", "health-check"],
)
def test_the_state_machines_are_valid_amazon_states_language(definition):
    result = asl_validator(definition)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_state_machine():
    broken = smoke_test_definition(CHECK_FUNCTION, ENDPOINTS)
    broken["States"]["AnyFailed"]["Default"] = "NoSuchState"
    assert asl_validator(broken).returncode != 0


# --- the smoke check function against real local servers


def check(targets: SmokeTargets, path: str, **expectations) -> dict:
    return smoke_check.handler({"baseUrl": targets.url(""), "check": {"path": path, **expectations}})


def test_twenty_endpoints_are_checked_at_once_like_the_map_state(targets):
    paths = [f"/slow/{100 + i}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda path: check(targets, path), paths))
    assert [r["ok"] for r in results] == [True] * 20
    assert [r["url"] for r in results] == [targets.url(path) for path in paths]


def test_a_failing_endpoint_is_a_result_naming_it(targets):
    result = check(targets, "/status/500")
    assert result == {
        "url": targets.url("/status/500"),
        "ok": False,
        "reason": f"{targets.url('/status/500')}: status 500, expected 200",
    }


def test_a_hanging_endpoint_fails_within_its_timeout(targets):
    result = check(targets, "/hang", timeoutSeconds=0.3)
    assert (result["ok"], result["reason"]) == (False, f"{targets.url('/hang')}: no complete answer within 0.3s")


def test_an_expected_status_other_than_200_is_honoured(targets):
    assert check(targets, "/status/404", expectStatus=404)["ok"] is True


def test_a_malformed_check_is_a_failed_result_not_a_crash():
    result = smoke_check.handler({"baseUrl": "http://127.0.0.1:1"})
    assert result["ok"] is False and "malformed check" in result["reason"]


def test_the_deploy_stages_install_the_cli_of_the_sdk_the_program_runs_with():
    from rollback_guard.components.pipeline import PULUMI_VERSION

    locked = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    assert f"pulumi=={PULUMI_VERSION}" in locked
