"""The permissions boundaries of this project's roles: the most any of them may ever do, whatever
policies they are given.

Both are created by the pipeline stack, which an administrator deploys; no role the stacks create
may change them.
- workload: every role the service stacks create (hooks, tasks, CodeDeploy, ECS) and the pipeline's
  own service roles. No IAM writes and no new credentials, so nothing acting through such a role
  can grant itself more.
- deployer: the deploy roles. They create the service stacks' resources, and roles only under
  ROLE_PATH with the workload boundary (their own policy says how; this caps them regardless). It
  names every write; some services' reads are one wildcard each (DEPLOYER_BOUNDARY_READS).

A boundary caps actions; each role's own policy names the resources, so the boundaries allow their
actions on any resource (IAM evaluates a boundary as a ceiling over the identity policy).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from rollback_guard.components.iam import ROLE_PATH, policy_document
from rollback_guard.components.lambda_function import VPC_FUNCTION_STATEMENT
from rollback_guard.components.parts import Component

WORKLOAD_BOUNDARY = "rollback-guard-workload-boundary"
DEPLOYER_BOUNDARY = "rollback-guard-deployer-boundary"

# What the workloads do, including through the managed policies they carry
# (AWSCodeDeployRoleForECSLimited, AWSCodeDeployRoleForLambdaLimited,
# AmazonECSInfrastructureRolePolicyForLoadBalancers): a boundary must cover those too.
WORKLOAD_ACTIONS = {
    "logs": (
        "CreateLogStream",
        "PutLogEvents",
        # Step Functions' log delivery.
        "CreateLogDelivery",
        "GetLogDelivery",
        "UpdateLogDelivery",
        "DeleteLogDelivery",
        "ListLogDeliveries",
        "PutResourcePolicy",
        "DescribeResourcePolicies",
        "DescribeLogGroups",
    ),
    "xray": ("PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets"),
    # UpdateItem: the canary judge's state, written conditionally.
    "dynamodb": ("PutItem", "GetItem", "Query", "UpdateItem"),
    "codedeploy": (
        "GetDeployment",
        "GetApplicationRevision",
        "PutLifecycleEventHookExecutionStatus",
        # The canary judge: its group's deployments, their targets, and the stop of a bad one.
        "ListDeployments",
        "ListDeploymentTargets",
        "GetDeploymentTarget",
        "StopDeployment",
    ),
    "lambda": ("InvokeFunction", "GetAlias", "UpdateAlias", "GetProvisionedConcurrencyConfig"),
    # GetMetricData: the canary judge compares the versions' metrics; PutMetricData: its heartbeat
    # (its role's policy holds it to the judges' namespace).
    "cloudwatch": ("DescribeAlarms", "GetMetricData", "PutMetricData"),
    # The canary judge's verdicts, on the default bus.
    "events": ("PutEvents",),
    # What a function in the VPC needs (the test-traffic hook, the ECS judge), as their roles grant it.
    "ec2": tuple(action.removeprefix("ec2:") for action in VPC_FUNCTION_STATEMENT["Action"]),
    "ecr": ("GetAuthorizationToken", "BatchCheckLayerAvailability", "GetDownloadUrlForLayer", "BatchGetImage"),
    "ecs": ("DescribeServices", "CreateTaskSet", "UpdateServicePrimaryTaskSet", "DeleteTaskSet"),
    "elasticloadbalancing": (
        "DescribeListeners",
        "DescribeRules",
        "DescribeTargetGroups",
        "DescribeTargetHealth",
        "ModifyListener",
        "ModifyRule",
        "RegisterTargets",
        "DeregisterTargets",
    ),
    # CodeDeploy passes the task roles to ECS when it starts a replacement task set.
    "iam": ("PassRole",),
    "sns": ("Publish",),
    "s3": ("GetObject", "GetObjectVersion", "PutObject", "GetBucketVersioning"),
    "kms": ("Decrypt", "Encrypt", "GenerateDataKey"),
    "codebuild": ("StartBuild", "BatchGetBuilds"),
    "states": ("StartExecution", "DescribeStateMachine", "DescribeExecution", "StopExecution"),
    "codestar-connections": ("UseConnection",),
    "codeconnections": ("UseConnection",),
}

# What `pulumi up` of a service stack does to the resources it owns, and the release engine's
# CodeDeploy calls. Named one by one: no service-wide grant.
DEPLOY_ACTIONS = {
    "ec2": (
        "DescribeAccountAttributes",
        "DescribeAvailabilityZones",
        "CreateVpc",
        "DeleteVpc",
        "DescribeVpcs",
        "DescribeVpcAttribute",
        "ModifyVpcAttribute",
        "CreateSubnet",
        "DeleteSubnet",
        "DescribeSubnets",
        "ModifySubnetAttribute",
        "CreateRouteTable",
        "DeleteRouteTable",
        "DescribeRouteTables",
        "CreateRoute",
        "DeleteRoute",
        "ReplaceRoute",
        "AssociateRouteTable",
        "DisassociateRouteTable",
        "CreateInternetGateway",
        "DeleteInternetGateway",
        "AttachInternetGateway",
        "DetachInternetGateway",
        "DescribeInternetGateways",
        "AllocateAddress",
        "ReleaseAddress",
        "DisassociateAddress",
        "DescribeAddresses",
        "DescribeAddressesAttribute",
        "CreateNatGateway",
        "DeleteNatGateway",
        "DescribeNatGateways",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
        "DescribeSecurityGroups",
        "DescribeSecurityGroupRules",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "ModifySecurityGroupRules",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
        "DescribeNetworkInterfaces",
        # A destroy removes what Lambda leaves in the VPC before the subnets and security groups.
        "DetachNetworkInterface",
        "DeleteNetworkInterface",
        "DescribeNetworkAcls",
        "DescribePrefixLists",
        "CreateTags",
        "DeleteTags",
        "DescribeTags",
    ),
    "elasticloadbalancing": (
        "CreateLoadBalancer",
        "DeleteLoadBalancer",
        "DescribeLoadBalancers",
        "DescribeLoadBalancerAttributes",
        "ModifyLoadBalancerAttributes",
        "SetSecurityGroups",
        "SetSubnets",
        "CreateTargetGroup",
        "DeleteTargetGroup",
        "DescribeTargetGroups",
        "DescribeTargetGroupAttributes",
        "ModifyTargetGroup",
        "ModifyTargetGroupAttributes",
        "DescribeTargetHealth",
        "CreateListener",
        "DeleteListener",
        "DescribeListeners",
        "DescribeListenerAttributes",
        "ModifyListener",
        "ModifyListenerAttributes",
        "DescribeListenerCertificates",
        "AddListenerCertificates",
        "RemoveListenerCertificates",
        "DescribeSSLPolicies",
        "CreateRule",
        "DeleteRule",
        "DescribeRules",
        "ModifyRule",
        "SetRulePriorities",
        "AddTags",
        "RemoveTags",
        "DescribeTags",
    ),
    "ecs": (
        "CreateCluster",
        "DeleteCluster",
        "DescribeClusters",
        "UpdateCluster",
        "UpdateClusterSettings",
        "PutClusterCapacityProviders",
        "RegisterTaskDefinition",
        "DeregisterTaskDefinition",
        "DescribeTaskDefinition",
        "CreateService",
        "DeleteService",
        "DescribeServices",
        "UpdateService",
        "ListTasks",
        "DescribeTasks",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "lambda": (
        "CreateFunction",
        "DeleteFunction",
        "GetFunction",
        "GetFunctionConfiguration",
        "GetFunctionCodeSigningConfig",
        "GetRuntimeManagementConfig",
        "GetFunctionRecursionConfig",
        "UpdateFunctionCode",
        "UpdateFunctionConfiguration",
        "PublishVersion",
        "ListVersionsByFunction",
        "CreateAlias",
        "DeleteAlias",
        "GetAlias",
        "UpdateAlias",
        "AddPermission",
        "RemovePermission",
        "GetPolicy",
        "PutFunctionConcurrency",
        "DeleteFunctionConcurrency",
        "GetFunctionConcurrency",
        "TagResource",
        "UntagResource",
        "ListTags",
    ),
    "codedeploy": (
        "CreateApplication",
        "DeleteApplication",
        "GetApplication",
        "UpdateApplication",
        "CreateDeploymentGroup",
        "DeleteDeploymentGroup",
        "GetDeploymentGroup",
        "UpdateDeploymentGroup",
        "CreateDeploymentConfig",
        "DeleteDeploymentConfig",
        "GetDeploymentConfig",
        "CreateDeployment",
        "GetDeployment",
        "ListDeployments",
        "BatchGetDeployments",
        "ListDeploymentTargets",
        "BatchGetDeploymentTargets",
        "StopDeployment",
        "ContinueDeployment",
        "GetApplicationRevision",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "cloudwatch": (
        "PutMetricAlarm",
        "DeleteAlarms",
        "DescribeAlarms",
        "PutAnomalyDetector",
        "DeleteAnomalyDetector",
        "DescribeAnomalyDetectors",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "logs": (
        "CreateLogGroup",
        "DeleteLogGroup",
        "DescribeLogGroups",
        "PutRetentionPolicy",
        "DeleteRetentionPolicy",
        "AssociateKmsKey",
        "DisassociateKmsKey",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        "ListTagsLogGroup",
    ),
    # The canary judges' triggers: their groups' START events and a schedule.
    "events": (
        "PutRule",
        "DeleteRule",
        "DescribeRule",
        "EnableRule",
        "DisableRule",
        "PutTargets",
        "RemoveTargets",
        "ListTargetsByRule",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "dynamodb": (
        "CreateTable",
        "DeleteTable",
        "DescribeTable",
        "UpdateTable",
        "DescribeContinuousBackups",
        "UpdateContinuousBackups",
        "DescribeTimeToLive",
        "TagResource",
        "UntagResource",
        "ListTagsOfResource",
        # The release engine reads and writes the deployment log.
        "Query",
        "GetItem",
        "PutItem",
    ),
}

# Where the deploy actions act: this account's resources of each service in the stack's region.
DEPLOY_SCOPES = {
    "ec2": "arn:aws:ec2:{region}:{account}:*",
    "elasticloadbalancing": "arn:aws:elasticloadbalancing:{region}:{account}:*",
    "ecs": "arn:aws:ecs:{region}:{account}:*",
    "lambda": "arn:aws:lambda:{region}:{account}:function:*",
    "codedeploy": "arn:aws:codedeploy:{region}:{account}:*",
    "cloudwatch": "arn:aws:cloudwatch:{region}:{account}:alarm:*",
    "logs": "arn:aws:logs:{region}:{account}:log-group:*",
    "dynamodb": "arn:aws:dynamodb:{region}:{account}:table/*",
    "events": "arn:aws:events:{region}:{account}:rule/*",
}
# The deploy actions that name no resource type, which IAM grants on "*" only (the Describe calls,
# task definition revisions, anomaly detectors, a deployment's stop, continue and targets). The IAM linter
# in the suite checks both lists: an action here that could be scoped, or one scoped that cannot.
ANY_RESOURCE_ACTIONS = frozenset(
    f"{service}:{action}"
    for service, names in {
        "ec2": (
            "DescribeAccountAttributes",
            "DescribeAvailabilityZones",
            "DescribeVpcs",
            "DescribeSubnets",
            "DescribeRouteTables",
            "DescribeInternetGateways",
            "DescribeAddresses",
            "DescribeAddressesAttribute",
            "DescribeNatGateways",
            "DescribeSecurityGroups",
            "DescribeSecurityGroupRules",
            "DescribeNetworkInterfaces",
            "DescribeNetworkAcls",
            "DescribePrefixLists",
            "DescribeTags",
        ),
        "elasticloadbalancing": (
            "DescribeLoadBalancers",
            "DescribeLoadBalancerAttributes",
            "DescribeTargetGroups",
            "DescribeTargetGroupAttributes",
            "DescribeTargetHealth",
            "DescribeListeners",
            "DescribeListenerAttributes",
            "DescribeListenerCertificates",
            "DescribeSSLPolicies",
            "DescribeRules",
            "DescribeTags",
        ),
        "ecs": ("DeregisterTaskDefinition", "DescribeTaskDefinition"),
        "codedeploy": ("StopDeployment", "ContinueDeployment", "ListDeploymentTargets", "BatchGetDeploymentTargets"),
        "cloudwatch": ("PutAnomalyDetector", "DeleteAnomalyDetector", "DescribeAnomalyDetectors"),
        "logs": ("DescribeLogGroups",),
    }.items()
    for action in names
)

# The roles the deploy roles manage, always under ROLE_PATH with the workload boundary.
ROLE_ACTIONS = (
    "CreateRole",
    "DeleteRole",
    "GetRole",
    "TagRole",
    "UntagRole",
    "UpdateRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "ListInstanceProfilesForRole",
    "PassRole",
    "CreateServiceLinkedRole",
)
# Production's own storage: its load balancers' access-log buckets and its logs key, which the deploy
# roles may manage only by name (buckets) or by tag (keys), never the pipeline's own.
ACCESS_LOG_BUCKETS = "arn:aws:s3:::*-lb-logs-*"
ACCESS_LOG_BUCKET_ACTIONS = {
    "s3": (
        "CreateBucket",
        "DeleteBucket",
        "ListBucket",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "GetBucketAcl",
        "GetBucketCORS",
        "GetBucketWebsite",
        "GetBucketVersioning",
        "GetBucketRequestPayment",
        "GetBucketLogging",
        "GetBucketTagging",
        "PutBucketTagging",
        "GetBucketObjectLockConfiguration",
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "GetAccelerateConfiguration",
        "GetLifecycleConfiguration",
        "PutLifecycleConfiguration",
        "GetReplicationConfiguration",
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
    )
}
# The stacks' release dashboards (components/dashboard.py). Dashboards are global and named by the
# program, `<project>-<stack>-<release>`: each deploy role may manage its own stack's only, by that
# name (ReleasePipeline._deploy_statements), never any other dashboard of the account.
DASHBOARD_DEPLOY_ACTIONS = {"cloudwatch": ("PutDashboard", "GetDashboard", "DeleteDashboards")}
KEY_TAG = "rollback-guard:key"
LOGS_KEY_TAG_VALUE = "logs"
LOGS_KEY_DEPLOY_ACTIONS = {
    "kms": (
        "DescribeKey",
        "GetKeyPolicy",
        "PutKeyPolicy",
        "EnableKeyRotation",
        "GetKeyRotationStatus",
        "ListResourceTags",
        "TagResource",
        "UntagResource",
    )
}
# What a deploy job does besides: its logs, the pipeline's artifacts and state, the secrets key.
DEPLOY_JOB_ACTIONS = {
    "logs": ("CreateLogStream", "PutLogEvents"),
    "s3": ("GetObject", "GetObjectVersion", "PutObject", "DeleteObject", "ListBucket"),
    "kms": ("Decrypt", "Encrypt", "GenerateDataKey"),
}
# IAM holds a managed policy, the deployer boundary too, to 6,144 characters, and every action of the
# deploy roles named one by one does not fit. So the deployer boundary spells each of these services'
# reads of one verb as that verb's wildcard, where it replaces many names: reads only (every write stays
# named) and never IAM's, which span the account's whole authorization. The deploy roles' own policies
# still name each read they are granted.
DEPLOYER_BOUNDARY_READS = {
    "ec2": "Describe",
    "elasticloadbalancing": "Describe",
    "s3": "Get",
    "lambda": "Get",
    "codedeploy": "Get",
}


def actions(*tables: dict[str, tuple[str, ...]]) -> list[str]:
    """`service:Action` for every action of `tables`, each once, in order."""
    return list(
        dict.fromkeys(f"{service}:{action}" for table in tables for service, names in table.items() for action in names)
    )


def read_wildcards(granted: list[str], reads: Mapping[str, str]) -> list[str]:
    """`granted`, each action of a service in `reads` whose name starts with the service's read verb
    spelled as that verb's wildcard (`ec2:DescribeVpcs` → `ec2:Describe*`), each once, in order."""

    def spelled(action: str) -> str:
        service, name = action.split(":")
        verb = reads.get(service)
        return f"{service}:{verb}*" if verb and name.startswith(verb) else action

    return list(dict.fromkeys(map(spelled, granted)))


class PermissionsBoundaries(Component):
    """The two boundaries, as managed policies under ROLE_PATH."""

    workload: aws.iam.Policy
    deployer: aws.iam.Policy

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:boundaries:PermissionsBoundaries", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.workload = self._boundary(f"{name}-workload", WORKLOAD_BOUNDARY, actions(WORKLOAD_ACTIONS), child)
        deployer = actions(
            DEPLOY_ACTIONS,
            DASHBOARD_DEPLOY_ACTIONS,
            ACCESS_LOG_BUCKET_ACTIONS,
            LOGS_KEY_DEPLOY_ACTIONS,
            {"kms": ("CreateKey",)},
            DEPLOY_JOB_ACTIONS,
            {"iam": ROLE_ACTIONS},
        )
        self.deployer = self._boundary(
            f"{name}-deployer", DEPLOYER_BOUNDARY, read_wildcards(deployer, DEPLOYER_BOUNDARY_READS), child
        )
        self.register_outputs({"workloadArn": self.workload.arn, "deployerArn": self.deployer.arn})

    @staticmethod
    def _boundary(name: str, policy_name: str, allowed: list[str], opts: pulumi.ResourceOptions) -> aws.iam.Policy:
        return aws.iam.Policy(
            name,
            name=policy_name,
            path=ROLE_PATH,
            description="rollback-guard permissions boundary: the most a role carrying it may do",
            policy=policy_document([{"Effect": "Allow", "Action": allowed, "Resource": "*"}]),
            opts=opts,
        )
