"""Test a Pulumi program that uses rollback_guard, offline: Pulumi's mocks, with no AWS account and
no Pulumi CLI, recording what each resource was registered with — its inputs and the options the
mocks do not expose (protect, retain-on-delete, ignore_changes, dependencies).

    from rollback_guard.testing import run

    def test_the_checkout_group_rolls_back_on_alarm():
        built = run(lambda: LambdaCanary("checkout", LambdaCanaryArgs(...)), stack="prod")
        group = built.inputs("checkout-deploy-group")
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["autoRollbackConfiguration"]["events"]

`run` returns once every resource is registered. Outputs echo the inputs, with the attributes AWS
would compute (an ARN, a load balancer's DNS name, a function's version "1") added by FakeAws;
subclass it for more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor

T = TypeVar("T")
ACCOUNT = "123456789012"
REGION = "us-east-1"


_ID = "0123456789abcdef"
# The ARNs AWS gives each kind of resource, so that policies built from them read as they would in
# AWS (and policy linters judge real ARNs).
_ARN_FORMATS = {
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{region}:{account}:rule/{name}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws:codebuild/project:Project": "arn:aws:codebuild:{region}:{account}:project/{name}",
    "aws:codedeploy/application:Application": "arn:aws:codedeploy:{region}:{account}:application:{name}",
    "aws:codedeploy/deploymentGroup:DeploymentGroup": (
        "arn:aws:codedeploy:{region}:{account}:deploymentgroup:{name}/{name}"
    ),
    "aws:codestarconnections/connection:Connection": "arn:aws:codeconnections:{region}:{account}:connection/{name}",
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "aws:ec2/securityGroup:SecurityGroup": "arn:aws:ec2:{region}:{account}:security-group/{name}",
    "aws:ecs/cluster:Cluster": "arn:aws:ecs:{region}:{account}:cluster/{name}",
    "aws:ecs/service:Service": "arn:aws:ecs:{region}:{account}:service/{name}/{name}",
    "aws:ecs/taskDefinition:TaskDefinition": "arn:aws:ecs:{region}:{account}:task-definition/{name}:1",
    "aws:iam/policy:Policy": "arn:aws:iam::{account}:policy{path}{name}",
    "aws:iam/role:Role": "arn:aws:iam::{account}:role{path}{name}",
    "aws:kms/key:Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "aws:lambda/alias:Alias": "arn:aws:lambda:{region}:{account}:function:{name}:live",
    "aws:lambda/function:Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "aws:lb/listener:Listener": "arn:aws:elasticloadbalancing:{region}:{account}:listener/app/{name}/{id}/{id}",
    "aws:lb/listenerRule:ListenerRule": (
        "arn:aws:elasticloadbalancing:{region}:{account}:listener-rule/app/{name}/{id}/{id}/{id}"
    ),
    "aws:lb/loadBalancer:LoadBalancer": "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{id}",
    "aws:lb/targetGroup:TargetGroup": "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{id}",
    "aws:s3/bucket:Bucket": "arn:aws:s3:::{name}",
    "aws:s3/bucketV2:BucketV2": "arn:aws:s3:::{name}",
    "aws:sfn/stateMachine:StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "aws:sns/topic:Topic": "arn:aws:sns:{region}:{account}:{name}",
}


def mock_arn(type_token: str, name: str, path: str = "/") -> str:
    """The ARN FakeAws gives the resource `name` of `type_token` (IAM roles and policies under `path`)."""
    template = _ARN_FORMATS.get(type_token, "arn:aws:mock:{region}:{account}:" + type_token + "/{name}")
    return template.format(region=REGION, account=ACCOUNT, name=name, id=_ID, path=path)


class FakeAws(pulumi.runtime.Mocks):
    """Echoes inputs back as outputs and adds the attributes AWS would compute. The region has
    `availability_zones` zones available (us-east-1 has 6)."""

    def __init__(self, availability_zones: int = 6):
        self.availability_zones = availability_zones

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name = args.inputs.get("name") or args.name
        outputs = {**args.inputs, "name": name, "arn": mock_arn(args.typ, args.name, args.inputs.get("path") or "/")}
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs |= {"arnSuffix": f"app/{name}/0123456789abcdef", "dnsName": f"{name}.{REGION}.elb.amazonaws.com"}
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            outputs |= {"arnSuffix": f"targetgroup/{name}/0123456789abcdef"}
        elif args.typ == "aws:lambda/function:Function":
            outputs |= {"version": "1"}
        elif args.typ == "aws:s3/bucket:Bucket":
            outputs |= {"bucket": args.name}
        elif args.typ == "aws:kms/key:Key":
            outputs |= {"keyId": f"{args.name}-key-id"}
        elif args.typ == "awsx:ec2:Vpc":
            # A remote component: its outputs are not its inputs (natGateways becomes resources).
            outputs = {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": ["subnet-public-a", "subnet-public-b"],
                "privateSubnetIds": ["subnet-private-a", "subnet-private-b"],
            }
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        results = {
            "aws:index/getRegion:getRegion": {"region": REGION, "name": REGION},
            "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
            "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": ACCOUNT},
            "aws:ec2/getVpc:getVpc": {"id": args.args.get("id"), "cidrBlock": "172.31.0.0/16"},
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": [f"{REGION}{zone}" for zone in "abcdef"[: self.availability_zones]],
                "zoneIds": [f"use1-az{number}" for number in range(1, self.availability_zones + 1)],
                "id": REGION,
            },
        }
        return results[args.token]


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    inputs: dict
    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    # URNs of the resources this one was told to wait for (depends_on).
    dependencies: tuple[str, ...]
    # How long the provider may take to create / update it, e.g. "45m" ("" for its default).
    update_timeout: str
    urn: str
    # The URN of its parent ("" for a top-level resource).
    parent: str
    # A resource AWS holds, rather than a component grouping others.
    custom: bool
    # As the SDK sent them: {"urn": ...} or {"spec": {"name", "type", "noParent", "parentUrn"}}.
    aliases: tuple[dict, ...]
    # What the mocks answered: the inputs and what AWS would compute.
    outputs: dict


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        # Every resource but the stack, in the order registered: a parent before its children.
        self.registered: list[Registration] = []

    @property
    def registrations(self) -> dict[str, Registration]:
        """The resources by name. A component may share its name with the component it wraps
        (EcsServiceWithRollback "web" around FargateService "web"): the name then means the
        innermost one, registered last."""
        return {registration.name: registration for registration in self.registered}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            # Custom resources' names are unique across a program, so tests can look them up by name alone.
            assert not (request.custom and any(r.name == request.name and r.custom for r in self.registered)), (
                f"two resources named {request.name}"
            )
            self.registered.append(
                Registration(
                    request.type,
                    request.name,
                    pulumi.runtime.rpc.deserialize_properties(request.object),
                    request.protect,
                    request.retainOnDelete,
                    tuple(request.ignoreChanges),
                    tuple(request.dependencies),
                    request.customTimeouts.update,
                    response.urn,
                    request.parent,
                    request.custom,
                    tuple(MessageToDict(alias) for alias in request.aliases),
                    pulumi.runtime.rpc.deserialize_properties(response.object),
                )
            )
        return response


@dataclass
class Built(Generic[T]):
    """What a program returned, and every resource it registered."""

    value: T
    stack: str
    monitor: RecordingMonitor = field(repr=False)

    def registration(self, name: str, type_token: str | None = None) -> Registration:
        """The resource `name` (of `type_token`, where a component shares its name)."""
        if type_token is None:
            return self.monitor.registrations[name]
        return next(r for r in self.monitor.registered if r.name == name and r.type == type_token)

    def inputs(self, name: str) -> dict:
        return self.registration(name).inputs

    @property
    def top_level(self) -> list[Registration]:
        """The resources the program itself created, whose parent is the stack."""
        urns = {r.urn for r in self.monitor.registered}
        return [r for r in self.monitor.registered if r.parent not in urns]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.monitor.registered if r.type == type_token]

    def children_of(self, name: str, type_token: str | None = None) -> list[Registration]:
        """The resources whose parent is the resource `name`."""
        parent = self.registration(name, type_token).urn
        return [r for r in self.monitor.registered if r.parent == parent]


def resolved(outputs: Mapping[str, Any]) -> pulumi.Output[dict]:
    """A mapping of outputs (a program's exports) as one output of their values."""
    keys = list(outputs)
    return pulumi.Output.all(*outputs.values()).apply(lambda values: dict(zip(keys, values, strict=True)))


def run(
    program: Callable[[], T],
    *,
    project: str = "test",
    stack: str = "test",
    config: Mapping[str, Any] | None = None,
    mocks: pulumi.runtime.Mocks | None = None,
    then: Callable[[T], Any] | None = None,
) -> Built[T]:
    """Runs `program()` under mocks with `config` (keys `project:key`; objects and lists are passed as
    JSON, as Pulumi passes them) and returns once every resource is registered. `then(value)` runs
    in the same test run: an Output it returns (assertions on resolved outputs) is awaited."""
    mocks = mocks or FakeAws()
    monitor = RecordingMonitor(mocks)
    # A stack of its own: transformations and outputs registered by an earlier run stay there.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {
            key: json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            for key, value in (config or {}).items()
        }
    )
    returned: list[T] = []

    @pulumi.runtime.test
    def build() -> Any:
        returned.append(program())
        return then(returned[0]) if then else None

    build()
    return Built(returned[0], stack, monitor)


@dataclass(frozen=True)
class Violation:
    policy: str
    message: str
    # The resource it is about; None for the stack as a whole.
    urn: str | None


def policy_violations(
    built: Built, policies: list, config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    """Runs CrossGuard `policies` (pulumi_policy; the `policy` extra) on what `built` registered, as
    the engine would: resource validations on each resource's inputs, stack validations on every
    resource's outputs. `config` is keyed by policy name."""
    from pulumi_policy import (
        PolicyCustomTimeouts,
        PolicyResource,
        PolicyResourceOptions,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
    )

    def options(registration: Registration) -> PolicyResourceOptions:
        return PolicyResourceOptions(
            protect=registration.protect,
            ignore_changes=list(registration.ignore_changes),
            delete_before_replace=None,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
            parent=registration.parent,
        )

    found: list[Violation] = []
    for policy in policies:
        settings = dict((config or {}).get(policy.name, {}))

        def report(message: str, urn: str | None = None, policy=policy) -> None:
            found.append(Violation(policy.name, message, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for r in built.monitor.registered:
                args = ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, options(r), None, settings)
                policy.validate(args, lambda message, urn=None, r=r, report=report: report(message, urn or r.urn))
        else:
            resources = [
                PolicyResource(r.type, r.outputs, r.urn, r.name, options(r), None, None, [], {})
                for r in built.monitor.registered
            ]
            policy.validate(StackValidationArgs(resources, settings), report)
    return found
