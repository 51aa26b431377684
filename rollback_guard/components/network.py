"""Where the services run: a new VPC (awsx, the `vpc` extra: imported only to build one) or an
existing one.

What each argument allows is declared beside it (components/arguments.py) and checked before
anything is created; the rules a list of values or a CIDR block follows are here, as every
component that takes a network, a subnet or a block of addresses uses them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from rollback_guard import extras
from rollback_guard.components.arguments import OneOf, Text, Whole, allow, problems, refused_by, resolved, rule_of
from rollback_guard.components.parts import Component
from rollback_guard.limits import LOAD_BALANCER_SUBNET_PREFIX, SMALLEST_SUBNET_PREFIX, smallest_public_subnet_prefix
from rollback_guard.policy import rules

NAT_STRATEGIES = ("single", "one-per-az")
# Blocks EC2's CreateVpc refuses: "this network", loopback, link-local, multicast and reserved.
REFUSED_BLOCKS = tuple(
    ipaddress.IPv4Network(block) for block in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3")
)
# awsx needs a zone's share of the block to hold a private and a public subnet.
MIN_AVAILABILITY_ZONES, MAX_AVAILABILITY_ZONES = 2, 6
# A VPC's block is /16 to /28 (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html).
LARGEST_VPC_PREFIX = 16
CIDR_RULE = "an IPv4 CIDR block with its prefix length and no host bits, such as 10.0.0.0/16 or 203.0.113.7/32"
# EC2's resource ids: a prefix and 8 or 17 hexadecimal digits (longer ids since 2016).
VPC_ID = Text(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a VPC id: vpc- and 8 or 17 hexadecimal digits (vpc-0a1b2c3d)")
SUBNET_ID = Text(
    r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a subnet id: subnet- and 8 or 17 hexadecimal digits (subnet-0a1b2c3d)"
)


def cidr_problem(value: Any) -> str | None:
    """Why AWS would not take `value` as a CIDR block, or None: it is written as AWS writes one,
    with its prefix length and no host bits (0.0.0.0/00 is 0.0.0.0/0 to AWS, so a list holding both
    repeats a rule)."""
    if not isinstance(value, str) or "/" not in value:
        return CIDR_RULE
    try:
        block = ipaddress.IPv4Network(value)
    except ValueError:
        return CIDR_RULE
    return None if str(block) == value else CIDR_RULE


@dataclass(frozen=True)
class Cidr:
    """An IPv4 CIDR block as AWS writes it."""

    allowed: str = CIDR_RULE

    def allows(self, value: Any) -> bool:
        return cidr_problem(value) is None

    def schema(self) -> dict:
        return {"type": "string", "format": "ipv4-cidr", "description": self.allowed}


@dataclass(frozen=True)
class Each:
    """A list (a tuple or list, not a string) of at least `fewest` values, each allowed by `rule`
    and, with `once`, given once: AWS refuses a repeated security group rule, subnet or alarm.
    A value not known yet (a pulumi.Output) is left to whoever uses it once it is."""

    rule: Any
    what: str
    fewest: int = 0
    once: bool = True
    why: str = ""

    @property
    def allowed(self) -> str:
        count = f"at least {self.fewest} " if self.fewest else ""
        return (
            f"a list of {count}{self.what}, each {self.rule.allowed}{' and given once' if self.once else ''}"
            f"{f' ({self.why})' if self.why else ''}"
        )

    def allows(self, values: Any) -> bool:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) < self.fewest:
            return False
        known = [value for value in values if not isinstance(value, pulumi.Output)]
        if self.once and len(set(map(repr, known))) < len(known):
            return False
        return all(self.rule.allows(value) for value in known)

    def schema(self) -> dict:
        items = self.rule.schema()
        return {
            "type": "array",
            "items": items,
            "minItems": self.fewest,
            "uniqueItems": self.once,
            "description": self.allowed,
        }


def named(rule: Any, where: str, value: Any) -> list[str]:
    """A known value `rule` refuses, as problems() words it: `where = value: allowed`."""
    if isinstance(value, pulumi.Output) or rule.allows(value):
        return []
    return [f"{where} = {value!r}: {rule.allowed}"]


@dataclass(frozen=True)
class NewVpc:
    """A VPC awsx creates with its default layout: in each zone a private subnet for the tasks and a
    public one for the load balancer.

    Attributes:
        cidr_block: Required. The VPC's IPv4 block, written as AWS writes it (no host bits), from /16
            to the largest prefix whose public subnets a load balancer accepts (`largest_prefix`: /24
            with 2 zones, /23 with 3 or 4, /22 with 5 or 6); not a multicast, loopback, link-local,
            reserved or 0.0.0.0/8 block, which EC2 refuses.
        availability_zones: Default: 2, the fewest an ALB accepts; from 2 to 6, and at most the zones
            the stack's region has (asked of AWS when the program runs). More zones survive more
            outages.
        nat_gateways: Default: "one-per-az", which survives a zone outage; "single" is cheaper, and a
            zone outage then cuts every task off from the internet.
    """

    cidr_block: str = field(metadata=allow(Cidr()))
    availability_zones: int = field(
        default=2,
        metadata=allow(
            Whole(
                MIN_AVAILABILITY_ZONES,
                MAX_AVAILABILITY_ZONES,
                why="at most the zones the region has, asked of AWS at preview",
            )
        ),
    )
    nat_gateways: Literal["single", "one-per-az"] = field(default="one-per-az", metadata=allow(OneOf(NAT_STRATEGIES)))

    def problems(self) -> list[tuple[str, object, str]]:
        """(argument, value, what is allowed) for every argument AWS or awsx would refuse: each
        field's declaration, then the block's size for the zones."""
        found: list[tuple[str, object, str]] = []
        for declared in dataclasses.fields(self):
            rule, value = rule_of(NewVpc, declared.name), getattr(self, declared.name)
            if not rule.allows(value):
                found.append((declared.name, value, rule.allowed))
        if found:
            return found
        block = ipaddress.IPv4Network(self.cidr_block)
        if any(block.overlaps(refused) for refused in REFUSED_BLOCKS):
            found.append(
                (
                    "cidr_block",
                    self.cidr_block,
                    "a private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or public block: EC2 refuses "
                    "multicast, loopback, link-local, reserved and 0.0.0.0/8 blocks",
                )
            )
        zones = self.availability_zones
        largest = largest_prefix(zones)
        if not LARGEST_VPC_PREFIX <= block.prefixlen <= largest:
            public = smallest_public_subnet_prefix(self.cidr_block, zones)
            found.append(
                (
                    "cidr_block",
                    self.cidr_block,
                    f"a block from /{LARGEST_VPC_PREFIX} to /{largest} with {zones} availability zones: awsx gives "
                    f"each zone's public subnet a quarter of its share, /{public} here; a load balancer needs "
                    f"/{LOAD_BALANCER_SUBNET_PREFIX} or larger (EC2 takes none smaller than /{SMALLEST_SUBNET_PREFIX})",
                )
            )
        return found


def require_awsx():
    """pulumi_awsx, which only a NewVpc needs (the `vpc` extra); its absence is named with the
    command that installs it, and the alternative."""
    return extras.require("pulumi_awsx", "vpc", "A NewVpc (an ExistingVpc does without it)")


def largest_prefix(availability_zones: int) -> int:
    """The longest prefix of a VPC block whose public subnets, in awsx's default layout, a load
    balancer accepts with `availability_zones` zones."""
    return next(
        prefix
        for prefix in range(LOAD_BALANCER_SUBNET_PREFIX, LARGEST_VPC_PREFIX - 1, -1)
        if smallest_public_subnet_prefix(f"10.0.0.0/{prefix}", availability_zones) <= LOAD_BALANCER_SUBNET_PREFIX
    )


def zones_in_region(opts: pulumi.InvokeOptions | None = None) -> list[str]:
    """The availability zones of the stack's region that are available, as AWS answers at preview."""
    return list(aws.get_availability_zones(state="available", opts=opts).names)


def zone_count_problem(wanted: int, available: list[str]) -> str | None:
    if wanted <= len(available):
        return None
    return (
        f"at most {len(available)}: the zones the stack's region has available ({', '.join(available)}; "
        "asked of AWS, DescribeAvailabilityZones)"
    )


def zone_problems(where: str, spec: NewVpc | ExistingVpc) -> list[str]:
    """A new VPC's zones beyond those its region has available (asked of AWS), named at `where`."""
    if not isinstance(spec, NewVpc):
        return []
    zones = zone_count_problem(spec.availability_zones, zones_in_region())
    return [f"{where}.availability_zones = {spec.availability_zones!r}: {zones}"] if zones else []


@dataclass(frozen=True)
class ExistingVpc:
    """A VPC that exists already, with its subnets: public ones for the load balancer, private ones
    (with a route to a NAT gateway or the endpoints the tasks need) for the tasks.

    Attributes:
        vpc_id: Required. The VPC's id (vpc-...), or an Output of one (another stack's, say): checked
            when known.
        public_subnet_ids: Required. At least two public subnets in different zones, each once: an
            ALB needs two zones. Ids or Outputs of ids.
        private_subnet_ids: Required. At least one private subnet the tasks run in, each once and
            none of them also public: tasks get no public address.
    """

    vpc_id: pulumi.Input[str] = field(metadata=allow(VPC_ID))
    public_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = field(
        metadata=allow(Each(SUBNET_ID, "public subnet ids", fewest=2, why="an ALB needs two zones"))
    )
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = field(
        metadata=allow(Each(SUBNET_ID, "private subnet ids", fewest=1, why="the tasks run there"))
    )

    def problems(self, where: str = "ExistingVpc") -> list[str]:
        """Every field a declaration refuses, and a subnet given as public and private."""
        found = problems(self, where)
        if (
            found
            or isinstance(self.public_subnet_ids, pulumi.Output)
            or isinstance(self.private_subnet_ids, pulumi.Output)
        ):
            return found  # lists known only at deploy time are checked then (_checked_ids)
        public = {subnet for subnet in self.public_subnet_ids if isinstance(subnet, str)}
        both = [subnet for subnet in self.private_subnet_ids if subnet in public]
        if both:
            given = list(self.private_subnet_ids)
            found.append(
                f"{where}.private_subnet_ids = {given!r}: subnets that are not also public ({', '.join(both)})"
            )
        return found


def network_problem(argument: str, value: object, accepted: tuple[type, ...] = (NewVpc, ExistingVpc)) -> str | None:
    """Why `value` cannot be the network given as `argument`, or None: it is one of the `accepted` types."""
    if isinstance(value, accepted):
        return None
    names = [kind.__name__ for kind in accepted]
    allowed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    hint = f" (a CIDR block goes in NewVpc(cidr_block={value!r}))" if isinstance(value, str) else ""
    return f"{argument} = {value!r}: {allowed}, not {type(value).__name__}{hint}"


def vpc_problems(where: str, spec: NewVpc | ExistingVpc) -> list[str]:
    """What a NewVpc or an ExistingVpc given as `where` is refused for, one line each."""
    if isinstance(spec, NewVpc):
        return [f"{where}.{argument} = {value!r}: {allowed}" for argument, value, allowed in spec.problems()]
    return spec.problems(where)


@dataclass
class NetworkArgs:
    """What a Network is built from.

    Attributes:
        vpc: Required. A NewVpc to create (the `vpc` extra) or an ExistingVpc to use.
    """

    vpc: NewVpc | ExistingVpc


class Network(Component):
    """Public subnets for load balancers, private subnets for tasks; several services may share one."""

    vpc_id: pulumi.Output[str]
    cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.vpc
        what = f"network {name}"
        if problem := network_problem("NetworkArgs.vpc", spec):
            rules.refuse(what, [problem])
        found = vpc_problems("NetworkArgs.vpc", spec)
        rules.refuse(what, found or zone_problems("NetworkArgs.vpc", spec))
        awsx = require_awsx() if isinstance(spec, NewVpc) else None
        super().__init__("rollback-guard:network:Network", name, opts)
        if isinstance(spec, NewVpc):
            single = spec.nat_gateways == "single"
            strategy = awsx.ec2.NatGatewayStrategy.SINGLE if single else awsx.ec2.NatGatewayStrategy.ONE_PER_AZ
            vpc = awsx.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=spec.cidr_block,
                number_of_availability_zones=spec.availability_zones,
                nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=strategy),
                enable_dns_hostnames=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.vpc_id = vpc.vpc_id
            self.cidr_block = pulumi.Output.from_input(spec.cidr_block)
            self.public_subnet_ids = vpc.public_subnet_ids
            self.private_subnet_ids = vpc.private_subnet_ids
        else:
            # Ids known only once another resource or stack gives them are checked then, as known ones were.
            vpc_id = resolved(what, "NetworkArgs.vpc.vpc_id", spec.vpc_id, refused_by(VPC_ID))
            existing = aws.ec2.get_vpc_output(id=vpc_id, opts=pulumi.InvokeOutputOptions(parent=self))
            self.vpc_id = vpc_id
            self.cidr_block = existing.cidr_block
            self.public_subnet_ids = _checked_ids(what, "NetworkArgs.vpc.public_subnet_ids", spec.public_subnet_ids)
            self.private_subnet_ids = _checked_ids(what, "NetworkArgs.vpc.private_subnet_ids", spec.private_subnet_ids)

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )


def _checked_ids(what: str, where: str, ids: pulumi.Input[Sequence[pulumi.Input[str]]]) -> pulumi.Output[list[str]]:
    """Subnet ids, each checked once known: a list of them, or an Output of the whole list (from
    another stack or an awsx VPC)."""
    if isinstance(ids, pulumi.Output):
        every_id = f"a list of subnet ids, each {SUBNET_ID.allowed}"
        return resolved(what, where, ids, lambda known: None if all(SUBNET_ID.allows(i) for i in known) else every_id)
    return pulumi.Output.all(
        *(resolved(what, f"{where}[{index}]", subnet, refused_by(SUBNET_ID)) for index, subnet in enumerate(ids))
    )
