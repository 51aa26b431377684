"""Where the services run: a new VPC (awsx, the `vpc` extra: imported only to build one) or an
existing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

NAT_STRATEGIES = ("single", "one-per-az")


@dataclass(frozen=True)
class NewVpc:
    cidr_block: str
    availability_zones: int = 2
    # One NAT gateway per zone survives a zone outage; a single one is cheaper.
    nat_gateways: Literal["single", "one-per-az"] = "one-per-az"


@dataclass(frozen=True)
class ExistingVpc:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]


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
        super().__init__("rollback-guard:network:Network", name, None, opts)
        spec = args.vpc
        if isinstance(spec, NewVpc):
            import pulumi_awsx as awsx

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
