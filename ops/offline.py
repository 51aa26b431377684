"""The mock engine: builds a stack of this project under Pulumi mocks, from its real
Pulumi.<stack>.yaml, with no AWS account and no Pulumi CLI. `ops plan` and the tests use it.

`build_stack("prod", service={"desiredCount": 1})` overlays keys on the stack file (None removes
one), so a test states exactly what it changes. Resource options (protect, ignore_changes) that
mocks do not expose are recorded by `RecordingMonitor`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

import program
from settings import PROJECT, load_settings

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "us-east-1"


def mock_arn(type_token: str, name: str) -> str:
    """The ARN FakeAws gives a resource."""
    return f"arn:aws:mock:{REGION}:{ACCOUNT}:{type_token}/{name}"


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's config, keyed `project:key`."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return dict(document["config"])


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


class FakeAws(pulumi.runtime.Mocks):
    """Echoes inputs back as outputs and adds the attributes AWS would compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name = args.inputs.get("name") or args.name
        outputs = {**args.inputs, "name": name, "arn": mock_arn(args.typ, args.name)}
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
        }
        return results[args.token]


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            # Names are unique across the program, so tests can look resources up by name alone.
            assert request.name not in self.registrations, f"two resources named {request.name}"
            self.registrations[request.name] = Registration(
                request.type,
                request.name,
                inputs,
                request.protect,
                request.retainOnDelete,
                tuple(request.ignoreChanges),
                tuple(request.dependencies),
                request.customTimeouts.update,
            )
        return response


@dataclass
class BuiltStack:
    name: str
    program: program.Program
    monitor: RecordingMonitor = field(repr=False)

    def registration(self, name: str) -> Registration:
        return self.monitor.registrations[name]

    def inputs(self, name: str) -> dict:
        return self.registration(name).inputs

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.monitor.registrations.values() if r.type == type_token]

    def settled(self) -> pulumi.Output:
        """Resolves once every export (and so every resource behind them) is registered."""
        return self.resolved_exports()

    def resolved_exports(self) -> pulumi.Output[dict]:
        exports = self.program.exports
        return pulumi.Output.all(*exports.values()).apply(lambda values: dict(zip(exports, values, strict=True)))


def use_config(stack: str, overrides: dict[str, Any]) -> None:
    """Mocks with the stack's config, overlaid key by key with `overrides` (None removes a key)."""
    config = stack_config(stack)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            config.pop(full_key, None)
            continue
        current = config.get(full_key)
        if isinstance(current, dict) and isinstance(value, dict):
            value = {k: v for k, v in {**current, **value}.items() if v is not None}
        config[full_key] = value
    pulumi.runtime.set_all_config(
        {key: json.dumps(value) if isinstance(value, (dict, list)) else str(value) for key, value in config.items()}
    )


def build_stack(stack: str, **overrides: Any) -> BuiltStack:
    mocks = FakeAws()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    use_config(stack, overrides)
    return BuiltStack(stack, program.build(load_settings()), monitor)


def settled_stack(stack: str, **overrides: Any) -> BuiltStack:
    """Builds the stack under `pulumi.runtime.test`, which returns only once every resource is
    registered, so tests can then read registrations directly."""
    built: list[BuiltStack] = []

    @pulumi.runtime.test
    def build() -> pulumi.Output:
        built.append(build_stack(stack, **overrides))
        return built[0].settled()

    build()
    return built[0]
