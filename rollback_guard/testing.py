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

It accepts what the Pulumi engine accepts: a resource's URN (its type, its ancestors' types and its
name) is unique, so a bucket and a log group may both be named `logs`, and two buckets named `logs`
may not, beside each other or in two components of one type.
A run that fails raises its error and leaves nothing behind for the next one. Needs no extra but
`policy_violations`, which needs pulumi-policy (`rollback-guard[test]` or `[policy]`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor

from rollback_guard.extras import require

T = TypeVar("T")
ROOT_STACK = "pulumi:pulumi:Stack"
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
        elif args.typ == "aws:ecr/repository:Repository":
            outputs |= {"repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"}
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


class DuplicateResource(Exception):
    """Two resources with one URN: the Pulumi engine refuses the program, and so does `run`."""


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        # Every resource but the stack, in the order registered: a parent before its children.
        self.registered: list[Registration] = []
        # The URNs taken so far; the SDK registers resources from worker threads.
        self._urns: set[str] = set()
        self._taking_urn = threading.Lock()

    @property
    def registrations(self) -> dict[str, Registration]:
        """The resources by name. A component may share its name with the component it wraps
        (EcsServiceWithRollback "web" around FargateService "web"): the name then means the
        innermost one, registered last."""
        return {registration.name: registration for registration in self.registered}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: the type is qualified by every ancestor's type but the stack's
        (pulumi's MockMonitor keeps only the parent's own type, which makes legal programs collide)."""
        if parent:
            qualified_type = parent.split("::")[2]
            if qualified_type != ROOT_STACK:
                type_ = f"{qualified_type}${type_}"
        return super().make_urn("", type_, name)

    def RegisterResource(self, request):
        if request.type == ROOT_STACK:
            return super().RegisterResource(request)
        urn = self.make_urn(request.parent, request.type, request.name)
        with self._taking_urn:
            if urn in self._urns:
                raise DuplicateResource(
                    f"two resources of type {request.type} named {request.name!r} under "
                    f"{_described(request.parent)}: Pulumi refuses a duplicate URN ({urn}); give one another name"
                )
            self._urns.add(urn)
        response = super().RegisterResource(request)
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


def _described(parent_urn: str) -> str:
    if not parent_urn or parent_urn.split("::")[2] == ROOT_STACK:
        return "the stack"
    return f"{parent_urn.rsplit('::', 1)[1]!r} ({parent_urn.split('::')[2].rsplit('$', 1)[-1]})"


@dataclass
class Built(Generic[T]):
    """What a program returned, and every resource it registered."""

    value: T
    stack: str
    monitor: RecordingMonitor = field(repr=False)

    def registration(self, name: str, type_token: str | None = None) -> Registration:
        """The resource `name` (of `type_token`, where several resources share the name). Without a
        type, a component sharing its name with what it wraps means the innermost one; resources of
        different types sharing a name (a bucket and a log group named `logs`) need the type."""
        named = [r for r in self.monitor.registered if r.name == name and type_token in (None, r.type)]
        if not named:
            raise KeyError(f"no resource named {name!r}" + (f" of type {type_token}" if type_token else ""))
        resources = {r.type for r in named if r.custom}
        if len(resources) > 1 and type_token is None:
            raise LookupError(f"several resources are named {name!r}: pass one of the types {sorted(resources)}")
        return named[-1]

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

    try:
        build()
    except BaseException:
        _discard_failed_run()
        raise
    return Built(returned[0], stack, monitor)


def _discard_failed_run() -> None:
    """What a failed run leaves on the event loop, so the next run starts clean. The SDK stops at
    the first failure: registrations still in flight would go on during the next run, against its
    monitor, so they are cancelled; and every output that depended on the failure holds it in a
    future nobody awaits, which would print "Future exception was never retrieved" whenever the
    garbage collector meets it, in some later test. The loop goes with them: it only reports
    those unread echoes of the error the run raised, and the next run gets a loop of its own."""
    loop = asyncio.get_event_loop()  # the loop the run used: pulumi's _sync_await sets one
    if loop.is_running():  # run() called from inside a running loop: that loop is not ours to end.
        return
    in_flight = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in in_flight:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*in_flight, return_exceptions=True))
    loop.set_exception_handler(_unless_unretrieved)
    # The mocks register resources from the loop's worker threads, each holding an event loop of its
    # own: they move to the next loop, as stopping them would leave their loops unclosed. (asyncio
    # has no getter for a loop's executor; closing a loop shuts its executor down, so the retired
    # loop gets one that never started a thread.)
    threads = getattr(loop, "_default_executor", None)
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    loop.close()
    fresh = asyncio.new_event_loop()
    if threads is not None:
        fresh.set_default_executor(threads)
    asyncio.set_event_loop(fresh)


def _unless_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if not context.get("message", "").endswith("exception was never retrieved"):
        loop.default_exception_handler(context)


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
    require("pulumi_policy", "policy", "rollback_guard.testing.policy_violations")
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
