"""Where the services run: a new VPC (awsx, the `vpc` extra: imported only to build one) or an
existing one."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from rollback_guard.limits import LOAD_BALANCER_SUBNET_PREFIX, SMALLEST_SUBNET_PREFIX, smallest_public_subnet_prefix
from rollback_guard.policy import rules

NAT_STRATEGIES = ("single", "one-per-az")
# Blocks EC2's CreateVpc refuses: "this network", loopback, link-local, multicast and reserved.
REFUSED_BLOCKS = tuple(
    ipaddress.IPv4Network(block) for block in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3")
)
# awsx needs a zone's share of the block to hold a private and a public subnet.
MIN_AVAILABILITY_ZONES, MAX_AVAILABILITY_ZONES = 2, 6


@dataclass(frozen=True)
class NewVpc:
    """A VPC awsx creates with its default layout: in each zone a private subnet for the tasks and a
    public one for the load balancer.

    - `cidr_block`: required; from /16 to the largest prefix whose public subnets a load balancer
      accepts (`largest_prefix`: /24 with 2 zones, /23 with 3 or 4, /22 with 5 or 6).
    - `availability_zones`: default 2, the fewest an ALB accepts; at most the zones the region has
      (asked of AWS when the program runs).
    - `nat_gateways`: default "one-per-az", which survives a zone outage; "single" is cheaper.
    """

    cidr_block: str
    availability_zones: int = 2
    nat_gateways: Literal["single", "one-per-az"] = "one-per-az"

    def problems(self) -> list[tuple[str, object, str]]:
        """(argument, value, what is allowed) for every argument AWS or awsx would refuse."""
        try:
            block = ipaddress.IPv4Network(self.cidr_block)
        except (ValueError, TypeError):
            return [("cidr_block", self.cidr_block, "an IPv4 CIDR block with no host bits, such as 10.0.0.0/16")]
        found: list[tuple[str, object, str]] = []
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
        if type(zones) is not int or not MIN_AVAILABILITY_ZONES <= zones <= MAX_AVAILABILITY_ZONES:
            return [("availability_zones", zones, f"a whole number from {MIN_AVAILABILITY_ZONES} to 6")]
        largest = largest_prefix(zones)
        if not 16 <= block.prefixlen <= largest:
            public = smallest_public_subnet_prefix(self.cidr_block, zones)
            found.append(
                (
                    "cidr_block",
                    self.cidr_block,
                    f"a block from /16 to /{largest} with {zones} availability zones: awsx gives each zone's public "
                    f"subnet a quarter of its share, /{public} here; a load balancer needs "
                    f"/{LOAD_BALANCER_SUBNET_PREFIX} or larger (EC2 takes none smaller than /{SMALLEST_SUBNET_PREFIX})",
                )
            )
        if self.nat_gateways not in NAT_STRATEGIES:
            found.append(("nat_gateways", self.nat_gateways, f"one of {', '.join(NAT_STRATEGIES)}"))
        return found


def require_awsx():
    """pulumi_awsx, which only a NewVpc needs (the `vpc` extra); its absence is named with the
    command that installs it."""
    try:
        import pulumi_awsx
    except ModuleNotFoundError as missing:
        if missing.name != "pulumi_awsx":
            raise
        raise ModuleNotFoundError(
            "a NewVpc is built with pulumi-awsx, the `vpc` extra: pip install 'rollback-guard[vpc]' "
            "(or give the service an ExistingVpc)",
            name=missing.name,
        ) from missing
    return pulumi_awsx


def largest_prefix(availability_zones: int) -> int:
    """The longest prefix of a VPC block whose public subnets, in awsx's default layout, a load
    balancer accepts with `availability_zones` zones."""
    return next(
        prefix
        for prefix in range(LOAD_BALANCER_SUBNET_PREFIX, 15, -1)
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


@dataclass(frozen=True)
class ExistingVpc:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]


def network_problem(argument: str, value: object, accepted: tuple[type, ...] = (NewVpc, ExistingVpc)) -> str | None:
    """Why `value` cannot be the network given as `argument`, or None: it is one of the `accepted` types."""
    if isinstance(value, accepted):
        return None
    names = [kind.__name__ for kind in accepted]
    allowed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    hint = f" (a CIDR block goes in NewVpc(cidr_block={value!r}))" if isinstance(value, str) else ""
    return f"{argument} {value!r}: {allowed}, not {type(value).__name__}{hint}"


@dataclass
class NetworkArgs:
    vpc: NewVpc | ExistingVpc


class Network(pulumi.ComponentResource):
    """Public subnets for load balancers, private subnets for tasks."""

    vpc_id: pulumi.Output[str]
    cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.vpc
        if problem := network_problem("vpc", spec):
            rules.refuse(f"network {name}", [problem])
        if isinstance(spec, NewVpc):
            found = [f"{argument} {value!r}: {allowed}" for argument, value, allowed in spec.problems()]
            if not found:
                zones = zone_count_problem(spec.availability_zones, zones_in_region())
                found += [f"availability_zones {spec.availability_zones}: {zones}"] if zones else []
            rules.refuse(f"network {name}: NewVpc", found)
            awsx = require_awsx()
        super().__init__("rollback-guard:network:Network", name, None, opts)
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
            existing = aws.ec2.get_vpc_output(id=spec.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self))
            self.vpc_id = pulumi.Output.from_input(spec.vpc_id)
            self.cidr_block = existing.cidr_block
            self.public_subnet_ids = pulumi.Output.from_input(list(spec.public_subnet_ids))
            self.private_subnet_ids = pulumi.Output.from_input(list(spec.private_subnet_ids))

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )
