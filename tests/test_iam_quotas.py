"""IAM's quotas, which mocks accept anything past: every policy document of the three stacks fits,
with room left for what real ARNs add (a longer region, Pulumi's random suffixes) and for a few
more actions; and every resource AWS checks a role's permissions for on creation waits for them."""

from __future__ import annotations

from collections import defaultdict

import pytest

from rollback_guard.limits import (
    INLINE_POLICY_CHARACTERS_PER_ROLE,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_CHARACTERS,
    TRUST_POLICY_CHARACTERS,
    limit_violations,
    policy_characters,
)

STACKS = ("staging", "prod", "pipeline")
# The share of each quota a stack may use under mocks: in AWS, a region such as ap-southeast-2 adds 5
# characters to every ARN that names it, Pulumi's random suffixes 8 to a name, and the lists grow.
ROOM = 0.9
ROLE = "aws:iam/role:Role"
MANAGED = "aws:iam/policy:Policy"
INLINE = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def role_named(value: str) -> str:
    """The role an inline policy or an attachment names, by its name or by its id: a role's id is
    its name in AWS, and `<name>-id` under FakeAws."""
    return value.removesuffix("-id")


def policies_by_role(built) -> dict[str, list]:
    """Every inline policy and managed-policy attachment, by the name of the role it is on."""
    found = defaultdict(list)
    for registration in built.of_type(INLINE) + built.of_type(ATTACHMENT):
        found[role_named(registration.inputs["role"])].append(registration)
    return found


def over(sizes: dict[str, int], quota: int) -> dict[str, int]:
    return {name: size for name, size in sizes.items() if size > ROOM * quota}


@pytest.mark.parametrize("stack", STACKS)
def test_aws_would_accept_every_iam_resource_of_the_stack(settled, stack):
    iam = [r for r in settled(stack).monitor.registered if r.type.startswith("aws:iam/")]
    assert [str(violation) for violation in limit_violations(iam)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_managed_policy_fits_iams_6144_characters(settled, stack):
    sizes = {p.name: policy_characters(p.inputs["policy"]) for p in settled(stack).of_type(MANAGED)}
    assert over(sizes, MANAGED_POLICY_CHARACTERS) == {}, f"{sizes} of IAM's {MANAGED_POLICY_CHARACTERS}"


@pytest.mark.parametrize("stack", STACKS)
def test_a_roles_inline_policies_together_fit_iams_10240_characters(settled, stack):
    sizes = {
        role: sum(policy_characters(p.inputs["policy"]) for p in policies if p.type == INLINE)
        for role, policies in policies_by_role(settled(stack)).items()
    }
    assert over(sizes, INLINE_POLICY_CHARACTERS_PER_ROLE) == {}, (
        f"{sizes} of IAM's {INLINE_POLICY_CHARACTERS_PER_ROLE} per role"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_trust_policy_fits_iams_2048_characters(settled, stack):
    sizes = {r.name: policy_characters(r.inputs["assumeRolePolicy"]) for r in settled(stack).of_type(ROLE)}
    assert over(sizes, TRUST_POLICY_CHARACTERS) == {}, f"{sizes} of IAM's {TRUST_POLICY_CHARACTERS}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_role_carries_more_than_iams_10_managed_policies(settled, stack):
    counts = {
        role: sum(p.type == ATTACHMENT for p in policies) for role, policies in policies_by_role(settled(stack)).items()
    }
    assert over(counts, MANAGED_POLICIES_PER_ROLE) == {}, f"{counts} of IAM's {MANAGED_POLICIES_PER_ROLE} per role"


# --- IAM before its users: AWS checks a role's permissions when some resources are created


def role_of(built, registration, role_input: str):
    return next(role for role in built.of_type(ROLE) if role.outputs["arn"] == registration.inputs[role_input])


def waited_for(registration, policies: list) -> list[str]:
    """The policies `registration` is created without."""
    return [policy.name for policy in policies if policy.urn not in registration.dependencies]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_deployment_group_waits_for_its_roles_managed_policy(settled, stack):
    """CodeDeploy checks its role's permissions when it creates the group. The role's inline grants
    (invoke the hooks, pass the task roles) follow the group: the hooks need its ARN, and
    CodeDeploy needs them only once a deployment starts, after them (the release waits for them)."""
    built = settled(stack)
    groups = built.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")
    assert groups
    for group in groups:
        role = role_of(built, group, "serviceRoleArn")
        attached = [p for p in policies_by_role(built)[role.name] if p.type == ATTACHMENT]
        assert attached, f"{role.name} carries CodeDeploy's managed policy"
        assert waited_for(group, attached) == [], f"{group.name} is created before its role's managed policy"


@pytest.mark.parametrize(
    ("stack", "type_token", "role_input"),
    [
        # A build runs with its role's permissions; the pipeline starts a run as soon as it exists.
        ("pipeline", "aws:codebuild/project:Project", "serviceRole"),
        ("pipeline", "aws:codepipeline/pipeline:Pipeline", "roleArn"),
        # Step Functions checks its role's log delivery when it creates a state machine with logging.
        ("pipeline", "aws:sfn/stateMachine:StateMachine", "roleArn"),
        # A task's first start pulls the image and writes logs through its execution role.
        *((stack, "aws:ecs/taskDefinition:TaskDefinition", "executionRoleArn") for stack in ("staging", "prod")),
        # Lambda checks a VPC function's network permissions when it creates the function.
        *((stack, "aws:lambda/function:Function", "role") for stack in STACKS),
    ],
)
def test_a_resource_that_acts_through_its_role_at_once_waits_for_every_policy_of_it(
    settled, stack, type_token, role_input
):
    built = settled(stack)
    users = built.of_type(type_token)
    assert users
    for user in users:
        role = role_of(built, user, role_input)
        assert waited_for(user, policies_by_role(built)[role.name]) == [], f"{user.name} is created before them"
