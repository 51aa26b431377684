"""Least privilege, checked by a real linter: every IAM policy document the three stacks produce,
resolved under mocks (FakeAws gives resources the ARNs AWS would), goes through parliament. A
finding fails the suite unless the allow-list below names it and says why it must stay."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from fnmatch import fnmatch

import pytest

from rollback_guard.components.boundaries import WORKLOAD_ACTIONS, actions

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament still imports pkg_resources
    import parliament

# The resource types that carry a policy document, and the input that holds it.
POLICY_INPUTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:kms/key:Key": "policy",
}


@dataclass(frozen=True)
class Allowed:
    """A finding that stays, on the documents of the resources matching `resource`."""

    issue: str
    resource: str
    why: str
    # For a RESOURCE_MISMATCH: the one action it is about.
    action: str | None = None


ALLOWED = [
    Allowed(
        "RESOURCE_MISMATCH",
        "*-policy",
        "AWS CDK's grantPutLifecycleEventHookExecutionStatus scopes this to the deployment group's ARN, as the "
        "CodeDeploy service authorization reference lists; parliament's bundled definitions predate it and say *",
        action="codedeploy:PutLifecycleEventHookExecutionStatus",
    ),
    *(
        Allowed(
            "RESOURCE_STAR",
            policy,
            "Lambda's VPC access: the function's role creates and deletes its network interfaces, which have no ARN "
            "before they exist (AWS Lambda developer guide, execution role permissions for VPC access)",
        )
        # The test-traffic hook and the ECS canary judge, which both reach green through the test listener.
        for policy in ("web-test-traffic-policy", "web-judge-policy")
    ),
    Allowed(
        "RESOURCE_STAR",
        "*-key",
        'in a KMS key policy, "Resource": "*" is the key itself (AWS KMS key policies)',
    ),
    Allowed(
        "RESOURCE_STAR",
        "release-boundaries-*",
        "a permissions boundary caps actions only; the role's own policy names the resources (IAM evaluates the "
        "boundary as a ceiling over the identity policy)",
    ),
    Allowed(
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
        "release-deploy-*-policy",
        "the deploy roles write the access-log buckets' policies (load balancers deliver only where a policy "
        "lets them); only buckets named *-lb-logs-*, which hold access logs and nothing else",
    ),
    Allowed(
        "RESOURCE_MISMATCH",
        "release-role-policy",
        "CodeConnections renamed CodeStar Connections: one connection ARN, both action names, as AWS accepts either",
        action="codestar-connections:UseConnection",
    ),
    Allowed(
        "RESOURCE_MISMATCH",
        "release-role-policy",
        "the checks are standard state machines: parliament also lists the express-execution ARN format",
        action="states:DescribeExecution",
    ),
]


def documents(built) -> list[tuple[str, dict]]:
    found = []
    for registration in built.monitor.registered:
        document = registration.inputs.get(POLICY_INPUTS.get(registration.type, ""))
        if document:
            found.append((registration.name, json.loads(document) if isinstance(document, str) else document))
    return found


@pytest.fixture(scope="module")
def every_document(settled) -> dict[str, list[tuple[str, dict]]]:
    return {stack: documents(settled(stack)) for stack in ("staging", "prod", "pipeline")}


def allowance(name: str, finding) -> Allowed | None:
    mismatched = {entry["action"] for entry in finding.detail} if finding.issue == "RESOURCE_MISMATCH" else set()
    for allowed in ALLOWED:
        if (
            allowed.issue == finding.issue
            and fnmatch(name, allowed.resource)
            and (allowed.action is None or mismatched == {allowed.action})
        ):
            return allowed
    return None


def test_the_stacks_produce_policies_to_lint(every_document):
    assert all(len(docs) >= 8 for docs in every_document.values())


@pytest.mark.parametrize("stack", ["staging", "prod", "pipeline"])
def test_parliament_finds_nothing_but_what_the_allow_list_explains(every_document, stack):
    unexplained = []
    for name, document in every_document[stack]:
        for finding in parliament.analyze_policy_string(json.dumps(document)).findings:
            if allowance(name, finding) is None:
                unexplained.append((name, finding.issue, finding.detail))
    assert unexplained == []


def test_every_allowance_is_still_needed(every_document):
    used = set()
    for documents_of_stack in every_document.values():
        for name, document in documents_of_stack:
            for finding in parliament.analyze_policy_string(json.dumps(document)).findings:
                used.add(allowance(name, finding))
    assert [allowed for allowed in ALLOWED if allowed not in used] == []


def test_parliament_catches_what_it_is_here_for():
    """The linter is live: a service-wide grant with no resource is a finding."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    issues = {finding.issue for finding in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert "RESOURCE_STAR" in issues


# The wildcards that stay: AWS KMS's default key policy, in which the account delegates the key to its
# IAM policies (a narrower list risks a key nobody can administer); and the deployer boundary's reads,
# one wildcard per verb where it replaces many names, since every name does not fit in IAM's 6,144
# characters for a managed policy (boundaries.DEPLOYER_BOUNDARY_READS). A boundary grants nothing,
# and the deploy roles' own policies name each read.
WILDCARDS_ALLOWED = {
    ("release-storage-key", "kms:*"),
    ("prod-logs-key", "kms:*"),
    ("release-boundaries-deployer", "ec2:Describe*"),
    ("release-boundaries-deployer", "elasticloadbalancing:Describe*"),
    ("release-boundaries-deployer", "s3:Get*"),
    ("release-boundaries-deployer", "lambda:Get*"),
    ("release-boundaries-deployer", "codedeploy:Get*"),
}


def test_no_policy_grants_an_action_wildcard(every_document):
    found = set()
    for documents_of_stack in every_document.values():
        for name, document in documents_of_stack:
            for statement in document["Statement"]:
                if statement["Effect"] != "Allow":  # a wildcard in a Deny takes away, never grants
                    continue
                granted = statement.get("Action", [])
                granted = [granted] if isinstance(granted, str) else granted
                found |= {(name, action) for action in granted if "*" in action}
    assert found == WILDCARDS_ALLOWED


@pytest.mark.parametrize(
    ("stack", "path"),
    [
        ("staging", "/rollback-guard/staging/"),
        ("prod", "/rollback-guard/prod/"),
        ("pipeline", "/rollback-guard-pipeline/"),
    ],
)
def test_every_role_lives_under_its_stacks_path_within_a_boundary(settled, stack, path):
    """Each stack's deploy role reaches only its own stack's roles; none reaches the pipeline's."""
    for role in settled(stack).of_type("aws:iam/role:Role"):
        assert role.inputs["path"] == path, role.name
        assert "rollback-guard" in role.inputs["permissionsBoundary"], role.name
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert [set(statement["Principal"]) for statement in trust] == [{"Service"}], role.name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_action_a_service_stacks_role_is_granted_is_within_the_workload_boundary(settled, stack):
    """A grant the boundary does not cover is denied in AWS, however the role's own policy reads: a
    hook or a judge would fail at its first call."""
    within = set(actions(WORKLOAD_ACTIONS))
    outside = set()
    for policy in settled(stack).of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            granted = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            outside |= {(policy.name, action) for action in granted if action not in within}
    assert outside == set()


def test_the_deploy_roles_manage_the_judges_event_rules_of_their_account_and_region_only(pipeline_stack):
    document = json.loads(pipeline_stack.inputs("release-deploy-services")["policy"])
    [scoped] = [s for s in document["Statement"] if "events:PutRule" in s["Action"]]
    assert "arn:aws:events:us-east-1:123456789012:rule/*" in scoped["Resource"]
    assert {"events:PutTargets", "events:RemoveTargets", "events:DeleteRule"} <= set(scoped["Action"])
    assert "events:PutEvents" not in scoped["Action"], "deploying puts no events"
